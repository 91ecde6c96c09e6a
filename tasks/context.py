"""Shared handles for pipeline steps: the database engine and the object store."""

from __future__ import annotations

import json
import logging
import math
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from linerec.infra.db import get_engine, migrate, query
from linerec.infra.services import s3_endpoint
from linerec.infra.storage import ObjectStore

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def engine() -> sa.Engine:
    """Engine with the schema migrated (migrations are a no-op when current)."""
    eng = get_engine()
    migrate(eng)
    return eng


@lru_cache(maxsize=1)
def store() -> ObjectStore:
    st = ObjectStore(s3_endpoint())
    st.ensure_bucket()
    return st


# The quarantine row is unique on (stage, item_ref, reason), a btree index whose rows must stay
# under ~2.7 kB: the key and the reason are cut to these many UTF-8 bytes.
MAX_REF_BYTES = 512
MAX_REASON_BYTES = 1536
MAX_RAW_CHARS = 256 * 1024  # the raw JSON kept with a rejection (beyond it: its head only)
MAX_RAW_DEPTH = 40


def original_key(sha256: str) -> str:
    """S3 key of a one-page JPEG scan's own bytes (file sha256), kept by intake beside its
    canonical page so that the document's searchable PDF shows the scan as it came."""
    return f"originals/{sha256}.jpg"


def _safe_text(text: str, max_bytes: int) -> str:
    """``text`` as storable text of at most ``max_bytes`` UTF-8 bytes: NUL shown as ``\\x00``, lone
    surrogates as ``\\udXXX`` escapes, cut on a character boundary with ``…`` when too long."""
    text = str(text).replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - 3].decode("utf-8", "ignore") + "…"


def _safe_json(raw) -> str:
    """``raw`` as JSON that jsonb accepts: strings and keys made storable, nesting cut at
    :data:`MAX_RAW_DEPTH` levels (no recursion), and at most :data:`MAX_RAW_CHARS` characters."""

    def text(value) -> str:
        return str(value).replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")

    root: list = [None]
    stack: list[tuple[Any, list | dict, Any, int]] = [(raw, root, 0, 1)]  # (value, container, index or key, depth)
    out: object  # the JSON value stored in its container's slot
    while stack:
        value, parent, slot, depth = stack.pop()
        if isinstance(value, (dict, list, tuple)) and depth > MAX_RAW_DEPTH:
            out = f"<nested deeper than {MAX_RAW_DEPTH} levels>"
        elif isinstance(value, dict):
            mapping: dict[str, object] = {}
            for k, v in value.items():
                key = text(k)
                mapping[key] = None
                stack.append((v, mapping, key, depth + 1))
            out = mapping
        elif isinstance(value, (list, tuple)):
            items: list[object] = [None] * len(value)
            stack.extend((v, items, i, depth + 1) for i, v in enumerate(value))
            out = items
        elif isinstance(value, str):
            out = text(value)
        elif value is None or isinstance(value, (bool, int)):
            out = value
        elif isinstance(value, float):
            out = value if math.isfinite(value) else str(value)
        else:
            out = text(value)
        parent[slot] = out
    blob = json.dumps(root[0])
    if len(blob) > MAX_RAW_CHARS:
        blob = json.dumps({"truncated": True, "chars": len(blob), "head": blob[:4096]})
    return blob


def quarantine(conn, stage: str, item_ref: str, reason: str, raw=None, export_id: int | None = None) -> None:
    """Record rejected input with its reason; the same rejection recorded twice is one row.

    Whatever the input held, the row can be written: NUL characters and lone surrogates in the
    key, reason and raw JSON are escaped, the key and reason are cut to fit the unique index
    (:data:`MAX_REF_BYTES`, :data:`MAX_REASON_BYTES`), and the raw JSON is cut in depth and size.
    """
    item_ref, reason = _safe_text(item_ref, MAX_REF_BYTES), _safe_text(reason, MAX_REASON_BYTES)
    log.warning("quarantined %s [%s]: %s", item_ref, stage, reason)
    conn.execute(
        query("insert_quarantine"),
        {
            "stage": stage,
            "ref": item_ref,
            "reason": reason,
            "raw": _safe_json(raw) if raw is not None else None,
            "export_id": export_id,
        },
    )
