-- Record the annotation export a shipped model was trained from (from its lineage.json; the export
-- itself is not shipped). Returns its export_id.
INSERT INTO annotation_exports (source, source_ref, sha256, s3_key, tasks_seen, lines_ingested, rejected, ingested_at)
VALUES ('bundled', :ref, :sha, :key, :tasks, :lines, 0, now())
ON CONFLICT (sha256) DO UPDATE SET sha256 = EXCLUDED.sha256
RETURNING export_id;
