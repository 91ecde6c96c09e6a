-- What the S3 inbox scan did with each object it listed, by key and ETag, and the files of each
-- model as first downloaded.

-- A row is written ('in_progress') before an object is read and finished when it was taken in
-- ('registered'), found to hold a known file ('duplicate': same ETag and size, or same sha256) or
-- refused ('quarantined', with the reason; also in quarantine). The scan holds an advisory lock
-- on the row's id while it reads the object: a row still 'in_progress' whose lock nobody holds
-- was left by a scan that died on it (killed, out of memory, timed out), and the next scan
-- quarantines the object instead of reading it again. Deleting a row lets the next scan retry it.
CREATE TABLE inbox_objects (
    inbox_object_id bigserial   PRIMARY KEY,
    s3_key          text        NOT NULL,
    etag            text        NOT NULL,
    n_bytes         bigint      NOT NULL CHECK (n_bytes >= 0),
    status          text        NOT NULL CHECK (status IN ('in_progress', 'registered', 'duplicate', 'quarantined')),
    sha256          text,
    reason          text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (s3_key, etag)
);
CREATE INDEX inbox_objects_content ON inbox_objects (etag, n_bytes) WHERE sha256 IS NOT NULL;

-- The sha256 of each file of a model, recorded when the model's files are first downloaded
-- (from the object's sha256 metadata written at upload): a later download whose bytes differ
-- is refused.
CREATE TABLE model_files (
    model_id bigint NOT NULL REFERENCES models ON DELETE CASCADE,
    name     text   NOT NULL,
    sha256   text   NOT NULL,
    n_bytes  bigint NOT NULL CHECK (n_bytes >= 0),
    PRIMARY KEY (model_id, name)
);
