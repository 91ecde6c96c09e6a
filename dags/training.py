"""
### training: dataset version → Horovod training → candidate → test CER → promotion → report

**What it does.** `build_dataset` turns the current line annotations into a versioned training set
(line crops + text in sharded TFRecords under `s3://…/datasets/<version>/`, split by document,
deterministic from `split_seed`; unchanged annotations give the same version), or takes the
existing version named by `dataset_version`. `train` runs
`horovodrun --gloo -np <num_processes> -H <hosts> python -m linerec.training.train` on it, uploads the model
to `models/<model version>/` and only then registers it as a **candidate**. `evaluate_and_promote`
measures CER on the test split and promotes the candidate to **production** only if it beats the
current production model on the same split. `report` writes the evaluation report (training curve,
CER by document and line length, the worst lines with their crops) to `reports/<model version>/`
and logs its S3 URI.

**Schedule.** Runs on each `linerec_annotations` asset event (emitted by `annotation_sync`'s
`ingest_export`), or by hand. `evaluate_and_promote` emits an event of `linerec_production_model`
each time it succeeds, whether or not it promoted the candidate (its result's `promoted` says
which); no DAG is scheduled on that asset.

**Params.**

| param | meaning |
|---|---|
| `num_processes` | Horovod processes (`-np`), one per GPU on a GPU cluster; at most `LINEREC_TRAIN_MAX_PROCESSES` (default 8) |
| `hosts` | `-H`, e.g. `gpu1:4,gpu2:4` (default: every process on the worker); only hosts listed in `LINEREC_TRAIN_HOSTS` |
| `hosts_conn_id` | an Airflow Connection holding the host list instead (extra `{"hosts": "gpu1:4,gpu2:4"}` or the host field); only connections listed in `LINEREC_TRAIN_HOSTS_CONNECTIONS` (default `linerec_gpu_hosts`), and its hosts must be allowed too |
| `epochs`, `steps_per_epoch`, `batch_size` | training length and per-process batch |
| `split_seed` | seed of the document-level train/val/test split |
| `dataset_version` | train on this existing version (e.g. `ds-0123abcd…`) instead of building one |
| `warm_start` | start from the production model's weights (fine-tuning) when there is one; off: from scratch |

**Where it runs.** With the CeleryExecutor, `train` is sent to the queue named by
`LINEREC_TRAIN_QUEUE` (the GPU trainers' `gpu` in docker-compose; default `default`).
`horovodrun` and the training processes get an allow-listed environment without the database,
S3 or Label Studio credentials (they read the dataset from a local folder); a host, connection
or process count outside the worker's configuration fails the task before anything starts.

**Rerun.** Every step is idempotent: clearing `evaluate_and_promote` or `report` re-evaluates the
same model; clearing `train` trains a new run (a new candidate). A failed `horovodrun` leaves its
log at `s3://…/training-runs/<run id>/train.log` (path in the task log).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from linerec_assets import ANNOTATIONS, PRODUCTION_MODEL
from linerec_env import env_number, env_text

# The form's bound; the `train` step checks the same setting (linerec.infra.config, which a DAG file
# must not import at parse time) and refuses more.
MAX_PROCESSES = env_number("LINEREC_TRAIN_MAX_PROCESSES", 8)


@dag(
    dag_id="training",
    schedule=[ANNOTATIONS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["linerec", "training"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    params={
        "num_processes": Param(
            min(2, MAX_PROCESSES),
            type="integer",
            minimum=1,
            maximum=MAX_PROCESSES,
            title="Horovod processes",
            description="horovodrun -np: processes in total (one per GPU on a GPU cluster); "
            f"at most {MAX_PROCESSES} (LINEREC_TRAIN_MAX_PROCESSES)",
        ),
        "hosts": Param(
            None,
            type=["null", "string"],
            title="Hosts",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9.:,-]*$",
            description="horovodrun -H, e.g. gpu1:4,gpu2:4 (empty: all processes on the worker); "
            "only hosts the worker allows (LINEREC_TRAIN_HOSTS)",
        ),
        "hosts_conn_id": Param(
            None,
            type=["null", "string"],
            title="Hosts connection",
            pattern=r"^[A-Za-z0-9_]+$",
            description='Airflow Connection id whose extra {"hosts": "gpu1:4,gpu2:4"} '
            "(or host field) gives the host list; overrides Hosts; only "
            "connections the worker allows (LINEREC_TRAIN_HOSTS_CONNECTIONS)",
        ),
        "epochs": Param(3, type="integer", minimum=1, title="Epochs", description="Training epochs"),
        "steps_per_epoch": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Steps per epoch",
            description="Steps per epoch (empty: one pass over the training split)",
        ),
        "batch_size": Param(
            32, type="integer", minimum=1, title="Batch size", description="Lines per batch and process"
        ),
        "split_seed": Param(
            0, type="integer", title="Split seed", description="Seed of the document-level train/val/test split"
        ),
        "warm_start": Param(
            True,
            type="boolean",
            title="Warm start",
            description="Start from the production model's weights (fine-tune) when there is one",
        ),
        "dataset_version": Param(
            None,
            type=["null", "string"],
            title="Dataset version",
            description="Train on this existing dataset version (ds-...) instead of "
            "building one from the current annotations",
        ),
    },
    doc_md=__doc__,
)
def training():
    @task
    def build_dataset(params=None) -> int:
        from tasks.dataset import build_dataset as step
        from tasks.dataset import find_dataset_version

        if params.get("dataset_version"):
            return find_dataset_version(params["dataset_version"])
        return step(seed=params["split_seed"])

    # With the CeleryExecutor, `train` goes to the GPU workers' queue (docker-compose: `gpu`).
    @task(execution_timeout=timedelta(hours=12), queue=env_text("LINEREC_TRAIN_QUEUE", "default"))
    def train(dataset_version_id: int, params=None) -> int:
        from tasks.training import check_hosts_connection, train_model

        hosts = params["hosts"]
        if params.get("hosts_conn_id"):
            from airflow.sdk import BaseHook

            conn = BaseHook.get_connection(check_hosts_connection(params["hosts_conn_id"]))
            hosts = conn.extra_dejson.get("hosts") or conn.host
            if not hosts:
                raise ValueError(f"connection {params['hosts_conn_id']!r} has no host list (extra 'hosts' or host)")
        return train_model(
            dataset_version_id,
            num_processes=params["num_processes"],
            hosts=hosts,
            epochs=params["epochs"],
            steps_per_epoch=params["steps_per_epoch"],
            batch_size=params["batch_size"],
            warm_start=params["warm_start"],
        )

    @task(outlets=[PRODUCTION_MODEL])
    def evaluate_and_promote(model_id: int) -> dict:
        from tasks.evaluate import promote_if_better

        return promote_if_better(model_id)

    @task
    def report(decision: dict) -> str:
        from tasks.report import write_report

        return write_report(decision["model_id"], decision)

    report(evaluate_and_promote(train(build_dataset())))


training()
