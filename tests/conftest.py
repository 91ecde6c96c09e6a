"""Test fixtures: real services (embedded unless configured) and an isolated Airflow home.

Tests use ``LINEREC_TEST_DATABASE_URL`` when set (its public schema is reset first), else an
embedded Postgres in a temporary folder. S3 is always a real server: the embedded SeaweedFS on
test ports, or ``LINEREC_TEST_S3_ENDPOINT_URL`` with ``AWS_*`` credentials.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_STATE = Path(tempfile.mkdtemp(prefix="linerec-test-"))
os.environ["LINEREC_STATE_DIR"] = str(_STATE / "state")
os.environ.setdefault("LINEREC_S3_PORT", "8433")
os.environ.setdefault("LINEREC_S3_AUX_PORT", "18430")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
for _var in ("DATABASE_URL", "S3_ENDPOINT_URL", "LABEL_STUDIO_URL", "LINEREC_EXPORT_FILE"):
    os.environ.pop(_var, None)
if os.environ.get("LINEREC_TEST_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["LINEREC_TEST_DATABASE_URL"]
if os.environ.get("LINEREC_TEST_S3_ENDPOINT_URL"):
    os.environ["S3_ENDPOINT_URL"] = os.environ["LINEREC_TEST_S3_ENDPOINT_URL"]

from linerec import airflow_local  # noqa: E402  (must configure Airflow before it is imported)

airflow_local.configure(_STATE / "airflow", parallelism=2)


@pytest.fixture(scope="session")
def services():
    """Real Postgres (schema migrated) and a real S3 bucket; stopped at the end of the session."""
    import sqlalchemy as sa

    from linerec import services as svc
    from linerec.db import get_engine, migrate

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
    airflow_local.migrate_metadata_db()


@pytest.fixture
def table_counts(services):
    import sqlalchemy as sa

    def counts() -> dict[str, int]:
        with services.connect() as conn:
            tables = [r[0] for r in conn.execute(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))]
            return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}

    return counts
