"""annotation_sync: Label Studio → S3 page images + Postgres line annotations."""

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
        "export_file": Param(None, type=["null", "string"],
                             description="Label Studio JSON export to ingest instead of the configured server"),
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
