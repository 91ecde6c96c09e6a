"""The three DAGs end to end with dag.test() on real Postgres, a real S3 server and horovodrun."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

import local_runner

pytestmark = [pytest.mark.e2e, pytest.mark.horovod, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    from linerec.synth.pages import generate_corpus

    root = tmp_path_factory.mktemp("corpus")
    export = generate_corpus(root / "annotated", n_documents=6, seed=11)
    tasks = json.loads(export.read_text())
    # One region with an empty transcription: it must be quarantined, the rest ingested.
    bad = tasks[0]["annotations"][0]["result"]
    text_item = next(r for r in bad if r["type"] == "textarea")
    text_item["value"]["text"] = [""]
    export.write_text(json.dumps(tasks))
    scans = generate_corpus(root / "scans", n_documents=2, seed=12, pages_per_document=(1, 1))
    return {
        "export": export,
        "scans": sorted((scans.parent / "images").glob("*.png")),
        "bad_region": text_item["id"],
        "bad_task": tasks[0]["id"],
    }


def _state(dag_run) -> str:
    return str(getattr(dag_run.state, "value", dag_run.state))


def test_pipeline_end_to_end(isolated_pipeline, airflow_db, corpus, table_counts):
    services = isolated_pipeline
    from tasks.context import store
    from tasks.intake import ingest_files

    # 1. annotation_sync
    run = local_runner.run_dag("annotation_sync", {"export_file": str(corpus["export"])})
    assert _state(run) == "success"
    after_sync = table_counts()
    assert after_sync["annotation_exports"] == 1 and after_sync["documents"] == 6
    assert after_sync["pages"] >= 6 and after_sync["line_annotations"] > 40
    with services.connect() as conn:
        q = conn.execute(sa.text("SELECT item_ref, reason, raw FROM quarantine")).all()
    assert any(corpus["bad_region"] in r.item_ref and "empty" in r.reason for r in q), q

    # Re-running the sync on the same export changes no row.
    run = local_runner.run_dag("annotation_sync", {"export_file": str(corpus["export"])})
    assert _state(run) == "success"
    assert table_counts() == after_sync

    # 2. training: dataset -> horovodrun -np 2 -> candidate -> evaluate -> promote
    run = local_runner.run_dag("training", {"num_processes": 2, "epochs": 1, "steps_per_epoch": 3, "batch_size": 8})
    assert _state(run) == "success"
    results = local_runner.task_results(run)
    decision = results["evaluate_and_promote"]
    assert decision["promoted"] is True and decision["reason"] == "no production model yet"
    assert 0.0 <= decision["candidate_cer"]

    with services.connect() as conn:
        splits = conn.execute(
            sa.text(
                "SELECT d.name, count(DISTINCT di.split) AS n FROM dataset_items di "
                "JOIN line_annotations la USING (line_annotation_id) JOIN pages p USING (page_id) "
                "JOIN documents d USING (document_id) GROUP BY d.name"
            )
        ).all()
        run_row = conn.execute(sa.text("SELECT num_processes, status, metrics FROM training_runs")).one()
    assert splits and all(r.n == 1 for r in splits), "a document spans two splits"
    assert run_row.num_processes == 2 and run_row.status == "succeeded"
    assert run_row.metrics["world_size"] == 2

    # 3. new scans arrive, then the nightly run recognizes every pending page in mapped batches
    intake = ingest_files([str(p) for p in corpus["scans"]])
    assert len(intake["pages"]) == len(corpus["scans"]) and intake["rejected"] == 0
    assert ingest_files([str(p) for p in corpus["scans"]])["pages"] == intake["pages"]  # once by sha256
    run = local_runner.run_dag("nightly_recognition", {"batch_size": 4, "date": "2026-11-26"})
    assert _state(run) == "success"
    counts = table_counts()
    assert counts["page_results"] == counts["pages"]
    assert counts["predictions"] > 0 and counts["recognition_runs"] == 1
    for table in (
        "annotation_exports",
        "documents",
        "pages",
        "line_annotations",
        "dataset_versions",
        "dataset_items",
        "training_runs",
        "models",
        "evaluations",
        "recognition_runs",
        "predictions",
        "page_results",
        "quarantine",
        "schema_migrations",
    ):
        assert counts[table] > 0, f"{table} is empty"

    # Every prediction traces to its model, dataset version and annotation export.
    with services.connect() as conn:
        orphans = conn.execute(
            sa.text(
                "SELECT count(*) FROM predictions pr "
                "LEFT JOIN models m USING (model_id) "
                "LEFT JOIN dataset_versions dv ON dv.dataset_version_id = m.dataset_version_id "
                "LEFT JOIN annotation_exports ae ON ae.export_id = dv.export_id "
                "WHERE ae.export_id IS NULL"
            )
        ).scalar()
        assert orphans == 0
        status = dict(conn.execute(sa.text("SELECT status, count(*) FROM models GROUP BY status")).all())
    assert status == {"production": 1}

    # A candidate that is not strictly better stays a candidate: register the production model's
    # own files again as a new candidate (equal CER on the same test split).
    from tasks.evaluate import promote_if_better

    with services.begin() as conn:
        twin = conn.execute(
            sa.text(
                "INSERT INTO models (version, dataset_version_id, training_run_id, s3_prefix, metrics) "
                "SELECT version || '-twin', dataset_version_id, training_run_id, s3_prefix, metrics "
                "FROM models WHERE status = 'production' RETURNING model_id"
            )
        ).scalar_one()
    decision = promote_if_better(twin)
    assert decision["promoted"] is False and decision["candidate_cer"] == decision["production_cer"]
    assert ">=" in decision["reason"]

    # A rerun of the same date adds nothing.
    run = local_runner.run_dag("nightly_recognition", {"batch_size": 4, "date": "2026-11-26"})
    assert _state(run) == "success"
    assert table_counts()["predictions"] == counts["predictions"]

    # Objects in S3: the raw export, page images, dataset shards + manifest, model files, train log.
    keys = list(store().list_keys())
    for prefix in ("exports/", "pages/", "datasets/", "models/", "training-runs/"):
        assert any(k.startswith(prefix) for k in keys), f"nothing under {prefix}"
    manifests = [k for k in keys if k.endswith("/manifest.json")]
    assert len(manifests) == 1
    manifest = json.loads(store().get_bytes(manifests[0]))
    for _split, files in manifest["splits"].items():
        for f in files:
            assert f"datasets/{manifest['dataset_version']}/{f['file']}" in keys
