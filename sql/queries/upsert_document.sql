INSERT INTO documents (name, source) VALUES (:name, :source)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING document_id;
