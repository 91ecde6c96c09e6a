"""Intake of new scans: register each file once by sha256, normalize its pages, queue them.

Files arrive through ``linerec ingest PATH...`` (:func:`ingest_files`) or as objects under the
S3 inbox prefix (:func:`scan_inbox`, the first task of nightly_recognition). PNG, JPEG,
multi-page TIFF and PDF are accepted. Every page becomes a canonical grayscale PNG stored
content-addressed under ``pages/<sha256>``; the file becomes one document (named by the file
name and its sha256) with one row per page, which queues the pages for the next recognition
run. A file that cannot be decoded is quarantined with its reason and the others go on.
Submitting the same bytes again, by any route, is a no-op that returns the same page ids. A
one-page JPEG's own bytes are kept too, under ``originals/<file sha256>.jpg``
(:func:`tasks.context.original_key`): the document's searchable PDF embeds them as they came.

A file's pages are written to S3 only once all of them were decoded (they wait in a spool folder
meanwhile), so a file refused at its tenth page leaves no object behind. The S3 inbox is read
within budgets (see :func:`scan_inbox`) and keeps a record of every object in ``inbox_objects``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import sqlalchemy as sa

from linerec.infra.config import get_settings
from linerec.infra.db import query
from linerec.infra.endpoints import ServiceUnavailable
from linerec.infra.storage import ObjectTooLarge, sha256_bytes
from tasks.context import engine, original_key, quarantine, store

log = logging.getLogger(__name__)

STAGE = "intake"
INBOX_PREFIX = "inbox/"

_INBOX_LOCK = 72110020  # advisory locks of inbox objects being read: hashtextextended(key + etag, this)


@dataclass(frozen=True)
class FileBudget:
    """What one file may cost: seconds spent decoding its pages, and pages."""

    seconds: float
    pages: int


class OverBudget(Exception):
    """A file went over its :class:`FileBudget` (a limit of this deployment, not a fault of its bytes)."""


_MAGIC = ((b"%PDF-", "pdf"), (b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpeg"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"))


def _text(name: str) -> str:
    """A file name as valid text: bytes that are not UTF-8 (surrogate-escaped by the OS layer)
    become ``\\xNN``, so the name can be stored and logged."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def media_type(data: bytes) -> str:
    """``pdf``, ``png``, ``jpeg``, ``tiff`` or ``other`` from the file's first bytes."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), "other")


def ingest_bytes(
    data: bytes,
    name: str,
    source: str = "path",
    source_ref: str | None = None,
    etag: str | None = None,
    budget: FileBudget | None = None,
) -> dict:
    """Register one scan file given as bytes.

    Parameters
    ----------
    data
        The file's bytes.
    name
        File name (the document is named ``<stem>-<sha256[:12]>``).
    source, source_ref, etag
        Where it came from: ``"path"`` and the local path, or ``"s3"``, the object key and its ETag.
    budget
        Seconds and pages the file may take; a file over it is quarantined (reason in
        ``quarantine`` only: it is not registered by its bytes, so a larger budget takes it in).

    Returns
    -------
    dict
        ``sha256``, ``status`` (``registered`` or ``quarantined``), ``pages`` (page ids in page
        order), ``new`` (False when these bytes were registered before) and ``reason`` when rejected.
        No page object is written unless every page of the file was decoded.
    """
    from linerec.vision.images import MAX_PAGES, BadImage, encode_png, iter_pages

    sha = sha256_bytes(data)
    name, source_ref = _text(name), _text(source_ref) if source_ref else None
    eng = engine()
    with eng.connect() as conn:
        known = conn.execute(query("intake_file_by_sha"), {"sha": sha}).one_or_none()
    if known is not None:
        return {
            "sha256": sha,
            "status": known.status,
            "pages": list(known.page_ids),
            "new": False,
            "reason": known.reason,
        }
    record = {
        "sha": sha,
        "source": source,
        "ref": source_ref or name,
        "etag": etag,
        "media": media_type(data),
        "n_bytes": len(data),
    }
    st = store()
    pages = []  # (key, sha256, width, height) per page
    raw = {"name": name, "source": source, "ref": record["ref"]}
    with tempfile.TemporaryDirectory(prefix="linerec-intake-") as spool:
        try:
            started = time.monotonic()
            limit = budget.pages + 1 if budget else MAX_PAGES  # one page past the budget tells it is over
            for n, page in enumerate(iter_pages(data, name, max_pages=limit), start=1):
                if budget and n > budget.pages:
                    raise OverBudget(f"{name}: more than {budget.pages} pages (LINEREC_INBOX_FILE_PAGES)")
                png = encode_png(page)
                page_sha = sha256_bytes(png)
                (Path(spool) / page_sha).write_bytes(png)
                readable, crc = _readable_original(data, record["media"], page)
                original = sha if readable else None
                pages.append((f"pages/{page_sha}", page_sha, page.shape[1], page.shape[0], original, crc))
                del page, png
                if budget and time.monotonic() - started > budget.seconds:
                    raise OverBudget(
                        f"{name}: decoding took more than {budget.seconds:g} s at page {n} (LINEREC_INBOX_FILE_SECONDS)"
                    )
        except OverBudget as exc:
            reason = str(exc)
            with eng.begin() as conn:
                quarantine(conn, STAGE, f"file:{sha}", reason, raw)
            return {"sha256": sha, "status": "quarantined", "pages": [], "new": True, "reason": reason}
        except BadImage as exc:
            reason = str(exc)
            with eng.begin() as conn:
                quarantine(conn, STAGE, f"file:{sha}", reason, raw)
                conn.execute(
                    query("register_intake_file"), dict(record, status="quarantined", reason=reason, doc=None, pages=0)
                )
            return {"sha256": sha, "status": "quarantined", "pages": [], "new": True, "reason": reason}
        for key, page_sha, *_ in pages:  # every page decoded: now they go to S3
            if not st.exists(key):
                st.put_bytes(key, (Path(spool) / page_sha).read_bytes(), "image/png")
        if record["media"] == "jpeg" and len(pages) == 1 and not st.exists(original_key(sha)):
            st.put_bytes(original_key(sha), data, "image/jpeg")  # the searchable PDF embeds these bytes
    stem = PurePosixPath(name).stem or "scan"
    with eng.begin() as conn:  # the document, its pages and the file's registration together
        doc_id = conn.execute(query("upsert_document"), {"name": f"{stem}-{sha[:12]}", "source": "scan"}).scalar_one()
        page_ids = [
            conn.execute(
                query("upsert_page"),
                {
                    "doc": doc_id,
                    "page_no": page_no,
                    "key": key,
                    "sha": page_sha,
                    "w": w,
                    "h": h,
                    "meta": "{}",
                    "original": original,
                    "crc": crc,
                },
            ).scalar_one()
            for page_no, (key, page_sha, w, h, original, crc) in enumerate(pages, start=1)
        ]
        conn.execute(
            query("register_intake_file"),
            dict(record, status="registered", reason=None, doc=doc_id, pages=len(page_ids)),
        )
    log.info("intake: %s (%s, %d pages) registered as document %s", name, record["media"], len(page_ids), doc_id)
    return {"sha256": sha, "status": "registered", "pages": page_ids, "new": True, "reason": None}


def _readable_original(data: bytes, media: object, page) -> tuple[bool, int | None]:
    """Whether a JPEG file's page can be read from the file's own bytes, and its pixels' CRC-32.

    True when the fast decoder (:func:`linerec.vision.images.decode_jpeg_gray`) gives exactly
    ``page``, the canonical page; recognition then reads the JPEG (a third of the bytes, decoded
    faster) and checks the CRC (migration ``0011_page_originals.sql``). A colour JPEG (Pillow and
    OpenCV make gray differently) or anything else is read from its canonical PNG.
    """
    import numpy as np

    from linerec.vision.images import decode_jpeg_gray, pixels_crc32

    if media != "jpeg":
        return False, None
    fast = decode_jpeg_gray(data)
    if fast is None or not np.array_equal(fast, page):
        return False, None
    return True, pixels_crc32(page)


def ingest_files(paths: list[str]) -> dict:
    """Register scan files from local paths.

    Returns
    -------
    dict
        ``pages`` (page ids of every accepted file, in order; the same ids when a file was
        registered before), ``files`` (per file: path, sha256, status, pages) and ``rejected``
        (files quarantined, now or before).
    """
    page_ids: list[int] = []
    files: list[dict[str, object]] = []
    rejected = 0
    for path in map(Path, paths):
        shown = _text(str(path))
        try:
            data = path.read_bytes()
        except OSError as exc:
            with engine().begin() as conn:
                quarantine(conn, STAGE, f"file:{_text(path.name)}", f"{shown}: {exc.strerror or exc}", {"path": shown})
            rejected += 1
            files.append({"path": shown, "status": "quarantined", "pages": []})
            continue
        result = ingest_bytes(data, path.name, "path", str(path))
        page_ids += result["pages"]
        rejected += result["status"] == "quarantined"
        files.append(
            {"path": shown, "sha256": result["sha256"], "status": result["status"], "pages": len(result["pages"])}
        )
    log.info("intake: %d files, %d pages, %d rejected", len(files), len(page_ids), rejected)
    return {"pages": page_ids, "rejected": rejected, "files": files}


def scan_inbox(prefix: str = INBOX_PREFIX) -> dict:
    """Take in every new object under the S3 inbox ``prefix``, within budgets.

    Each object is dealt with once per key and ETag, and what became of it is recorded in
    ``inbox_objects``:

    * an object larger than ``LINEREC_INBOX_MAX_BYTES`` (by HEAD, and never read beyond it) is
      quarantined unread;
    * an object with the ETag and size of a file read before (under any key) is recorded as a
      duplicate of it without a download;
    * any other object is marked in progress (under an advisory lock), read and registered by
      the sha256 of its bytes (:func:`ingest_bytes`, within ``LINEREC_INBOX_FILE_SECONDS`` and
      ``LINEREC_INBOX_FILE_PAGES``). An object whose reading fails (other than by a service
      outage) is quarantined with the reason; one left in progress by a scan that died on it
      (killed, out of memory, timed out) is quarantined by the next scan instead of being read
      again, so no object can stop the nightly run twice.

    When the scan has spent ``LINEREC_INBOX_RUN_SECONDS`` or taken in ``LINEREC_INBOX_RUN_PAGES``
    pages, the objects left wait for the next scan. Objects are left in place.

    Returns
    -------
    dict
        ``seen`` (objects listed), ``new_files``, ``new_pages`` and ``rejected`` (counts only, so
        the result can travel through XCom whatever the inbox holds).
    """
    settings = get_settings()
    budget = FileBudget(settings.inbox_file_seconds, settings.inbox_file_pages)
    st = store()
    eng = engine()
    started = time.monotonic()
    with eng.connect() as conn:
        done = {(r.s3_key, r.etag) for r in conn.execute(query("inbox_done"), {"prefix": prefix})}
    counts = {"seen": 0, "new_files": 0, "new_pages": 0, "rejected": 0}
    deferred = 0
    locks = eng.connect().execution_options(isolation_level="AUTOCOMMIT")  # holds per-object advisory locks
    try:
        for listing in st.client.get_paginator("list_objects_v2").paginate(Bucket=st.bucket, Prefix=prefix):
            for obj in listing.get("Contents", []):
                key, etag = obj["Key"], obj.get("ETag", "").strip('"')
                if key.endswith("/"):
                    continue
                counts["seen"] += 1
                if (key, etag) in done:
                    continue
                if (
                    time.monotonic() - started > settings.inbox_run_seconds
                    or counts["new_pages"] >= settings.inbox_run_pages
                ):
                    deferred += 1
                    continue
                _take_object(
                    st, eng, locks, key, etag, int(obj.get("Size", 0)), settings.inbox_max_bytes, budget, counts
                )
    finally:
        try:  # session-level locks outlive the connection's return to the pool: release them
            locks.execute(query("advisory_unlock_all"))
        except sa.exc.DBAPIError:
            locks.invalidate()
        locks.close()
    if deferred:
        log.warning(
            "inbox %s: budget of the scan spent (LINEREC_INBOX_RUN_SECONDS=%g, LINEREC_INBOX_RUN_PAGES=%d); "
            "%d objects wait for the next scan",
            prefix,
            settings.inbox_run_seconds,
            settings.inbox_run_pages,
            deferred,
        )
    log.info(
        "inbox %s: %d objects, %d new files, %d new pages, %d rejected, %d deferred",
        prefix,
        counts["seen"],
        counts["new_files"],
        counts["new_pages"],
        counts["rejected"],
        deferred,
    )
    return counts


def _refuse(eng, key: str, etag: str, n_bytes: int, reason: str, counts: dict) -> None:
    """Quarantine an inbox object with ``reason`` and record it as refused."""
    with eng.begin() as conn:
        quarantine(conn, STAGE, f"s3:{key}", reason, {"key": key, "etag": etag, "n_bytes": n_bytes})
        conn.execute(
            query("inbox_record"),
            {"key": key, "etag": etag, "n_bytes": n_bytes, "status": "quarantined", "sha": None, "reason": reason},
        )
    counts["new_files"] += 1
    counts["rejected"] += 1


def _take_object(
    st, eng, locks, key: str, etag: str, size: int, max_bytes: int, budget: FileBudget, counts: dict
) -> None:
    """Deal with one inbox object not dealt with before (see :func:`scan_inbox`); updates ``counts``."""
    from botocore.exceptions import ClientError

    try:
        head = st.head(key, listed=True)
    except ValueError as exc:  # a key with a '..' segment or a control character: never read
        with eng.begin() as conn:
            quarantine(conn, STAGE, f"s3:{key}", str(exc), {"key": key, "etag": etag})
        counts["rejected"] += 1
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return  # deleted since it was listed
        raise
    etag, size = head["etag"] or etag, head["size"]
    if size > max_bytes:
        _refuse(
            eng,
            key,
            etag,
            size,
            f"{PurePosixPath(key).name}: {size} bytes exceed the inbox limit of "
            f"{max_bytes} bytes (LINEREC_INBOX_MAX_BYTES)",
            counts,
        )
        return
    with eng.connect() as conn:
        known = conn.execute(query("inbox_known_content"), {"etag": etag, "n_bytes": size}).scalar()
    if known is not None:
        with eng.begin() as conn:
            conn.execute(
                query("inbox_record"),
                {"key": key, "etag": etag, "n_bytes": size, "status": "duplicate", "sha": known, "reason": None},
            )
        log.info("inbox: %s holds the known file %s (same ETag and size): not downloaded", key, known[:12])
        return
    lock = {"k": key + "\n" + etag, "c": _INBOX_LOCK}
    if not locks.execute(query("inbox_try_lock"), lock).scalar():
        log.info("inbox: %s is being read by another scan", key)
        return
    try:
        with eng.begin() as conn:
            claim = conn.execute(query("inbox_claim"), {"key": key, "etag": etag, "n_bytes": size}).one()
        if claim.previous not in (None, "in_progress"):
            return  # finished by another scan since this one listed the inbox
        if claim.previous == "in_progress":
            _refuse(
                eng,
                key,
                etag,
                size,
                f"{PurePosixPath(key).name}: a scan stopped while reading it (killed, "
                "out of memory or timed out); delete its inbox_objects row to read it again",
                counts,
            )
            return
        _read_object(st, eng, key, etag, size, max_bytes, budget, counts)
    finally:
        locks.execute(query("inbox_unlock"), lock)


def _read_object(st, eng, key: str, etag: str, size: int, max_bytes: int, budget: FileBudget, counts: dict) -> None:
    """Read and register one inbox object marked in progress; record its outcome."""
    name = PurePosixPath(key).name
    try:
        data = st.get_bytes(key, listed=True, max_bytes=max_bytes) if size else b""
        result = ingest_bytes(data, name, "s3", key, etag, budget=budget)
    except (ServiceUnavailable, sa.exc.DBAPIError):  # not the object's fault: read it again next time
        try:
            with eng.begin() as conn:
                conn.execute(query("inbox_forget"), {"key": key, "etag": etag})
        except sa.exc.DBAPIError:
            log.warning("inbox: could not clear the in-progress mark of %s", key)
        raise
    except ObjectTooLarge as exc:
        _refuse(eng, key, etag, size, f"{name}: {exc} (LINEREC_INBOX_MAX_BYTES)", counts)
        return
    except Exception as exc:  # noqa: BLE001 - whatever this object does to the reader, the scan goes on
        log.exception("inbox: reading %s failed", key)
        _refuse(eng, key, etag, size, f"{name}: reading failed ({type(exc).__name__}: {str(exc)[:300]})", counts)
        return
    status = "quarantined" if result["status"] == "quarantined" else "registered" if result["new"] else "duplicate"
    with eng.begin() as conn:
        conn.execute(
            query("inbox_record"),
            {
                "key": key,
                "etag": etag,
                "n_bytes": size,
                "status": status,
                "sha": result["sha256"],
                "reason": result["reason"],
            },
        )
    if result["new"]:
        counts["new_files"] += 1
        counts["new_pages"] += len(result["pages"])
        counts["rejected"] += result["status"] == "quarantined"
