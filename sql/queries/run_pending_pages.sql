-- Pages a run still has to read: registered before the run's cutoff and not yet processed by its
-- model (by this run or an earlier one), oldest first.
SELECT p.page_id
  FROM pages p
  JOIN recognition_runs rr ON rr.recognition_run_id = :run
 WHERE p.created_at < coalesce(rr.pages_before, 'infinity')
   AND NOT EXISTS (SELECT 1 FROM page_results r WHERE r.model_id = rr.model_id AND r.page_id = p.page_id)
 ORDER BY p.page_id;
