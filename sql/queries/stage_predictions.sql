-- A transaction-local staging table for one batch's predictions, filled with COPY.
CREATE TEMP TABLE IF NOT EXISTS prediction_stage (
    recognition_run_id bigint, model_id bigint, document_id bigint, page_id bigint, line_no integer,
    x integer, y integer, w integer, h integer, text text, confidence real, block_id bigint, geometry jsonb
) ON COMMIT DROP;
