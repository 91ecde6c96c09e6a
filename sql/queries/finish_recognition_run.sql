-- Close recognition run :r as succeeded with its totals, counted from the rows written.
UPDATE recognition_runs rr
   SET status = 'succeeded', finished_at = now(),
       pages = (SELECT count(*) FROM page_results WHERE recognition_run_id = rr.recognition_run_id),
       lines = (SELECT count(*) FROM predictions WHERE recognition_run_id = rr.recognition_run_id),
       seconds = EXTRACT(EPOCH FROM now() - rr.started_at)
 WHERE recognition_run_id = :r
RETURNING recognition_run_id, model_id, logical_date, pages, lines, seconds;
