-- Quality signals of each recognition run and of each model's training data, for drift alerts
-- (tasks/monitor.py, linerec/eval/monitoring.py).
--
-- A run's signals: pages and lines read, line confidence (mean, p10/p50/p90, share below the
-- review threshold 0.8 of low_confidence_lines), character class shares of the recognized text,
-- and histograms over fixed bins (hist: {"confidence", "line_height", "char_mix",
-- "page_contrast", "page_background"} -> counts; the bins are in bins). Line heights come from
-- the predictions' boxes; page contrast and background from the run's page images (a sample).
-- drift holds each distribution's PSI against the training reference and against the last runs;
-- alerts what crossed a threshold (status 'alert'), notes what was not judged and why.

CREATE TABLE training_signals (
    model_id             bigint      PRIMARY KEY REFERENCES models ON DELETE CASCADE,
    dataset_version_id   bigint      NOT NULL REFERENCES dataset_versions,
    signals_version      integer     NOT NULL,
    splits               text[]      NOT NULL,     -- dataset splits the sampled pages came from
    pages                integer     NOT NULL,
    lines                integer     NOT NULL,
    sampled_pages        integer     NOT NULL,
    confidence_mean      double precision,
    confidence_p10       double precision,
    confidence_p50       double precision,
    confidence_p90       double precision,
    low_confidence_share double precision,
    review_threshold     real        NOT NULL,
    letters_share        double precision,
    digits_share         double precision,
    punctuation_share    double precision,
    other_share          double precision,
    line_height_p50      double precision,
    page_contrast_mean   double precision,
    page_background_mean double precision,
    hist                 jsonb       NOT NULL,
    bins                 jsonb       NOT NULL,
    computed_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE run_signals (
    recognition_run_id   bigint      PRIMARY KEY REFERENCES recognition_runs ON DELETE CASCADE,
    model_id             bigint      NOT NULL REFERENCES models,
    signals_version      integer     NOT NULL,
    status               text        NOT NULL CHECK (status IN ('ok', 'alert', 'no_pages')),
    pages                integer     NOT NULL,
    lines                integer     NOT NULL,
    sampled_pages        integer     NOT NULL,
    confidence_mean      double precision,
    confidence_p10       double precision,
    confidence_p50       double precision,
    confidence_p90       double precision,
    low_confidence_share double precision,
    review_threshold     real        NOT NULL,
    letters_share        double precision,
    digits_share         double precision,
    punctuation_share    double precision,
    other_share          double precision,
    line_height_p50      double precision,
    page_contrast_mean   double precision,
    page_background_mean double precision,
    hist                 jsonb       NOT NULL,
    bins                 jsonb       NOT NULL,
    drift                jsonb       NOT NULL DEFAULT '{}',   -- {"training": {signal: psi}, "history": {...}}
    history_runs         bigint[]    NOT NULL DEFAULT '{}',   -- the runs compared with
    thresholds           jsonb       NOT NULL DEFAULT '{}',
    alerts               jsonb       NOT NULL DEFAULT '[]',   -- [{signal, against, value, threshold, message}]
    notes                jsonb       NOT NULL DEFAULT '[]',
    report_key           text,
    computed_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_signals_model ON run_signals (model_id);

-- One row per monitored run in date order per model, with the previous run's figures beside it,
-- the PSI of each signal against the training data and the runs before it.
CREATE VIEW run_signal_trends AS
SELECT s.recognition_run_id, m.version AS model_version, rr.logical_date, s.status, s.pages, s.lines,
       round(s.confidence_mean::numeric, 4) AS confidence_mean,
       round(s.confidence_p10::numeric, 4) AS confidence_p10,
       round(s.confidence_p50::numeric, 4) AS confidence_p50,
       round(s.confidence_p90::numeric, 4) AS confidence_p90,
       round(s.low_confidence_share::numeric, 4) AS low_confidence_share,
       round(s.letters_share::numeric, 4) AS letters_share, round(s.digits_share::numeric, 4) AS digits_share,
       round(s.punctuation_share::numeric, 4) AS punctuation_share, round(s.other_share::numeric, 4) AS other_share,
       s.line_height_p50, round(s.page_contrast_mean::numeric, 4) AS page_contrast_mean,
       round(s.page_background_mean::numeric, 4) AS page_background_mean,
       round((s.confidence_mean - lag(s.confidence_mean) OVER w)::numeric, 4) AS confidence_change,
       round((s.low_confidence_share - lag(s.low_confidence_share) OVER w)::numeric, 4) AS low_confidence_change,
       round((s.drift #>> '{training,confidence}')::numeric, 4) AS confidence_psi_training,
       round((s.drift #>> '{training,char_mix}')::numeric, 4) AS char_mix_psi_training,
       round((s.drift #>> '{training,line_height}')::numeric, 4) AS line_height_psi_training,
       round((s.drift #>> '{training,page_contrast}')::numeric, 4) AS page_contrast_psi_training,
       round((s.drift #>> '{training,page_background}')::numeric, 4) AS page_background_psi_training,
       round((s.drift #>> '{history,confidence}')::numeric, 4) AS confidence_psi_history,
       round((s.drift #>> '{history,page_contrast}')::numeric, 4) AS page_contrast_psi_history,
       jsonb_array_length(s.alerts) AS n_alerts, s.report_key, s.computed_at
  FROM run_signals s
  JOIN recognition_runs rr USING (recognition_run_id)
  JOIN models m ON m.model_id = s.model_id
WINDOW w AS (PARTITION BY s.model_id ORDER BY rr.logical_date, s.recognition_run_id);

-- One row per alert of a run: which signal moved, against what, by how much.
CREATE VIEW run_signal_alerts AS
SELECT s.recognition_run_id, m.version AS model_version, rr.logical_date,
       a->>'signal' AS signal, a->>'against' AS against,
       (a->>'value')::double precision AS value, (a->>'threshold')::double precision AS threshold,
       a->>'message' AS message, s.report_key
  FROM run_signals s
  JOIN recognition_runs rr USING (recognition_run_id)
  JOIN models m ON m.model_id = s.model_id
 CROSS JOIN LATERAL jsonb_array_elements(s.alerts) a;
