"""Annotation sync (the annotation_sync DAG): line annotations exported from Label Studio, loaded into
Postgres and S3.

Ingestion is incremental and streams: the export is read one task at a time (ijson) and
handled in chunks; a task whose fingerprint (its data and chosen annotation, see
:func:`linerec.labelstudio.export.task_fingerprint`) equals the one recorded in
``annotation_task_state`` is skipped without fetching its image or touching a row. An export
that was ingested completely is not ingested again.

Every export has a *scope*, its source (``annotation_exports.scope``): a Label Studio project
(``labelstudio:<url>#project=<id>``) or, for export files, the folder they are read from
(``file:<folder>``). Documents, lines and task state are unique per scope, ingests of one scope are
serialised (a Postgres advisory lock), and a task whose annotation is older than the one ingested
before is skipped. Each task is written in its own transaction; a task that cannot be written is
quarantined with its reason and the rest of the export goes on.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import sqlalchemy as sa

from linerec.infra.config import get_settings
from linerec.infra.db import query
from linerec.infra.endpoints import ServiceUnavailable
from linerec.infra.storage import sha256_file
from tasks.context import engine, quarantine, store

log = logging.getLogger(__name__)

STAGE = "annotation_sync"
CHUNK = 200  # tasks per chunk: bounds memory and batches the fingerprint look-ups
LOCK_NAMESPACE = 72110007  # pg_advisory_lock(LOCK_NAMESPACE, hashtext(scope)): one ingest per scope at a time


class ExportFileRefused(ValueError):
    """An ``export_file`` outside the import folder, or a file that is not a JSON list of tasks."""


def export_file_path(export_file: str) -> Path:
    """The export file ``export_file`` names, which must lie inside the import folder.

    Parameters
    ----------
    export_file
        A path as given to the DAG, Luigi or the CLI; relative paths are taken inside
        ``Settings.import_dir`` (``LINEREC_IMPORT_DIR``). Symbolic links are resolved first.

    Raises
    ------
    ExportFileRefused
        When the path (once resolved) is outside the import folder, or holds a NUL character.
    FileNotFoundError
        When it is inside but there is no such file.
    """
    root = get_settings().import_dir
    shown = repr(export_file[:300])
    if "\x00" in export_file:
        raise ExportFileRefused(f"export_file {shown}: contains a NUL character")
    requested = Path(export_file)
    path = (requested if requested.is_absolute() else root / requested).resolve()
    if not path.is_relative_to(root):
        raise ExportFileRefused(
            f"export_file {shown} is outside the import folder {root}: copy the export into it "
            "(LINEREC_IMPORT_DIR sets the folder)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"Label Studio export file {path} does not exist")
    return path


def _validate_export(path: Path, shown: str) -> int:
    """Read the whole export at ``path`` once as JSON; returns its number of tasks.

    Raises
    ------
    ExportFileRefused
        When it is not a JSON list; the message names the file as ``shown`` and the position,
        never its bytes.
    """
    from linerec.labelstudio.export import iter_export_file

    n = 0
    try:
        for _ in iter_export_file(path):
            n += 1
    except ValueError as exc:
        raise ExportFileRefused(str(exc).replace(str(path), shown)) from None
    return n


def _label_studio_project(url: str, configured: int | None) -> int:
    if configured:
        return configured
    from tasks.registry import recorded_project_id

    recorded = recorded_project_id(url)
    if recorded is None:
        raise ServiceUnavailable(
            f"Label Studio: {url} is configured but LABEL_STUDIO_PROJECT_ID is unset and no single project "
            "was set up there; set LABEL_STUDIO_PROJECT_ID or run `linerec labelstudio setup`"
        )
    return recorded


def export_annotations(export_file: str | None = None) -> int:
    """Snapshot the annotations and record the raw export; returns ``export_id``.

    The source is the Label Studio server when ``LABEL_STUDIO_URL`` is set (the project of
    ``LABEL_STUDIO_PROJECT_ID``, else the one ``linerec labelstudio setup`` recorded), otherwise
    the Label Studio JSON export file ``export_file`` (default ``LINEREC_EXPORT_FILE``). An
    ``export_file`` given here must lie inside the import folder (:func:`export_file_path`);
    ``LINEREC_EXPORT_FILE``, set by the operator, may be anywhere. The export is read once as JSON
    before anything is stored (:class:`ExportFileRefused` when it is not a list of tasks). The raw
    export is streamed to S3 under its sha256, so exporting unchanged annotations twice yields the
    same ``export_id``.
    """
    settings = get_settings()
    store()
    tmpdir = None
    try:
        if settings.label_studio_url and not export_file:
            from linerec.labelstudio.client import fetch_export

            if not settings.label_studio_api_key:
                raise ServiceUnavailable(
                    f"Label Studio: {settings.label_studio_url} is configured but LABEL_STUDIO_API_KEY is unset"
                )
            url = settings.label_studio_url.rstrip("/")
            project_id = _label_studio_project(url, settings.label_studio_project_id)
            tmpdir = Path(tempfile.mkdtemp(prefix="ls-export-"))
            path = fetch_export(url, settings.label_studio_api_key, project_id, tmpdir / "export.json")
            source, source_ref = "labelstudio", f"{url}#project={project_id}"
        else:
            if export_file:
                path = export_file_path(export_file)
            elif settings.export_file is None:
                raise ServiceUnavailable(
                    "Label Studio: neither LABEL_STUDIO_URL nor LINEREC_EXPORT_FILE is set; configure a server "
                    "or point LINEREC_EXPORT_FILE at a Label Studio JSON export"
                )
            else:
                path = settings.export_file.resolve()
                if not path.is_file():
                    raise FileNotFoundError(f"Label Studio export file {path} does not exist")
            # (bytes of a file name that are not UTF-8 become \xNN: the reference must be storable text)
            source = "file"
            source_ref = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            tmpdir = Path(tempfile.mkdtemp(prefix="ls-export-"))
            path = Path(shutil.copyfile(path, tmpdir / "export.json"))  # what is checked is what is stored
        _validate_export(path, source_ref)
        sha = sha256_file(path)
        key = f"exports/{sha}.json"
        if not store().exists(key):
            store().put_file(key, path, "application/json", sha256=sha)
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
    with engine().begin() as conn:
        export_id = conn.execute(
            query("upsert_export"), {"source": source, "ref": source_ref, "sha": sha, "key": key}
        ).scalar_one()
    log.info("export %s: %s (%s) sha256=%s", export_id, source_ref, source, sha[:12])
    return export_id


def _load_image(image_ref: str, source: str, source_ref: str) -> tuple[bytes, str]:
    """Fetch a task's image bytes; returns (bytes, description for errors)."""
    from linerec.labelstudio.export import resolve_image_ref

    settings = get_settings()
    if source == "labelstudio" and image_ref.startswith("/"):
        from linerec.labelstudio.client import fetch_url

        if not settings.label_studio_url:  # the export was fetched while LABEL_STUDIO_URL was set
            raise ServiceUnavailable(
                f"Label Studio: export {source_ref} names image {image_ref!r} on Label Studio's server, "
                "but LABEL_STUDIO_URL is unset"
            )
        url = settings.label_studio_url.rstrip("/") + image_ref
        return fetch_url(url, settings.label_studio_api_key), url
    kind, where = resolve_image_ref(image_ref, Path(source_ref).parent)
    if kind == "file":  # read through the allow-list again: the byte cap, and a regular file when opened
        from linerec.labelstudio.image_fetch import image_policy, read_image_file

        return read_image_file(where, image_policy(), Path(source_ref).parent), where
    if kind == "http":
        from linerec.labelstudio.client import fetch_url

        return fetch_url(where), where
    bucket, _, key = where[len("s3://") :].partition("/")
    st = store()
    if bucket != st.bucket:
        raise ValueError(f"image {where} is outside bucket {st.bucket}")
    return st.get_bytes(key), where


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class _Refused(Exception):
    """A task whose page cannot be written as it asks (the message is the quarantine reason)."""


