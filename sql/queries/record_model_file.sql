-- Record a model file's sha256 when first downloaded; a recorded one is never changed.
INSERT INTO model_files (model_id, name, sha256, n_bytes) VALUES (:model, :name, :sha, :n_bytes)
ON CONFLICT (model_id, name) DO NOTHING;
