"""Crash safety (issue 6 §2). A recognition batch: ``kill -9`` the process running
``tasks.nightly_recognition.recognize_batch`` at a chosen point, rerun the batch, and the predictions
exist exactly once and equal those of an uninterrupted run. Training: ``kill -9`` a
``horovodrun -np 2`` run mid-epoch; the rerun resumes from its last checkpoint and completes.

The kill point is reached by wrapping one function in the child process (a fault a real service
cannot produce on demand); everything else is the real code against the real services.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa

from linerec.infra.config import REPO_ROOT

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent("""
    import sys, time
    from tasks import nightly_recognition as rec

    point, run_id, pages = sys.argv[1], int(sys.argv[2]), [int(p) for p in sys.argv[3].split(",")]

    def hang(what):
        print(what, flush=True)
        time.sleep(600)

    if point == "reading":  # pages read and recognized, nothing written yet
        real_read = rec.read_and_recognize_pages
        def read_and_recognize_pages(*a, **k):
            out = real_read(*a, **k)
            hang("READ")
            return out
        rec.read_and_recognize_pages = read_and_recognize_pages
    elif point == "mid_write":  # rows written in the open transaction, not committed
        real_write = rec.write_batch
        def write_batch(conn, *a, **k):
            n = real_write(conn, *a, **k)
            hang("WRITTEN")
            return n
        rec.write_batch = write_batch
    rec.recognize_batch(run_id, pages)
    hang("COMMITTED")  # committed, but the worker dies before it can report success
