-- The signals of the last :n runs of a run's model before it (by logical date) that read pages
-- and raised no alert: the recent baseline a run is compared with (tasks.monitor).
SELECT s.*
  FROM run_signals s
  JOIN recognition_runs rr USING (recognition_run_id)
  JOIN recognition_runs cur ON cur.recognition_run_id = :run
 WHERE s.model_id = cur.model_id AND s.status = 'ok' AND s.recognition_run_id <> cur.recognition_run_id
   AND s.signals_version = :version
   AND (rr.logical_date, rr.recognition_run_id) < (cur.logical_date, cur.recognition_run_id)
 ORDER BY rr.logical_date DESC, rr.recognition_run_id DESC
 LIMIT :n
