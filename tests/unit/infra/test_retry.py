"""The one retry policy (:mod:`linerec.infra.retry`) and the three clients built on it.

Every failure comes from a fake call that fails a given number of times: no server is started.
"""

from __future__ import annotations

import logging
import time

import pytest
import sqlalchemy as sa

from linerec.infra.endpoints import S3Endpoint, ServiceUnavailable
from linerec.infra.retry import Exhausted, retrying


class Transient(Exception):
    """An error the test's predicate calls transient."""


class Permanent(Exception):
    """An error the test's predicate calls permanent."""


def flaky(*failures: BaseException, result="ok"):
    """A call that raises ``failures`` one after the other, then returns ``result``; and its call log."""
    calls: list[float] = []

    def call():
        calls.append(time.monotonic())
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return result

    return call, calls


def give_up(failed: Exhausted) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Test: {failed.what} failed after {failed.attempts} attempts over "
        f"{failed.seconds:.1f}s ({type(failed.error).__name__})"
    )


def policy(**kwargs):
    options = {
        "transient": lambda exc: isinstance(exc, Transient),
        "give_up": give_up,
        "first_delay": 0.01,
        "max_delay": 0.04,
    }
    return retrying("Test", "probe", **(options | kwargs))


# --------------------------------------------------------------------------- the policy
def test_transient_errors_are_retried_until_the_call_succeeds(caplog):
    call, calls = flaky(Transient("a"), Transient("b"), Transient("c"))
    with caplog.at_level(logging.WARNING, logger="linerec.infra.retry"):
        assert policy(seconds=10)(call) == "ok"
    assert len(calls) == 4
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) == 3  # every retry is logged: service, call, error, attempt, wait
    assert retries[0].startswith("Test: probe failed (Transient); retry 1 in ")


def test_a_non_transient_error_is_raised_at_once_unchanged():
    error = Permanent("bad request")
    call, calls = flaky(Transient("a"), error)
    with pytest.raises(Permanent) as info:
        policy(seconds=10, sleep=lambda s: None)(call)
    assert info.value is error and len(calls) == 2


def test_the_deadline_ends_the_retries_with_one_line():
    call, calls = flaky(*[Transient("down")] * 1000)
    start = time.monotonic()
    with pytest.raises(
        ServiceUnavailable,
        match=r"^Test: probe failed after (\d+) attempts over 0\.\ds "
        r"\(Transient\)$",
    ) as info:
        policy(seconds=0.3)(call)
    took = time.monotonic() - start
    assert 0.2 < took < 1.0  # no wait that would end past the deadline (0.3 s) is begun
    assert 3 <= len(calls) < 40 and f"after {len(calls)} attempts" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_spent_budget_can_chain_the_last_error():
    last = Transient("still down")
    call, _ = flaky(Transient("down"), last)
    with pytest.raises(ServiceUnavailable) as info:
        policy(attempts=2, chain=True, sleep=lambda s: None)(call)
    assert info.value.__cause__ is last


def test_attempts_bound_the_tries_and_waits_double_with_jitter():
    call, calls = flaky(*[Transient("down")] * 10)
    waits: list[float] = []
    with pytest.raises(ServiceUnavailable, match="after 5 attempts"):
        retrying(
            "Test",
            "probe",
            transient=lambda exc: True,
            give_up=give_up,
            attempts=5,
            first_delay=1.0,
            max_delay=4.0,
            sleep=waits.append,
        )(call)
    assert len(calls) == 5 and len(waits) == 4
    for n, wait in enumerate(waits):  # 1, 2, 4, 4 (capped) s, each times a factor in [0.5, 1]
        base = min(4.0, 2.0**n)
        assert 0.5 * base <= wait <= base
    assert len({round(w / min(4.0, 2.0**n), 6) for n, w in enumerate(waits)}) > 1  # the factor varies


def test_one_attempt_means_no_retry():
    call, calls = flaky(Transient("down"))
    with pytest.raises(ServiceUnavailable, match="after 1 attempts"):
        policy(attempts=1, sleep=lambda s: pytest.fail("slept"))(call)
    assert len(calls) == 1


