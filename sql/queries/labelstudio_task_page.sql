-- The page linerec imported into Label Studio project :k as task :task, its row locked.
SELECT p.page_id, p.document_id, p.page_no, p.sha256
  FROM labelstudio_tasks t
  JOIN pages p USING (page_id)
 WHERE t.project_key = :k AND t.ls_task_id = :task
   FOR UPDATE OF p;
