"""Quality monitoring of nightly runs with dag.test() on real Postgres and S3: a normal run passes,
a run of darker, noisier pages fails its monitor task naming the signal and POSTs the alert to the
webhook of the ``linerec_alerts`` Connection, and a run with no pages passes."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from linerec.infra.config import get_settings

import local_runner

pytestmark = [pytest.mark.slow]

# Small samples in these runs: judge line signals from 40 lines and page signals from 3 pages.
PARAMS = {"batch_size": 8, "monitor_min_lines": 40, "monitor_min_pages": 3}


@pytest.fixture(scope="module")
def db(isolated_pipeline):
    return isolated_pipeline


@pytest.fixture(scope="module")
def production_model(db, tmp_path_factory):
    """The shipped model registered as production with a dataset version built here from generator
    pages, so that its training reference is computed from real pages in S3."""
    from linerec.synth.pages import generate_corpus
    from tasks.annotation_sync import export_annotations, ingest_export
    from tasks.dataset import build_dataset
    from tasks.registry import register_bundled_model

    root = tmp_path_factory.mktemp("monitor-train")
    export = generate_corpus(root / "annotated", n_documents=8, seed=31, pages_per_document=(1, 1))
    assert ingest_export(export_annotations(str(export)))["rejected"] == 0
    dv_id = build_dataset()
    with db.connect() as conn:
        dv = conn.execute(
            sa.text(
                "SELECT version, config, n_train, n_val, n_test FROM dataset_versions WHERE dataset_version_id = :d"
            ),
            {"d": dv_id},
        ).one()
    shipped = get_settings().model_dir
    folder = root / "model"
    folder.mkdir()
    for name in ("config.json", "model.weights.h5"):
        shutil.copy(shipped / name, folder / name)
    (folder / "lineage.json").write_text(
        json.dumps(
            {
                "model_version": "crnn-monitor-test",
                "export": {"source_ref": "tests", "sha256": "1" * 64, "tasks": 8, "lines": 0},
                "dataset": {
                    "version": dv.version,
                    "config": dv.config,
                    "n_train": dv.n_train,
                    "n_val": dv.n_val,
                    "n_test": dv.n_test,
                },
                "metrics": {},
            }
        )
    )
    model = register_bundled_model(folder)
    assert model["registered"]
    return model


def _scans(tmp_path, seed: int, n: int, drift: bool = False) -> list[str]:
    """``n`` one-page generator documents; ``drift``: darkened to 45% and with Gaussian noise (sd 20)."""
    from linerec.synth.pages import generate_corpus

    export = generate_corpus(tmp_path / f"scans-{seed}", n_documents=n, seed=seed, pages_per_document=(1, 1))
    paths = sorted((export.parent / "images").glob("*.png"))
    if drift:
        rng = np.random.default_rng(seed)
        for path in paths:
            page = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
            dark = np.clip(page * 0.45 + rng.normal(0, 20, page.shape), 0, 255).astype(np.uint8)
            Image.fromarray(dark).save(path)
    return [str(p) for p in paths]


class _Webhook:
    """A local HTTP server recording the JSON bodies POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, "body": json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/linerec"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch):
    hook = _Webhook()
    monkeypatch.setenv("AIRFLOW_CONN_LINEREC_ALERTS", hook.url)
    yield hook
    hook.close()


def _task_states(dag_run) -> dict:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id)
            .all()
        )
        return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in rows}


def _signals(db, run_id: int):
    with db.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM run_signals WHERE recognition_run_id = :r"), {"r": run_id}).one()