# Errors of one task that are quarantined (the rest of the export goes on): what the data can cause,
# in the database (a non-transient error) or in Python. A transient database error, a service that
# is down (ServiceUnavailable) or anything else stops the ingest, which a retry resumes.
_TASK_ERRORS = (
    sa.exc.SQLAlchemyError,
    ValueError,
    TypeError,
    LookupError,
    ArithmeticError,
    AttributeError,
    RecursionError,
    OSError,
)


def _quarantine_task_error(exc: BaseException) -> bool:
    from linerec.infra.db import is_transient_db_error

    if isinstance(exc, sa.exc.DBAPIError) and is_transient_db_error(exc):
        return False
    return isinstance(exc, _TASK_ERRORS) and not isinstance(exc, ServiceUnavailable)


def _error_line(exc: BaseException) -> str:
    """One line naming an error: its type and the first line of its message."""
    detail = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    first = (str(detail).strip().splitlines() or [""])[0]
    return f"{type(detail).__name__}: {first}"[:500]


def _project_key(conn, source: str, source_ref: str) -> int | None:
    """``labelstudio_projects.project_key`` of a Label Studio export's project, if linerec set it up."""
    if source != "labelstudio":
        return None
    url, _, project = source_ref.partition("#project=")
    if not project.isdigit():
        return None
    return conn.execute(query("labelstudio_project_key"), {"u": url, "p": int(project)}).scalar()


