-- One run per (model, logical date); reopening it for a rerun returns the same id.
INSERT INTO recognition_runs (model_id, logical_date) VALUES (:model, CAST(:d AS date))
ON CONFLICT (model_id, logical_date) DO UPDATE SET status = 'running', finished_at = NULL
RETURNING recognition_run_id;
