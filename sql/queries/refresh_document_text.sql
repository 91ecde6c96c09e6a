-- Recompute the searchable text of the given documents from their current lines (the production
-- model's; the same rows as the view document_current_text, read through predictions_document).
INSERT INTO document_text (document_id, model_id, lines, text, updated_at)
SELECT pr.document_id, pr.model_id, count(*), string_agg(pr.text, E'\n' ORDER BY p.page_no, pr.line_no), now()
  FROM predictions pr
  JOIN models m ON m.model_id = pr.model_id AND m.status = 'production'
  JOIN pages p  ON p.page_id = pr.page_id
 WHERE pr.document_id = ANY(CAST(:docs AS bigint[]))
 GROUP BY pr.document_id, pr.model_id
ON CONFLICT (document_id) DO UPDATE
   SET model_id = EXCLUDED.model_id, lines = EXCLUDED.lines, text = EXCLUDED.text, updated_at = now()
 WHERE (document_text.model_id, document_text.text) IS DISTINCT FROM (EXCLUDED.model_id, EXCLUDED.text);