@contextmanager
def _scope_lock(scope: str):
    """Hold the advisory lock of ``scope`` (waiting for another ingest of it to finish) while inside.

    A session-level lock on a connection of its own: it is released on exit, or by the server
    when the process dies and its connection closes.
    """
    params = {"ns": LOCK_NAMESPACE, "scope": scope}
    conn = engine().connect()
    try:
        if not conn.execute(query("annotation_scope_try_lock"), params).scalar():
            log.info("another ingest of %s is running: waiting for it to finish", scope)
            conn.execute(query("annotation_scope_lock"), params)
        conn.commit()  # a session-level lock outlives the transaction; the connection waits idle
        yield
    finally:
        try:
            conn.execute(query("annotation_scope_unlock"), params)
            conn.commit()
        except sa.exc.DBAPIError:
            conn.invalidate()  # a connection that may still hold the lock never goes back to the pool
        conn.close()


def _older(parsed, previous, export_id: int) -> bool:
    """Whether the task as this export shows it is older than what was ingested before.

    An annotation is ordered by (time, id): ``updated_at`` (else ``created_at``), then its id. A task
    whose chosen annotation is before the newest one ingested for it is older; so is the same
    annotation when the task has none any more (it was deleted since). A task without an annotation
    (deleted, skipped) counts as older than a task state with one when the export was taken before
    the export that wrote that state (lower ``export_id``).
    """
    if previous is None:
        return False
    if not parsed.annotated:
        return previous.has_annotation and export_id < previous.export_id
    if previous.ls_annotation_id is None:
        return False
    mine, theirs = parsed.annotation_time, previous.ls_updated_at
    key: tuple
    stored: tuple
    if mine is not None and theirs is not None:
        key, stored = (mine, parsed.annotation_id), (theirs, previous.ls_annotation_id)
    else:  # times unknown (hand-made exports): ids only
        key, stored = (parsed.annotation_id,), (previous.ls_annotation_id,)
    return key < stored or (key == stored and not previous.has_annotation)


def _retire_stale_lines(
    conn, scope: str, task_id: int, page_id: int | None, regions: list[str], export_id: int, ann_time
) -> int:
    """Delete the task's lines on its page whose region is gone from its annotation; returns how many.

    Only lines of this task (in this scope) on the page it shows are considered (a task whose data
    moved it to another page keeps its old lines), and never a line written from an annotation newer
    than ``ann_time``. A gone line that a dataset version references is kept (datasets are
    immutable) and the fact is put in quarantine, so it is visible and not silent.
    """
    stale = conn.execute(
        query("stale_task_lines"),
        {"scope": scope, "task": task_id, "page": page_id, "regions": regions, "ann_time": ann_time},
    ).all()
    gone = [r.line_annotation_id for r in stale if not r.used]
    if gone:
        conn.execute(query("delete_line_annotations"), {"ids": gone})
    for r in stale:
        if r.used:
            quarantine(
                conn,
                STAGE,
                f"task:{task_id}/region:{r.ls_region_id}",
                "region removed in Label Studio; line kept because a dataset version uses it",
                {"line_annotation_id": r.line_annotation_id, "text": r.text},
                export_id,
            )
    return len(gone)


