-- The latest recognition runs: model, date, pages (and failed pages), lines, mean confidence,
-- share of low-confidence lines and throughput (view recognition_run_stats).
SELECT recognition_run_id, model_version, logical_date, status, pages, failed_pages, lines,
       mean_confidence, low_confidence_share, seconds, lines_per_second
  FROM recognition_run_stats
 ORDER BY recognition_run_id DESC
 LIMIT :limit;
