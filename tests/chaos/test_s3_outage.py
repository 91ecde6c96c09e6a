"""The S3 server gone for 10 s during page reads and writes (issue 6 §3).

The session's own SeaweedFS is stopped at the first S3 call of the step and started again 10 s
later on the same ports and data. The step's calls retry with backoff (botocore's retries, then
:class:`linerec.infra.storage.ObjectStore`'s up to ``LINEREC_S3_RETRY_SECONDS``) and succeed; with a
budget shorter than the outage the step fails with one clear line and writes nothing.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from helpers.chaos import expected_lines, later, new_pages, prediction_figures, s3_start, s3_stop

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

OUTAGE = 10.0


def _outage_at_first(monkeypatch, method: str) -> dict:
    """Stop S3 when ``ObjectStore.<method>`` is first called, start it ``OUTAGE`` s later."""
    from linerec.infra.storage import ObjectStore

    real, lock, state = getattr(ObjectStore, method), threading.Lock(), {}

    def hooked(self, *args, **kwargs):
        with lock:
            if "restart" not in state:
                s3_stop()
                state["down_at"] = time.monotonic()
                state["restart"] = later(OUTAGE, s3_start)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ObjectStore, method, hooked)
    return state


def _objects() -> dict[str, str]:
    from tasks.context import store

    st = store()
    out = {}
    for page in st.client.get_paginator("list_objects_v2").paginate(Bucket=st.bucket):
        out.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
    return out


@pytest.mark.parametrize("budget", [None, 3])
def test_recognition_reads_through_an_s3_outage(
    isolated_pipeline, model, embedded_s3, record, monkeypatch, tmp_path, budget
):
    from linerec.infra.endpoints import ServiceUnavailable
    from tasks import context
    from tasks import nightly_recognition as rec

    record.start("S3 gone 10 s: page reads" + (f" (retry budget {budget}s)" if budget else ""))
    pages = new_pages(tmp_path, 400 + (budget or 0))
    run_id = rec.open_recognition_run(f"2026-07-0{1 + (budget or 0) % 8}")
    expected = expected_lines(model, pages)
    before = _objects()
    if budget:  # fail fast: one botocore try per call, then our backoff for `budget` seconds
        monkeypatch.setenv("LINEREC_S3_RETRY_SECONDS", str(budget))
        monkeypatch.setenv("LINEREC_S3_MAX_ATTEMPTS", "1")
        context.store.cache_clear()
    state = _outage_at_first(monkeypatch, "get_bytes")
    error = None
    try:
        first = rec.recognize_batch(run_id, pages)
    except ServiceUnavailable as exc:
        error = str(exc)
    took = time.monotonic() - state["down_at"]
    state["restart"].join(120)
    monkeypatch.undo()
    context.store.cache_clear()

    after = prediction_figures(isolated_pipeline, run_id, pages, expected)
    if budget:
        assert error and error.startswith("S3: get s3://") and "failed after" in error and "\n" not in error, error
        assert after["rows"] == 0 and after["page_results"] == 0  # nothing of the batch visible
    else:
        assert error is None and first["inserted"] == expected and took >= OUTAGE
    assert _objects() == before  # the restarted server lost nothing
    rerun = rec.recognize_batch(run_id, pages)
    assert rerun["inserted"] == (expected if error else 0)
    final = prediction_figures(isolated_pipeline, run_id, pages, expected)
    assert final["rows"] == expected and final["duplicates"] == 0 and final["page_results"] == len(pages)
    record(
        survived=True,
        rows_lost=final["rows_lost"],
        duplicates=final["duplicates"],
        outcome="clear error, rerun complete" if error else f"retried, succeeded after {took:.0f}s",
    )


def test_intake_writes_through_an_s3_outage(isolated_pipeline, embedded_s3, record, monkeypatch, tmp_path):
    from linerec.synth.pages import generate_corpus
    from tasks.intake import ingest_files

    record.start("S3 gone 10 s: page writes (intake)")
    scans = generate_corpus(tmp_path / "scans", n_documents=4, seed=410, pages_per_document=(1, 1))
    files = [str(p) for p in sorted((scans.parent / "images").glob("*.png"))]
    state = _outage_at_first(monkeypatch, "put_bytes")
    result = ingest_files(files)
    took = time.monotonic() - state["down_at"]
    state["restart"].join(120)
    monkeypatch.undo()
    assert took >= OUTAGE and len(result["pages"]) == len(files) and result["rejected"] == 0

    with isolated_pipeline.connect() as conn:
        keys = [
            r[0]
            for r in conn.execute(sa.text("SELECT s3_key FROM pages WHERE page_id = ANY(:p)"), {"p": result["pages"]})
        ]
        referenced = {r[0] for r in conn.execute(sa.text("SELECT s3_key FROM pages"))}
    stored = {k for k in _objects() if k.startswith("pages/")}
    lost = [k for k in keys if k not in stored]
    orphans = sorted(stored - referenced)
    assert lost == [] and orphans == []
    again = ingest_files(files)
    assert again["pages"] == result["pages"]
    with isolated_pipeline.connect() as conn:
        duplicates = conn.execute(sa.text("SELECT count(*) - count(DISTINCT s3_key) FROM pages")).scalar()
    assert duplicates == 0
    record(
        survived=True,
        rows_lost=len(lost),
        duplicates=duplicates,
        orphan_objects=len(orphans),
        outcome=f"retried, succeeded after {took:.0f}s",
    )
