-- Register a scan file once by its sha256; a concurrent or repeated registration is a no-op.
INSERT INTO intake_files (sha256, source, source_ref, source_etag, media_type, n_bytes, status, reason,
                          document_id, pages)
VALUES (:sha, :source, :ref, :etag, :media, :n_bytes, :status, :reason, :doc, :pages)
ON CONFLICT (sha256) DO NOTHING;
