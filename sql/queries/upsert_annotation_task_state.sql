-- Record what was ingested of Label Studio task :task in :scope: its annotation (id and time), whether
-- it has one, its fingerprint, page and export. An annotation, time or page the task no longer shows
-- keeps the one recorded before.
INSERT INTO annotation_task_state (scope, ls_task_id, ls_annotation_id, ls_updated_at, has_annotation,
                                   fingerprint, page_id, export_id)
VALUES (:scope, :task, :ann, :ann_time, :has, :fp, :page, :export)
ON CONFLICT (scope, ls_task_id) DO UPDATE
   SET ls_annotation_id = coalesce(EXCLUDED.ls_annotation_id, annotation_task_state.ls_annotation_id),
       ls_updated_at = coalesce(EXCLUDED.ls_updated_at, annotation_task_state.ls_updated_at),
       has_annotation = EXCLUDED.has_annotation, fingerprint = EXCLUDED.fingerprint,
       page_id = coalesce(EXCLUDED.page_id, annotation_task_state.page_id),
       export_id = EXCLUDED.export_id, ingested_at = now();
