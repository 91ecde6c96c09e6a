"""Which files a training run may resume from: only its own, whatever else shares the state folder."""

from __future__ import annotations

import json
import os
import time

import sqlalchemy as sa


def _new_run(engine) -> int:
    with engine.begin() as conn:
        export_id = conn.execute(
            sa.text(
                "INSERT INTO annotation_exports (source, source_ref, sha256, s3_key) "
                "VALUES ('file', 'run-dir test', md5(random()::text), 'exports/x.json') RETURNING export_id"
            )
        ).scalar_one()
        dv = conn.execute(
            sa.text(
                "INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test) "
                "VALUES ('ds-' || md5(random()::text), :e, 'datasets/x/manifest.json', '{}', 1, 1, 1) "
                "RETURNING dataset_version_id"
            ),
            {"e": export_id},
        ).scalar_one()
        return conn.execute(
            sa.text(
                "INSERT INTO training_runs (dataset_version_id, params, num_processes, hosts, status) "
                "VALUES (:dv, '{}', 1, 'localhost:1', 'running') RETURNING training_run_id"
            ),
            {"dv": dv},
        ).scalar_one()


def _checkpoint(folder, mtime: float | None = None):
    ckpt = folder / "checkpoints" / "ckpt-00001"
    ckpt.mkdir(parents=True, exist_ok=True)
    (ckpt / "state.json").write_text('{"epoch": 1, "steps": 10}')
    if mtime is not None:
        for f in [folder, *folder.rglob("*")]:
            os.utime(f, (mtime, mtime))
    return ckpt / "state.json"


def test_own_folder_is_kept_and_foreign_ones_moved_aside(isolated_pipeline, tmp_path):
    from tasks.training import _run_dir

    run_id = _new_run(isolated_pipeline)
    folder = tmp_path / f"training-{run_id}"

    # Files of another database's run of the same id: older than this run, and no run.json.
    stale = _checkpoint(folder, mtime=time.time() - 3600)
    assert _run_dir(folder, run_id) == folder
    assert not stale.exists() and not (folder / "checkpoints").exists()
    aside = list(tmp_path.glob(f"training-{run_id}.orphan-*"))
    assert len(aside) == 1 and (aside[0] / "checkpoints" / "ckpt-00001" / "state.json").exists()  # kept, not deleted
    owner = json.loads((folder / "run.json").read_text())
    assert owner["training_run_id"] == run_id

    # The run's own checkpoint (the task killed and retried): kept.
    own = _checkpoint(folder)
    assert _run_dir(folder, run_id) == folder and own.exists()

    # run.json of another database: moved aside.
    (folder / "run.json").write_text(json.dumps({**owner, "database": "another"}))
    time.sleep(1.1)  # the orphan folder's name has a one-second clock
    _run_dir(folder, run_id)
    assert not own.exists() and len(list(tmp_path.glob(f"training-{run_id}.orphan-*"))) == 2


def test_folder_from_before_run_json_is_adopted_when_written_by_the_run(isolated_pipeline, tmp_path):
    from tasks.training import _run_dir

    run_id = _new_run(isolated_pipeline)
    folder = tmp_path / f"training-{run_id}"
    own = _checkpoint(folder, mtime=time.time() + 1)  # written after the run started, no run.json yet
    assert _run_dir(folder, run_id) == folder and own.exists()
    assert not list(tmp_path.glob("*.orphan-*"))
