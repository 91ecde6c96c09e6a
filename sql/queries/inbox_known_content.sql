-- The sha256 of a file already read with this ETag and size (under any key), if any: the inbox
-- then records the object as a duplicate without downloading it.
SELECT sha256 FROM (
    SELECT sha256, 1 AS pref FROM inbox_objects
     WHERE etag = :etag AND n_bytes = :n_bytes AND sha256 IS NOT NULL AND status IN ('registered', 'duplicate')
    UNION ALL
    SELECT sha256, 2 FROM intake_files
     WHERE source = 's3' AND source_etag = :etag AND n_bytes = :n_bytes
) known
 ORDER BY pref
 LIMIT 1;
