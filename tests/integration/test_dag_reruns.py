"""Whole-DAG reruns (issue 6 §1): each of the three DAGs runs with ``dag.test()`` for a logical date,
every table and the S3 listing (keys with ETags) are snapshot, the DAG runs again for the same
logical date, and the two snapshots are compared.

``annotation_sync`` and ``nightly_recognition`` leave everything as it was (up to the bookkeeping
columns in ``helpers.snapshots.VOLATILE``). ``training`` reruns into a new training run and a new
candidate model by design (the DAG doc: "clearing `train` trains a new run"): the test asserts that
exactly that is added (one training run, one model, its evaluations, its objects under
``models/``, ``training-runs/`` and ``reports/``) and that nothing else changes: the dataset
version is the same content-addressed one, and no earlier row or object is touched except the
production flag when the new model wins.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

import local_runner
from helpers.snapshots import assert_same, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.horovod, pytest.mark.slow]

LOGICAL = {
    "annotation_sync": datetime(2026, 3, 1, tzinfo=UTC),
    "training": datetime(2026, 3, 2, tzinfo=UTC),
    "nightly_recognition": datetime(2026, 3, 3, 2, tzinfo=UTC),
}


def _run(dag_id: str, conf: dict) -> dict:
    """One ``dag.test()`` for the DAG's fixed logical date; returns its tasks' results."""
    run = local_runner.load_dags()[dag_id].test(logical_date=LOGICAL[dag_id], run_conf=conf)
    assert str(getattr(run.state, "value", run.state)) == "success", f"{dag_id} run failed"
    return local_runner.task_results(run)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    from linerec.synth.pages import generate_corpus

    root = tmp_path_factory.mktemp("reruns")
    export = generate_corpus(root / "annotated", n_documents=6, seed=61, pages_per_document=(1, 1))
    scans = generate_corpus(root / "scans", n_documents=2, seed=62, pages_per_document=(1, 1))
    return {"export": export, "scans": sorted((scans.parent / "images").glob("*.png"))}


def test_annotation_sync_rerun_is_identical(isolated_pipeline, airflow_db, corpus):
    conf = {"export_file": str(corpus["export"])}
    first = _run("annotation_sync", conf)
    before = snapshot(isolated_pipeline)
    assert before["line_annotations"] and before["pages"] and before["annotation_exports"]
    again = _run("annotation_sync", conf)
    assert again["ingest_export"]["export_id"] == first["ingest_export"]["export_id"]
    assert_same(before, snapshot(isolated_pipeline))


def _by_table(snap: dict) -> dict:
    """Rows as sets (of their reprs: jsonb columns are dicts)."""
    return {k: {repr(r) for r in v} for k, v in snap.items()}


def test_training_rerun_adds_exactly_one_new_model(isolated_pipeline, airflow_db):
    conf = {"num_processes": 2, "epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "warm_start": False}
    first = _run("training", conf)
    before = snapshot(isolated_pipeline)
    second = _run("training", conf)
    after = snapshot(isolated_pipeline)

    assert second["build_dataset"] == first["build_dataset"]  # same annotations: same dataset version
    new_model, old_model = second["train"], first["train"]
    assert new_model != old_model
    with isolated_pipeline.connect() as conn:
        old_version, new_version, new_run = conn.execute(
            sa.text(
                "SELECT o.version, n.version, n.training_run_id FROM models o, models n "
                "WHERE o.model_id = :o AND n.model_id = :n"
            ),
            {"o": old_model, "n": new_model},
        ).one()
    promoted = second["evaluate_and_promote"]["promoted"]

    b, a = _by_table(before), _by_table(after)
    changed = {t for t in a if a[t] != b.get(t)}
    assert changed <= {"training_runs", "models", "evaluations", "model_files", "s3"}, changed
    assert {"training_runs", "models", "s3"} <= changed
    # training_runs and evaluations: only additions, all of the new run / model
    assert b["training_runs"] <= a["training_runs"] and len(a["training_runs"] - b["training_runs"]) == 1
    assert b["evaluations"] <= a["evaluations"]
    new_evals = [r for r in after["evaluations"] if repr(r) not in b["evaluations"]]
    assert new_evals and all(row[0] == new_model for row in new_evals), new_evals
    # model_files: only the digests of the new model's files, recorded when it was first downloaded
    assert b.get("model_files", set()) <= a.get("model_files", set())
    new_files = [r for r in after.get("model_files", []) if repr(r) not in b.get("model_files", set())]
    assert all(row[0] == new_model for row in new_files), new_files
    # models: one more; the old rows are the same, but for the production flag if the new one won
    assert len(a["models"]) == len(b["models"]) + 1
    with isolated_pipeline.connect() as conn:
        status = dict(conn.execute(sa.text("SELECT model_id, status FROM models")).all())
    assert list(status.values()).count("production") == 1
    assert status[new_model] == ("production" if promoted else "candidate")
    assert status[old_model] == ("retired" if promoted else "production")
    # S3: nothing removed or rewritten; new objects only under the new run's and model's prefixes
    assert b["s3"] <= a["s3"]
    new_keys = sorted(k for k, _ in set(after["s3"]) - set(before["s3"]))
    prefixes = (f"models/{new_version}/", f"training-runs/{new_run}/", f"reports/{new_version}/")
    assert new_keys and all(k.startswith(prefixes) for k in new_keys), new_keys
    assert any(k.startswith(f"models/{new_version}/") for k in new_keys)
    assert old_version != new_version


def test_nightly_recognition_rerun_is_identical(isolated_pipeline, airflow_db, corpus):
    from tasks.intake import ingest_files

    assert len(ingest_files([str(p) for p in corpus["scans"]])["pages"]) == len(corpus["scans"])
    first = _run("nightly_recognition", {"batch_size": 3})
    before = snapshot(isolated_pipeline)
    assert before["predictions"] and len(before["recognition_runs"]) == 1
    assert first["finish"]["pages"] == len(before["page_results"])
    again = _run("nightly_recognition", {"batch_size": 3})
    assert again["open_run"] == first["open_run"]
    assert all(b["inserted"] == 0 for b in again.get("recognize", []))
    assert_same(before, snapshot(isolated_pipeline))
    with isolated_pipeline.connect() as conn:
        run_date = conn.execute(sa.text("SELECT logical_date FROM recognition_runs")).scalar_one()
    assert str(run_date) == "2026-03-03"  # the run is the logical date's
