"""Postgres restarted while a recognition batch runs (issue 6 §3).

The batch reads its pages and recognizes them, then writes everything in one transaction
(:func:`linerec.infra.db.run_transaction`). The session's embedded Postgres is stopped (fast shutdown,
which cuts open transactions) at a chosen point of the batch and started again: the batch rides it
out, or, when the server stays down longer than ``LINEREC_DB_RETRY_SECONDS``, fails with one
clear line and nothing written. A rerun then gives every prediction exactly once.
"""

from __future__ import annotations

import time

import pytest

from helpers.chaos import expected_lines, later, new_pages, postgres_start, postgres_stop, prediction_figures

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def _restart(down: float) -> None:
    postgres_stop()
    time.sleep(down)
    postgres_start()


@pytest.mark.parametrize(
    "point, down, budget, date, seed",
    [
        ("before_write", 3, None, "2026-06-01", 301),  # restarted between reading and writing
        ("mid_write", 3, None, "2026-06-02", 302),  # stopped inside the write transaction
        ("mid_write", 8, 2, "2026-06-03", 303),  # down longer than the retry budget: clear error
    ],
)
def test_recognition_batch_through_a_postgres_restart(
    isolated_pipeline, model, embedded_postgres, record, monkeypatch, tmp_path, point, down, budget, date, seed
):
    from linerec.infra.endpoints import ServiceUnavailable
    from tasks import nightly_recognition as rec

    fault = f"Postgres restart ({point.replace('_', ' ')}, down {down}s)"
    record.start(fault)
    pages = new_pages(tmp_path, seed)
    run_id = rec.open_recognition_run(date)
    expected = expected_lines(model, pages)
    if budget is not None:
        monkeypatch.setenv("LINEREC_DB_RETRY_SECONDS", str(budget))
    restarter = []

    if point == "before_write":
        real = rec.read_and_recognize_pages

        def hooked(*args, **kwargs):
            out = real(*args, **kwargs)
            _restart(down)  # the pool's connections are dead now
            return out

        monkeypatch.setattr(rec, "read_and_recognize_pages", hooked)
    else:
        real = rec.write_batch

        def hooked(conn, *args, **kwargs):
            n = real(conn, *args, **kwargs)
            if not restarter:  # only the first try: rows staged, not committed
                postgres_stop()
                restarter.append(later(down, postgres_start))
            return n

        monkeypatch.setattr(rec, "write_batch", hooked)

    error = None
    try:
        first = rec.recognize_batch(run_id, pages)
    except ServiceUnavailable as exc:
        error = str(exc)
    for thread in restarter:
        thread.join(60)
    monkeypatch.undo()

    after_fault = prediction_figures(isolated_pipeline, run_id, pages, expected)
    if budget is None:
        assert error is None and first["inserted"] == expected
        assert after_fault["rows"] == expected
    else:  # failed for good: one line saying what and why, and nothing of the batch visible
        assert error and error.startswith(f"Postgres: writing batch of run {run_id}") and "\n" not in error, error
        assert "nothing of it was committed" in error
        assert after_fault["rows"] == 0 and after_fault["page_results"] == 0
    rerun = rec.recognize_batch(run_id, pages)  # the retry Airflow (or an operator) makes
    assert rerun["inserted"] == (expected if error else 0)
    final = prediction_figures(isolated_pipeline, run_id, pages, expected)
    assert final["rows"] == expected and final["duplicates"] == 0
    assert final["page_results"] == len(pages) and final["page_result_duplicates"] == 0
    record(
        fault,
        survived=True,
        rows_lost=final["rows_lost"],
        duplicates=final["duplicates"],
        outcome="clear error, rerun complete" if error else "retried and succeeded",
    )
