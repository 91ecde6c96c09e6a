-- A line keeps its Label Studio identity (scope, task, region); a changed box or text updates it in
-- place and records which export changed it. An unchanged line is left as it is, and so is a line
-- written from a newer annotation than this one (an older export never reverts it).
INSERT INTO line_annotations (scope, page_id, export_id, ls_task_id, ls_annotation_id, ls_region_id,
                              line_no, x, y, w, h, rotation, text, ls_updated_at)
VALUES (:scope, :page, :export, :task, :ann, :region, :line_no, :x, :y, :w, :h, :rot, :text, :ann_time)
ON CONFLICT (scope, ls_task_id, ls_region_id) DO UPDATE
   SET page_id = EXCLUDED.page_id, export_id = EXCLUDED.export_id,
       ls_annotation_id = EXCLUDED.ls_annotation_id, line_no = EXCLUDED.line_no,
       x = EXCLUDED.x, y = EXCLUDED.y, w = EXCLUDED.w, h = EXCLUDED.h,
       rotation = EXCLUDED.rotation, text = EXCLUDED.text,
       ls_updated_at = coalesce(EXCLUDED.ls_updated_at, line_annotations.ls_updated_at), updated_at = now()
 WHERE (line_annotations.x, line_annotations.y, line_annotations.w, line_annotations.h,
        line_annotations.rotation, line_annotations.text, line_annotations.line_no, line_annotations.page_id)
       IS DISTINCT FROM
       (EXCLUDED.x, EXCLUDED.y, EXCLUDED.w, EXCLUDED.h, EXCLUDED.rotation, EXCLUDED.text,
        EXCLUDED.line_no, EXCLUDED.page_id)
   AND (line_annotations.ls_updated_at IS NULL OR EXCLUDED.ls_updated_at IS NULL
        OR EXCLUDED.ls_updated_at >= line_annotations.ls_updated_at);
