-- The task of a page now carries the model's predictions.
UPDATE labelstudio_tasks
   SET prediction_model_id = :model, prediction_score = :score, predicted_at = now()
 WHERE project_key = :project AND page_id = :page;
