"""
### annotation_sync: Label Studio → S3 page images + Postgres line annotations

**What it does.** `export_annotations` takes an export snapshot of the Label Studio project
(`LABEL_STUDIO_URL`, `LABEL_STUDIO_API_KEY`, `LABEL_STUDIO_PROJECT_ID`, through label-studio-sdk) or,
when the `export_file` param (or `LINEREC_EXPORT_FILE`) names one, reads a Label Studio JSON
export; the raw export is stored in S3 under its sha256 and recorded in `annotation_exports`.
`ingest_export` copies page images to S3 (content-addressed, `pages/<sha256>`) and upserts
documents, pages and line annotations, keeping Label Studio's task, annotation and region ids.
Rejected regions (empty text, characters outside the charset, bad boxes, NUL characters, over-long
names), unreadable images, a page whose stored image another task wrote, and any task that cannot be
written go to the `quarantine` table with their reason and raw JSON; the rest of the export goes on.
Documents are scoped by source (the Label Studio project, or the export file's folder); ingests of
one source run one at a time, and a task whose annotation is older than the one ingested is skipped.

**Assets.** `ingest_export` emits an event of `linerec_annotations` each time it succeeds, also when
the export changed nothing (it was ingested before, or its tasks are unchanged); the event
schedules the `training` DAG.

**Params.**

| param | meaning |
|---|---|
| `export_file` | path of a Label Studio JSON export to ingest instead of the configured server; it must lie in the workers' import folder (`LINEREC_IMPORT_DIR`, default `$LINEREC_STATE_DIR/imports`; a relative path is taken inside it) and be a JSON list, else the run fails before anything is stored |

**Rerun.** Safe at any time: the same export (same sha256) adds no row, and a changed export only
upserts what changed. Look at what was rejected with
`SELECT stage, item_ref, reason FROM quarantine ORDER BY quarantine_id DESC LIMIT 20`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from linerec_assets import ANNOTATIONS


@dag(
    dag_id="annotation_sync",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["linerec", "data"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": True},
    params={
        "export_file": Param(
            None,
            type=["null", "string"],
            minLength=1,
            maxLength=4096,
            title="Export file",
            description="Path of a Label Studio JSON export in the workers' import folder "
            "(LINEREC_IMPORT_DIR; relative paths are taken inside it) to ingest "
            "instead of exporting from the configured Label Studio server",
        ),
    },
    doc_md=__doc__,
)
def annotation_sync():
    @task
    def export_annotations(params=None) -> int:
        from tasks.annotation_sync import export_annotations as step

        return step(export_file=params.get("export_file"))

    @task(outlets=[ANNOTATIONS])
    def ingest_export(export_id: int) -> dict:
        from tasks.annotation_sync import ingest_export as step

        return step(export_id)

    ingest_export(export_annotations())


annotation_sync()
