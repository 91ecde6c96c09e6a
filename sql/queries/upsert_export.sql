-- Record a raw annotation export (content-addressed by sha256); returns its export_id.
INSERT INTO annotation_exports (source, source_ref, sha256, s3_key)
VALUES (:source, :ref, :sha, :key)
ON CONFLICT (sha256) DO UPDATE SET sha256 = EXCLUDED.sha256
RETURNING export_id;
