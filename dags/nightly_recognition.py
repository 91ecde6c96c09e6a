"""nightly_recognition: recognize pages the production model has not seen, in mapped batches.

scan_inbox (new scans under the S3 ``inbox/`` prefix, within byte, page and time budgets; an object
that failed or killed a scan is quarantined, never read twice) -> open_run (the model's run for the
date; its page set is fixed when first opened) -> plan_batches -> recognize (one mapped task per
batch: concurrent download, segmentation, batched inference, COPY into Postgres in one transaction;
then the hOCR, ALTO, PAGE XML and searchable PDF of the documents the batch completed, from the page
bytes it read, unless LINEREC_BATCH_OUTPUTS=0; XCom carries only ids and counts) -> finish (the
run's totals; on success it emits an event of the ``linerec_predictions`` asset, on which no DAG is
scheduled) -> to_labelstudio (new pages become Label Studio tasks with the production model's
predictions; skipped when LABEL_STUDIO_URL is unset). finish -> write_outputs: the outputs of every
completed document the batches did not write, to S3 (content-addressed under ``outputs/``) and
``document_outputs`` (tasks/outputs.py). Rerunning a date writes nothing new. finish -> monitor: the
run's quality signals against the last runs and the training data (tasks/monitor.py); past a
``monitor_*`` threshold it fails, naming the signal, and the alert goes to the task log and to the
webhook of the Airflow Connection ``linerec_alerts`` when set.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from linerec_alerts import AlertNotifier
from linerec_assets import PREDICTIONS
from linerec_env import env_number

# Batches recognized at the same time (one task instance each); on CeleryExecutor, the number of
# worker slots given to recognition. See README "Scaling out nightly recognition".
RECOGNITION_PARALLELISM = env_number("LINEREC_RECOGNITION_PARALLELISM", 2)
# The inbox scan takes no new object after LINEREC_INBOX_RUN_SECONDS; a file stuck in a decoder past
# that (and its own LINEREC_INBOX_FILE_SECONDS) gets the task killed, and the retry quarantines it.
INBOX_TIMEOUT = timedelta(
    seconds=env_number("LINEREC_INBOX_RUN_SECONDS", 3600.0, float, minimum=0)
    + env_number("LINEREC_INBOX_FILE_SECONDS", 600.0, float, minimum=0)
    + 600
)


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
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Run date YYYY-MM-DD (default: the run's logical date)",
        ),
        "model_version": Param(
            None,
            type=["null", "string"],
            minLength=1,
            description="Read with this registered model version (default: production)",
        ),
        "monitor_history_runs": Param(7, type="integer", minimum=0, description="Earlier runs compared with"),
        "monitor_psi": Param(0.25, type="number", minimum=0, description="Alert above this PSI of any signal"),
        "monitor_confidence_drop": Param(
            0.05, type="number", minimum=0, description="Alert on a larger mean confidence fall"
        ),
        "monitor_low_confidence_rise": Param(
            0.10, type="number", minimum=0, description="Alert on a larger rise of the share of lines below 0.8"
        ),
        "monitor_min_lines": Param(200, type="integer", minimum=1, description="Fewer lines: not judged"),
        "monitor_min_pages": Param(20, type="integer", minimum=1, description="Fewer sampled pages: not judged"),
        "monitor_sample_pages": Param(200, type="integer", minimum=1, description="Pages read for page signals"),
        "monitor_reference_pages": Param(
            100, type="integer", minimum=1, description="Training pages read, once a model"
        ),
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
        from tasks.nightly_recognition import open_recognition_run

        run_date = params.get("date") or (dag_run.logical_date or dag_run.run_after).date().isoformat()
        return open_recognition_run(run_date, params.get("model_version"))

    @task
    def plan_batches(recognition_run_id: int, params=None) -> list[dict]:
        from tasks.nightly_recognition import pending_batches

        return [
            {"recognition_run_id": recognition_run_id, "page_ids": batch}
            for batch in pending_batches(recognition_run_id, params["batch_size"])
        ]

    @task(max_active_tis_per_dag=RECOGNITION_PARALLELISM)
    def recognize(recognition_run_id: int, page_ids: list[int]) -> dict:
        """One batch recognized and committed, then the outputs of the documents it completed, written
        from the page bytes the batch read (LINEREC_BATCH_OUTPUTS=0 leaves them to write_outputs)."""
        from linerec.infra.config import get_settings
        from tasks.nightly_recognition import recognize_batch
        from tasks.outputs import write_batch_outputs

        page_data: dict[int, bytes] | None = {} if get_settings().batch_outputs else None
        stats = recognize_batch(recognition_run_id, page_ids, page_data)
        if page_data is not None:
            stats |= write_batch_outputs(recognition_run_id, stats["document_ids"], page_data)
        return stats

    @task(trigger_rule="none_failed", outlets=[PREDICTIONS])
    def finish(recognition_run_id: int, batches=None) -> dict:
        from tasks.nightly_recognition import finish_recognition

        return finish_recognition(recognition_run_id)

    @task
    def to_labelstudio(totals: dict) -> dict:
        """New pages become Label Studio tasks pre-annotated by the production model (skipped
        when LABEL_STUDIO_URL is unset)."""
        from tasks.labelstudio import publish_to_labelstudio

        return publish_to_labelstudio()

    @task
    def write_outputs(recognition_run_id: int, totals: dict) -> dict:
        """hOCR, ALTO, PAGE XML and searchable PDF of every document the run completed that its
        batches did not write, to S3 and document_outputs (a document that cannot be written is
        reported and quarantined)."""
        from tasks.outputs import write_run_outputs

        return write_run_outputs(recognition_run_id)

    @task(retries=1, on_failure_callback=AlertNotifier())
    def monitor(recognition_run_id: int, totals: dict, params=None) -> dict:
        """The run's quality signals against the last runs and the training data; fails on an alert."""
        from airflow.sdk.exceptions import AirflowFailException

        from tasks.monitor import QualityAlert, monitor_run

        try:
            return monitor_run(
                recognition_run_id, **{k[len("monitor_") :]: v for k, v in params.items() if k.startswith("monitor_")}
            )
        except QualityAlert as exc:  # no retry: the same signals give the same alert
            raise AirflowFailException(str(exc)) from exc

    run_id = open_run(scan_inbox())
    done = recognize.expand_kwargs(plan_batches(run_id))
    totals = finish(run_id, done)
    to_labelstudio(totals)
    write_outputs(run_id, totals)
    monitor(run_id, totals)


nightly_recognition()
