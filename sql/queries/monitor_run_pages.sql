-- The pages a recognition run read without error (page_results), a fixed pseudo-random sample of
-- at most :cap of them (the same pages on every call), with their total count.
SELECT p.page_id, p.s3_key, p.sha256, count(*) OVER () AS pages_read
  FROM page_results r
  JOIN pages p USING (page_id)
 WHERE r.recognition_run_id = :run AND r.error IS NULL
 ORDER BY md5(p.page_id::text), p.page_id
 LIMIT :cap
