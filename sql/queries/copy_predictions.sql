-- COPY a batch's prediction rows (CSV) straight into predictions; fails on a line already written.
COPY predictions (recognition_run_id, model_id, document_id, page_id, line_no, x, y, w, h, text, confidence,
                  block_id, geometry)
FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (text))
