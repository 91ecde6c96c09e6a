-- Recognized lines of the most recent nightly run with their lineage: which model read them,
-- which dataset version trained it and which annotation export that dataset came from.
SELECT d.name AS document, p.page_no, pr.line_no, pr.text, round(pr.confidence::numeric, 3) AS confidence,
       m.version AS model_version, dv.version AS dataset_version, ae.export_id
  FROM predictions pr
  JOIN documents d          ON d.document_id = pr.document_id
  JOIN pages p              ON p.page_id = pr.page_id
  JOIN models m             ON m.model_id = pr.model_id
  JOIN dataset_versions dv  ON dv.dataset_version_id = m.dataset_version_id
  JOIN annotation_exports ae ON ae.export_id = dv.export_id
 WHERE pr.recognition_run_id = (SELECT max(recognition_run_id) FROM recognition_runs)
 ORDER BY d.name, p.page_no, pr.line_no
 LIMIT :limit;
