-- The text blocks model :model found on the pages of documents :docs, in reading order.
SELECT b.block_id, b.page_id, b.block_no, b.kind, b.x, b.y, b.w, b.h, b.rect_x, b.rect_y, b.rect_w, b.rect_h,
       b.rotation
  FROM blocks b
  JOIN pages p ON p.page_id = b.page_id
 WHERE p.document_id = ANY(:docs) AND b.model_id = :model
 ORDER BY p.document_id, p.page_no, b.block_no;
