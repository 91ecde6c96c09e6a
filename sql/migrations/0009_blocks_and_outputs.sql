-- Text blocks of recognized pages, the block of every prediction, and the files (hOCR, ALTO,
-- PAGE XML, searchable PDF) written for each document by a recognition run.

-- The text blocks a model's run found on a page (linerec.vision.layout.analyze_page), one row per block.
-- block_no is the block's 1-based position in the page's reading order (blocks top to bottom,
-- columns left to right). (x, y, w, h) is the axis-aligned page box; (rect_x, rect_y, rect_w,
-- rect_h, rotation) the rectangle around the block's lines rotated by the page skew (degrees
-- clockwise about its top-left corner, Label Studio's convention). A model reads a page once, so
-- its blocks are unique per (model, page, block_no) and a rerun of a batch adds none.
CREATE TABLE blocks (
    block_id           bigserial PRIMARY KEY,
    recognition_run_id bigint  NOT NULL REFERENCES recognition_runs ON DELETE CASCADE,
    model_id           bigint  NOT NULL REFERENCES models,
    page_id            bigint  NOT NULL REFERENCES pages,
    block_no           integer NOT NULL CHECK (block_no >= 1),
    kind               text    NOT NULL CHECK (kind IN ('text', 'table')),
    x integer NOT NULL, y integer NOT NULL,
    w integer NOT NULL CHECK (w > 0), h integer NOT NULL CHECK (h > 0),
    rect_x integer NOT NULL, rect_y integer NOT NULL, rect_w integer NOT NULL, rect_h integer NOT NULL,
    rotation           real    NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model_id, page_id, block_no)
);
CREATE INDEX blocks_page ON blocks (page_id);
CREATE INDEX blocks_run ON blocks (recognition_run_id);

-- The block a prediction's line lies in (NULL for lines written before blocks were stored), and
-- the line's geometry for the output formats:
--   {"rect": [x, y, w, h, rotation], "words": [[text, confidence, x0, y0, x1, y1, x2, y2, x3, y3], ...]}
-- (the line's rotated rectangle, and each word with the corners of its quadrilateral: top-left,
-- top-right, bottom-right, bottom-left, page pixels).
ALTER TABLE predictions ADD COLUMN block_id bigint, ADD COLUMN geometry jsonb;
CREATE INDEX predictions_block ON predictions (block_id) WHERE block_id IS NOT NULL;

-- The reference is checked the way 0006 checks the other references of predictions: once per
-- statement over the transition table, not by a foreign key probed per row. A prediction's block
-- must be a block of the same page and model (locked FOR KEY SHARE until the writer commits).
-- Deleting blocks deletes their lines (so deleting a run, which deletes its blocks, still deletes
-- its predictions); a TRUNCATE of blocks that leaves lines pointing at them is refused.
CREATE FUNCTION predictions_check_blocks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    locked bigint;
    missing record;
BEGIN
    SELECT count(*) INTO wanted FROM (SELECT DISTINCT block_id, page_id, model_id FROM changed
                                       WHERE block_id IS NOT NULL) k;
    IF wanted = 0 THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM blocks b
         WHERE (b.block_id, b.page_id, b.model_id) IN (SELECT block_id, page_id, model_id FROM changed)
           FOR KEY SHARE OF b) k;
    IF locked < wanted THEN
        SELECT c.block_id, c.page_id INTO missing FROM changed c
         WHERE c.block_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.block_id = c.block_id AND b.page_id = c.page_id
                                                     AND b.model_id = c.model_id)
         ORDER BY c.block_id LIMIT 1;
        RAISE foreign_key_violation USING
            MESSAGE = 'prediction references block ' || coalesce(missing.block_id::text, '?') || ' of page '
                      || coalesce(missing.page_id::text, '?') || ', which is not a block of that page and model',
            TABLE = 'predictions', CONSTRAINT = 'predictions_block_ref';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER predictions_blocks_insert AFTER INSERT ON predictions
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION predictions_check_blocks();
CREATE TRIGGER predictions_blocks_update AFTER UPDATE ON predictions
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION predictions_check_blocks();