@dataclass(frozen=True)
class _Page:
    """Where a task's lines go (``page_id`` and ``sha256`` are ``None`` while the page does not exist)."""

    page_id: int | None
    document_id: int | None
    page_no: int | None
    sha256: str | None
    imported: bool  # a page linerec imported into the Label Studio project as this task


def _task_page(conn, scope: str, project_key: int | None, parsed, register: bool) -> _Page:
    """The page a task shows, its row locked.

    A task that linerec imported into its Label Studio project (``labelstudio_tasks``) shows that
    page, whatever its data says. Any other task shows page ``data.page`` of document
    ``data.document`` (else the image's file stem) in the export's scope; the document is
    registered when ``register`` (the task has lines).
    """
    if project_key is not None:
        row = conn.execute(query("labelstudio_task_page"), {"k": project_key, "task": parsed.task_id}).one_or_none()
        if row is not None:
            return _Page(row.page_id, row.document_id, row.page_no, row.sha256, True)
    if register:
        doc_id = conn.execute(
            query("upsert_scoped_document"), {"scope": scope, "name": parsed.document, "source": "annotated"}
        ).scalar_one()
    else:
        doc_id = conn.execute(query("scoped_document_id"), {"scope": scope, "name": parsed.document}).scalar()
    if doc_id is None:
        return _Page(None, None, parsed.page_no, None, False)
    row = conn.execute(query("lock_document_page"), {"doc": doc_id, "p": parsed.page_no}).one_or_none()
    return _Page(row.page_id if row else None, doc_id, parsed.page_no, row.sha256 if row else None, False)


def _may_replace_image(conn, scope: str, task_id: int, page_id: int) -> bool:
    """An explicit update of a page's image: the task that wrote the page, in this scope, now shows
    other bytes, and no other task has lines on the page."""
    return bool(
        conn.execute(query("page_image_replaceable"), {"scope": scope, "task": task_id, "page": page_id}).scalar()
    )


def _ingest_task(
    parsed, export_id: int, source: str, source_ref: str, stats: Counter, scope: str, project_key: int | None
) -> None:
    """Write one changed task: page image, document, page, its lines, stale lines, its state.

    Raises
    ------
    _Refused
        When the task's page holds other bytes than its image and this is not an explicit update
        (see :func:`_may_replace_image`); nothing of the task is written.
    """
    from botocore.exceptions import ClientError

    from linerec.infra.storage import sha256_bytes
    from linerec.labelstudio.client import LabelStudioError
    from linerec.vision.images import BadImage, decode_page

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
                quarantine(
                    conn,
                    STAGE,
                    f"task:{task_id}",
                    f"page image {first.image_ref!r}: {exc}",
                    {"task_id": task_id, "image": first.image_ref},
                    export_id,
                )
            stats["rejected"] += len(lines)
            return  # no state recorded: the task is tried again with the next export
        height, width = page.shape
        if (width, height) != (first.image_width, first.image_height):
            with eng.begin() as conn:
                quarantine(
                    conn,
                    STAGE,
                    f"task:{task_id}",
                    f"image is {width}x{height} but the annotation says {first.image_width}x{first.image_height}",
                    {"image": first.image_ref},
                    export_id,
                )
            stats["rejected"] += len(lines)
            return
        page_sha = sha256_bytes(data)
        page_key = f"pages/{page_sha}"
        if not st.exists(page_key):
            st.put_bytes(page_key, data)
        del data, page
    with eng.begin() as conn:  # a task's page, lines, stale lines and state in one transaction
        target = _task_page(conn, scope, project_key, parsed, register=bool(lines))
        page_id = target.page_id
        if lines:
            assert page_sha is not None, "a task with lines had its page image read above"
            if page_id is not None and target.sha256 != page_sha:
                assert target.sha256 is not None, "an existing page has a sha256 (pages.sha256 is NOT NULL)"
                if target.imported:
                    raise _Refused(
                        f"task {task_id}: its image {first.image_ref!r} (sha256 {page_sha[:12]}) differs from "
                        f"page {page_id} (sha256 {target.sha256[:12]}) that linerec imported as this task into "
                        f"{scope}; the page is kept as it is"
                    )
                if not _may_replace_image(conn, scope, task_id, page_id):
                    raise _Refused(
                        f"task {task_id}: its image {first.image_ref!r} (sha256 {page_sha[:12]}) differs from "
                        f"page {target.page_no} of document {parsed.document!r} (page {page_id}, sha256 "
                        f"{target.sha256[:12]}) that another task wrote in {scope}; the page is kept as it is "
                        "(give this task a data.document of its own)"
                    )
                log.warning(
                    "task %s in %s: page %s gets a new image (sha256 %s -> %s); predictions made from "
                    "the previous image stay as they are",
                    task_id,
                    scope,
                    page_id,
                    target.sha256[:12],
                    page_sha[:12],
                )
            page_id = conn.execute(
                query("upsert_page"),
                {
                    "doc": target.document_id,
                    "page_no": target.page_no,
                    "key": page_key,
                    "sha": page_sha,
                    "w": first.image_width,
                    "h": first.image_height,
                    "meta": json.dumps(parsed.meta, sort_keys=True),
                    "original": None,
                    "crc": None,
                },
            ).scalar_one()
            upsert = query("upsert_line_annotation")
            for ln in lines:  # one statement per line: rowcount says whether the line changed
                stats["lines"] += conn.execute(
                    upsert,
                    {
                        "scope": scope,
                        "page": page_id,
                        "export": export_id,
                        "task": ln.task_id,
                        "ann": ln.annotation_id,
                        "region": ln.region_id,
                        "line_no": ln.line_no,
                        "x": ln.x,
                        "y": ln.y,
                        "w": ln.w,
                        "h": ln.h,
                        "rot": ln.rotation,
                        "text": ln.text,
                        "ann_time": parsed.annotation_time,
                    },
                ).rowcount
            stats["pages"] += 1
        if page_id is not None:
            stats["lines_removed"] += _retire_stale_lines(
                conn, scope, task_id, page_id, [ln.region_id for ln in lines], export_id, parsed.annotation_time
            )
        conn.execute(
            query("upsert_annotation_task_state"),
            {
                "scope": scope,
                "task": task_id,
                "ann": parsed.annotation_id,
                "ann_time": parsed.annotation_time,
                "has": parsed.annotated,
                "fp": parsed.fingerprint,
                "page": page_id,
                "export": export_id,
            },
        )
    stats["tasks_changed"] += 1