def test_normal_then_drifted_then_empty_run(db, airflow_db, production_model, tmp_path, webhook):
    from linerec.infra.db import query
    from tasks.context import store
    from tasks.intake import ingest_files

    # 1. A run of pages like the training data: no alert, signals and report stored.
    ingest_files(_scans(tmp_path, seed=41, n=6))
    run = local_runner.run_dag("nightly_recognition", PARAMS | {"date": "2026-05-01"})
    states = _task_states(run)
    assert states["monitor"] == "success", states
    first = local_runner.task_results(run)["monitor"]
    normal = _signals(db, first["run_id"])
    print("normal run: drift", normal.drift, "notes", normal.notes)
    with db.connect() as conn:  # the new scans and the (so far unread) annotated pages
        read = conn.execute(
            sa.text("SELECT count(*) FROM page_results WHERE recognition_run_id = :r AND error IS NULL"),
            {"r": first["run_id"]},
        ).scalar_one()
    assert first["status"] == "ok" and first["pages"] == read >= 6 and first["lines"] >= 40, first
    assert normal.status == "ok" and normal.alerts == [] and normal.sampled_pages == read
    assert normal.drift["training"]["page_contrast"] is not None
    report = store().get_bytes(normal.report_key).decode()
    assert "Status: ok" in report and "trends.png" in report
    assert store().exists(normal.report_key.replace("report.md", "trends.png"))
    with db.connect() as conn:
        reference = conn.execute(
            sa.text("SELECT * FROM training_signals WHERE model_id = :m"), {"m": production_model["model_id"]}
        ).one()
    assert reference.pages == 8 and reference.lines > 40 and reference.splits
    assert webhook.received == []

    # The monitor again on the same run (a rerun of the date): same signals, no row or object changed.
    from tasks.monitor import monitor_run

    etag = store().client.head_object(Bucket=store().bucket, Key=normal.report_key)["ETag"]
    again = monitor_run(first["run_id"], min_lines=PARAMS["monitor_min_lines"], min_pages=PARAMS["monitor_min_pages"])
    assert again["status"] == "ok" and tuple(_signals(db, first["run_id"])) == tuple(normal)
    assert store().client.head_object(Bucket=store().bucket, Key=normal.report_key)["ETag"] == etag

    # 2. Darker, noisier pages: the monitor task fails naming the page signals, the webhook gets it.
    ingest_files(_scans(tmp_path, seed=42, n=6, drift=True))
    run = local_runner.run_dag("nightly_recognition", PARAMS | {"date": "2026-05-02"})
    states = _task_states(run)
    assert states["monitor"] == "failed" and states["finish"] == "success", states
    assert str(getattr(run.state, "value", run.state)) == "failed"
    run_id = local_runner.task_results(run)["open_run"]
    drifted = _signals(db, run_id)
    print("drifted run: drift", drifted.drift, "alerts", [a["message"] for a in drifted.alerts])
    assert drifted.status == "alert" and drifted.history_runs == [first["run_id"]]
    moved = {(a["signal"], a["against"]) for a in drifted.alerts}
    assert {
        ("page_contrast", "training"),
        ("page_background", "training"),
        ("page_contrast", "history"),
        ("page_background", "history"),
    } <= moved, moved
    assert drifted.page_background_mean < normal.page_background_mean - 0.3
    assert len(webhook.received) == 1, webhook.received
    post = webhook.received[0]
    assert post["path"] == "/hooks/linerec"
    body = post["body"]
    assert body["dag_id"] == "nightly_recognition" and body["task_id"] == "monitor"
    assert "page_contrast distribution moved against training: PSI" in body["text"]
    assert {(a["signal"], a["against"]) for a in body["alerts"]} == moved
    assert body["report"] == store().uri(drifted.report_key)
    assert "Status: ALERT" in store().get_bytes(drifted.report_key).decode()
    with db.connect() as conn:
        # the training reference was computed once, for the first run
        assert (
            conn.execute(
                sa.text("SELECT computed_at FROM training_signals WHERE model_id = :m"),
                {"m": production_model["model_id"]},
            ).scalar_one()
            == reference.computed_at
        )
        # parameters as text, as `linerec query runs_quality_dropped n=7 drop=0.05 rise=0.1` passes them
        dropped = conn.execute(query("runs_quality_dropped"), {"n": "7", "drop": "0.05", "rise": "0.1"}).all()
        alert_rows = conn.execute(
            sa.text("SELECT signal, against FROM run_signal_alerts WHERE recognition_run_id = :r"), {"r": run_id}
        ).all()
        trend = conn.execute(
            sa.text("SELECT recognition_run_id, status, n_alerts FROM run_signal_trends ORDER BY logical_date")
        ).all()
    assert [r.recognition_run_id for r in dropped] == [run_id]
    assert "page_contrast" in dropped[0].alerts
    assert {(r.signal, r.against) for r in alert_rows} == moved
    assert [(r.status, r.n_alerts > 0) for r in trend] == [("ok", False), ("alert", True)]

    # 3. Nothing new the next night: the run passes and says it read no page.
    run = local_runner.run_dag("nightly_recognition", PARAMS | {"date": "2026-05-03"})
    assert str(getattr(run.state, "value", run.state)) == "success"
    empty = local_runner.task_results(run)["monitor"]
    assert empty["status"] == "no_pages" and "read no pages" in empty["message"]
    assert _signals(db, empty["run_id"]).status == "no_pages"
    assert len(webhook.received) == 1
