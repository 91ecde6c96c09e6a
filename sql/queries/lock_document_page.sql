-- Page :p of document :doc with its image's sha256, its row locked (none while the page does not exist).
SELECT page_id, sha256 FROM pages WHERE document_id = :doc AND page_no = :p FOR UPDATE;
