-- Runs whose quality dropped: a run whose mean line confidence fell by more than :drop, or whose
-- share of lines below the review threshold rose by more than :rise, against the mean of the
-- :n runs of the same model before it (runs that read pages), or that raised a drift alert.
-- Newest first, with the figures that moved and the alert messages.
WITH ordered AS (
    SELECT s.recognition_run_id, m.version AS model_version, rr.logical_date, s.status, s.pages, s.lines,
           s.confidence_mean, s.low_confidence_share, s.alerts, s.report_key,
           avg(s.confidence_mean) OVER w AS prior_confidence_mean,
           avg(s.low_confidence_share) OVER w AS prior_low_confidence_share,
           count(s.confidence_mean) OVER w AS prior_runs
      FROM run_signals s
      JOIN recognition_runs rr USING (recognition_run_id)
      JOIN models m ON m.model_id = s.model_id
     WHERE s.status <> 'no_pages'
    WINDOW w AS (PARTITION BY s.model_id ORDER BY rr.logical_date, s.recognition_run_id
                 ROWS BETWEEN CAST(:n AS integer) PRECEDING AND 1 PRECEDING)
)
SELECT recognition_run_id, model_version, logical_date, status, pages, lines,
       round(confidence_mean::numeric, 4) AS confidence_mean,
       round(prior_confidence_mean::numeric, 4) AS prior_confidence_mean,
       round((confidence_mean - prior_confidence_mean)::numeric, 4) AS confidence_change,
       round(low_confidence_share::numeric, 4) AS low_confidence_share,
       round((low_confidence_share - prior_low_confidence_share)::numeric, 4) AS low_confidence_change,
       prior_runs,
       (SELECT string_agg(a->>'message', '; ') FROM jsonb_array_elements(alerts) a) AS alerts,
       report_key
  FROM ordered
 WHERE prior_confidence_mean - confidence_mean > CAST(:drop AS double precision)
    OR low_confidence_share - prior_low_confidence_share > CAST(:rise AS double precision)
    OR jsonb_array_length(alerts) > 0
 ORDER BY logical_date DESC, recognition_run_id DESC
