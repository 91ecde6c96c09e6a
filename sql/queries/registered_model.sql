-- Registered model :model: version, status, files' S3 prefix, metrics, training run and dataset
-- version (id and name).
SELECT m.model_id, m.version, m.status, m.s3_prefix, m.metrics, m.training_run_id, m.dataset_version_id,
       dv.version AS dataset_version
  FROM models m
  JOIN dataset_versions dv USING (dataset_version_id)
 WHERE m.model_id = :model;
