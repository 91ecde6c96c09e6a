-- Pages of the dataset version a model was trained on, for its training reference signals
-- (tasks.monitor): a fixed pseudo-random sample of at most :cap pages, the held-out splits (test,
-- val) first and training pages only to fill the cap; with the pages available and the splits
-- sampled.
WITH model_pages AS (
    SELECT la.page_id, bool_or(di.split IN ('test', 'val')) AS held_out, min(di.split) AS split
      FROM models m
      JOIN dataset_items di ON di.dataset_version_id = m.dataset_version_id
      JOIN line_annotations la USING (line_annotation_id)
     WHERE m.model_id = :model
     GROUP BY la.page_id
), sample AS (
    SELECT p.page_id, p.s3_key, p.sha256, mp.split, count(*) OVER () AS pages_available,
           mp.held_out, md5(p.page_id::text) AS draw
      FROM model_pages mp
      JOIN pages p USING (page_id)
     ORDER BY mp.held_out DESC, md5(p.page_id::text), p.page_id
     LIMIT :cap
)
SELECT page_id, s3_key, sha256, pages_available,
       (SELECT array_agg(DISTINCT split ORDER BY split) FROM sample) AS splits
  FROM sample
 ORDER BY held_out DESC, draw, page_id