""")


@pytest.fixture(scope="module")
def model(isolated_pipeline) -> dict:
    from tasks.registry import register_bundled_model

    return register_bundled_model()


def _new_pages(tmp_path, seed: int) -> list[int]:
    """Fresh scans (a model reads a page once, whatever the run), registered by intake."""
    from linerec.synth.pages import generate_corpus
    from tasks.intake import ingest_files

    scans = generate_corpus(tmp_path / "scans", n_documents=3, seed=seed, pages_per_document=(1, 1))
    return ingest_files([str(p) for p in sorted((scans.parent / "images").glob("*.png"))])["pages"]


def _lines(engine, run_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT page_id, line_no, x, y, w, h, text FROM predictions WHERE recognition_run_id = :r "
                    "ORDER BY page_id, line_no"
                ),
                {"r": run_id},
            )
        ]


def _kill_at(point: str, run_id: int, pages: list[int]) -> str:
    marker = {"reading": "READ", "mid_write": "WRITTEN", "committed": "COMMITTED"}[point]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, point, str(run_id), ",".join(map(str, pages))],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        seen = []
        for line in proc.stdout:  # blocks until the child reaches its kill point (or dies)
            seen.append(line.strip())
            if line.strip() == marker:
                break
        assert seen and seen[-1] == marker, f"child never reached {point}: {seen} {proc.stderr.read()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return marker


@pytest.mark.parametrize(
    "point, date, seed",
    [("reading", "2026-05-02", 92), ("mid_write", "2026-05-03", 93), ("committed", "2026-05-04", 94)],
)
def test_killed_batch_reruns_to_exactly_one_copy(isolated_pipeline, model, tmp_path, point, date, seed):
    from tasks import nightly_recognition as rec

    pages = _new_pages(tmp_path, seed)
    run_id = rec.open_recognition_run(date)
    _kill_at(point, run_id, pages)

    visible = _lines(isolated_pipeline, run_id)
    if point == "committed":
        assert visible  # the batch was complete before the kill
    else:
        assert visible == []  # no partial result of the killed batch is visible
    rerun = rec.recognize_batch(run_id, pages)
    final = _lines(isolated_pipeline, run_id)
    assert final and rerun["inserted"] == (0 if point == "committed" else len(final))
    if point == "committed":
        assert final == visible
    assert rec.recognize_batch(run_id, pages)["inserted"] == 0
    assert _lines(isolated_pipeline, run_id) == final
    with isolated_pipeline.connect() as conn:
        per_page = conn.execute(
            sa.text(
                "SELECT page_id, count(*), sum(lines) FROM page_results WHERE recognition_run_id = :r GROUP BY page_id"
            ),
            {"r": run_id},
        ).all()
        duplicates = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT 1 FROM predictions WHERE recognition_run_id = :r "
                "GROUP BY page_id, line_no HAVING count(*) > 1) d"
            ),
            {"r": run_id},
        ).scalar()
    assert sorted((p, n) for p, n, _ in per_page) == [(p, 1) for p in sorted(pages)] and duplicates == 0
    assert sum(lines for _, _, lines in per_page) == len(final)
    assert rec.finish_recognition(run_id)["lines"] == len(final)


# --------------------------------------------------------------------------- training
def _tree(pid: int) -> list:
    import psutil

    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill_tree(victims: list) -> None:
    """SIGKILL every process of a tree at once (no process gets to clean up)."""
    for p in victims:
        try:
            p.send_signal(signal.SIGKILL)
        except Exception:  # noqa: BLE001 - already gone
            pass


@pytest.mark.horovod
@pytest.mark.skipif(importlib.util.find_spec("horovod") is None, reason="horovod is not installed")
def test_killed_training_resumes_from_its_last_checkpoint(tmp_path):
    """``kill -9`` a ``horovodrun -np 2`` run (launcher and both ranks) in its second epoch, after
    the first epoch's checkpoint; the same command again resumes from epoch 1 and completes."""
    import time

    from helpers.line_shards import tiny_dataset

    data_dir, out_dir = tiny_dataset(tmp_path / "data"), tmp_path / "out"
    bin_dir = os.path.dirname(sys.executable)
    cmd = [
        os.path.join(bin_dir, "horovodrun"),
        "--gloo",
        "-np",
        "2",
        "-H",
        "localhost:2",
        sys.executable,
        "-m",
        "linerec.training.train",
        "--data-dir",
        str(data_dir),
        "--out-dir",
        str(out_dir),
        "--epochs",
        "3",
        "--steps-per-epoch",
        "40",
        "--batch-size",
        "4",
    ]
    env = dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(REPO_ROOT),
    )
    ckpts = out_dir / "checkpoints"
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 900
            while not (ckpts / "ckpt-00001" / "state.json").exists():
                assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no checkpoint after 900 s"
                time.sleep(0.1)
            victims = _tree(proc.pid)  # horovodrun, its per-rank middlemen (own sessions) and the ranks
            assert sum("linerec.training.train" in " ".join(p.cmdline()) for p in victims if p.is_running()) >= 2
            _kill_tree(victims)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    time.sleep(1)
    assert not [p for p in victims if p.is_running() and p.status() != "zombie"], "a rank survived kill -9"
    done = sorted(p.name for p in ckpts.glob("ckpt-*") if (p / "state.json").exists())
    assert done == ["ckpt-00001"], f"killed in epoch 2, yet checkpoints {done}"
    assert not (out_dir / "metrics.json").exists()
    saved = json.loads((ckpts / "ckpt-00001" / "state.json").read_text())
    assert saved["epoch"] == 1 and saved["steps"] == 40

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    log = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, log[-4000:]
    assert re.search(r"resuming from checkpoint \S*ckpt-00001 \(epoch 1, step 40\)", log), log[-3000:]
    assert "(from epoch 1)" in log
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["steps"] == 120 and metrics["world_size"] == 2
    assert len(metrics["train_loss"]) == 3 and metrics["train_loss"][0] == saved["train_loss"][0]
    assert sorted(p.name for p in ckpts.glob("ckpt-*")) == ["ckpt-00002", "ckpt-00003"]


TRAIN_CHILD = textwrap.dedent("""
    import logging, sys
    from tasks.training import train_model

    logging.basicConfig(level=logging.INFO)
    train_model(int(sys.argv[1]), num_processes=2, epochs=2, steps_per_epoch=15, batch_size=4)
""")


