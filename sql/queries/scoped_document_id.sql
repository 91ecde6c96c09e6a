-- The id of document :name of annotation scope :scope, if it exists.
SELECT document_id FROM documents WHERE scope = :scope AND name = :name;
