-- Record what became of an inbox object (also one that was never marked in progress).
INSERT INTO inbox_objects (s3_key, etag, n_bytes, status, sha256, reason, finished_at)
VALUES (:key, :etag, :n_bytes, :status, :sha, :reason, now())
ON CONFLICT (s3_key, etag) DO UPDATE
   SET status = EXCLUDED.status, sha256 = EXCLUDED.sha256, reason = EXCLUDED.reason,
       finished_at = EXCLUDED.finished_at;
