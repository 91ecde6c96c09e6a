-- Inbox objects already taken in (same key and ETag), so a rescan does not download them again.
SELECT source_ref, source_etag FROM intake_files WHERE source = 's3' AND starts_with(source_ref, :prefix);
