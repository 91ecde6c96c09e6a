-- A document's current text: its lines in reading order (page, then line) as read by the
-- production model, with confidence and box, from the view document_current_text.
SELECT page_no, line_no, text, round(confidence::numeric, 3) AS confidence, x, y, w, h, model_version
  FROM document_current_text
 WHERE document = :document
 ORDER BY reading_order;
