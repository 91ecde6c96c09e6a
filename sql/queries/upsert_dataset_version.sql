-- Register a dataset version (config: JSON text); a version registered before keeps its row. Returns
-- its dataset_version_id.
INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test)
VALUES (:v, :e, :k, CAST(:c AS jsonb), :tr, :va, :te)
ON CONFLICT (version) DO UPDATE SET version = EXCLUDED.version
RETURNING dataset_version_id;
