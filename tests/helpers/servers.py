"""The fixtures that start or use real servers, which unit tests (``tests/unit``) may not request.

``services`` (in ``tests/conftest.py``) starts Postgres and the S3 server; every fixture built on it
uses them too (``airflow_db`` also migrates Airflow's metadata database, ``labelstudio`` in
``tests/integration/conftest.py`` starts Label Studio). pytest lists a test's fixtures with all the
fixtures they request, so a test on any of them has ``services`` among its fixture names.
"""

from __future__ import annotations

from collections.abc import Iterable

SERVER_FIXTURES = frozenset({"services", "airflow_db", "table_counts", "isolated_pipeline", "labelstudio"})


def server_fixtures(fixturenames: Iterable[str]) -> list[str]:
    """The server fixtures among ``fixturenames``, sorted."""
    return sorted(SERVER_FIXTURES.intersection(fixturenames))


def move_to_integration(nodeid: str, servers: list[str]) -> str:
    """The message a unit test that needs servers fails with."""
    return (
        f"{nodeid} uses {', '.join(servers)} (real Postgres/S3, Label Studio or Airflow): unit tests start "
        f"no servers; move it to tests/integration/"
    )
