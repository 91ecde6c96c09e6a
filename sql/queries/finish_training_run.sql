-- Close training run :id as succeeded, with the S3 key of its log and its metrics (JSON text).
UPDATE training_runs
   SET status = 'succeeded', finished_at = now(), log_key = :k, metrics = CAST(:m AS jsonb)
 WHERE training_run_id = :id;
