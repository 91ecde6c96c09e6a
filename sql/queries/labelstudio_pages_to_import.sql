-- Pages not imported into the project yet and without line annotations (a page that came from a
-- Label Studio export already is a task there), oldest first, one batch at a time.
SELECT p.page_id, p.page_no, p.s3_key, d.name AS document
  FROM pages p
  JOIN documents d USING (document_id)
 WHERE NOT EXISTS (SELECT 1 FROM labelstudio_tasks t WHERE t.project_key = :project AND t.page_id = p.page_id)
   AND NOT EXISTS (SELECT 1 FROM line_annotations la WHERE la.page_id = p.page_id)
 ORDER BY p.page_id
 LIMIT :limit;
