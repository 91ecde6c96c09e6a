-- Label Studio round trip: the projects linerec set up, which page each of their tasks shows and
-- which model's predictions it carries, and what was last ingested from each annotated task so
-- that an export is ingested incrementally.

CREATE TABLE labelstudio_projects (
    project_key   bigserial PRIMARY KEY,
    server_url    text        NOT NULL,          -- without trailing slash
    ls_project_id bigint      NOT NULL,
    title         text        NOT NULL,
    ls_storage_id bigint,                        -- the S3 import storage that serves page images
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (server_url, ls_project_id)
);

-- One row per page imported as a task: a page is imported into a project exactly once.
CREATE TABLE labelstudio_tasks (
    project_key         bigint      NOT NULL REFERENCES labelstudio_projects ON DELETE CASCADE,
    page_id             bigint      NOT NULL REFERENCES pages ON DELETE CASCADE,
    ls_task_id          bigint      NOT NULL,
    imported_at         timestamptz NOT NULL DEFAULT now(),
    prediction_model_id bigint      REFERENCES models,   -- model whose predictions were pushed last
    prediction_score    real,                             -- page confidence sent with them
    predicted_at        timestamptz,
    PRIMARY KEY (project_key, page_id),
    UNIQUE (project_key, ls_task_id)
);

-- What was last ingested from each task: a fingerprint of its data and chosen annotation. An
-- export's task whose fingerprint is unchanged is skipped (no image fetch, no row touched).
-- Task ids are unique per Label Studio server: the scope is the server's URL ('file' for tasks
-- read from export files, which may reuse ids: that costs a re-ingestion, never a wrong row).
CREATE TABLE annotation_task_state (
    scope            text        NOT NULL,
    ls_task_id       bigint      NOT NULL,
    ls_annotation_id bigint,
    fingerprint      text        NOT NULL,
    page_id          bigint      REFERENCES pages ON DELETE SET NULL,
    export_id        bigint      NOT NULL REFERENCES annotation_exports,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, ls_task_id)
);

ALTER TABLE annotation_exports ADD COLUMN tasks_changed integer;
