-- The lines model :model read on the pages of documents :docs, in reading order, with their block
-- and geometry.
SELECT pr.page_id, pr.line_no, pr.x, pr.y, pr.w, pr.h, pr.text, pr.confidence, pr.block_id, pr.geometry
  FROM predictions pr
 WHERE pr.document_id = ANY(:docs) AND pr.model_id = :model
 ORDER BY pr.page_id, pr.line_no;
