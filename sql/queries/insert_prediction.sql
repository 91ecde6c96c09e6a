INSERT INTO predictions (recognition_run_id, model_id, document_id, page_id, line_no, x, y, w, h, text, confidence)
VALUES (:run, :model, :doc, :page, :line_no, :x, :y, :w, :h, :text, :conf)
ON CONFLICT (model_id, page_id, line_no) DO NOTHING;
