-- Mark annotation export :id as ingested, with its counts.
UPDATE annotation_exports
   SET tasks_seen = :t, tasks_changed = :c, lines_ingested = :l, rejected = :r, ingested_at = now()
 WHERE export_id = :id;
