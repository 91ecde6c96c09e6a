"""Step 1: export line annotations from Label Studio and load them into Postgres and S3.

Ingestion is incremental and streams: the export is read one task at a time (ijson) and
handled in chunks; a task whose fingerprint (its data and chosen annotation, see
:func:`linerec.data.labelstudio.task_fingerprint`) equals the one recorded in
``annotation_task_state`` is skipped without fetching its image or touching a row. An export
that was ingested completely is not ingested again.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections import Counter
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import sqlalchemy as sa

from linerec.config import get_settings
from linerec.db import query
from linerec.services import ServiceUnavailable
from linerec.storage import sha256_file
from tasks.context import engine, quarantine, store

log = logging.getLogger(__name__)

STAGE = "annotation_sync"
CHUNK = 200  # tasks per chunk: bounds memory and batches the fingerprint look-ups


def _label_studio_project(url: str, configured: int | None) -> int:
    if configured:
        return configured
    from tasks.labelstudio import recorded_project_id

    recorded = recorded_project_id(url)
    if recorded is None:
        raise ServiceUnavailable(
            f"Label Studio: {url} is configured but LABEL_STUDIO_PROJECT_ID is unset and no single project "
            "was set up there; set LABEL_STUDIO_PROJECT_ID or run `linerec labelstudio setup`")
    return recorded


def export_annotations(export_file: str | None = None) -> int:
    """Snapshot the annotations and record the raw export; returns ``export_id``.

    The source is the Label Studio server when ``LABEL_STUDIO_URL`` is set (the project of
    ``LABEL_STUDIO_PROJECT_ID``, else the one ``linerec labelstudio setup`` recorded), otherwise
    the Label Studio JSON export file ``export_file`` (default ``LINEREC_EXPORT_FILE``). The raw
    export is streamed to S3 under its sha256, so exporting unchanged annotations twice yields
    the same ``export_id``.
    """
    settings = get_settings()
    store()
    tmpdir = None
    try:
        if settings.label_studio_url and not export_file:
            from linerec.data.ls_client import fetch_export

            if not settings.label_studio_api_key:
                raise ServiceUnavailable(
                    f"Label Studio: {settings.label_studio_url} is configured but LABEL_STUDIO_API_KEY is unset")
            url = settings.label_studio_url.rstrip("/")
            project_id = _label_studio_project(url, settings.label_studio_project_id)
            tmpdir = Path(tempfile.mkdtemp(prefix="ls-export-"))
            path = fetch_export(url, settings.label_studio_api_key, project_id, tmpdir / "export.json")
            source, source_ref = "labelstudio", f"{url}#project={project_id}"
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
            source, source_ref = "file", str(path)
        sha = sha256_file(path)
        key = f"exports/{sha}.json"
        if not store().exists(key):
            store().put_file(key, path, "application/json", sha256=sha)
    finally:
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


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _scope(source: str, source_ref: str) -> str:
    """Where task ids are unique: the Label Studio server (``url#project=N`` without the project);
    export files share the scope ``file`` (files that reuse task ids only cost re-ingestion)."""
    return source_ref.split("#", 1)[0] if source == "labelstudio" else "file"


def _retire_stale_lines(conn, task_id: int, page_id: int | None, regions: list[str], export_id: int) -> int:
    """Delete the task's lines on its page whose region is gone from its annotation; returns how many.

    Only lines of this task on the page it shows are considered (another source may reuse task
    ids for other pages; a task whose data moved it to another page keeps its old lines). A gone line that a dataset version references is kept (datasets are immutable) and the
    fact is put in quarantine, so it is visible and not silent.
    """
    stale = conn.execute(sa.text(
        "SELECT la.line_annotation_id, la.ls_region_id, la.text, "
        "       EXISTS (SELECT 1 FROM dataset_items di WHERE di.line_annotation_id = la.line_annotation_id) AS used "
        "  FROM line_annotations la "
        " WHERE la.ls_task_id = :task AND la.page_id = :page AND la.ls_region_id <> ALL(:regions)"),
        {"task": task_id, "page": page_id, "regions": regions}).all()
    gone = [r.line_annotation_id for r in stale if not r.used]
    if gone:
        conn.execute(sa.text("DELETE FROM line_annotations WHERE line_annotation_id = ANY(:ids)"), {"ids": gone})
    for r in stale:
        if r.used:
            quarantine(conn, STAGE, f"task:{task_id}/region:{r.ls_region_id}",
                       "region removed in Label Studio; line kept because a dataset version uses it",
                       {"line_annotation_id": r.line_annotation_id, "text": r.text}, export_id)
    return len(gone)


def _ingest_task(parsed, export_id: int, source: str, source_ref: str, stats: Counter) -> None:
    """Write one changed task: page image, document, page, its lines, stale lines, its state."""
    from botocore.exceptions import ClientError

    from linerec.data.ls_client import LabelStudioError
    from linerec.images import BadImage, decode_page
    from linerec.storage import sha256_bytes

    eng = engine()
    st = store()
    task_id, lines = parsed.task_id, parsed.lines
    page_key = page_sha = None
    if lines:
        first = lines[0]
        try:
            data, where = _load_image(first.image_ref, source, source_ref)
            page = decode_page(data, where)
        except (BadImage, OSError, ValueError, LabelStudioError, ClientError) as exc:  # ClientError: no such object
            with eng.begin() as conn:
                quarantine(conn, STAGE, f"task:{task_id}", f"page image {first.image_ref!r}: {exc}",
                           {"task_id": task_id, "image": first.image_ref}, export_id)
            stats["rejected"] += len(lines)
            return  # no state recorded: the task is tried again with the next export
        height, width = page.shape
        if (width, height) != (first.image_width, first.image_height):
            with eng.begin() as conn:
                quarantine(conn, STAGE, f"task:{task_id}",
                           f"image is {width}x{height} but the annotation says "
                           f"{first.image_width}x{first.image_height}", {"image": first.image_ref}, export_id)
            stats["rejected"] += len(lines)
            return
        page_sha = sha256_bytes(data)
        page_key = f"pages/{page_sha}"
        if not st.exists(page_key):
            st.put_bytes(page_key, data)
        del data, page
    with eng.begin() as conn:  # a task's page, lines, stale lines and state in one transaction
        page_id = None
        if lines:
            doc_id = conn.execute(query("upsert_document"), {"name": first.document, "source": "annotated"}).scalar_one()
            page_id = conn.execute(query("upsert_page"), {
                "doc": doc_id, "page_no": first.page_no, "key": page_key, "sha": page_sha,
                "w": first.image_width, "h": first.image_height,
                "meta": json.dumps(parsed.meta, sort_keys=True)}).scalar_one()
            upsert = query("upsert_line_annotation")
            for ln in lines:  # one statement per line: rowcount says whether the line changed
                stats["lines"] += conn.execute(upsert, {
                    "page": page_id, "export": export_id, "task": ln.task_id, "ann": ln.annotation_id,
                    "region": ln.region_id, "line_no": ln.line_no, "x": ln.x, "y": ln.y, "w": ln.w, "h": ln.h,
                    "rot": ln.rotation, "text": ln.text}).rowcount
            stats["pages"] += 1
        else:  # no line left (annotation deleted, skipped or emptied): the page the task shows, if known
            page_id = conn.execute(sa.text(
                "SELECT p.page_id FROM pages p JOIN documents d USING (document_id) "
                " WHERE d.name = :doc AND p.page_no = :page_no"),
                {"doc": parsed.document, "page_no": parsed.page_no}).scalar()
        if page_id is not None:
            stats["lines_removed"] += _retire_stale_lines(conn, task_id, page_id, [ln.region_id for ln in lines],
                                                          export_id)
        conn.execute(sa.text(
            "INSERT INTO annotation_task_state (scope, ls_task_id, ls_annotation_id, fingerprint, page_id, export_id) "
            "VALUES (:scope, :task, :ann, :fp, :page, :export) "
            "ON CONFLICT (scope, ls_task_id) DO UPDATE SET ls_annotation_id = EXCLUDED.ls_annotation_id, "
            "fingerprint = EXCLUDED.fingerprint, page_id = coalesce(EXCLUDED.page_id, annotation_task_state.page_id), "
            "export_id = EXCLUDED.export_id, ingested_at = now()"),
            {"scope": _scope(source, source_ref), "task": task_id, "ann": parsed.annotation_id,
             "fp": parsed.fingerprint, "page": page_id, "export": export_id})
    stats["tasks_changed"] += 1


def _named_tasks(local: Path, export_id: int, source_ref: str) -> Iterator:
    """The export's tasks; a file that is not a JSON list of tasks is an error naming where it came from."""
    from linerec.data.labelstudio import iter_export_file

    try:
        yield from iter_export_file(local)
    except ValueError as exc:
        raise ValueError(f"export {export_id} from {source_ref}: {exc}") from None


def ingest_export(export_id: int) -> dict:
    """Ingest export ``export_id`` incrementally: only tasks that changed since they were last ingested.

    The export is streamed from S3 to a local file and parsed one task at a time. For each
    changed task the page image is copied to S3 (content-addressed), and its document, page
    and lines are upserted, lines whose region is gone are removed, and its fingerprint is
    recorded, in one transaction. Rejected regions and unusable images go to ``quarantine``
    with their reason; the rest of the export is ingested. An export already ingested is not
    ingested again, and ingesting an export whose tasks are unchanged changes no row.

    Returns
    -------
    dict
        Counts: ``tasks`` (seen), ``tasks_changed``, ``tasks_unchanged`` (skipped by their
        fingerprint), ``pages`` and ``lines`` written (a line counts when inserted or changed),
        ``lines_removed``, ``rejected``; ``already_ingested`` when the export was done before.
    """
    from linerec.data.labelstudio import iter_parsed_tasks

    settings = get_settings()
    eng = engine()
    with eng.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT source, source_ref, s3_key, sha256, ingested_at, tasks_seen, tasks_changed, lines_ingested, "
            "rejected FROM annotation_exports WHERE export_id = :id"), {"id": export_id}).one()
    if row.ingested_at is not None:
        log.info("export %s was ingested at %s: nothing to do", export_id, row.ingested_at)
        return {"export_id": export_id, "tasks": row.tasks_seen, "tasks_changed": 0, "tasks_unchanged": row.tasks_seen,
                "pages": 0, "lines": 0, "lines_removed": 0, "rejected": row.rejected, "already_ingested": True}
    local = store().download(row.s3_key, settings.cache_dir / "exports" / f"{row.sha256}.json", row.sha256)
    stats: Counter = Counter()
    scope = _scope(row.source, row.source_ref)
    for chunk in _chunks(iter_parsed_tasks(_named_tasks(local, export_id, row.source_ref)), CHUNK):
        with eng.begin() as conn:
            for parsed in chunk:
                for rej in parsed.rejected:
                    ref = f"task:{rej.task_id}/region:{rej.region_id}" if rej.region_id else f"task:{rej.task_id}"
                    quarantine(conn, STAGE, ref, rej.reason, rej.raw, export_id)
            ids = [p.task_id for p in chunk if p.fingerprint is not None]
            stored = {r.ls_task_id: r for r in conn.execute(sa.text(
                "SELECT ls_task_id, fingerprint, page_id FROM annotation_task_state "
                " WHERE scope = :scope AND ls_task_id = ANY(:ids)"), {"scope": scope, "ids": ids})}
        for parsed in chunk:
            stats["tasks"] += 1
            stats["rejected"] += len(parsed.rejected)
            if parsed.fingerprint is None:
                continue  # rejected as a whole (recorded above)
            previous = stored.get(parsed.task_id)
            if previous is not None and previous.fingerprint == parsed.fingerprint:
                stats["tasks_unchanged"] += 1
                continue
            if previous is None and not parsed.annotated:
                continue  # never annotated: nothing to write
            _ingest_task(parsed, export_id, row.source, row.source_ref, stats)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE annotation_exports SET tasks_seen = :t, tasks_changed = :c, "
                             "lines_ingested = :l, rejected = :r, ingested_at = now() WHERE export_id = :id"),
                     {"t": stats["tasks"], "c": stats["tasks_changed"], "l": stats["lines"],
                      "r": stats["rejected"], "id": export_id})
    local.unlink(missing_ok=True)  # the export stays in S3
    out = {"export_id": export_id, **{k: stats[k] for k in ("tasks", "tasks_changed", "tasks_unchanged", "pages",
                                                            "lines", "lines_removed", "rejected")}}
    log.info("ingested export %s: %s", export_id, out)
    return out
