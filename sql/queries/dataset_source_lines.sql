-- Every current line annotation with its page and document: the input of a dataset build.
-- case_folded: the page's transcriptions are upper-cased whatever the print's case (task meta
-- transcription_case = "upper", e.g. receipt ground truth).
SELECT la.line_annotation_id, la.export_id, la.x, la.y, la.w, la.h, la.rotation, la.text,
       p.s3_key AS page_key, p.sha256 AS page_sha, d.name AS document,
       coalesce(p.meta->>'transcription_case', '') = 'upper' AS case_folded
  FROM line_annotations la
  JOIN pages p USING (page_id)
  JOIN documents d USING (document_id)
 ORDER BY d.name, p.page_no, la.line_no;
