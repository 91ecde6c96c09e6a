-- Of documents :docs (those a recognition batch read pages of), the ones whose outputs run :run
-- can write now: every page of theirs has been read by the run's model. ``written``: the run has
-- already recorded their outputs.
SELECT d.document_id, d.name,
       EXISTS (SELECT 1 FROM document_outputs o
                WHERE o.document_id = d.document_id AND o.recognition_run_id = :run) AS written
  FROM documents d
  JOIN recognition_runs rr ON rr.recognition_run_id = :run
 WHERE d.document_id = ANY(:docs)
   AND NOT EXISTS (SELECT 1 FROM pages p
                    WHERE p.document_id = d.document_id
                      AND NOT EXISTS (SELECT 1 FROM page_results r
                                       WHERE r.model_id = rr.model_id AND r.page_id = p.page_id))
 ORDER BY d.document_id;
