"""Unit tests start no servers.

A unit test that requests a server fixture (:data:`helpers.servers.SERVER_FIXTURES`, directly or
through another fixture) fails before its fixtures are set up, naming them; and the embedded
Postgres and S3 server refuse to start while a unit test runs, so one that reaches them by a call
(``tasks.context.engine()``, ``store()``, ``linerec.infra.services``) fails too. Such a test
belongs in ``tests/integration/``.
"""

from __future__ import annotations

import pytest

from helpers.servers import move_to_integration, server_fixtures


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    servers = server_fixtures(item.fixturenames)
    if servers:
        pytest.fail(move_to_integration(item.nodeid, servers), pytrace=False)


@pytest.fixture(autouse=True)
def no_embedded_servers(monkeypatch):
    """The embedded Postgres and S3 server cannot be started (nor an already running one reached) from a unit test."""
    from linerec.infra import services

    def refuse(what: str):
        def start(*args, **kwargs):
            raise AssertionError(
                f"a unit test started the embedded {what}: unit tests start no servers; move it to tests/integration/"
            )

        return start

    monkeypatch.setattr(services, "_embedded_postgres", refuse("Postgres"))
    monkeypatch.setattr(services, "_embedded_s3", refuse("S3 server"))
