"""Intake of new scans: register each file once by sha256 and queue its page for recognition."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from linerec.db import query
from tasks.context import engine, quarantine, store

log = logging.getLogger(__name__)

STAGE = "intake"


def ingest_files(paths: list[str]) -> dict:
    """Register scanned page images; returns ``{"pages": [page_id...], "rejected": n}``.

    The canonical page (grayscale PNG) is stored content-addressed; the document is named by
    the file name and its sha256, so submitting the same file again is a no-op. An unreadable
    file is quarantined with its reason and the others go on.
    """
    from linerec.images import BadImage, decode_page, encode_png

    st = store()
    eng = engine()
    page_ids, rejected = [], 0
    for path in map(Path, paths):
        try:
            data = path.read_bytes()
            page = decode_page(data, str(path))
        except (BadImage, OSError) as exc:
            with eng.begin() as conn:
                quarantine(conn, STAGE, f"file:{path.name}", str(exc), {"path": str(path)})
            rejected += 1
            continue
        file_sha = hashlib.sha256(data).hexdigest()
        png = encode_png(page)
        key = f"pages/{hashlib.sha256(png).hexdigest()}"
        if not st.exists(key):
            st.put_bytes(key, png, "image/png")
        with eng.begin() as conn:
            doc_id = conn.execute(query("upsert_document"),
                                  {"name": f"{path.stem}-{file_sha[:12]}", "source": "scan"}).scalar_one()
            page_ids.append(conn.execute(query("upsert_page"), {
                "doc": doc_id, "page_no": 1, "key": key, "sha": hashlib.sha256(png).hexdigest(),
                "w": page.shape[1], "h": page.shape[0]}).scalar_one())
    log.info("intake: %d pages registered, %d rejected", len(page_ids), rejected)
    return {"pages": page_ids, "rejected": rejected}
