"""Step 1: export line annotations from Label Studio and load them into Postgres and S3."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa

from linerec.config import get_settings
from linerec.db import query
from linerec.services import ServiceUnavailable
from tasks.context import engine, quarantine, store

log = logging.getLogger(__name__)

STAGE = "annotation_sync"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_annotations(export_file: str | None = None) -> int:
    """Snapshot the annotations and record the raw export; returns ``export_id``.

    The source is the Label Studio server when ``LABEL_STUDIO_URL`` is set, otherwise the
    Label Studio JSON export file ``export_file`` (default ``LINEREC_EXPORT_FILE``). The raw
    export is stored in S3 under its sha256, so exporting unchanged annotations twice yields
    the same ``export_id``.
    """
    settings = get_settings()
    st = store()
    if settings.label_studio_url and not export_file:
        from linerec.data.ls_client import fetch_export

        if not (settings.label_studio_api_key and settings.label_studio_project_id):
            raise ServiceUnavailable(
                f"Label Studio: {settings.label_studio_url} is configured but LABEL_STUDIO_API_KEY or "
                "LABEL_STUDIO_PROJECT_ID is unset"
            )
        tmpdir = Path(tempfile.mkdtemp(prefix="ls-export-"))
        path = fetch_export(settings.label_studio_url, settings.label_studio_api_key,
                            settings.label_studio_project_id, tmpdir / "export.json")
        source, source_ref = "labelstudio", f"{settings.label_studio_url}#project={settings.label_studio_project_id}"
    else:
        path = Path(export_file) if export_file else settings.export_file
        if path is None:
            raise ServiceUnavailable(
                "Label Studio: neither LABEL_STUDIO_URL nor LINEREC_EXPORT_FILE is set; configure a server "
                "or point LINEREC_EXPORT_FILE at a Label Studio JSON export"
            )
        path = path.resolve()
        if not path.is_file():
            raise FileNotFoundError(f"Label Studio export file {path} does not exist")
        source, source_ref, tmpdir = "file", str(path), None
    sha = _sha256_file(path)
    key = f"exports/{sha}.json"
    if not st.exists(key):
        st.put_file(key, path)
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)
    with engine().begin() as conn:
        export_id = conn.execute(query("upsert_export"),
                                 {"source": source, "ref": source_ref, "sha": sha, "key": key}).scalar_one()
    log.info("export %s: %s (%s) sha256=%s", export_id, source_ref, source, sha[:12])
    return export_id


def _load_image(image_ref: str, source: str, source_ref: str) -> tuple[bytes, str]:
    """Fetch a task's image bytes; returns (bytes, description for errors)."""
    from linerec.data.labelstudio import resolve_image_ref

    settings = get_settings()
    if source == "labelstudio" and image_ref.startswith("/"):
        from linerec.data.ls_client import fetch_url

        url = settings.label_studio_url.rstrip("/") + image_ref
        return fetch_url(url, settings.label_studio_api_key), url
    kind, where = resolve_image_ref(image_ref, Path(source_ref).parent)
    if kind == "file":
        return Path(where).read_bytes(), where
    if kind == "http":
        from linerec.data.ls_client import fetch_url

        return fetch_url(where), where
    bucket, _, key = where[len("s3://"):].partition("/")
    st = store()
    if bucket != st.bucket:
        raise ValueError(f"image {where} is outside bucket {st.bucket}")
    return st.get_bytes(key), where


def ingest_export(export_id: int) -> dict:
    """Parse export ``export_id``; copy page images to S3; upsert documents, pages and lines.

    Rejected regions and unusable images go to ``quarantine`` with their reason; the rest of
    the export is ingested. Running it twice leaves the same rows.

    Returns
    -------
    dict
        Counts: ``tasks``, ``pages``, ``lines``, ``rejected``.
    """
    from linerec.data.labelstudio import iter_export_file, parse_tasks
    from linerec.images import BadImage, decode_page

    settings = get_settings()
    st = store()
    eng = engine()
    with eng.connect() as conn:
        row = conn.execute(sa.text("SELECT source, source_ref, s3_key, sha256 FROM annotation_exports "
                                   "WHERE export_id = :id"), {"id": export_id}).one()
    local = st.download(row.s3_key, settings.cache_dir / "exports" / f"{row.sha256}.json", row.sha256)
    parsed = parse_tasks(iter_export_file(local))
    by_task = defaultdict(list)
    for line in parsed.lines:
        by_task[line.task_id].append(line)
    pages = lines = 0
    rejected = len(parsed.rejected)
    with eng.begin() as conn:
        for rej in parsed.rejected:
            ref = f"task:{rej.task_id}/region:{rej.region_id}" if rej.region_id else f"task:{rej.task_id}"
            quarantine(conn, STAGE, ref, rej.reason, rej.raw, export_id)
    for task_id, task_lines in sorted(by_task.items()):
        first = task_lines[0]
        try:
            data, where = _load_image(first.image_ref, row.source, row.source_ref)
            page = decode_page(data, where)
        except (BadImage, OSError, ValueError) as exc:
            with eng.begin() as conn:
                quarantine(conn, STAGE, f"task:{task_id}", f"page image {first.image_ref!r}: {exc}",
                           {"task_id": task_id, "image": first.image_ref}, export_id)
            rejected += len(task_lines)
            continue
        height, width = page.shape
        if (width, height) != (first.image_width, first.image_height):
            with eng.begin() as conn:
                quarantine(conn, STAGE, f"task:{task_id}",
                           f"image is {width}x{height} but the annotation says "
                           f"{first.image_width}x{first.image_height}", {"image": first.image_ref}, export_id)
            rejected += len(task_lines)
            continue
        sha = hashlib.sha256(data).hexdigest()
        key = f"pages/{sha}"
        if not st.exists(key):
            st.put_bytes(key, data)
        with eng.begin() as conn:  # one page and its lines per transaction
            doc_id = conn.execute(query("upsert_document"), {"name": first.document, "source": "annotated"}).scalar_one()
            page_id = conn.execute(query("upsert_page"), {
                "doc": doc_id, "page_no": first.page_no, "key": key, "sha": sha, "w": width, "h": height,
            }).scalar_one()
            conn.execute(query("upsert_line_annotation"), [
                {"page": page_id, "export": export_id, "task": ln.task_id, "ann": ln.annotation_id,
                 "region": ln.region_id, "line_no": ln.line_no, "x": ln.x, "y": ln.y, "w": ln.w, "h": ln.h,
                 "rot": ln.rotation, "text": ln.text}
                for ln in task_lines
            ])
        pages += 1
        lines += len(task_lines)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE annotation_exports SET tasks_seen = :t, lines_ingested = :l, rejected = :r, "
                             "ingested_at = now() WHERE export_id = :id"),
                     {"t": parsed.tasks_seen, "l": lines, "r": rejected, "id": export_id})
    stats = {"export_id": export_id, "tasks": parsed.tasks_seen, "pages": pages, "lines": lines, "rejected": rejected}
    log.info("ingested export %s: %s", export_id, stats)
    return stats
