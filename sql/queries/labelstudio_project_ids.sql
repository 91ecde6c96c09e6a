-- The Label Studio projects `linerec labelstudio setup` recorded for the server at :u.
SELECT ls_project_id FROM labelstudio_projects WHERE server_url = :u;
