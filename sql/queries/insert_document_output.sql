-- Record one output object of a document (a rerun that rendered the same object changes nothing).
INSERT INTO document_outputs (document_id, recognition_run_id, format, page_no, s3_key, sha256, bytes)
VALUES (:doc, :run, :format, :page_no, :key, :sha, :bytes)
ON CONFLICT (document_id, recognition_run_id, format, page_no) DO NOTHING;