CREATE FUNCTION blocks_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM predictions WHERE block_id IS NOT NULL) THEN
            RAISE foreign_key_violation USING
                MESSAGE = 'cannot truncate blocks: predictions reference them (truncate them too)';
        END IF;
        RETURN NULL;
    END IF;
    DELETE FROM predictions pr USING gone g WHERE pr.block_id = g.block_id;
    RETURN NULL;
END $$;

CREATE TRIGGER blocks_delete AFTER DELETE ON blocks
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION blocks_gone();
CREATE TRIGGER blocks_truncate AFTER TRUNCATE ON blocks
    FOR EACH STATEMENT EXECUTE FUNCTION blocks_gone();

-- Each document's blocks in reading order (page, then block) with their lines' text, for every
-- model that read it.
CREATE VIEW document_blocks AS
SELECT p.document_id, d.name AS document, b.model_id, m.version AS model_version, b.recognition_run_id,
       p.page_id, p.page_no, b.block_id, b.block_no,
       row_number() OVER (PARTITION BY p.document_id, b.model_id ORDER BY p.page_no, b.block_no) AS reading_order,
       b.kind, b.x, b.y, b.w, b.h, b.rotation,
       (SELECT count(*) FROM predictions pr WHERE pr.block_id = b.block_id) AS lines,
       (SELECT string_agg(pr.text, E'\n' ORDER BY pr.line_no) FROM predictions pr WHERE pr.block_id = b.block_id) AS text
  FROM blocks b
  JOIN pages p     ON p.page_id = b.page_id
  JOIN documents d ON d.document_id = p.document_id
  JOIN models m    ON m.model_id = b.model_id;

-- The files written for a document by a recognition run: one row per object. format is 'hocr',
-- 'alto', 'pdf' (page_no NULL: the whole document) or 'page' (PAGE XML, one object per page,
-- page_no set). Objects are content-addressed (s3_key = outputs/<sha256[:2]>/<sha256><suffix>),
-- written before their row: a row always names a complete object, and a rerun that renders the
-- same bytes finds the same key and row.
CREATE TABLE document_outputs (
    document_output_id bigserial   PRIMARY KEY,
    document_id        bigint      NOT NULL REFERENCES documents ON DELETE CASCADE,
    recognition_run_id bigint      NOT NULL REFERENCES recognition_runs ON DELETE CASCADE,
    format             text        NOT NULL CHECK (format IN ('hocr', 'alto', 'page', 'pdf')),
    page_no            integer     CHECK (page_no >= 1),
    s3_key             text        NOT NULL,
    sha256             text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes              bigint      NOT NULL CHECK (bytes > 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((format = 'page') = (page_no IS NOT NULL)),
    UNIQUE NULLS NOT DISTINCT (document_id, recognition_run_id, format, page_no)
);
CREATE INDEX document_outputs_run ON document_outputs (recognition_run_id);

-- Each document's latest outputs: per format (and page, for PAGE XML) the object of the latest
-- run that wrote one (by the run's date, then when it was written).
CREATE VIEW document_latest_outputs AS
SELECT DISTINCT ON (o.document_id, o.format, o.page_no)
       o.document_id, d.name AS document, o.format, o.page_no, o.s3_key, o.sha256, o.bytes,
       o.recognition_run_id, rr.logical_date, m.version AS model_version, o.created_at
  FROM document_outputs o
  JOIN documents d         ON d.document_id = o.document_id
  JOIN recognition_runs rr ON rr.recognition_run_id = o.recognition_run_id
  JOIN models m            ON m.model_id = rr.model_id
 ORDER BY o.document_id, o.format, o.page_no, rr.logical_date DESC, o.created_at DESC, o.document_output_id DESC;
