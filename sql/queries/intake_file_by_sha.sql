-- A scan file already registered (or quarantined) with these bytes, with its page ids.
SELECT f.intake_file_id, f.status, f.reason, f.document_id,
       coalesce(array_agg(p.page_id ORDER BY p.page_no) FILTER (WHERE p.page_id IS NOT NULL), '{}') AS page_ids
  FROM intake_files f
  LEFT JOIN pages p ON p.document_id = f.document_id
 WHERE f.sha256 = :sha
 GROUP BY f.intake_file_id;
