"""Running the project's DAGs in-process with Airflow's ``dag.test()`` (demo and tests).

Not a DAG file (``.airflowignore`` keeps the DAG processor away from it). ``make demo`` and the
tests put this folder on ``sys.path`` and ``import local_runner``. Airflow reads its configuration
when first imported, so :func:`configure` must run before any ``airflow`` import in the process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

DAGS_FOLDER = Path(__file__).resolve().parent


def configure(airflow_home: Path, parallelism: int = 4) -> None:
    """Point this process (and its children) at ``airflow_home`` with the project's DAGs."""
    if "airflow" in sys.modules:
        raise RuntimeError("configure() must run before airflow is imported")
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(airflow_home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__PARALLELISM"] = str(parallelism)
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    if str(DAGS_FOLDER) not in sys.path:
        sys.path.insert(0, str(DAGS_FOLDER))


def migrate_metadata_db() -> None:
    """``airflow db migrate`` for the configured home (a no-op when current)."""
    airflow = Path(sys.executable).parent / "airflow"
    proc = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def load_dags() -> dict:
    """Parse the DAGs folder; raises if any DAG file fails to import."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS_FOLDER))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags


def run_dag(dag_id: str, conf: dict | None = None):
    """Run one DAG to completion in this process; returns the finished DagRun."""
    dag = load_dags()[dag_id]
    log.info("dag.test(%s, conf=%s)", dag_id, conf)
    return dag.test(run_conf=conf or {})


def task_results(dag_run) -> dict:
    """XCom return values of a finished ``dag.test()`` run, by task id (mapped: a list)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    out: dict = {}
    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id, XComModel.key == "return_value"
            )
            .all()
        )
        for row in rows:
            value = XComModel.deserialize_value(row)
            if row.map_index >= 0:
                out.setdefault(row.task_id, []).append(value)
            else:
                out[row.task_id] = value
    return out
