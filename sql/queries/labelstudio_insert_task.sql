-- A page imported as a task (a page is imported into a project once).
INSERT INTO labelstudio_tasks (project_key, page_id, ls_task_id)
VALUES (:project, :page, :task)
ON CONFLICT DO NOTHING;
