"""training: versioned dataset → Horovod training → candidate → test CER → promotion."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from linerec_assets import ANNOTATIONS, PRODUCTION_MODEL


@dag(
    dag_id="training",
    schedule=[ANNOTATIONS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["linerec", "training"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    params={
        "num_processes": Param(2, type="integer", minimum=1, description="Horovod processes (horovodrun -np)"),
        "hosts": Param(None, type=["null", "string"], description="horovodrun -H, e.g. host1:4,host2:4"),
        "epochs": Param(3, type="integer", minimum=1, description="Training epochs"),
        "steps_per_epoch": Param(None, type=["null", "integer"], description="Steps per epoch (default: one pass)"),
        "batch_size": Param(32, type="integer", minimum=1, description="Per-process batch size"),
        "split_seed": Param(0, type="integer", description="Seed of the document-level train/val/test split"),
    },
    doc_md=__doc__,
)
def training():
    @task
    def build_dataset(params=None) -> int:
        from tasks.dataset import build_dataset as step

        return step(seed=params["split_seed"])

    @task(execution_timeout=timedelta(hours=12))
    def train(dataset_version_id: int, params=None) -> int:
        from tasks.training import train_model

        return train_model(dataset_version_id, num_processes=params["num_processes"], hosts=params["hosts"],
                           epochs=params["epochs"], steps_per_epoch=params["steps_per_epoch"],
                           batch_size=params["batch_size"])

    @task(outlets=[PRODUCTION_MODEL])
    def evaluate_and_promote(model_id: int) -> dict:
        from tasks.evaluate import promote_if_better

        return promote_if_better(model_id)

    evaluate_and_promote(train(build_dataset()))


training()
