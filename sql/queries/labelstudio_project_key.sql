-- The project_key of the Label Studio project linerec set up at server :u with project id :p (none when
-- linerec did not set it up).
SELECT project_key FROM labelstudio_projects WHERE server_url = :u AND ls_project_id = :p;
