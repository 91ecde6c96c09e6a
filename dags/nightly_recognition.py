"""nightly_recognition: recognize pages the production model has not seen, in mapped batches.

scan_inbox (new scans under the S3 ``inbox/`` prefix, within byte, page and time budgets; an object
that failed or killed a scan is quarantined, never read twice) -> open_run (the model's run for the date;
its page set is fixed when first opened) -> plan_batches -> recognize (one mapped task per batch:
concurrent download, segmentation, batched inference, COPY into Postgres in one transaction;
XCom carries only ids) -> finish -> to_labelstudio (new pages become Label Studio tasks with the
production model's predictions; skipped when LABEL_STUDIO_URL is unset). Rerunning a date writes
nothing new.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from linerec_assets import PREDICTIONS

# Batches recognized at the same time (one task instance each); on CeleryExecutor, the number of
# worker slots given to recognition. See README "Scaling out nightly recognition".
RECOGNITION_PARALLELISM = int(os.environ.get("LINEREC_RECOGNITION_PARALLELISM", "2"))
# The inbox scan takes no new object after LINEREC_INBOX_RUN_SECONDS; a file stuck in a decoder past
# that (and its own LINEREC_INBOX_FILE_SECONDS) gets the task killed, and the retry quarantines it.
INBOX_TIMEOUT = timedelta(seconds=float(os.environ.get("LINEREC_INBOX_RUN_SECONDS") or 3600)
                          + float(os.environ.get("LINEREC_INBOX_FILE_SECONDS") or 600) + 600)


@dag(
    dag_id="nightly_recognition",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["linerec", "inference"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "batch_size": Param(32, type="integer", minimum=1, maximum=10000, description="Pages per mapped batch"),
        "date": Param(None, type=["null", "string"], format="date",
                      description="Run date YYYY-MM-DD (default: the run's logical date)"),
        "model_version": Param(None, type=["null", "string"], minLength=1,
                               description="Read with this registered model version (default: production)"),
    },
    doc_md=__doc__,
)
def nightly_recognition():
    @task(execution_timeout=INBOX_TIMEOUT)
    def scan_inbox() -> dict:
        from tasks.intake import scan_inbox

        return scan_inbox()

    @task
    def open_run(inbox: dict, params=None, dag_run=None) -> int:
        from tasks.recognition import open_recognition_run

        run_date = params.get("date") or (dag_run.logical_date or dag_run.run_after).date().isoformat()
        return open_recognition_run(run_date, params.get("model_version"))

    @task
    def plan_batches(recognition_run_id: int, params=None) -> list[dict]:
        from tasks.recognition import pending_batches

        return [{"recognition_run_id": recognition_run_id, "page_ids": batch}
                for batch in pending_batches(recognition_run_id, params["batch_size"])]

    @task(max_active_tis_per_dag=RECOGNITION_PARALLELISM)
    def recognize(recognition_run_id: int, page_ids: list[int]) -> dict:
        from tasks.recognition import recognize_batch

        return recognize_batch(recognition_run_id, page_ids)

    @task(trigger_rule="none_failed", outlets=[PREDICTIONS])
    def finish(recognition_run_id: int, batches=None) -> dict:
        from tasks.recognition import finish_recognition

        return finish_recognition(recognition_run_id)

    @task
    def to_labelstudio(totals: dict) -> dict:
        """New pages become Label Studio tasks pre-annotated by the production model (skipped
        when LABEL_STUDIO_URL is unset)."""
        from tasks.labelstudio import publish_to_labelstudio

        return publish_to_labelstudio()

    run_id = open_run(scan_inbox())
    done = recognize.expand_kwargs(plan_batches(run_id))
    to_labelstudio(finish(run_id, done))


nightly_recognition()
