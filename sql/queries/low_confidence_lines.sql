-- The review queue: current lines the production model was least sure of (confidence < 0.8,
-- view low_confidence_lines), least confident first, with where to find them.
SELECT document, page_no, line_no, text, round(confidence::numeric, 3) AS confidence, x, y, w, h
  FROM low_confidence_lines
 ORDER BY confidence, document, page_no, line_no
 LIMIT :limit;
