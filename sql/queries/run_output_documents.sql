-- The documents whose outputs run :run writes: a page of theirs was read by the run, and every
-- page of theirs has been read by the run's model (none still pending). ``written``: the run has
-- already recorded their outputs (a document's rows go in together, in one transaction).
SELECT d.document_id, d.name,
       EXISTS (SELECT 1 FROM document_outputs o
                WHERE o.document_id = d.document_id AND o.recognition_run_id = :run) AS written
  FROM documents d
 WHERE d.document_id IN (SELECT p.document_id FROM page_results r JOIN pages p ON p.page_id = r.page_id
                          WHERE r.recognition_run_id = :run)
   AND NOT EXISTS (SELECT 1 FROM pages p JOIN recognition_runs rr ON rr.recognition_run_id = :run
                    WHERE p.document_id = d.document_id
                      AND NOT EXISTS (SELECT 1 FROM page_results r
                                       WHERE r.model_id = rr.model_id AND r.page_id = p.page_id))
 ORDER BY d.document_id;
