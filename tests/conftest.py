"""Test fixtures: real services (embedded unless configured) and an isolated Airflow home.

Tests use ``LINEREC_TEST_DATABASE_URL`` when set (its public schema is reset first), else an
embedded Postgres in a temporary folder. S3 is always a real server: the embedded SeaweedFS on
test ports, or ``LINEREC_TEST_S3_ENDPOINT_URL`` with ``AWS_*`` credentials.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers: code shared by test modules (tests/helpers/)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dags"))  # local_runner: the DAGs in-process
from helpers.ports import free_base  # noqa: E402

_STATE = Path(tempfile.mkdtemp(prefix="linerec-test-"))
os.environ["LINEREC_STATE_DIR"] = str(_STATE / "state")
# Tests write their annotation exports under the temporary folder (pytest's tmp_path, _STATE): that is
# the import folder export_file may name; tests of the import folder itself set their own.
os.environ["LINEREC_IMPORT_DIR"] = tempfile.gettempdir()


# Ports of this session's own S3 server: free ones, so concurrent test sessions never collide.
os.environ.setdefault("LINEREC_S3_PORT", str(free_base((0,), 30000, 39000)))
os.environ.setdefault("LINEREC_S3_AUX_PORT", str(free_base((0, 1, 2, 10000, 10001, 10002, 10003), 40000, 50000)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
for _var in ("DATABASE_URL", "S3_ENDPOINT_URL", "LABEL_STUDIO_URL", "LINEREC_EXPORT_FILE"):
    os.environ.pop(_var, None)
if os.environ.get("LINEREC_TEST_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["LINEREC_TEST_DATABASE_URL"]
if os.environ.get("LINEREC_TEST_S3_ENDPOINT_URL"):
    os.environ["S3_ENDPOINT_URL"] = os.environ["LINEREC_TEST_S3_ENDPOINT_URL"]

import local_runner  # noqa: E402  (must configure Airflow before it is imported)

local_runner.configure(_STATE / "airflow", parallelism=2)


@pytest.fixture(scope="session")
def services():
    """Real Postgres (schema migrated) and a real S3 bucket; stopped at the end of the session."""
    import sqlalchemy as sa

    from linerec.infra import services as svc
    from linerec.infra.db import get_engine, migrate
    from tasks.context import store

    try:
        engine = get_engine()
        if os.environ.get("LINEREC_TEST_DATABASE_URL"):
            with engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        migrate(engine)
        store()  # starts the S3 server if embedded, creates the bucket
        yield engine
        engine.dispose()
    finally:
        svc.stop_embedded_s3()
        svc.stop_embedded_postgres()


@pytest.fixture(scope="session")
def airflow_db(services):
    local_runner.migrate_metadata_db()


@pytest.fixture
def table_counts(services):
    import sqlalchemy as sa

    def counts() -> dict[str, int]:
        from tasks.context import engine  # the current database (see isolated_pipeline)

        with engine().connect() as conn:
            tables = [
                r[0]
                for r in conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
            ]
            return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}

    return counts


def _delete_bucket(st) -> None:
    """Empty and delete a test bucket, so later modules find free volumes on the test S3 server."""
    paginator = st.client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=st.bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            st.client.delete_objects(Bucket=st.bucket, Delete={"Objects": keys, "Quiet": True})
    st.client.delete_bucket(Bucket=st.bucket)


@pytest.fixture(scope="module")
def isolated_pipeline(services):
    """A database and a bucket of their own (on the same real servers) for one test module.

    End-to-end tests assert exact row counts and object listings, so they must not see what
    other modules wrote to the session's database and bucket.
    """
    import uuid

    import sqlalchemy as sa

    from linerec.infra.db import get_engine, migrate
    from linerec.infra.services import database_url
    from tasks import context

    name = f"linerec_iso_{uuid.uuid4().hex[:8]}"
    with services.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(database_url()).set(database=name).render_as_string(hide_password=False)
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "LINEREC_S3_BUCKET")}
    os.environ["DATABASE_URL"] = url
    os.environ["LINEREC_S3_BUCKET"] = name.replace("_", "-")
    context.engine.cache_clear()
    context.store.cache_clear()
    engine = get_engine(url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        _delete_bucket(context.store())  # each bucket holds volumes of its own in SeaweedFS (-volume.max)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        context.engine.cache_clear()
        context.store.cache_clear()
