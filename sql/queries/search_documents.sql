-- Documents whose recognized text matches a web-style search ("quoted phrase", or, -not), best
-- first, with the matching passage; served by the GIN index on document_text.tsv.
SELECT d.name AS document, dt.lines,
       round(ts_rank(dt.tsv, q)::numeric, 4) AS rank,
       replace(ts_headline('english', dt.text, q, 'MaxFragments=2, MaxWords=12, MinWords=4'), E'\n', ' / ') AS passage
  FROM document_text dt
  JOIN documents d USING (document_id)
 CROSS JOIN websearch_to_tsquery('english', :q) AS q
 WHERE dt.tsv @@ q
 ORDER BY rank DESC, d.name
 LIMIT :limit;
