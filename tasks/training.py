"""Step 3: data-parallel training under ``horovodrun`` and registration of the candidate model."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from linerec.config import get_settings
from tasks.context import engine, store
from tasks.dataset import fetch_dataset

log = logging.getLogger(__name__)

MODEL_FILES = ("model.weights.h5", "model.keras", "config.json", "metrics.json")


def horovod_command(num_processes: int, hosts: str | None, python: str, args: list[str]) -> list[str]:
    """The ``horovodrun`` command line (Gloo) that runs ``python -m linerec.train args``.

    ``hosts`` is Horovod's ``host1:slots,host2:slots``; the default runs every process here.
    """
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    horovodrun = str(Path(python).parent / "horovodrun")
    return [horovodrun, "--gloo", "-np", str(num_processes), "-H", hosts or f"localhost:{num_processes}",
            python, "-m", "linerec.train", *args]


def train_model(dataset_version_id: int, num_processes: int = 2, hosts: str | None = None,
                epochs: int = 1, steps_per_epoch: int | None = None, batch_size: int = 32,
                init_model_id: int | None = None, warm_start: bool = False) -> int:
    """Train on a dataset version with Horovod and register the result as a candidate.

    With ``warm_start`` (and no ``init_model_id``) training starts from the production
    model's weights, when there is one: fine-tuning on new annotations instead of learning from
    scratch. A run with the same inputs that was cut short (the task killed and retried) is
    resumed from its last checkpoint instead of starting over. The model's files are uploaded to S3 before its row is written, so a registered
    model is always complete.

    Returns
    -------
    int
        ``model_id`` of the new candidate.
    """
    eng = engine()
    if warm_start and init_model_id is None:
        with eng.connect() as conn:
            init_model_id = conn.execute(sa.text("SELECT model_id FROM models WHERE status = 'production'")).scalar()
    params = {"epochs": epochs, "steps_per_epoch": steps_per_epoch, "batch_size": batch_size,
              "init_model_id": init_model_id}
    lock = eng.connect()  # holds the run's advisory lock until training is over
    try:
        run_id = _claim_run(lock, dataset_version_id, params, num_processes, hosts or f"localhost:{num_processes}")
        return _train_run(run_id, dataset_version_id, num_processes, hosts, epochs, steps_per_epoch,
                          batch_size, init_model_id)
    finally:
        try:  # session-level locks outlive the connection's return to the pool: release them
            lock.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            lock.commit()
        except sa.exc.DBAPIError:
            lock.invalidate()
        lock.close()


_RUN_LOCK = 72110010  # advisory lock class of training runs: held by the process training it


def _claim_run(conn, dataset_version_id: int, params: dict, num_processes: int, hosts: str) -> int:
    """The training run to train in: an abandoned one with the same inputs, else a new one.

    A run still ``running`` whose advisory lock nobody holds was cut short (worker killed, task
    retried): training resumes in its folder from its last checkpoint. The lock is taken on
    ``conn`` (session level) and released when it closes, or when the process dies.
    """
    abandoned = conn.execute(sa.text(
        "SELECT training_run_id FROM training_runs WHERE status = 'running' AND dataset_version_id = :dv "
        "AND params = CAST(:p AS jsonb) AND num_processes = :n AND hosts = :h ORDER BY training_run_id DESC"),
        {"dv": dataset_version_id, "p": json.dumps(params), "n": num_processes, "h": hosts}).scalars().all()
    conn.commit()
    for run_id in abandoned:
        if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k, :r)"), {"k": _RUN_LOCK, "r": run_id}).scalar():
            conn.commit()
            log.info("training run %s was cut short: resuming it", run_id)
            return run_id
    conn.commit()
    with conn.begin():
        run_id = conn.execute(sa.text(
            "INSERT INTO training_runs (dataset_version_id, params, num_processes, hosts, status) "
            "VALUES (:dv, CAST(:p AS jsonb), :n, :h, 'running') RETURNING training_run_id"),
            {"dv": dataset_version_id, "p": json.dumps(params), "n": num_processes, "h": hosts}).scalar_one()
        conn.execute(sa.text("SELECT pg_advisory_lock(:k, :r)"), {"k": _RUN_LOCK, "r": run_id})
    return run_id


def _train_run(run_id: int, dataset_version_id: int, num_processes: int, hosts: str | None, epochs: int,
               steps_per_epoch: int | None, batch_size: int, init_model_id: int | None) -> int:
    settings = get_settings()
    st = store()
    eng = engine()
    data_dir = fetch_dataset(dataset_version_id, settings.cache_dir / "datasets")
    out_dir = _run_dir(settings.state_dir / "runs" / f"training-{run_id}", run_id)
    args = ["--data-dir", str(data_dir), "--out-dir", str(out_dir), "--epochs", str(epochs),
            "--batch-size", str(batch_size)]
    if steps_per_epoch:
        args += ["--steps-per-epoch", str(steps_per_epoch)]
    if init_model_id:
        args += ["--init-model", str(download_model(init_model_id))]
    cmd = horovod_command(num_processes, hosts, settings.python, args)
    env = dict(os.environ, PATH=f"{Path(settings.python).parent}:{os.environ.get('PATH', '')}",
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    log.info("training run %s: %s", run_id, " ".join(cmd))
    log_path = out_dir / "train.log"
    with open(log_path, "a") as logfh:  # a resumed run's log follows the cut-short attempt's
        proc = subprocess.run(cmd, stdout=logfh, stderr=subprocess.STDOUT, env=env, cwd=str(settings.state_dir))
    log_key = f"training-runs/{run_id}/train.log"
    st.put_file(log_key, log_path)
    for event_file in sorted((out_dir / "tensorboard").rglob("*")):
        if event_file.is_file():
            st.put_file(f"training-runs/{run_id}/tensorboard/{event_file.relative_to(out_dir / 'tensorboard')}",
                        event_file)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        with eng.begin() as conn:
            conn.execute(sa.text("UPDATE training_runs SET status = 'failed', finished_at = now(), log_key = :k "
                                 "WHERE training_run_id = :id"), {"k": log_key, "id": run_id})
        raise RuntimeError(f"horovodrun exited with {proc.returncode} (log {st.uri(log_key)}):\n{tail}")
    metrics = json.loads((out_dir / "metrics.json").read_text())
    with eng.connect() as conn:
        ds_version = conn.execute(sa.text("SELECT version FROM dataset_versions WHERE dataset_version_id = :id"),
                                  {"id": dataset_version_id}).scalar_one()
    version = f"crnn-r{run_id}-{ds_version[3:11]}"
    prefix = f"models/{version}/"
    for name in MODEL_FILES:
        if (out_dir / name).exists():
            st.put_file(prefix + name, out_dir / name)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE training_runs SET status = 'succeeded', finished_at = now(), log_key = :k, "
                             "metrics = CAST(:m AS jsonb) WHERE training_run_id = :id"),
                     {"k": log_key, "m": json.dumps(metrics), "id": run_id})
        model_id = conn.execute(sa.text(
            "INSERT INTO models (version, dataset_version_id, training_run_id, s3_prefix, metrics) "
            "VALUES (:v, :dv, :run, :p, CAST(:m AS jsonb)) RETURNING model_id"),
            {"v": version, "dv": dataset_version_id, "run": run_id, "p": prefix, "m": json.dumps(metrics)}
        ).scalar_one()
    log.info("registered candidate model %s (id %s)", version, model_id)
    return model_id


def _run_dir(out_dir: Path, run_id: int) -> Path:
    """The run's folder, holding only this run's files.

    Run ids are per database: a folder of the same name left by another database's run (a second
    deployment or a reset schema on the same state folder) must not be resumed from. ``run.json``
    names the database and the run's start. A folder with another owner, or without ``run.json``
    and holding files older than the run, is moved aside (``<folder>.orphan-<time>``, nothing
    deleted) and the run starts in an empty one.
    """
    with engine().connect() as conn:
        row = conn.execute(sa.text("SELECT current_database() AS db, started_at FROM training_runs "
                                   "WHERE training_run_id = :r"), {"r": run_id}).one()
    owner = {"database": row.db, "training_run_id": run_id, "started_at": row.started_at.isoformat()}
    marker = out_dir / "run.json"
    if out_dir.exists():
        try:
            mine = json.loads(marker.read_text()) == owner
        except FileNotFoundError:  # written before run.json existed: the run's when nothing predates it
            mine = all(f.stat().st_mtime >= row.started_at.timestamp() for f in out_dir.rglob("*"))
        except (OSError, ValueError):
            mine = False
        if not mine:
            aside = out_dir.with_name(f"{out_dir.name}.orphan-{time.strftime('%Y%m%dT%H%M%S')}")
            log.warning("%s holds files of another training run: moved to %s; run %s starts afresh",
                        out_dir, aside, run_id)
            out_dir.rename(aside)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(owner) + "\n")
    return out_dir


def download_model(model_id: int) -> Path:
    """Fetch a registered model's files from S3 into the local cache; returns the folder."""
    settings = get_settings()
    st = store()
    with engine().connect() as conn:
        version, prefix = conn.execute(sa.text("SELECT version, s3_prefix FROM models WHERE model_id = :id"),
                                       {"id": model_id}).one()
    dest = settings.cache_dir / "models" / version
    for key in st.list_keys(prefix):
        target = dest / key[len(prefix):]
        if not target.exists():
            st.download(key, target)
    return dest
