"""nightly_recognition: recognize pages the production model has not seen, in mapped batches."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from linerec_assets import PREDICTIONS


@dag(
    dag_id="nightly_recognition",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["linerec", "inference"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "batch_size": Param(32, type="integer", minimum=1, description="Pages per mapped batch"),
        "date": Param(None, type=["null", "string"], description="Run date YYYY-MM-DD (default: the run's date)"),
    },
    doc_md=__doc__,
)
def nightly_recognition():
    @task
    def open_run(params=None, dag_run=None) -> int:
        from tasks.recognition import open_recognition_run

        run_date = params.get("date") or (dag_run.logical_date or dag_run.run_after).date().isoformat()
        return open_recognition_run(run_date)

    @task
    def plan_batches(recognition_run_id: int, params=None) -> list[dict]:
        from tasks.recognition import pending_batches

        return [{"recognition_run_id": recognition_run_id, "page_ids": batch}
                for batch in pending_batches(recognition_run_id, params["batch_size"])]

    @task(max_active_tis_per_dag=2)
    def recognize(recognition_run_id: int, page_ids: list[int]) -> dict:
        from tasks.recognition import recognize_batch

        return recognize_batch(recognition_run_id, page_ids)

    @task(trigger_rule="none_failed", outlets=[PREDICTIONS])
    def finish(recognition_run_id: int, batches=None) -> dict:
        from tasks.recognition import finish_recognition

        return finish_recognition(recognition_run_id)

    run_id = open_run()
    done = recognize.expand_kwargs(plan_batches(run_id))
    finish(run_id, done)


nightly_recognition()