def test_a_policy_needs_a_budget():
    with pytest.raises(ValueError, match="deadline"):
        policy()
    with pytest.raises(ValueError, match="at least 1"):
        policy(attempts=0)


# --------------------------------------------------------------------------- S3
def _store():
    from linerec.infra.storage import ObjectStore

    return ObjectStore(S3Endpoint("http://127.0.0.1:9", "key", "secret", "us-east-1", "bucket"))


def test_s3_retries_connection_errors_then_succeeds(monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    monkeypatch.setenv("LINEREC_S3_RETRY_SECONDS", "30")
    call, calls = flaky(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert _store()._retry("get s3://bucket/k", call) == "ok"
    assert len(calls) == 2


def test_s3_gives_up_after_its_budget_naming_the_call_and_endpoint(monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    monkeypatch.setenv("LINEREC_S3_RETRY_SECONDS", "0.6")  # read when the call is made
    call, calls = flaky(*[EndpointConnectionError(endpoint_url="http://127.0.0.1:9")] * 100)
    with pytest.raises(ServiceUnavailable) as info:
        _store()._retry("get s3://bucket/k", call)
    message = str(info.value)
    assert message.startswith("S3: get s3://bucket/k at http://127.0.0.1:9 failed after ")
    assert "(EndpointConnectionError); check that the S3 server is up (LINEREC_S3_RETRY_SECONDS" in message
    assert "\n" not in message and "secret" not in message and len(calls) >= 2
    assert isinstance(info.value.__cause__, EndpointConnectionError)


def test_s3_client_errors_are_not_retried(monkeypatch):
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")
    call, calls = flaky(denied)
    with pytest.raises(ClientError):
        _store()._retry("get s3://bucket/k", call)
    assert len(calls) == 1


# --------------------------------------------------------------------------- Postgres
class _PgError(Exception):
    """A driver error carrying a SQLSTATE, as psycopg2's do."""

    def __init__(self, message: str, pgcode: str):
        super().__init__(message)
        self.pgcode = pgcode


class _FakeEngine:
    """``engine.begin()`` raising the given driver errors first (wrapped as SQLAlchemy does), then working."""

    def __init__(self, *failures: sa.exc.DBAPIError):
        self.failures, self.begun = list(failures), 0

    def begin(self):
        from contextlib import contextmanager

        @contextmanager
        def transaction():
            self.begun += 1
            if self.failures:
                raise self.failures.pop(0)
            yield "conn"

        return transaction()


def _operational(message: str, pgcode: str = "57P01") -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, _PgError(message, pgcode))


def test_postgres_transaction_is_rerun_after_a_lost_connection():
    from linerec.infra.db import run_transaction

    engine = _FakeEngine(_operational("terminating connection due to administrator command"))
    assert run_transaction(engine, lambda conn: f"done on {conn}", "probe", seconds=30) == "done on conn"
    assert engine.begun == 2


def test_postgres_permanent_errors_are_raised_at_once():
    from linerec.infra.db import is_transient_db_error, run_transaction

    full = _operational("could not extend file: No space left on device", "53100")
    engine = _FakeEngine(full)
    with pytest.raises(sa.exc.OperationalError, match="No space left"):
        run_transaction(engine, lambda conn: None, "probe", seconds=30)
    assert engine.begun == 1 and not is_transient_db_error(full)


def test_postgres_gives_up_after_its_budget_with_one_line(monkeypatch):
    from linerec.infra.db import run_transaction

    monkeypatch.setenv("LINEREC_DB_RETRY_SECONDS", "0.6")  # the default budget, read when called
    engine = _FakeEngine(*[_operational("server closed the connection unexpectedly\nmore detail")] * 100)
    with pytest.raises(ServiceUnavailable) as info:
        run_transaction(engine, lambda conn: None, "writing batch of run 7")
    message = str(info.value)
    assert message.startswith("Postgres: writing batch of run 7 failed after ")
    assert "(server closed the connection unexpectedly); nothing of it was committed" in message
    assert "\n" not in message and info.value.__cause__ is None and engine.begun >= 2
