-- The recorded sha256 of each file of a model.
SELECT name, sha256, n_bytes FROM model_files WHERE model_id = :model;
