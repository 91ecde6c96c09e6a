"""Intake of new scans: register each file once by sha256, normalize its pages, queue them.

Files arrive through ``linerec ingest PATH...`` (:func:`ingest_files`) or as objects under the
S3 inbox prefix (:func:`scan_inbox`, the first task of nightly_recognition). PNG, JPEG,
multi-page TIFF and PDF are accepted. Every page becomes a canonical grayscale PNG stored
content-addressed under ``pages/<sha256>``; the file becomes one document (named by the file
name and its sha256) with one row per page, which queues the pages for the next recognition
run. A file that cannot be decoded is quarantined with its reason and the others go on.
Submitting the same bytes again, by any route, is a no-op that returns the same page ids.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

from linerec.db import query
from linerec.storage import sha256_bytes
from tasks.context import engine, quarantine, store

log = logging.getLogger(__name__)

STAGE = "intake"
INBOX_PREFIX = "inbox/"

_MAGIC = ((b"%PDF-", "pdf"), (b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpeg"),
          (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"))


def _text(name: str) -> str:
    """A file name as valid text: bytes that are not UTF-8 (surrogate-escaped by the OS layer)
    become ``\\xNN``, so the name can be stored and logged."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def media_type(data: bytes) -> str:
    """``pdf``, ``png``, ``jpeg``, ``tiff`` or ``other`` from the file's first bytes."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), "other")


def ingest_bytes(data: bytes, name: str, source: str = "path", source_ref: str | None = None,
                 etag: str | None = None) -> dict:
    """Register one scan file given as bytes.

    Parameters
    ----------
    data
        The file's bytes.
    name
        File name (the document is named ``<stem>-<sha256[:12]>``).
    source, source_ref, etag
        Where it came from: ``"path"`` and the local path, or ``"s3"``, the object key and its ETag.

    Returns
    -------
    dict
        ``sha256``, ``status`` (``registered`` or ``quarantined``), ``pages`` (page ids in page
        order), ``new`` (False when these bytes were registered before) and ``reason`` when rejected.
    """
    from linerec.images import BadImage, iter_pages, encode_png

    sha = sha256_bytes(data)
    name, source_ref = _text(name), _text(source_ref) if source_ref else None
    eng = engine()
    with eng.connect() as conn:
        known = conn.execute(query("intake_file_by_sha"), {"sha": sha}).one_or_none()
    if known is not None:
        return {"sha256": sha, "status": known.status, "pages": list(known.page_ids), "new": False,
                "reason": known.reason}
    record = {"sha": sha, "source": source, "ref": source_ref or name, "etag": etag,
              "media": media_type(data), "n_bytes": len(data)}
    st = store()
    pages = []  # (key, sha256, width, height) per page
    try:
        for page in iter_pages(data, name):
            png = encode_png(page)
            page_sha = sha256_bytes(png)
            key = f"pages/{page_sha}"
            if not st.exists(key):
                st.put_bytes(key, png, "image/png")
            pages.append((key, page_sha, page.shape[1], page.shape[0]))
    except BadImage as exc:
        reason = str(exc)
        with eng.begin() as conn:
            quarantine(conn, STAGE, f"file:{sha}", reason, {"name": name, "source": source, "ref": record["ref"]})
            conn.execute(query("register_intake_file"),
                         dict(record, status="quarantined", reason=reason, doc=None, pages=0))
        return {"sha256": sha, "status": "quarantined", "pages": [], "new": True, "reason": reason}
    stem = PurePosixPath(name).stem or "scan"
    with eng.begin() as conn:  # the document, its pages and the file's registration together
        doc_id = conn.execute(query("upsert_document"),
                              {"name": f"{stem}-{sha[:12]}", "source": "scan"}).scalar_one()
        page_ids = [conn.execute(query("upsert_page"), {
            "doc": doc_id, "page_no": page_no, "key": key, "sha": page_sha, "w": w, "h": h, "meta": "{}"}).scalar_one()
            for page_no, (key, page_sha, w, h) in enumerate(pages, start=1)]
        conn.execute(query("register_intake_file"),
                     dict(record, status="registered", reason=None, doc=doc_id, pages=len(page_ids)))
    log.info("intake: %s (%s, %d pages) registered as document %s", name, record["media"], len(page_ids), doc_id)
    return {"sha256": sha, "status": "registered", "pages": page_ids, "new": True, "reason": None}


def ingest_files(paths: list[str]) -> dict:
    """Register scan files from local paths.

    Returns
    -------
    dict
        ``pages`` (page ids of every accepted file, in order; the same ids when a file was
        registered before), ``files`` (per file: path, sha256, status, pages) and ``rejected``
        (files quarantined, now or before).
    """
    page_ids, files, rejected = [], [], 0
    for path in map(Path, paths):
        shown = _text(str(path))
        try:
            data = path.read_bytes()
        except OSError as exc:
            with engine().begin() as conn:
                quarantine(conn, STAGE, f"file:{_text(path.name)}", f"{shown}: {exc.strerror or exc}",
                           {"path": shown})
            rejected += 1
            files.append({"path": shown, "status": "quarantined", "pages": []})
            continue
        result = ingest_bytes(data, path.name, "path", str(path))
        page_ids += result["pages"]
        rejected += result["status"] == "quarantined"
        files.append({"path": shown, "sha256": result["sha256"], "status": result["status"],
                      "pages": len(result["pages"])})
    log.info("intake: %d files, %d pages, %d rejected", len(files), len(page_ids), rejected)
    return {"pages": page_ids, "rejected": rejected, "files": files}


def scan_inbox(prefix: str = INBOX_PREFIX) -> dict:
    """Take in every new object under the S3 inbox ``prefix``.

    Objects already taken in with the same key and ETag are skipped without a download; any
    other object is registered by the sha256 of its bytes (so a copy of a known file under a new
    key adds nothing). Objects are left in place.

    Returns
    -------
    dict
        ``seen`` (objects listed), ``new_files``, ``new_pages`` and ``rejected`` (counts only, so
        the result can travel through XCom whatever the inbox holds).
    """
    st = store()
    with engine().connect() as conn:
        seen = {(r.source_ref, r.source_etag) for r in conn.execute(query("inbox_seen"), {"prefix": prefix})}
    listed, new_files, new_pages, rejected = 0, 0, 0, 0
    for page in st.client.get_paginator("list_objects_v2").paginate(Bucket=st.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key, etag = obj["Key"], obj.get("ETag", "").strip('"')
            if key.endswith("/"):
                continue
            listed += 1
            if (key, etag) in seen:
                continue
            try:
                data = st.get_bytes(key, listed=True)
            except ValueError as exc:  # a key with a '..' segment or a control character: never read
                with engine().begin() as conn:
                    quarantine(conn, STAGE, f"s3:{key}", str(exc), {"key": key, "etag": etag})
                rejected += 1
                continue
            result = ingest_bytes(data, PurePosixPath(key).name, "s3", key, etag)
            if result["new"]:
                new_files += 1
                new_pages += len(result["pages"])
                rejected += result["status"] == "quarantined"
    log.info("inbox %s: %d objects, %d new files, %d new pages, %d rejected",
             prefix, listed, new_files, new_pages, rejected)
    return {"seen": listed, "new_files": new_files, "new_pages": new_pages, "rejected": rejected}
