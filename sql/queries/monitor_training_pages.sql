-- Pages of the dataset version a model was trained on, for its training reference signals
-- (tasks.monitor): the held-out splits (test, val) when they have pages, else the training split;
-- a fixed pseudo-random sample of at most :cap pages, with the total count and the splits used.
WITH model_pages AS (
    SELECT DISTINCT la.page_id, di.split
      FROM models m
      JOIN dataset_items di ON di.dataset_version_id = m.dataset_version_id
      JOIN line_annotations la USING (line_annotation_id)
     WHERE m.model_id = :model
), chosen AS (
    SELECT page_id, split FROM model_pages
     WHERE split IN ('test', 'val') OR NOT EXISTS (SELECT 1 FROM model_pages WHERE split IN ('test', 'val'))
)
SELECT p.page_id, p.s3_key, p.sha256, count(*) OVER () AS pages_available,
       (SELECT array_agg(DISTINCT split ORDER BY split) FROM chosen) AS splits
  FROM (SELECT DISTINCT page_id FROM chosen) c
  JOIN pages p USING (page_id)
 ORDER BY md5(p.page_id::text), p.page_id
 LIMIT :cap