def _named_tasks(local: Path, export_id: int, source_ref: str) -> Iterator:
    """The export's tasks; a file that is not a JSON list of tasks is an error naming where it came from."""
    from linerec.labelstudio.export import iter_export_file

    try:
        yield from iter_export_file(local)
    except ValueError as exc:
        raise ValueError(f"export {export_id} from {source_ref}: {exc}") from None


def _quarantine_rejections(conn, chunk, export_id: int) -> None:
    """Record the parser's rejections of a chunk, each under a savepoint of its own."""
    for parsed in chunk:
        for rej in parsed.rejected:
            ref = f"task:{rej.task_id}/region:{rej.region_id}" if rej.region_id else f"task:{rej.task_id}"
            try:
                with conn.begin_nested():
                    quarantine(conn, STAGE, ref, rej.reason, rej.raw, export_id)
            except Exception as exc:  # noqa: BLE001 - a rejection that cannot be recorded is logged, not fatal
                if not _quarantine_task_error(exc):
                    raise
                log.error(
                    "could not quarantine %s of export %s (%s): %s",
                    ref[:200],
                    export_id,
                    _error_line(exc),
                    rej.reason[:500],
                )


def _ingest_or_quarantine(parsed, export_id: int, row, scope: str, project_key: int | None, stats: Counter) -> None:
    """:func:`_ingest_task`; a refused page or a failure the task's data caused is quarantined with
    its reason (nothing of the task written, no state: the next export tries it again)."""
    counts: Counter = Counter()  # merged only when the task's transaction committed
    try:
        _ingest_task(parsed, export_id, row.source, row.source_ref, counts, scope, project_key)
        stats.update(counts)
        return
    except _Refused as exc:
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - see _quarantine_task_error: the rest are re-raised
        if not _quarantine_task_error(exc):
            raise
        reason = f"task {parsed.task_id} could not be written ({_error_line(exc)})"
        log.exception("task %s of export %s", parsed.task_id, export_id)
    with engine().begin() as conn:
        quarantine(
            conn,
            STAGE,
            f"task:{parsed.task_id}",
            reason,
            {
                "task_id": parsed.task_id,
                "document": parsed.document,
                "page": parsed.page_no,
                "annotation_id": parsed.annotation_id,
            },
            export_id,
        )
    stats["rejected"] += max(len(parsed.lines), 1)


