-- The pages of documents :docs with the outcome of model :model reading them (error NULL: read),
-- and, for a document made from one JPEG file, that file's sha256 (intake keeps its bytes in S3).
SELECT p.document_id, p.page_id, p.page_no, p.s3_key, p.sha256, p.width, p.height, r.error,
       (SELECT f.sha256 FROM intake_files f
         WHERE f.document_id = p.document_id AND f.media_type = 'jpeg' AND f.pages = 1
           AND f.status = 'registered'
         ORDER BY f.intake_file_id LIMIT 1) AS jpeg_sha256
  FROM pages p
  LEFT JOIN page_results r ON r.page_id = p.page_id AND r.model_id = :model
 WHERE p.document_id = ANY(:docs)
 ORDER BY p.document_id, p.page_no;
