-- Intake of scan files, a page cutoff per recognition run, views over predictions, and
-- full-text search of recognized documents.

-- Every submitted scan file, registered once by the sha256 of its bytes: a resubmission (by
-- path or through the S3 inbox) finds its row and changes nothing. A file that could not be
-- decoded keeps its row with status 'quarantined' (the reason is also in quarantine).
CREATE TABLE intake_files (
    intake_file_id bigserial PRIMARY KEY,
    sha256         text        NOT NULL UNIQUE,
    source         text        NOT NULL CHECK (source IN ('path', 's3')),
    source_ref     text        NOT NULL,
    source_etag    text,
    media_type     text        NOT NULL,
    n_bytes        bigint      NOT NULL CHECK (n_bytes >= 0),
    status         text        NOT NULL CHECK (status IN ('registered', 'quarantined')),
    reason         text,
    document_id    bigint      REFERENCES documents,
    pages          integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'registered') = (document_id IS NOT NULL))
);
CREATE INDEX intake_files_source ON intake_files (source, source_ref);

-- A run sees the pages registered before its cutoff, fixed when the run is first opened, so a
-- run for a given date re-run later processes the same pages and gives the same rows.
ALTER TABLE recognition_runs ADD COLUMN pages_before timestamptz;
CREATE INDEX pages_created ON pages (created_at);
CREATE INDEX page_results_run ON page_results (recognition_run_id);

-- Each document's lines in reading order (page, then line), read by the production model. A
-- model reads a page once (page_results has one row per model and page, and predictions are
-- unique per model, page and line), in one batch transaction, so the production model's lines of
-- a page all come from one run: the latest run of that model over the page. Order rows by
-- (document, reading_order); partitioning by id and name lets a filter on either be applied
-- before the window.
CREATE VIEW document_current_text AS
SELECT d.document_id, d.name AS document, p.page_id, p.page_no, pr.line_no,
       row_number() OVER (PARTITION BY d.document_id, d.name ORDER BY p.page_no, pr.line_no) AS reading_order,
       pr.text, pr.confidence, pr.x, pr.y, pr.w, pr.h,
       pr.prediction_id, pr.recognition_run_id, m.version AS model_version
  FROM models m
  JOIN predictions pr ON pr.model_id = m.model_id
  JOIN pages p        ON p.page_id = pr.page_id
  JOIN documents d    ON d.document_id = p.document_id
 WHERE m.status = 'production';

-- Current lines the production model was unsure of (mean per-character probability below 0.8),
-- the review queue for annotators.
CREATE VIEW low_confidence_lines AS
SELECT document_id, document, page_id, page_no, line_no, text, confidence, x, y, w, h,
       prediction_id, recognition_run_id, model_version
  FROM document_current_text
 WHERE confidence < 0.8;

-- One row per recognition run: what it read, how fast, how sure, and what failed.
CREATE VIEW recognition_run_stats AS
SELECT rr.recognition_run_id, m.version AS model_version, rr.logical_date, rr.status,
       coalesce(pg.pages, 0) AS pages, coalesce(pg.failed_pages, 0) AS failed_pages,
       coalesce(pl.lines, 0) AS lines,
       round(pl.mean_confidence::numeric, 4) AS mean_confidence,
       round(pl.low_confidence_share::numeric, 4) AS low_confidence_share,
       round(rr.seconds::numeric, 2) AS seconds,
       CASE WHEN rr.seconds > 0 THEN round((coalesce(pl.lines, 0) / rr.seconds)::numeric, 1) END AS lines_per_second,
       rr.started_at, rr.finished_at
  FROM recognition_runs rr
  JOIN models m USING (model_id)
  LEFT JOIN (SELECT recognition_run_id, count(*) AS pages, count(error) AS failed_pages
               FROM page_results GROUP BY recognition_run_id) pg USING (recognition_run_id)
  LEFT JOIN (SELECT recognition_run_id, count(*) AS lines, avg(confidence) AS mean_confidence,
                    avg((confidence < 0.8)::int) AS low_confidence_share
               FROM predictions GROUP BY recognition_run_id) pl USING (recognition_run_id);

-- Full-text search by recognized words, per document. The text of a document is the join of its
-- current lines (document_current_text); recognition refreshes the rows of the documents each
-- batch touched, in the batch's transaction. The tsvector is a generated column, so it can never
-- disagree with the text, and the GIN index serves `tsv @@ websearch_to_tsquery('english', ...)`.
-- A document (not a line) is the unit, so the words of a query may sit on different lines.
CREATE TABLE document_text (
    document_id bigint      PRIMARY KEY REFERENCES documents ON DELETE CASCADE,
    model_id    bigint      NOT NULL REFERENCES models,
    lines       integer     NOT NULL,
    text        text        NOT NULL,
    tsv         tsvector    GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX document_text_tsv ON document_text USING gin (tsv);

INSERT INTO document_text (document_id, model_id, lines, text)
SELECT c.document_id, m.model_id, count(*), string_agg(c.text, E'\n' ORDER BY c.reading_order)
  FROM document_current_text c JOIN models m ON m.version = c.model_version
 GROUP BY c.document_id, m.model_id;
