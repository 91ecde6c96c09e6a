-- Record the Label Studio project linerec set up on a server; returns its project_key.
INSERT INTO labelstudio_projects (server_url, ls_project_id, title, ls_storage_id)
VALUES (:url, :project, :title, :storage)
ON CONFLICT (server_url, ls_project_id) DO UPDATE
   SET title = EXCLUDED.title, ls_storage_id = EXCLUDED.ls_storage_id
RETURNING project_key;
