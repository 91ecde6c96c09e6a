-- A prediction's page and document are one fact: check them with one composite foreign key
-- (the page must belong to that document) instead of two separate ones. Same integrity, one
-- index probe fewer per written prediction.
ALTER TABLE pages ADD CONSTRAINT pages_page_document_key UNIQUE (page_id, document_id);

ALTER TABLE predictions DROP CONSTRAINT predictions_document_id_fkey;
ALTER TABLE predictions DROP CONSTRAINT predictions_page_id_fkey;
ALTER TABLE predictions
    ADD CONSTRAINT predictions_page_document_fkey
    FOREIGN KEY (page_id, document_id) REFERENCES pages (page_id, document_id);
