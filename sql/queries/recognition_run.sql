-- Recognition run :r with its model: what every output and quality report of the run records.
SELECT rr.recognition_run_id AS run_id, rr.model_id, rr.logical_date, rr.started_at, m.version AS model_version
  FROM recognition_runs rr
  JOIN models m USING (model_id)
 WHERE rr.recognition_run_id = :r;
