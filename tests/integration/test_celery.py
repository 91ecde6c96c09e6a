"""The three DAGs through Airflow's CeleryExecutor: Redis, two Celery workers, REST triggers.

``scripts/airflow_celery.sh`` starts the whole stack (Redis, API server, scheduler, DAG processor,
worker ``linerec-cpu@`` on ``default`` and worker ``linerec-gpu@`` on ``gpu,default``) with its own
``AIRFLOW_HOME``, free ports and a metadata database of its own, against this module's Postgres
database and S3 bucket. Runs are triggered through the REST API; which worker ran a task instance
is read from Celery's result table (``celery_taskmeta.worker``, the Celery hostname given with
``--celery-hostname``), joined to the task instance by its ``external_executor_id``.

1. annotation_sync -> training (``train`` must run on the gpu worker) -> nightly_recognition with
   mapped batches of two pages: batches on both workers, predictions in Postgres.
2. A second nightly run (same pages, a model row with the same files) loses a worker to SIGKILL
   while it reads a batch: the batch is retried on the other worker and every page ends with
   exactly the lines and texts of the clean run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from linerec.infra.config import REPO_ROOT

pytestmark = [pytest.mark.celery, pytest.mark.e2e, pytest.mark.slow]

SCRIPT = REPO_ROOT / "scripts" / "airflow_celery.sh"
META_DB = "linerec_test_celery"
START_TIMEOUT = 600  # s; ~60-120 s on 2 busy cores
RUN_TIMEOUT = 1500  # training and a run with a lost worker (heartbeat timeout + retry delay) on 2 busy cores
HEARTBEAT_TIMEOUT = 90  # s without a heartbeat before the scheduler fails a task instance (busy cores: margin)
CPU, GPU = "linerec-cpu@", "linerec-gpu@"
DATES = ("2026-11-26", "2026-11-27")
CLEAN_BATCH, FAULT_BATCH = 2, 4  # pages per mapped batch (10 pages: 5 batches, then 3)


def _say(config, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(message)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(message)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """Airflow's public REST API with a bearer token from ``/auth/token``."""

    def __init__(self, base: str, password: str):
        import requests

        self.base = base
        self.http = requests.Session()
        resp = self.http.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        assert resp.status_code in (200, 201), resp.text
        self.http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def __call__(self, method: str, path: str, **kwargs) -> dict:
        resp = self.http.request(method, f"{self.base}/api/v2{path}", timeout=60, **kwargs)
        assert resp.ok, f"{method} {path}: {resp.status_code} {resp.text[:500]}"
        return resp.json()

    def trigger(self, dag_id: str, conf: dict) -> str:
        return self("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})["dag_run_id"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")["task_instances"]

    def wait(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> None:
        """Poll a run until it finishes; fails with its task states unless it succeeded."""
        deadline = time.monotonic() + timeout
        while True:
            state = self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}")["state"]
            if state in ("success", "failed") or time.monotonic() > deadline:
                break
            time.sleep(3)
        tasks = {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in self.task_instances(dag_id, run_id)}
        assert state == "success", f"{dag_id} run {run_id} ended {state}: {tasks}"


