-- An annotation export: where it came from, its scope and raw object, and (once ingested) its counts.
SELECT source, source_ref, scope, s3_key, sha256, ingested_at, tasks_seen, tasks_changed, lines_ingested, rejected
  FROM annotation_exports
 WHERE export_id = :id;
