-- Dataset version :id: its version name and the S3 key of its manifest.
SELECT dataset_version_id, version, manifest_key FROM dataset_versions WHERE dataset_version_id = :id;