class Stack:
    """The running stack: REST client, metadata database, worker processes, logs."""

    def __init__(self, home: Path, api: Api, meta: sa.Engine):
        self.home, self.api, self.meta = home, api, meta

    def worker_pid(self, name: str) -> int:
        return int((self.home / "run" / f"worker-{name}.pid").read_text())

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list:
        """Every try of ``task_id`` in the run (history and current), with the Celery worker that took it."""
        sql = sa.text("""
            SELECT t.map_index, t.try_number, t.state, t.pid, t.external_executor_id, c.worker
            FROM (SELECT map_index, try_number, state, pid, external_executor_id FROM task_instance
                  WHERE dag_id = :d AND run_id = :r AND task_id = :t
                  UNION
                  SELECT map_index, try_number, state, pid, external_executor_id FROM task_instance_history
                  WHERE dag_id = :d AND run_id = :r AND task_id = :t) t
            LEFT JOIN celery_taskmeta c ON c.task_id = t.external_executor_id
            ORDER BY t.map_index, t.try_number""")
        with self.meta.connect() as conn:
            return conn.execute(sql, {"d": dag_id, "r": run_id, "t": task_id}).all()

    def log_tail(self, n: int = 4000) -> str:
        logs = self.home / "logs"
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-n:]}" for p in sorted(logs.glob("*.log")))


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (task processes run in process groups of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _owner(pid: int, workers: dict[str, int]) -> str | None:
    """The name of the worker whose process tree holds ``pid``."""
    for name, root in workers.items():
        if pid in _descendants(root):
            return name
    return None


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    from linerec.synth.pages import generate_corpus

    root = tmp_path_factory.mktemp("celery-corpus")
    export = generate_corpus(root / "annotated", n_documents=6, seed=31, pages_per_document=(1, 1))
    scans = generate_corpus(root / "scans", n_documents=4, seed=32, pages_per_document=(1, 1))
    return {"export": export, "scans": sorted((scans.parent / "images").glob("*.png"))}


@pytest.fixture(scope="module")
def stack(isolated_pipeline, tmp_path_factory, pytestconfig):
    """``scripts/airflow_celery.sh`` on free ports; stopped at the end, also when a test failed."""
    import requests

    url = sa.engine.make_url(os.environ["DATABASE_URL"])
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{META_DB}" WITH (FORCE)'))
    home = tmp_path_factory.mktemp("airflow-celery")
    port = _free_port()
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW_PORT=str(port),
        LINEREC_REDIS_PORT=str(_free_port()),
        LINEREC_AIRFLOW_DB=META_DB,
        LINEREC_STOP_GRACE="20",
        # runs only when triggered (no cron or asset-triggered runs beside the test's own)
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30",
    )
    for var in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__PARALLELISM",
        "AIRFLOW__LOGGING__LOGGING_LEVEL",
        "AIRFLOW__CORE__EXECUTOR",
    ):
        env.pop(var, None)
    base = f"http://127.0.0.1:{port}"
    out = home / "airflow_celery.out"
    t0 = time.monotonic()
    with open(out, "w") as fh:
        proc = subprocess.Popen(
            [str(SCRIPT)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    meta = sa.create_engine(url.set(database=META_DB))
    try:
        api = None
        while True:
            if proc.poll() is not None:
                pytest.fail(f"scripts/airflow_celery.sh exited with {proc.returncode}:\n{out.read_text()[-3000:]}")
            if time.monotonic() - t0 > START_TIMEOUT:
                pytest.fail(f"the Celery stack is not ready after {START_TIMEOUT}s:\n{out.read_text()[-2000:]}")
            try:
                health = requests.get(f"{base}/api/v2/monitor/health", timeout=5).json()
                workers_ready = all(
                    re.search(rf"{name}\S+ ready\.", _read(home / "logs" / f"worker-{kind}.log"))
                    for kind, name in (("cpu", CPU), ("gpu", GPU))
                )
                if workers_ready and all(
                    health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor")
                ):
                    api = api or Api(
                        base, json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
                    )
                    dags = {d["dag_id"] for d in api("GET", "/dags")["dags"]}
                    if {"annotation_sync", "training", "nightly_recognition"} <= dags:
                        break
            except (requests.RequestException, ValueError, OSError):
                pass
            time.sleep(3)
        _say(pytestconfig, f"\nCelery stack ready at {base} after {time.monotonic() - t0:.0f}s (logs {home / 'logs'})")
        assert api("GET", "/importErrors")["total_entries"] == 0
        for dag_id in ("annotation_sync", "training", "nightly_recognition"):
            assert api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})["is_paused"] is False
        yield Stack(home, api, meta)
    finally:
        stop = subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=180)
        try:  # the foreground script exits by itself once no component runs
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # nothing of the stack may outlive the test: every component's process group is gone
        for pidfile in (home / "run").glob("*.pid"):
            try:
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        meta.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{META_DB}" WITH (FORCE)'))
        admin.dispose()
        assert stop.returncode == 0, stop.stdout + stop.stderr


