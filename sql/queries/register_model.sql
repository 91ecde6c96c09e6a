-- Register a model whose files are under :p in S3 (metrics: JSON text) with status :s ('candidate',
-- or 'production' with promoted_at now); :run is its training run (none for a shipped model).
-- Returns its model_id.
INSERT INTO models (version, dataset_version_id, training_run_id, s3_prefix, metrics, status, promoted_at)
VALUES (:v, :dv, :run, :p, CAST(:m AS jsonb), :s, CASE WHEN :s = 'production' THEN now() END)
RETURNING model_id;
