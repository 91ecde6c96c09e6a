"""Idempotency per step (issue 6 §1): run a step, snapshot every table and the object listing, run it
again, compare. The steps run in pipeline order in a database and bucket of their own."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpers.snapshots import assert_same, snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    from linerec.synth.pages import generate_corpus

    root = tmp_path_factory.mktemp("idem")
    export = generate_corpus(root / "annotated", n_documents=4, seed=81, pages_per_document=(1, 1))
    scans = generate_corpus(root / "scans", n_documents=2, seed=82, pages_per_document=(1, 1))
    bad = root / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    return {"export": export, "scans": sorted((scans.parent / "images").glob("*.png")) + [bad]}


def test_annotation_sync_twice(isolated_pipeline, corpus):
    from tasks.annotation_sync import export_annotations, ingest_export

    first = ingest_export(export_annotations(str(corpus["export"])))
    assert first["pages"] == 4 and first["lines"] > 0
    before = snapshot(isolated_pipeline)
    assert before["line_annotations"] and any(k.startswith("exports/") for k, _ in before["s3"])
    again = ingest_export(export_annotations(str(corpus["export"])))
    assert again["export_id"] == first["export_id"] and again["already_ingested"]
    assert_same(before, snapshot(isolated_pipeline))


def test_annotation_sync_retried_after_it_was_cut_short(isolated_pipeline, corpus, monkeypatch):
    """A retry of an ingest that died half-way (export not marked done) ends in the same state."""
    import json

    from tasks import annotation_sync as sync

    tasks = json.loads(corpus["export"].read_text())
    for t in tasks:
        t["annotations"][0]["result"][1]["value"]["text"] = ["changed line"]  # every task changed
    export = corpus["export"].parent / "edited.json"
    export.write_text(json.dumps(tasks))
    export_id = sync.export_annotations(str(export))

    real, calls = sync._ingest_task, []

    def dies_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(sync, "_ingest_task", dies_on_third)
    with pytest.raises(RuntimeError, match="worker killed"):
        sync.ingest_export(export_id)
    monkeypatch.setattr(sync, "_ingest_task", real)
    retried = sync.ingest_export(export_id)
    assert retried["tasks_unchanged"] == 2 and retried["tasks_changed"] == 2
    before = snapshot(isolated_pipeline)
    with isolated_pipeline.connect() as conn:
        texts = conn.execute(sa.text("SELECT count(*) FROM line_annotations WHERE text = 'changed line'")).scalar()
    assert texts == len(tasks)
    assert sync.ingest_export(export_id)["already_ingested"]
    assert_same(before, snapshot(isolated_pipeline))


def test_intake_twice(isolated_pipeline, corpus):
    from tasks.intake import ingest_files

    paths = [str(p) for p in corpus["scans"]]
    first = ingest_files(paths)
    assert len(first["pages"]) == 2 and first["rejected"] == 1
    before = snapshot(isolated_pipeline)
    again = ingest_files(paths)
    assert again["pages"] == first["pages"] and again["rejected"] == 1
    assert_same(before, snapshot(isolated_pipeline))


def test_dataset_build_twice(isolated_pipeline):
    from tasks.dataset import build_dataset

    first = build_dataset(seed=3, shard_size=8)
    before = snapshot(isolated_pipeline)
    assert before["dataset_items"] and any(k.endswith("/manifest.json") for k, _ in before["s3"])
    assert build_dataset(seed=3, shard_size=8) == first
    assert_same(before, snapshot(isolated_pipeline))


def test_recognition_batches_twice(isolated_pipeline):
    from tasks import nightly_recognition as rec
    from tasks.registry import register_bundled_model

    assert register_bundled_model()["registered"]
    run_id = rec.open_recognition_run("2026-02-03")
    batches = rec.pending_batches(run_id, batch_size=3)
    assert sum(map(len, batches)) == 6  # 4 annotated pages + 2 scans
    first = [rec.recognize_batch(run_id, b) for b in batches]
    assert sum(s["inserted"] for s in first) > 0
    totals = rec.finish_recognition(run_id)
    before = snapshot(isolated_pipeline)

    assert register_bundled_model()["registered"] is False
    assert rec.open_recognition_run("2026-02-03") == run_id
    assert [rec.recognize_batch(run_id, b)["inserted"] for b in batches] == [0] * len(batches)
    assert rec.pending_batches(run_id, batch_size=3) == []
    again = rec.finish_recognition(run_id)
    assert {k: again[k] for k in ("pages", "lines")} == {k: totals[k] for k in ("pages", "lines")}
    assert_same(before, snapshot(isolated_pipeline))
