-- Mark an inbox object as being read (the caller holds its advisory lock). Returns the row's
-- status before this call: NULL when the row is new, 'in_progress' when a scan was reading it.
WITH before AS (
    SELECT status FROM inbox_objects WHERE s3_key = :key AND etag = :etag
), claimed AS (
    INSERT INTO inbox_objects (s3_key, etag, n_bytes, status)
    VALUES (:key, :etag, :n_bytes, 'in_progress')
    ON CONFLICT (s3_key, etag) DO UPDATE SET n_bytes = EXCLUDED.n_bytes
    RETURNING inbox_object_id
)
SELECT claimed.inbox_object_id, (SELECT status FROM before) AS previous FROM claimed;