@pytest.mark.horovod
@pytest.mark.skipif(importlib.util.find_spec("horovod") is None, reason="horovod is not installed")
def test_killed_train_task_is_resumed_by_its_retry(isolated_pipeline, tmp_path):
    """The ``train`` step killed (worker, horovodrun and ranks) after its first checkpoint: the retry
    continues the same training run from that checkpoint, and registers one model for it."""
    import time

    from linerec.infra.config import get_settings
    from linerec.synth.pages import generate_corpus
    from tasks.annotation_sync import export_annotations, ingest_export
    from tasks.dataset import build_dataset
    from tasks.training import train_model

    export = generate_corpus(tmp_path / "c", n_documents=4, seed=95, pages_per_document=(1, 1))
    ingest_export(export_annotations(str(export)))
    dv = build_dataset(seed=0)
    runs = get_settings().state_dir / "runs"
    with isolated_pipeline.connect() as conn:
        models_before = conn.execute(sa.text("SELECT count(*) FROM models")).scalar()
        next_run = conn.execute(sa.text("SELECT coalesce(max(training_run_id), 0) + 1 FROM training_runs")).scalar()
        db_name = conn.execute(sa.text("SELECT current_database()")).scalar()
    # A folder of the same name left by another database's run 1 (tests share the state folder, as
    # two deployments or a reset schema would): it must be cleared, never resumed from.
    stale = runs / f"training-{next_run}" / "checkpoints" / "ckpt-00007"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "state.json").write_text('{"epoch": 7, "steps": 105}')

    def own_checkpoint(run_id: int) -> bool:
        run_dir = runs / f"training-{run_id}"
        try:
            owner = json.loads((run_dir / "run.json").read_text())
        except (OSError, ValueError):
            return False
        return owner["database"] == db_name and (run_dir / "checkpoints" / "ckpt-00001" / "state.json").exists()

    with open(tmp_path / "worker.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", TRAIN_CHILD, str(dv)],
            cwd=REPO_ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline, run_id = time.monotonic() + 900, None
            while not (run_id and own_checkpoint(run_id)):
                assert proc.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no checkpoint after 900 s"
                with isolated_pipeline.connect() as conn:
                    run_id = conn.execute(sa.text("SELECT max(training_run_id) FROM training_runs")).scalar()
                time.sleep(0.2)
            victims = _tree(proc.pid)
            _kill_tree(victims)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    time.sleep(1)
    assert not [p for p in victims if p.is_running() and p.status() != "zombie"]
    with isolated_pipeline.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT status FROM training_runs WHERE training_run_id = :r"), {"r": run_id}
            ).scalar_one()
            == "running"
        )
        assert conn.execute(sa.text("SELECT count(*) FROM models")).scalar() == models_before
    assert run_id == next_run and not stale.exists() and list(runs.glob(f"training-{next_run}.orphan-*"))

    model_id = train_model(dv, num_processes=2, epochs=2, steps_per_epoch=15, batch_size=4)  # the retry
    with isolated_pipeline.connect() as conn:
        rows = conn.execute(sa.text("SELECT training_run_id, status, metrics FROM training_runs")).all()
        model_run = conn.execute(
            sa.text("SELECT training_run_id FROM models WHERE model_id = :m"), {"m": model_id}
        ).scalar_one()
    assert [(r.training_run_id, r.status) for r in rows] == [(run_id, "succeeded")] and model_run == run_id
    assert rows[0].metrics["epochs"] == 2 and rows[0].metrics["steps"] == 30
    train_log = (runs / f"training-{run_id}" / "train.log").read_text()
    assert re.search(r"resuming from checkpoint \S*ckpt-00001 \(epoch 1, step 15\)", train_log), train_log[-3000:]
    assert "ckpt-00007" not in train_log
    with isolated_pipeline.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM models")).scalar() == models_before + 1
    # The run's advisory lock went with the step: nothing keeps it held in the pool.
    with isolated_pipeline.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 72110010")
            ).scalar()
            == 0
        )
