-- COPY a batch's prediction rows (CSV, see stage_predictions) into the staging table.
COPY prediction_stage (recognition_run_id, model_id, document_id, page_id, line_no, x, y, w, h, text, confidence,
                       block_id, geometry)
FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (text))
