INSERT INTO pages (document_id, page_no, s3_key, sha256, width, height)
VALUES (:doc, :page_no, :key, :sha, :w, :h)
ON CONFLICT (document_id, page_no) DO UPDATE
   SET s3_key = EXCLUDED.s3_key, sha256 = EXCLUDED.sha256, width = EXCLUDED.width, height = EXCLUDED.height
RETURNING page_id;
