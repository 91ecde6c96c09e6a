"""The migration files of ``sql/migrations`` (linerec.infra.db.migration_files)."""

from __future__ import annotations

from linerec.infra.db import migration_files


def test_migrations_are_numbered_in_order():
    versions = [v for v, _ in migration_files()]
    assert versions == sorted(versions) and versions[0] == "0001"
