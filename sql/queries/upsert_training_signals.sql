-- Cache (or replace, when the signal definitions changed) the quality signals of a model's
-- training data: the reference its nightly runs are compared with (tasks.monitor).
INSERT INTO training_signals (
    model_id, dataset_version_id, signals_version, splits, pages, lines, sampled_pages,
    confidence_mean, confidence_p10, confidence_p50, confidence_p90, low_confidence_share, review_threshold,
    letters_share, digits_share, punctuation_share, other_share,
    line_height_p50, page_contrast_mean, page_background_mean, hist, bins)
VALUES (
    :model, :dataset_version, :signals_version, CAST(:splits AS text[]), :pages, :lines, :sampled_pages,
    :confidence_mean, :confidence_p10, :confidence_p50, :confidence_p90, :low_confidence_share, :review_threshold,
    :letters_share, :digits_share, :punctuation_share, :other_share,
    :line_height_p50, :page_contrast_mean, :page_background_mean, CAST(:hist AS jsonb), CAST(:bins AS jsonb))
ON CONFLICT (model_id) DO UPDATE SET
    dataset_version_id = EXCLUDED.dataset_version_id, signals_version = EXCLUDED.signals_version,
    splits = EXCLUDED.splits, pages = EXCLUDED.pages, lines = EXCLUDED.lines, sampled_pages = EXCLUDED.sampled_pages,
    confidence_mean = EXCLUDED.confidence_mean, confidence_p10 = EXCLUDED.confidence_p10,
    confidence_p50 = EXCLUDED.confidence_p50, confidence_p90 = EXCLUDED.confidence_p90,
    low_confidence_share = EXCLUDED.low_confidence_share, review_threshold = EXCLUDED.review_threshold,
    letters_share = EXCLUDED.letters_share, digits_share = EXCLUDED.digits_share,
    punctuation_share = EXCLUDED.punctuation_share, other_share = EXCLUDED.other_share,
    line_height_p50 = EXCLUDED.line_height_p50, page_contrast_mean = EXCLUDED.page_contrast_mean,
    page_background_mean = EXCLUDED.page_background_mean, hist = EXCLUDED.hist, bins = EXCLUDED.bins,
    computed_at = now()
