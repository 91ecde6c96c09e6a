-- The lines of Label Studio task :task (in :scope) on page :page whose region is no longer in its
-- annotation (:regions), leaving out lines written from an annotation newer than :ann_time; `used`
-- says whether a dataset version references the line.
SELECT la.line_annotation_id, la.ls_region_id, la.text,
       EXISTS (SELECT 1 FROM dataset_items di WHERE di.line_annotation_id = la.line_annotation_id) AS used
  FROM line_annotations la
 WHERE la.scope = :scope AND la.ls_task_id = :task AND la.page_id = :page
   AND la.ls_region_id <> ALL(:regions)
   AND (la.ls_updated_at IS NULL OR CAST(:ann_time AS timestamptz) IS NULL
        OR la.ls_updated_at <= CAST(:ann_time AS timestamptz));
