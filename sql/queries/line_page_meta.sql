-- The page metadata (pages.meta) of the line annotations :ids whose page has some.
SELECT la.line_annotation_id, p.meta
  FROM line_annotations la
  JOIN pages p USING (page_id)
 WHERE la.line_annotation_id = ANY(:ids) AND p.meta IS NOT NULL;
