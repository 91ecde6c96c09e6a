-- The pages of a document with the outcome of model :model reading them (error NULL: read).
SELECT p.page_id, p.page_no, p.s3_key, p.sha256, p.width, p.height, r.error
  FROM pages p
  LEFT JOIN page_results r ON r.page_id = p.page_id AND r.model_id = :model
 WHERE p.document_id = :doc
 ORDER BY p.page_no;
