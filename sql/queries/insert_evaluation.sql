-- Record the CER of model :m on split :s of dataset version :d over :n lines; a recorded one is kept.
INSERT INTO evaluations (model_id, dataset_version_id, split, cer, n_lines)
VALUES (:m, :d, :s, :c, :n)
ON CONFLICT (model_id, dataset_version_id, split) DO NOTHING;
