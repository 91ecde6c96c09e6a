-- Pages the given model has not processed yet, oldest first.
SELECT p.page_id
  FROM pages p
 WHERE NOT EXISTS (SELECT 1 FROM page_results r WHERE r.model_id = :model AND r.page_id = p.page_id)
 ORDER BY p.page_id;
