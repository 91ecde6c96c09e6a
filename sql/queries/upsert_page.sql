-- Register a page (or update its image); metadata keys are merged into what the page has.
INSERT INTO pages (document_id, page_no, s3_key, sha256, width, height, meta)
VALUES (:doc, :page_no, :key, :sha, :w, :h, CAST(:meta AS jsonb))
ON CONFLICT (document_id, page_no) DO UPDATE
   SET s3_key = EXCLUDED.s3_key, sha256 = EXCLUDED.sha256, width = EXCLUDED.width, height = EXCLUDED.height,
       meta = pages.meta || EXCLUDED.meta
RETURNING page_id;
