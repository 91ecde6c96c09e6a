"""Postgres access: engine, transactions retried through a lost connection, ordered migrations and
named queries from ``sql/``.

SQL lives in ``sql/`` as SQL (the folder under ``LINEREC_HOME``: :attr:`Settings.sql_dir
<linerec.infra.config.Settings.sql_dir>`, looked up at each call). Python passes bound parameters;
it never formats values into a statement.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linerec.infra.config import get_settings
from linerec.infra.endpoints import ServiceUnavailable
from linerec.infra.retry import Exhausted, retrying
from linerec.infra.services import database_url

log = logging.getLogger(__name__)

T = TypeVar("T")

_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _redact(url: str) -> str:
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, future=True)


def get_engine(url: str | None = None) -> Engine:
    """Return a pooled engine for ``url`` (default: :func:`linerec.infra.services.database_url`).

    Raises
    ------
    ServiceUnavailable
        When the server cannot be reached; the message names the address and what to do.
    """
    url = url or database_url()
    engine = _engine_for(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ServiceUnavailable(
            f"Postgres: cannot connect to {_redact(url)} ({first}); start the server "
            "(e.g. `pg_ctlcluster 15 main start`) or unset DATABASE_URL to use the embedded one"
        ) from None
    return engine


# SQLSTATEs that psycopg2 raises as ``OperationalError`` but that no retry cures: the disk is full
# (53100) and every "program limit exceeded" of class 54 (54000 covers an index row over the btree
# limit; 54001 statement too complex, 54011 too many columns, 54023 too many arguments).
_PERMANENT_SQLSTATES = frozenset({"53100", "54000", "54001", "54011", "54023"})


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE the server sent with a database error (psycopg2 or psycopg 3), if any."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)


def is_transient_db_error(exc: BaseException) -> bool:
    """Whether a database error may go away on a new connection: server restarted or unreachable,
    connection dropped, deadlock or serialization failure (all ``OperationalError`` in psycopg2).

    A full disk and the program limits of class 54 (an index row over the btree limit, say) are
    ``OperationalError`` too but come back on every try: they are not transient, so the caller
    sees them at once with the server's own message.
    """
    if sqlstate(exc) in _PERMANENT_SQLSTATES:
        return False
    return isinstance(exc, sa.exc.OperationalError) or (
        isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)
    )


def _first_line(exc: BaseException) -> str:
    """The first line of the server's message (no statement, no parameters), else the error's type."""
    orig = getattr(exc, "orig", None)
    return (str(orig).strip().splitlines() or [""])[0] if orig is not None else type(exc).__name__


def run_transaction(engine: Engine, work: Callable[[sa.Connection], T], what: str, seconds: float | None = None) -> T:
    """Run ``work(conn)`` in one transaction; rerun it whole when the server goes away meanwhile.

    A dropped connection rolls the transaction back, so nothing of a failed try is visible and
    ``work`` runs again from the start on a fresh connection. Errors that
    :func:`is_transient_db_error` calls transient are retried under
    :func:`linerec.infra.retry.retrying` (backoff from 0.5 s doubling to 8 s, jittered); any
    other error is raised at once.

    Parameters
    ----------
    engine
        The engine (``pool_pre_ping`` replaces connections of a restarted server).
    work
        The transaction's statements; must be safe to run again after a rollback.
    what
        What the transaction does, for messages.
    seconds
        How long to keep retrying (default ``LINEREC_DB_RETRY_SECONDS`` or 60).

    Raises
    ------
    ServiceUnavailable
        Still failing after ``seconds``; one line naming the step and the error (no password).
    """

    def attempt() -> T:
        with engine.begin() as conn:
            return work(conn)

    def give_up(failed: Exhausted) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"Postgres: {what} failed after {failed.attempts} attempts over {failed.seconds:.0f}s "
            f"({_first_line(failed.error)}); nothing of it was committed: check the server and rerun "
            "(LINEREC_DB_RETRY_SECONDS sets how long to wait)"
        )

    budget = seconds if seconds is not None else get_settings().db_retry_seconds
    policy = retrying(
        "Postgres",
        what,
        transient=is_transient_db_error,
        give_up=give_up,
        seconds=budget,
        describe=_first_line,
        logger=log,
    )
    return policy(attempt)


def _sql_folder(name: str) -> Path:
    """``<sql_dir>/<name>`` of the current settings; a clear error when it is missing."""
    settings = get_settings()
    folder = settings.sql_dir / name
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no SQL folder {folder}: LINEREC_HOME ({settings.home}) must hold linerec's sql/ "
            "(unset it to use the checkout's)"
        )
    return folder


def migrations_dir() -> Path:
    """``sql/migrations`` under ``LINEREC_HOME``: the schema's migrations, ``NNNN_name.sql``."""
    return _sql_folder("migrations")


def queries_dir() -> Path:
    """``sql/queries`` under ``LINEREC_HOME``: the named queries, ``<name>.sql``."""
    return _sql_folder("queries")


def migration_files() -> list[tuple[str, Path]]:
    """All migrations as ``(version, path)`` in apply order; rejects misnamed files."""
    found = []
    folder = migrations_dir()
    for path in sorted(folder.glob("*.sql")):
        match = _MIGRATION_RE.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append((match.group(1), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {folder}")
    return found


def migrate(engine: Engine | None = None) -> list[str]:
    """Apply pending migrations in order, all in one transaction: either every pending one is
    applied and recorded in ``schema_migrations``, or none is.

    Returns the versions applied (empty when the schema is current). Concurrent callers are
    serialised with an advisory lock.
    """
    engine = engine or get_engine()
    applied_now = []
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(72110001)"))
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        done = {r[0] for r in conn.execute(sa.text("SELECT version FROM schema_migrations"))}
        for version, path in migration_files():
            if version in done:
                continue
            log.info("applying migration %s", path.name)
            conn.exec_driver_sql(path.read_text())
            conn.execute(
                sa.text("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)"),
                {"v": version, "n": path.name},
            )
            applied_now.append(version)
    return applied_now


_QUERY_NAME_RE = re.compile(r"^[a-z0-9_]+$")


def query_names() -> list[str]:
    """Names of the queries in ``sql/queries`` (file names without ``.sql``), sorted."""
    return _query_names(queries_dir())


def _query_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.sql") if _QUERY_NAME_RE.match(p.stem))


def query(name: str) -> sa.TextClause:
    """Load the named query ``sql/queries/<name>.sql`` as a bound-parameter statement.

    Raises
    ------
    KeyError
        ``name`` is not one of :func:`query_names` (a path such as ``../x`` or ``/tmp/x`` never
        is: names are lower-case letters, digits and ``_``, looked up in that folder only).
    """
    return _load_query(queries_dir(), name)


@cache
def _load_query(folder: Path, name: str) -> sa.TextClause:
    """The query ``name`` of ``folder``, read once per folder and name."""
    if not isinstance(name, str) or not _QUERY_NAME_RE.match(name) or name not in _query_names(folder):
        raise KeyError(f"no named query {name!r} in {folder}")
    return sa.text((folder / f"{name}.sql").read_text())
