-- What was last ingested of the Label Studio tasks :ids of :scope (tasks never ingested have no row).
SELECT ls_task_id, fingerprint, page_id, ls_annotation_id, ls_updated_at, has_annotation, export_id
  FROM annotation_task_state
 WHERE scope = :scope AND ls_task_id = ANY(:ids);
