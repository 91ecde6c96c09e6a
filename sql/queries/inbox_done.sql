-- Inbox objects (key and ETag) already dealt with: taken in, found to be known files, or refused.
SELECT s3_key, etag FROM inbox_objects
 WHERE starts_with(s3_key, :prefix) AND status <> 'in_progress'
UNION
SELECT source_ref, source_etag FROM intake_files
 WHERE source = 's3' AND starts_with(source_ref, :prefix) AND source_etag IS NOT NULL;
