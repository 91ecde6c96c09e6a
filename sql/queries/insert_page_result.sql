-- Record that the model read a page (its line count, or the error); a page read before keeps its row.
INSERT INTO page_results (model_id, page_id, recognition_run_id, lines, error)
VALUES (:model, :page, :run, :lines, :error)
ON CONFLICT (model_id, page_id) DO NOTHING;
