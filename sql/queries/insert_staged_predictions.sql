-- Move the staged predictions into predictions; a line already written (a rerun) is left as it is.
INSERT INTO predictions (recognition_run_id, model_id, document_id, page_id, line_no, x, y, w, h, text, confidence,
                         block_id, geometry)
SELECT recognition_run_id, model_id, document_id, page_id, line_no, x, y, w, h, text, confidence, block_id, geometry
  FROM prediction_stage
ON CONFLICT (model_id, page_id, line_no) DO NOTHING;
