-- Example: the latest output files of documents whose name contains :name (all formats; PAGE XML
-- one object per page), with the run and model that wrote them.
SELECT document, format, page_no, s3_key, bytes, model_version, logical_date, created_at
  FROM document_latest_outputs
 WHERE document LIKE '%' || :name || '%'
 ORDER BY document, format, page_no;
