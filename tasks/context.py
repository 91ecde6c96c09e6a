"""Shared handles for pipeline steps: the database engine and the object store."""

from __future__ import annotations

import json
import logging
from functools import lru_cache

import sqlalchemy as sa

from linerec.db import get_engine, migrate
from linerec.storage import ObjectStore

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def engine() -> sa.Engine:
    """Engine with the schema migrated (migrations are a no-op when current)."""
    eng = get_engine()
    migrate(eng)
    return eng


@lru_cache(maxsize=1)
def store() -> ObjectStore:
    st = ObjectStore()
    st.ensure_bucket()
    return st


def quarantine(conn, stage: str, item_ref: str, reason: str, raw=None, export_id: int | None = None) -> None:
    """Record rejected input with its reason; the same rejection recorded twice is one row."""
    log.warning("quarantined %s [%s]: %s", item_ref, stage, reason)
    conn.execute(
        sa.text(
            "INSERT INTO quarantine (stage, item_ref, reason, raw, export_id) "
            "VALUES (:stage, :ref, :reason, CAST(:raw AS jsonb), :export_id) "
            "ON CONFLICT (stage, item_ref, reason) DO NOTHING"
        ),
        {"stage": stage, "ref": item_ref, "reason": reason[:2000],
         "raw": json.dumps(raw, default=str) if raw is not None else None, "export_id": export_id},
    )
