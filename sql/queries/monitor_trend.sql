-- The signals of the :n latest runs of model :m other than run :r that read pages, newest first, for
-- the quality report's trend figure.
SELECT s.*, rr.logical_date
  FROM run_signals s
  JOIN recognition_runs rr USING (recognition_run_id)
 WHERE s.model_id = :m AND s.recognition_run_id <> :r AND s.status <> 'no_pages'
 ORDER BY rr.logical_date DESC, s.recognition_run_id DESC
 LIMIT :n;
