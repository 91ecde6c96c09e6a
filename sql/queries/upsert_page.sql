-- Register a page (or update its image); metadata keys are merged into what the page has. The
-- original JPEG and pixel checksum (migration 0011) belong to the image: the same image keeps
-- them unless new ones are given, a new image takes the ones given (NULL: none).
INSERT INTO pages (document_id, page_no, s3_key, sha256, width, height, meta, original_sha256, pixels_crc32)
VALUES (:doc, :page_no, :key, :sha, :w, :h, CAST(:meta AS jsonb), :original, :crc)
ON CONFLICT (document_id, page_no) DO UPDATE
   SET s3_key = EXCLUDED.s3_key, sha256 = EXCLUDED.sha256, width = EXCLUDED.width, height = EXCLUDED.height,
       meta = pages.meta || EXCLUDED.meta,
       original_sha256 = CASE WHEN EXCLUDED.sha256 = pages.sha256 AND EXCLUDED.original_sha256 IS NULL
                              THEN pages.original_sha256 ELSE EXCLUDED.original_sha256 END,
       pixels_crc32 = CASE WHEN EXCLUDED.sha256 = pages.sha256 AND EXCLUDED.original_sha256 IS NULL
                           THEN pages.pixels_crc32 ELSE EXCLUDED.pixels_crc32 END
RETURNING page_id;
