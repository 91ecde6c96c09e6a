-- Close training run :id as failed, with the S3 key of its log.
UPDATE training_runs SET status = 'failed', finished_at = now(), log_key = :k WHERE training_run_id = :id;
