-- The document name of each of the line annotations :ids.
SELECT la.line_annotation_id, d.name
  FROM line_annotations la
  JOIN pages p USING (page_id)
  JOIN documents d USING (document_id)
 WHERE la.line_annotation_id = ANY(:ids);
