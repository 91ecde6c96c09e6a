-- The lines a model read on some pages, in reading order.
SELECT page_id, line_no, x, y, w, h, text, confidence
  FROM predictions
 WHERE model_id = :model AND page_id = ANY(:pages)
 ORDER BY page_id, line_no;
