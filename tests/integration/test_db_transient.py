"""``run_transaction`` retries what a new connection can cure and nothing else.

The errors come from the real server: an index row over the btree limit (SQLSTATE 54000) is
produced by inserting an incompressible value into an indexed column, and a full disk (53100) or a
serialization failure (40001) by PL/pgSQL ``RAISE ... USING ERRCODE``, which sends the same
SQLSTATE through the same driver path as the real condition.
"""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from linerec.infra.db import is_transient_db_error, run_transaction, sqlstate
from linerec.infra.endpoints import ServiceUnavailable


@pytest.fixture
def scratch(services):
    with services.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS transient_probe (v text)"))
        conn.execute(sa.text("CREATE INDEX IF NOT EXISTS transient_probe_v ON transient_probe (v)"))
    yield services
    with services.begin() as conn:
        conn.execute(sa.text("DROP TABLE transient_probe"))


def _raise(conn, errcode: str, message: str) -> None:
    # errcode and message are literals of this test; DO blocks take no bound parameters.
    conn.exec_driver_sql(f"DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '{errcode}', MESSAGE = '{message}'; END $$")


def test_index_row_over_the_btree_limit_surfaces_at_once_with_its_message(scratch):
    attempts = []

    def work(conn):
        attempts.append(1)
        conn.execute(sa.text("INSERT INTO transient_probe (v) VALUES (:v)"), {"v": secrets.token_hex(4000)})

    with pytest.raises(sa.exc.OperationalError, match="index row size") as err:
        run_transaction(scratch, work, "probe insert", seconds=30)
    assert sqlstate(err.value) == "54000" and not is_transient_db_error(err.value)
    assert len(attempts) == 1


def test_disk_full_surfaces_at_once_with_its_message(scratch):
    attempts = []

    def work(conn):
        attempts.append(1)
        _raise(conn, "disk_full", "could not extend file: No space left on device")

    with pytest.raises(sa.exc.OperationalError, match="No space left on device") as err:
        run_transaction(scratch, work, "probe write", seconds=30)
    assert sqlstate(err.value) == "53100"
    assert len(attempts) == 1


def test_serialization_failure_is_still_retried(scratch):
    attempts = []

    def work(conn):
        attempts.append(1)
        if len(attempts) == 1:
            _raise(conn, "serialization_failure", "could not serialize access")
        return conn.execute(sa.text("SELECT 7")).scalar()

    assert run_transaction(scratch, work, "probe read", seconds=30) == 7
    assert len(attempts) == 2


def test_a_failure_that_lasts_is_reported_as_the_server_being_unavailable(scratch):
    def work(conn):
        _raise(conn, "serialization_failure", "could not serialize access")

    with pytest.raises(ServiceUnavailable, match="probe read failed after"):
        run_transaction(scratch, work, "probe read", seconds=1)
