-- The text blocks of a batch's pages (a JSON array of objects), made by run :run of model :model;
-- blocks a model already found on a page (a rerun) are left as they are.
INSERT INTO blocks (recognition_run_id, model_id, page_id, block_no, kind, x, y, w, h,
                    rect_x, rect_y, rect_w, rect_h, rotation)
SELECT :run, :model, b.page_id, b.block_no, b.kind, b.x, b.y, b.w, b.h, b.rect_x, b.rect_y, b.rect_w, b.rect_h,
       b.rotation
  FROM jsonb_to_recordset(CAST(:blocks AS jsonb)) AS b(page_id bigint, block_no integer, kind text, x integer,
       y integer, w integer, h integer, rect_x integer, rect_y integer, rect_w integer, rect_h integer, rotation real)
ON CONFLICT (model_id, page_id, block_no) DO NOTHING;
