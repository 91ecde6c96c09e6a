-- Core schema: inputs (exports, documents, pages, line annotations), datasets, training,
-- models, recognition and quarantine. Every prediction traces back through its model and
-- dataset version to the annotation export the dataset was built from.

CREATE TABLE annotation_exports (
    export_id      bigserial PRIMARY KEY,
    source         text        NOT NULL CHECK (source IN ('file', 'labelstudio', 'bundled')),
    source_ref     text        NOT NULL,
    sha256         text        NOT NULL UNIQUE,
    s3_key         text        NOT NULL,
    tasks_seen     integer,
    lines_ingested integer,
    rejected       integer,
    created_at     timestamptz NOT NULL DEFAULT now(),
    ingested_at    timestamptz
);

CREATE TABLE documents (
    document_id bigserial PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    source      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pages (
    page_id     bigserial PRIMARY KEY,
    document_id bigint      NOT NULL REFERENCES documents ON DELETE CASCADE,
    page_no     integer     NOT NULL CHECK (page_no >= 1),
    s3_key      text        NOT NULL,
    sha256      text        NOT NULL,
    width       integer     NOT NULL CHECK (width > 0),
    height      integer     NOT NULL CHECK (height > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (document_id, page_no)
);

CREATE TABLE line_annotations (
    line_annotation_id bigserial PRIMARY KEY,
    page_id            bigint  NOT NULL REFERENCES pages ON DELETE CASCADE,
    export_id          bigint  NOT NULL REFERENCES annotation_exports,
    ls_task_id         bigint  NOT NULL,
    ls_annotation_id   bigint  NOT NULL,
    ls_region_id       text    NOT NULL,
    line_no            integer NOT NULL,
    x integer NOT NULL, y integer NOT NULL,
    w integer NOT NULL CHECK (w > 0), h integer NOT NULL CHECK (h > 0),
    rotation           real    NOT NULL DEFAULT 0,
    text               text    NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ls_task_id, ls_region_id)
);
CREATE INDEX line_annotations_page ON line_annotations (page_id);

CREATE TABLE dataset_versions (
    dataset_version_id bigserial PRIMARY KEY,
    version            text        NOT NULL UNIQUE,
    export_id          bigint      NOT NULL REFERENCES annotation_exports,
    manifest_key       text        NOT NULL,
    config             jsonb       NOT NULL,
    n_train integer NOT NULL, n_val integer NOT NULL, n_test integer NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dataset_items (
    dataset_version_id bigint NOT NULL REFERENCES dataset_versions ON DELETE CASCADE,
    line_annotation_id bigint NOT NULL REFERENCES line_annotations,
    split              text   NOT NULL CHECK (split IN ('train', 'val', 'test')),
    text               text   NOT NULL,
    shard              text   NOT NULL,
    PRIMARY KEY (dataset_version_id, line_annotation_id)
);

CREATE TABLE training_runs (
    training_run_id    bigserial PRIMARY KEY,
    dataset_version_id bigint      NOT NULL REFERENCES dataset_versions,
    params             jsonb       NOT NULL,
    num_processes      integer     NOT NULL,
    hosts              text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    metrics            jsonb,
    log_key            text,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz
);

CREATE TABLE models (
    model_id           bigserial PRIMARY KEY,
    version            text        NOT NULL UNIQUE,
    dataset_version_id bigint      NOT NULL REFERENCES dataset_versions,
    training_run_id    bigint      REFERENCES training_runs,
    s3_prefix          text        NOT NULL,
    metrics            jsonb       NOT NULL DEFAULT '{}',
    status             text        NOT NULL DEFAULT 'candidate'
                                   CHECK (status IN ('candidate', 'production', 'retired')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    promoted_at        timestamptz
);
CREATE UNIQUE INDEX models_one_production ON models (status) WHERE status = 'production';

CREATE TABLE evaluations (
    model_id           bigint      NOT NULL REFERENCES models,
    dataset_version_id bigint      NOT NULL REFERENCES dataset_versions,
    split              text        NOT NULL,
    cer                double precision NOT NULL,
    n_lines            integer     NOT NULL,
    evaluated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, dataset_version_id, split)
);

CREATE TABLE recognition_runs (
    recognition_run_id bigserial PRIMARY KEY,
    model_id           bigint      NOT NULL REFERENCES models,
    logical_date       date        NOT NULL,
    status             text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    pages              integer     NOT NULL DEFAULT 0,
    lines              integer     NOT NULL DEFAULT 0,
    seconds            double precision,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    UNIQUE (model_id, logical_date)
);

CREATE TABLE predictions (
    prediction_id      bigserial PRIMARY KEY,
    recognition_run_id bigint  NOT NULL REFERENCES recognition_runs ON DELETE CASCADE,
    model_id           bigint  NOT NULL REFERENCES models,
    document_id        bigint  NOT NULL REFERENCES documents,
    page_id            bigint  NOT NULL REFERENCES pages,
    line_no            integer NOT NULL,
    x integer NOT NULL, y integer NOT NULL, w integer NOT NULL, h integer NOT NULL,
    text               text    NOT NULL,
    confidence         real    NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model_id, page_id, line_no)
);
CREATE INDEX predictions_document ON predictions (document_id);

CREATE TABLE quarantine (
    quarantine_id bigserial PRIMARY KEY,
    stage         text        NOT NULL,
    item_ref      text        NOT NULL,
    reason        text        NOT NULL,
    raw           jsonb,
    export_id     bigint      REFERENCES annotation_exports,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stage, item_ref, reason)
);

-- Which pages a model has processed (also pages where it found no line), so the nightly run
-- picks up only new pages.
CREATE TABLE page_results (
    model_id           bigint  NOT NULL REFERENCES models,
    page_id            bigint  NOT NULL REFERENCES pages,
    recognition_run_id bigint  NOT NULL REFERENCES recognition_runs ON DELETE CASCADE,
    lines              integer NOT NULL,
    error              text,
    finished_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, page_id)
);
