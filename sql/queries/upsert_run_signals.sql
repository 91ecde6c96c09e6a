-- Record a recognition run's quality signals, drift and alerts (tasks.monitor); jsonb values are
-- passed as JSON text. A rerun of the monitor replaces the row only when something differs, so a
-- rerun of a date that computes the same signals changes no row (not even computed_at).
INSERT INTO run_signals (
    recognition_run_id, model_id, signals_version, status, pages, lines, sampled_pages,
    confidence_mean, confidence_p10, confidence_p50, confidence_p90, low_confidence_share, review_threshold,
    letters_share, digits_share, punctuation_share, other_share,
    line_height_p50, page_contrast_mean, page_background_mean, hist, bins,
    drift, history_runs, thresholds, alerts, notes, report_key)
VALUES (
    :run, :model, :signals_version, :status, :pages, :lines, :sampled_pages,
    :confidence_mean, :confidence_p10, :confidence_p50, :confidence_p90, :low_confidence_share, :review_threshold,
    :letters_share, :digits_share, :punctuation_share, :other_share,
    :line_height_p50, :page_contrast_mean, :page_background_mean, CAST(:hist AS jsonb), CAST(:bins AS jsonb),
    CAST(:drift AS jsonb), CAST(:history_runs AS bigint[]), CAST(:thresholds AS jsonb),
    CAST(:alerts AS jsonb), CAST(:notes AS jsonb), :report_key)
ON CONFLICT (recognition_run_id) DO UPDATE SET
    model_id = EXCLUDED.model_id, signals_version = EXCLUDED.signals_version, status = EXCLUDED.status,
    pages = EXCLUDED.pages, lines = EXCLUDED.lines, sampled_pages = EXCLUDED.sampled_pages,
    confidence_mean = EXCLUDED.confidence_mean, confidence_p10 = EXCLUDED.confidence_p10,
    confidence_p50 = EXCLUDED.confidence_p50, confidence_p90 = EXCLUDED.confidence_p90,
    low_confidence_share = EXCLUDED.low_confidence_share, review_threshold = EXCLUDED.review_threshold,
    letters_share = EXCLUDED.letters_share, digits_share = EXCLUDED.digits_share,
    punctuation_share = EXCLUDED.punctuation_share, other_share = EXCLUDED.other_share,
    line_height_p50 = EXCLUDED.line_height_p50, page_contrast_mean = EXCLUDED.page_contrast_mean,
    page_background_mean = EXCLUDED.page_background_mean, hist = EXCLUDED.hist, bins = EXCLUDED.bins,
    drift = EXCLUDED.drift, history_runs = EXCLUDED.history_runs, thresholds = EXCLUDED.thresholds,
    alerts = EXCLUDED.alerts, notes = EXCLUDED.notes, report_key = EXCLUDED.report_key, computed_at = now()
 WHERE (run_signals.model_id, run_signals.signals_version, run_signals.status, run_signals.pages,
       run_signals.lines, run_signals.sampled_pages, run_signals.confidence_mean,
       run_signals.confidence_p10, run_signals.confidence_p50, run_signals.confidence_p90,
       run_signals.low_confidence_share, run_signals.review_threshold, run_signals.letters_share,
       run_signals.digits_share, run_signals.punctuation_share, run_signals.other_share,
       run_signals.line_height_p50, run_signals.page_contrast_mean,
       run_signals.page_background_mean, run_signals.hist, run_signals.bins, run_signals.drift,
       run_signals.history_runs, run_signals.thresholds, run_signals.alerts, run_signals.notes,
       run_signals.report_key)
       IS DISTINCT FROM
       (EXCLUDED.model_id, EXCLUDED.signals_version, EXCLUDED.status, EXCLUDED.pages, EXCLUDED.lines,
       EXCLUDED.sampled_pages, EXCLUDED.confidence_mean, EXCLUDED.confidence_p10,
       EXCLUDED.confidence_p50, EXCLUDED.confidence_p90, EXCLUDED.low_confidence_share,
       EXCLUDED.review_threshold, EXCLUDED.letters_share, EXCLUDED.digits_share,
       EXCLUDED.punctuation_share, EXCLUDED.other_share, EXCLUDED.line_height_p50,
       EXCLUDED.page_contrast_mean, EXCLUDED.page_background_mean, EXCLUDED.hist, EXCLUDED.bins,
       EXCLUDED.drift, EXCLUDED.history_runs, EXCLUDED.thresholds, EXCLUDED.alerts, EXCLUDED.notes,
       EXCLUDED.report_key)
