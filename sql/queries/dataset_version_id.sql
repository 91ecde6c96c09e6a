-- The id of dataset version :v (e.g. ds-0123abcd...), if it exists.
SELECT dataset_version_id FROM dataset_versions WHERE version = :v;
