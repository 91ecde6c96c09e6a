-- Annotation sync scoped by source, and annotation versions kept (issue 14, items 3 and 8).
--
-- The scope of an annotation export is where it comes from:
--   'labelstudio:<server url>#project=<id>'  a Label Studio project (export_annotations' source_ref);
--   'file:<folder>'                           export files: the folder their image references are read
--                                             from, so a re-export into the same folder (any file name)
--                                             is the same source;
--   'intake'                                  documents of scans registered by intake (the default).
-- Documents are unique per (scope, name), line annotations per (scope, task, region) and task state
-- per (scope, task): two sources that reuse a document name ("scan_001") or task ids never share a
-- row. Applies to an existing database: rows written before get the scope of the export that wrote
-- them.

ALTER TABLE annotation_exports ADD COLUMN scope text GENERATED ALWAYS AS (
    CASE source
        WHEN 'labelstudio' THEN 'labelstudio:' || source_ref
        WHEN 'file' THEN 'file:' || CASE WHEN strpos(source_ref, '/') = 0 THEN '.'
                                         WHEN source_ref ~ '^/[^/]*$' THEN '/'
                                         ELSE regexp_replace(source_ref, '/[^/]*$', '') END
        ELSE source || ':' || source_ref
    END) STORED;

-- Line annotations: the scope of their export, and the time of the Label Studio annotation they
-- come from (updated_at, else created_at; NULL when unknown), so an older export is never applied
-- over a newer one.
ALTER TABLE line_annotations ADD COLUMN scope text, ADD COLUMN ls_updated_at timestamptz;
UPDATE line_annotations la SET scope = e.scope FROM annotation_exports e WHERE e.export_id = la.export_id;

-- A line written without a scope (by hand, in tests) takes its export's.
CREATE FUNCTION line_annotations_default_scope() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.scope IS NULL THEN
        SELECT e.scope INTO NEW.scope FROM annotation_exports e WHERE e.export_id = NEW.export_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER line_annotations_scope BEFORE INSERT ON line_annotations
    FOR EACH ROW EXECUTE FUNCTION line_annotations_default_scope();

ALTER TABLE line_annotations ALTER COLUMN scope SET NOT NULL;
ALTER TABLE line_annotations DROP CONSTRAINT line_annotations_ls_task_id_ls_region_id_key;
ALTER TABLE line_annotations ADD CONSTRAINT line_annotations_scope_task_region_key
    UNIQUE (scope, ls_task_id, ls_region_id);

-- Task state: scoped like the rest (it was keyed by server URL, or 'file' for every export file),
-- with the newest annotation ingested for the task (its id stays in ls_annotation_id and its time
-- in ls_updated_at also after the annotation is gone; has_annotation says whether it still is).
ALTER TABLE annotation_task_state ADD COLUMN ls_updated_at timestamptz,
                                  ADD COLUMN has_annotation boolean NOT NULL DEFAULT false;
UPDATE annotation_task_state t SET scope = e.scope, has_annotation = t.ls_annotation_id IS NOT NULL
  FROM annotation_exports e WHERE e.export_id = t.export_id;

-- Documents: scans registered by intake are in scope 'intake'; an annotated document takes the
-- scope of the latest export that wrote lines on its pages (else that last ingested a task showing it).
ALTER TABLE documents ADD COLUMN scope text NOT NULL DEFAULT 'intake';
UPDATE documents d SET scope = s.scope
  FROM (SELECT DISTINCT ON (p.document_id) p.document_id, e.scope
          FROM pages p JOIN line_annotations la USING (page_id) JOIN annotation_exports e USING (export_id)
         ORDER BY p.document_id, e.export_id DESC) s
 WHERE d.document_id = s.document_id AND d.source = 'annotated';
UPDATE documents d SET scope = s.scope
  FROM (SELECT DISTINCT ON (p.document_id) p.document_id, e.scope
          FROM pages p JOIN annotation_task_state t USING (page_id) JOIN annotation_exports e
            ON e.export_id = t.export_id
         ORDER BY p.document_id, e.export_id DESC) s
 WHERE d.document_id = s.document_id AND d.source = 'annotated' AND d.scope = 'intake'
   AND NOT EXISTS (SELECT 1 FROM pages p JOIN line_annotations la USING (page_id) WHERE p.document_id = d.document_id);
ALTER TABLE documents DROP CONSTRAINT documents_name_key;
ALTER TABLE documents ADD CONSTRAINT documents_scope_name_key UNIQUE (scope, name);
CREATE INDEX documents_name ON documents (name);
