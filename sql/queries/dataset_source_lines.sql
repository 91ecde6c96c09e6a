-- Every current line annotation with its page and document: the input of a dataset build.
SELECT la.line_annotation_id, la.export_id, la.x, la.y, la.w, la.h, la.rotation, la.text,
       p.s3_key AS page_key, p.sha256 AS page_sha, d.name AS document
  FROM line_annotations la
  JOIN pages p USING (page_id)
  JOIN documents d USING (document_id)
 ORDER BY d.name, p.page_no, la.line_no;
