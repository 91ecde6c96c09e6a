"""Fault injection against the real services (issue 6 §3, ``make chaos``).

Each chaos test injects one fault into the session's own servers (never anyone else's: the
embedded Postgres and SeaweedFS of this session's temporary state folder), lets the step run
through it, and records what it saw with :func:`record`: whether the step survived (succeeded, or
failed with a clear error and left nothing partial behind), rows lost and duplicates. The figures
go, one JSON object a line, to ``LINEREC_CHAOS_REPORT`` (set by ``scripts/chaos.py``) or to
``chaos.jsonl`` in pytest's base temporary folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers.chaos import pgdata, postgres_start, s3_start


@pytest.fixture(scope="session")
def chaos_report(tmp_path_factory) -> Path:
    path = os.environ.get("LINEREC_CHAOS_REPORT")
    return Path(path) if path else tmp_path_factory.getbasetemp() / "chaos.jsonl"


class Recorder:
    """Figures of one chaos run: ``start(fault)`` names the fault, ``__call__`` records the outcome.

    A test that fails after ``start`` is recorded as not survived (rows lost and duplicates unknown).
    """

    def __init__(self, path: Path, nodeid: str):
        self.path, self.nodeid, self.fault, self.done = path, nodeid, None, False

    def start(self, fault: str) -> None:
        self.fault = fault

    def __call__(
        self,
        fault: str | None = None,
        survived: bool = True,
        rows_lost: int | None = 0,
        duplicates: int | None = 0,
        **extra,
    ) -> None:
        row = {
            "fault": fault or self.fault,
            "test": self.nodeid,
            "survived": bool(survived),
            "rows_lost": rows_lost,
            "duplicates": duplicates,
            **extra,
        }
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        self.done = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.chaos_failed = report.failed


@pytest.fixture
def record(chaos_report, request):
    """A :class:`Recorder` for this test's run."""
    rec = Recorder(chaos_report, request.node.nodeid)
    yield rec
    if not rec.done and rec.fault and getattr(request.node, "chaos_failed", False):
        rec(survived=False, rows_lost=None, duplicates=None, outcome="test failed")


@pytest.fixture
def embedded_postgres(services):
    if os.environ.get("LINEREC_TEST_DATABASE_URL"):
        pytest.skip("restarts the embedded Postgres; LINEREC_TEST_DATABASE_URL names an external server")
    yield
    if not (pgdata() / "postmaster.pid").exists():  # a failed test must not leave it down
        postgres_start()


@pytest.fixture
def embedded_s3(services):
    if os.environ.get("LINEREC_TEST_S3_ENDPOINT_URL"):
        pytest.skip("restarts the embedded S3 server; LINEREC_TEST_S3_ENDPOINT_URL names an external one")
    yield
    s3_start()  # no-op when it is up


@pytest.fixture(scope="module")
def model(isolated_pipeline) -> int:
    """The shipped model registered as production in the module's database; returns its id."""
    from tasks.registry import production_model, register_bundled_model

    register_bundled_model()
    with isolated_pipeline.connect() as conn:
        return production_model(conn).model_id
