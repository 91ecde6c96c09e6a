-- One run per (model, logical date). The first open fixes the run's page cutoff (pages_before):
-- a reopen for a rerun keeps it, so the rerun sees the same pages; it returns the same id.
INSERT INTO recognition_runs (model_id, logical_date, pages_before)
VALUES (:model, CAST(:d AS date), now())
ON CONFLICT (model_id, logical_date) DO UPDATE
   SET status = 'running', finished_at = NULL,
       pages_before = coalesce(recognition_runs.pages_before, EXCLUDED.pages_before)
RETURNING recognition_run_id;
