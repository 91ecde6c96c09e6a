-- Register a document of scope 'intake' (the column's default: scans registered by intake) or
-- find it; annotated documents are registered with their scope by upsert_scoped_document.
INSERT INTO documents (name, source) VALUES (:name, :source)
ON CONFLICT (scope, name) DO UPDATE SET name = EXCLUDED.name
RETURNING document_id;
