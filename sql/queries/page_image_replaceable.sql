-- Whether Label Studio task :task (in :scope) may give page :page a new image: the task wrote the
-- page, and no other task has lines on it.
SELECT EXISTS (SELECT 1 FROM annotation_task_state
                WHERE scope = :scope AND ls_task_id = :task AND page_id = :page)
   AND NOT EXISTS (SELECT 1 FROM line_annotations
                    WHERE page_id = :page AND (scope, ls_task_id) <> (:scope, :task));