def _page_lines(conn, run_id: int) -> dict[int, list[tuple[int, str]]]:
    """Each page's (line_no, text) of one recognition run."""
    out: dict[int, list[tuple[int, str]]] = {}
    for page_id, line_no, text in conn.execute(
        sa.text(
            "SELECT page_id, line_no, text FROM predictions WHERE recognition_run_id = :r ORDER BY page_id, line_no"
        ),
        {"r": run_id},
    ):
        out.setdefault(page_id, []).append((line_no, text))
    return out


@pytest.fixture(scope="module")
def clean_run(stack, corpus, isolated_pipeline, pytestconfig) -> dict:
    """annotation_sync -> training -> nightly_recognition through the workers, no fault."""
    from tasks.intake import ingest_files

    api, db = stack.api, isolated_pipeline
    t0 = time.monotonic()
    sync = api.trigger("annotation_sync", {"export_file": str(corpus["export"])})
    api.wait("annotation_sync", sync)
    t_sync = time.monotonic()
    training = api.trigger("training", {"num_processes": 1, "epochs": 1, "steps_per_epoch": 2, "batch_size": 8})
    api.wait("training", training)
    t_train = time.monotonic()

    assert len(ingest_files([str(p) for p in corpus["scans"]])["pages"]) == len(corpus["scans"])
    with db.connect() as conn:  # the nightly run reads every page, annotated ones included
        pages = [r[0] for r in conn.execute(sa.text("SELECT page_id FROM pages ORDER BY page_id"))]
    nightly = api.trigger("nightly_recognition", {"batch_size": CLEAN_BATCH, "date": DATES[0]})
    api.wait("nightly_recognition", nightly)
    t_nightly = time.monotonic()
    _say(
        pytestconfig,
        f"\nthrough Celery: annotation_sync {t_sync - t0:.0f}s, training {t_train - t_sync:.0f}s, "
        f"nightly_recognition ({len(pages)} pages, {-(-len(pages) // CLEAN_BATCH)} batches) "
        f"{t_nightly - t_train:.0f}s",
    )
    with db.connect() as conn:
        run_id, model = conn.execute(
            sa.text(
                "SELECT r.recognition_run_id, m.version FROM recognition_runs r JOIN models m USING (model_id) "
                "WHERE r.logical_date = :d"
            ),
            {"d": DATES[0]},
        ).one()
        lines = _page_lines(conn, run_id)
    return {"training": training, "nightly": nightly, "pages": pages, "run_id": run_id, "model": model, "lines": lines}