def _export_row(conn, export_id: int):
    return conn.execute(query("annotation_export"), {"id": export_id}).one()


def _done(export_id: int, row) -> dict:
    log.info("export %s was ingested at %s: nothing to do", export_id, row.ingested_at)
    return {
        "export_id": export_id,
        "tasks": row.tasks_seen,
        "tasks_changed": 0,
        "tasks_unchanged": row.tasks_seen,
        "tasks_older": 0,
        "pages": 0,
        "lines": 0,
        "lines_removed": 0,
        "rejected": row.rejected,
        "already_ingested": True,
    }


def ingest_export(export_id: int) -> dict:
    """Ingest export ``export_id`` incrementally: only tasks that changed since they were last ingested.

    The export is streamed from S3 to a local file and parsed one task at a time, holding the
    advisory lock of the export's scope (another ingest of the same source waits). For each changed
    task the page image is copied to S3 (content-addressed), and its document, page and lines are
    upserted, lines whose region is gone are removed, and its fingerprint and annotation version
    are recorded, in one transaction. A task whose annotation is older than the one ingested before
    (:func:`_older`) is skipped. Rejected regions, unusable images, a page whose stored image differs
    (unless the task that wrote it updates it) and any other failure of one task go to
    ``quarantine`` with their reason; the rest of the export is ingested. An export already ingested
    is not ingested again, and ingesting an export whose tasks are unchanged changes no row.

    Returns
    -------
    dict
        Counts: ``tasks`` (seen), ``tasks_changed``, ``tasks_unchanged`` (skipped by their
        fingerprint), ``tasks_older`` (skipped: older than what was ingested), ``pages`` and
        ``lines`` written (a line counts when inserted or changed), ``lines_removed``, ``rejected``;
        ``already_ingested`` when the export was done before.
    """
    from linerec.labelstudio.export import iter_parsed_tasks

    settings = get_settings()
    eng = engine()
    with eng.connect() as conn:
        row = _export_row(conn, export_id)
    if row.ingested_at is not None:
        return _done(export_id, row)
    scope = row.scope
    with _scope_lock(scope):
        with eng.connect() as conn:
            row = _export_row(conn, export_id)  # another run may have finished it while we waited
            project_key = _project_key(conn, row.source, row.source_ref)
        if row.ingested_at is not None:
            return _done(export_id, row)
        local = store().download(row.s3_key, settings.cache_dir / "exports" / f"{row.sha256}.json", row.sha256)
        stats: Counter = Counter()
        for chunk in _chunks(iter_parsed_tasks(_named_tasks(local, export_id, row.source_ref)), CHUNK):
            with eng.begin() as conn:
                _quarantine_rejections(conn, chunk, export_id)
                ids = [p.task_id for p in chunk if p.fingerprint is not None]
                stored = {
                    r.ls_task_id: r for r in conn.execute(query("annotation_task_states"), {"scope": scope, "ids": ids})
                }
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
                if _older(parsed, previous, export_id):
                    stats["tasks_older"] += 1
                    continue
                _ingest_or_quarantine(parsed, export_id, row, scope, project_key, stats)
        with eng.begin() as conn:
            conn.execute(
                query("finish_annotation_export"),
                {
                    "t": stats["tasks"],
                    "c": stats["tasks_changed"],
                    "l": stats["lines"],
                    "r": stats["rejected"],
                    "id": export_id,
                },
            )
    local.unlink(missing_ok=True)  # the export stays in S3
    out = {
        "export_id": export_id,
        **{
            k: stats[k]
            for k in (
                "tasks",
                "tasks_changed",
                "tasks_unchanged",
                "tasks_older",
                "pages",
                "lines",
                "lines_removed",
                "rejected",
            )
        },
    }
    if stats["tasks_older"]:
        log.warning(
            "export %s: %d tasks skipped: their annotation is older than the one ingested before",
            export_id,
            stats["tasks_older"],
        )
    log.info("ingested export %s: %s", export_id, out)
    return out
