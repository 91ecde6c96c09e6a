"""Migrations applied to the real database: a second run applies nothing, and the schema allows one
production model at most."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from linerec.infra.db import migrate, migration_files


def test_migrate_twice_is_a_noop(services):
    assert migrate(services) == []
    with services.connect() as conn:
        applied = conn.execute(sa.text("SELECT version FROM schema_migrations ORDER BY 1")).scalars().all()
    assert applied == [v for v, _ in migration_files()]


def test_one_production_model_at_most(services):
    with services.connect() as conn:
        trans = conn.begin()
        try:
            with pytest.raises(sa.exc.IntegrityError, match="models_one_production"):
                conn.execute(
                    sa.text(
                        "INSERT INTO annotation_exports (source, source_ref, sha256, s3_key) VALUES ('file','x','u1','k');"
                        "INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test) "
                        "SELECT 'dv-u', export_id, 'k', '{}', 0, 0, 0 FROM annotation_exports WHERE sha256 = 'u1';"
                        "INSERT INTO models (version, dataset_version_id, s3_prefix, status) "
                        "SELECT v, dataset_version_id, 'p', 'production' FROM dataset_versions, "
                        "(VALUES ('m-a'), ('m-b')) AS t(v) WHERE version = 'dv-u'"
                    )
                )
        finally:
            trans.rollback()
