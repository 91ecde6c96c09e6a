-- Register (or find) a document of an annotation source: names are unique per scope only, so two
-- sources that both name a document "scan_001" get one document each.
INSERT INTO documents (scope, name, source) VALUES (:scope, :name, :source)
ON CONFLICT (scope, name) DO UPDATE SET name = EXCLUDED.name
RETURNING document_id;
