-- The CER recorded for model :m on split :s of dataset version :d, if it was evaluated.
SELECT cer FROM evaluations WHERE model_id = :m AND dataset_version_id = :d AND split = :s;
