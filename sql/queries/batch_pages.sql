-- The pages of a batch that the model has not processed yet (a rerun skips finished pages), with
-- the sha256 their bytes must have, and the original JPEG they may be read from (migration 0011).
SELECT p.page_id, p.document_id, p.s3_key, p.sha256, p.original_sha256, p.pixels_crc32
  FROM pages p
 WHERE p.page_id = ANY(:ids)
   AND NOT EXISTS (SELECT 1 FROM page_results r WHERE r.model_id = :model AND r.page_id = p.page_id)
 ORDER BY p.page_id;