def test_dags_through_two_celery_workers(stack, clean_run, isolated_pipeline):
    # `train` went to the gpu queue and ran on the gpu worker, once
    train = stack.tries("training", clean_run["training"], "train")
    assert [(t.try_number, t.state) for t in train] == [(1, "success")], train
    assert train[0].worker and train[0].worker.startswith(GPU), train
    with stack.meta.connect() as conn:
        queue = conn.execute(
            sa.text("SELECT queue FROM task_instance WHERE run_id = :r AND task_id = 'train'"),
            {"r": clean_run["training"]},
        ).scalar_one()
    assert queue == "gpu"

    # the mapped batches, spread over both workers
    batches = stack.tries("nightly_recognition", clean_run["nightly"], "recognize")
    assert len(batches) == -(-len(clean_run["pages"]) // CLEAN_BATCH), batches
    assert all(b.try_number == 1 and b.state == "success" for b in batches), batches
    workers = {b.worker.split("@")[0] + "@" for b in batches if b.worker}
    assert workers == {CPU, GPU}, f"batches ran on {workers}: {batches}"

    # every page has its predictions in Postgres, from the model the training run promoted
    with isolated_pipeline.connect() as conn:
        production = conn.execute(sa.text("SELECT version FROM models WHERE status = 'production'")).scalar_one()
        done = conn.execute(
            sa.text("SELECT count(*) FROM page_results WHERE recognition_run_id = :r"), {"r": clean_run["run_id"]}
        ).scalar_one()
    assert clean_run["model"] == production
    assert done == len(clean_run["pages"])
    assert set(clean_run["lines"]) == set(clean_run["pages"])
    assert all(len(lines) > 0 for lines in clean_run["lines"].values())


def test_worker_killed_mid_batch_is_retried_on_the_other(stack, clean_run, isolated_pipeline, pytestconfig):
    api, db = stack.api, isolated_pipeline
    # The same pages again, read by a model row with the production model's files: every line and
    # text must come out as in the clean run.
    twin = clean_run["model"] + "-celery-twin"
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO models (version, dataset_version_id, training_run_id, s3_prefix, metrics) "
                "SELECT :twin, dataset_version_id, training_run_id, s3_prefix, metrics FROM models "
                "WHERE version = :v"
            ),
            {"twin": twin, "v": clean_run["model"]},
        )
    workers = {name: stack.worker_pid(name) for name in ("cpu", "gpu")}
    t0 = time.monotonic()
    run = api.trigger("nightly_recognition", {"batch_size": FAULT_BATCH, "date": DATES[1], "model_version": twin})

    # SIGKILL the worker (its whole process tree) that runs the first batch seen running
    victim = batch = None
    deadline = time.monotonic() + RUN_TIMEOUT
    while victim is None:
        assert time.monotonic() < deadline, f"no batch seen running:\n{stack.log_tail()}"
        running = [t for t in stack.tries("nightly_recognition", run, "recognize") if t.state == "running" and t.pid]
        for t in running:
            victim, batch = _owner(t.pid, workers), t.map_index
            if victim:
                break
        else:
            time.sleep(0.5)
    time.sleep(2)  # well inside the batch: its task process has loaded the model or reads pages
    tree = _descendants(workers[victim])
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    t_kill = time.monotonic()
    survivor = "gpu" if victim == "cpu" else "cpu"
    _say(
        pytestconfig,
        f"\nkilled worker {victim} ({len(tree)} processes) {t_kill - t0:.0f}s into the run, while it ran batch {batch}",
    )

    api.wait("nightly_recognition", run)
    _say(
        pytestconfig,
        f"run with a lost worker finished {time.monotonic() - t_kill:.0f}s after the kill "
        f"(heartbeat timeout {HEARTBEAT_TIMEOUT}s + retry delay)",
    )
    assert not any(Path(f"/proc/{pid}").exists() for pid in tree), "the killed worker's processes still run"

    tries = stack.tries("nightly_recognition", run, "recognize")
    killed = [t for t in tries if t.map_index == batch]
    _say(
        pytestconfig,
        "batch {}: {}".format(batch, "; ".join(f"try {t.try_number} {t.state} on {t.worker}" for t in killed)),
    )
    assert [t.try_number for t in killed] == [1, 2], tries
    assert killed[0].state in ("failed", "up_for_retry") and killed[1].state == "success", killed
    prefix = {"cpu": CPU, "gpu": GPU}
    assert killed[1].worker and killed[1].worker.startswith(prefix[survivor]), killed
    assert killed[0].worker and killed[0].worker.startswith(prefix[victim]), killed  # Celery's STARTED record
    # every batch ended in success, the ones after the kill on the survivor
    final = {t.map_index: t for t in tries}
    assert all(t.state == "success" for t in final.values()), tries

    # nothing lost, nothing twice: the lines and texts of every page are those of the clean run
    with db.connect() as conn:
        run_id = conn.execute(
            sa.text(
                "SELECT r.recognition_run_id FROM recognition_runs r JOIN models m USING (model_id) "
                "WHERE m.version = :v AND r.logical_date = :d"
            ),
            {"v": twin, "d": DATES[1]},
        ).scalar_one()
        lines = _page_lines(conn, run_id)
        per_page = dict(
            conn.execute(
                sa.text("SELECT page_id, count(*) FROM page_results WHERE recognition_run_id = :r GROUP BY page_id"),
                {"r": run_id},
            ).all()
        )
    assert {p: len(v) for p, v in lines.items()} == {p: len(v) for p, v in clean_run["lines"].items()}
    assert lines == clean_run["lines"]
    assert per_page == {p: 1 for p in clean_run["pages"]}
