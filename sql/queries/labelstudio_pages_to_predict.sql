-- Imported, not yet annotated pages whose task does not carry the model's predictions yet, least
-- confident first (a page's confidence is the mean of its lines'), one batch at a time.
SELECT t.page_id, t.ls_task_id, p.width, p.height, avg(pr.confidence) AS score, count(*) AS lines
  FROM labelstudio_tasks t
  JOIN pages p USING (page_id)
  JOIN predictions pr ON pr.page_id = t.page_id AND pr.model_id = :model
 WHERE t.project_key = :project
   AND t.prediction_model_id IS DISTINCT FROM :model
   AND NOT EXISTS (SELECT 1 FROM line_annotations la WHERE la.page_id = t.page_id)
 GROUP BY t.page_id, t.ls_task_id, p.width, p.height
 ORDER BY score ASC, t.page_id
 LIMIT :limit;
