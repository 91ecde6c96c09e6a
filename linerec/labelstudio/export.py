"""The one parser of Label Studio OCR exports (from the server via label-studio-sdk or a file).

Each task is a page; each region of its latest non-cancelled annotation is a text
line: a ``rectangle`` and a ``textarea`` result item sharing the region ``id``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pathlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from linerec.labelstudio.fields import (
    INT32_MAX,
    KNOWN_FROM_NAMES,
    MAX_DEPTH,
    MAX_IMAGE_REF_CHARS,
    MAX_NAME_CHARS,
    MAX_REGION_ID_CHARS,
    as_text,
    document_of,
    group_regions,
    known_annotation_time,
    latest_annotation,
    region_line,
    split_unknown,
    storable,
    too_deep,
)
from linerec.labelstudio.fields import FieldError as _Bad
from linerec.labelstudio.fields import as_int as _int

logger = logging.getLogger(__name__)

_EXACT_ERROR_LIMIT = 64 * 1024 * 1024  # re-read invalid files up to this size to locate the error
PARSER_VERSION = 1  # part of every task fingerprint: bump when parsing changes, to re-ingest all tasks


@dataclass(frozen=True)
class LineAnnotation:
    """One transcribed text line; the box is in pixels of the original image."""

    task_id: int
    annotation_id: int
    region_id: str
    image_ref: str
    document: str
    page_no: int
    line_no: int
    x: int
    y: int
    w: int
    h: int
    rotation: float
    text: str
    image_width: int
    image_height: int
    updated_at: str | None


@dataclass(frozen=True)
class Rejected:
    """A task or region that could not be used, with the reason and its raw JSON."""

    task_id: int | None
    annotation_id: int | None
    region_id: str | None
    reason: str
    raw: dict


@dataclass
class ParseResult:
    """Outcome of :func:`parse_tasks`; ``tasks_unannotated`` counts skipped tasks."""

    lines: list[LineAnnotation] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    tasks_seen: int = 0
    tasks_unannotated: int = 0


@dataclass
class TaskParse:
    """What one task yields: its lines and rejections, and a fingerprint of its content.

    ``fingerprint`` is the sha256 of the parser version, the task's ``data`` and its chosen
    annotation (id and result), so an unchanged task has an unchanged fingerprint whatever
    else the export says about it; it is ``None`` when the task itself was rejected.
    ``document`` and ``page_no`` name the page the task shows (also when it has no annotation);
    ``annotation_time`` is the chosen annotation's ``updated_at`` (else ``created_at``), ``None``
    when it has none.
    """

    task_id: int | None
    lines: list[LineAnnotation] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    document: str | None = None
    page_no: int | None = None
    annotated: bool = False
    annotation_id: int | None = None
    annotation_time: datetime | None = None
    fingerprint: str | None = None
    meta: dict = field(default_factory=dict)


#: Task ``data`` keys that describe the page itself rather than its metadata.
_PAGE_KEYS = frozenset({"image", "document", "page"})
MAX_META_KEYS = 32
MAX_META_CHARS = 200


def page_meta(data: dict) -> dict:
    """The page's descriptive metadata from task ``data`` (e.g. font, degradation, dpi).

    Only short scalar values are kept (at most :data:`MAX_META_KEYS` keys, strings cut at
    :data:`MAX_META_CHARS` characters, NUL characters dropped); nested values, the page fields
    and text that is not valid Unicode (a lone surrogate) are left out, so a hostile task cannot
    bloat the pages table or hold what jsonb refuses.
    """
    meta: dict[str, str | int | float] = {}  # bool is an int
    for key, value in data.items():
        if key in _PAGE_KEYS or not isinstance(key, str) or len(key) > 64 or len(meta) >= MAX_META_KEYS:
            continue
        if not storable(key):
            continue
        if isinstance(value, str):
            value = value[:MAX_META_CHARS].replace("\x00", "")
            if storable(value):
                meta[key] = value
        elif isinstance(value, bool) or (
            isinstance(value, (int, float)) and math.isfinite(value) and abs(value) < 1e15
        ):
            meta[key] = value
    return meta


def task_fingerprint(data: Any, annotation: dict | None) -> str:
    """sha256 of what the parser reads from a task: ``data`` and the chosen annotation's id and result."""
    chosen = None if annotation is None else [annotation.get("id"), annotation.get("result")]
    blob = json.dumps([PARSER_VERSION, data, chosen], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


# Errors that reject one task or region: the parser's own (_Bad, naming the field) and what a value
# no check foresaw can still raise (an overflow, an unparsable URL), so one task never stops an export.
_UNEXPECTED = (_Bad, ValueError, TypeError, LookupError, AttributeError, ArithmeticError, RecursionError)


def _reason(exc: Exception, what: str) -> str:
    if isinstance(exc, _Bad):
        return str(exc)
    first = (str(exc).splitlines() or [""])[0][:300]
    return f"{what} could not be read ({type(exc).__name__}: {first})"


def _parse_task(task: Any) -> TaskParse:
    """Lines and region rejections of one task; raise :class:`_Bad` for the task as a whole."""
    if not isinstance(task, dict):
        raise _Bad(f"task: expected an object, got {type(task).__name__}")
    task_id = _int(task.get("id"), "id")
    if too_deep(task):
        raise _Bad(f"task: lists and objects nested deeper than {MAX_DEPTH} levels")
    data = task.get("data")
    if not isinstance(data, dict):
        raise _Bad("data: expected an object")
    for i, key in enumerate(data):
        if isinstance(key, str) and not storable(key):
            raise _Bad(f"data: key #{i + 1} contains a NUL character or a lone surrogate")
    image_ref = data.get("image")
    if not isinstance(image_ref, str) or not image_ref.strip():
        raise _Bad(f"data.image: expected a non-empty string, got {image_ref!r}")
    as_text(image_ref, "data.image", MAX_IMAGE_REF_CHARS)
    document = data.get("document") or document_of(image_ref)
    if not isinstance(document, str):
        raise _Bad(f"data.document: expected a string, got {document!r}")
    as_text(document, "data.document" if data.get("document") else "document name (from data.image)", MAX_NAME_CHARS)
    page = 1 if data.get("page") is None else data["page"]
    page = int(page) if isinstance(page, str) and re.fullmatch(r"[0-9]{1,10}", page.strip()) else page
    if _int(page, "data.page", INT32_MAX) < 1:
        raise _Bad(f"data.page: must be >= 1, got {page!r}")
    ann = latest_annotation(task)
    out = TaskParse(
        task_id, document=document, page_no=page, fingerprint=task_fingerprint(data, ann), meta=page_meta(data)
    )
    if ann is None:
        return out
    ann_id = _int(ann.get("id"), "annotations[].id")
    out.annotated, out.annotation_id, out.annotation_time = True, ann_id, known_annotation_time(ann)
    result = ann.get("result") or []
    if not isinstance(result, list):
        raise _Bad("annotations[].result: expected a list")
    result, unknown = split_unknown(result)
    for i, item in unknown:
        rid = item.get("id") if isinstance(item.get("id"), str) else None
        out.rejected.append(
            Rejected(
                task_id,
                ann_id,
                rid,
                f"result[{i}].from_name: unknown control "
                f"{item['from_name']!r} (linerec reads {', '.join(sorted(KNOWN_FROM_NAMES))})",
                {"task_id": task_id, "annotation_id": ann_id, "item": item},
            )
        )
    regions, orphans = group_regions(result)
    for i, item in orphans:
        out.rejected.append(
            Rejected(task_id, ann_id, None, f"result[{i}].id: missing region id", {"task_id": task_id, "item": item})
        )
    rows = []
    for rid, items in regions.items():
        try:
            as_text(rid, "result[].id (region id)", MAX_REGION_ID_CHARS)
            line = region_line(items)
        except _UNEXPECTED as exc:  # what hostile numbers or strings can still provoke (e.g. OverflowError)
            raw = {"task_id": task_id, "annotation_id": ann_id, "region_id": rid, "result": items}
            out.rejected.append(Rejected(task_id, ann_id, rid, _reason(exc, "region"), raw))
            continue
        if line is not None:
            rows.append((line[0], rid, line[1]))
    updated = ann.get("updated_at") if isinstance(ann.get("updated_at"), str) else None
    rows.sort(key=lambda r: (r[0][1], r[0][0]))
    for line_no, ((x, y, w, h, rot, iw, ih), rid, text) in enumerate(rows, start=1):
        out.lines.append(
            LineAnnotation(
                task_id, ann_id, rid, image_ref, document, page, line_no, x, y, w, h, rot, text, iw, ih, updated
            )
        )
    return out


def iter_parsed_tasks(tasks: Iterable[Any]) -> Iterator[TaskParse]:
    """Parse Label Studio OCR tasks one at a time (memory does not grow with the export).

    Parameters
    ----------
    tasks : iterable
        Tasks as exported (e.g. streamed by :func:`iter_export_file`).

    Yields
    ------
    TaskParse
        Per task: its lines numbered in reading order (by ``y`` then ``x``), rejected regions
        with a reason naming the field and their raw JSON, and its fingerprint. A task that is
        unusable as a whole yields a single rejection and no fingerprint; a task without a
        non-cancelled annotation yields ``annotated=False`` and no line.
    """
    for task in tasks:
        try:
            yield _parse_task(task)
        except _UNEXPECTED as exc:
            task_id = task.get("id") if isinstance(task, dict) and isinstance(task.get("id"), int) else None
            raw = task if isinstance(task, dict) else {"task": task}
            yield TaskParse(task_id, rejected=[Rejected(task_id, None, None, _reason(exc, "task"), raw)])


def parse_tasks(tasks: Iterable[Any]) -> ParseResult:
    """Parse Label Studio OCR tasks into text lines, collected in one result.

    Holds every line of the input: for large exports iterate :func:`iter_parsed_tasks` instead.

    Parameters
    ----------
    tasks : iterable of dict
        Tasks as exported (JSON export file or label-studio-sdk).

    Returns
    -------
    ParseResult
        Lines numbered in reading order per page (by ``y`` then ``x``), rejected
        tasks/regions with a reason naming the field and their raw JSON, and counts.
        Tasks without a non-cancelled annotation are skipped and counted.
    """
    out = ParseResult()
    for parsed in iter_parsed_tasks(tasks):
        out.tasks_seen += 1
        out.lines.extend(parsed.lines)
        out.rejected.extend(parsed.rejected)
        if parsed.fingerprint is not None and not parsed.annotated:
            out.tasks_unannotated += 1
    logger.info(
        "parsed %d tasks: %d lines, %d rejected, %d without annotation",
        out.tasks_seen,
        len(out.lines),
        len(out.rejected),
        out.tasks_unannotated,
    )
    return out


def _error_position(path: pathlib.Path, fallback: int) -> str:
    try:
        if path.stat().st_size <= _EXACT_ERROR_LIMIT:
            json.loads(path.read_bytes().decode("utf-8-sig", errors="replace"))
    except json.JSONDecodeError as exc:
        return f"line {exc.lineno} column {exc.colno} (char {exc.pos})"
    return f"about byte {fallback}"


def _error_detail(exc: Exception) -> str:
    """The first line of a JSON parser's message without the input it quotes (a symbol or a
    snippet of the file): an error must not repeat the contents of a file it could not read."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "<input>", first)[:200]


class _Utf8Repair:
    """A binary reader that passes valid UTF-8 through and turns each undecodable byte into U+FFFD.

    One bad byte in a transcription must cost that line (it is rejected by
    :func:`linerec.labelstudio.fields.line_text`), not the whole export.
    """

    def __init__(self, raw):
        import codecs

        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.replaced = False

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self._raw.read(size)
            text = self._decoder.decode(data, final=not data)
            if text or not data:  # never return b"" before the end: it means EOF to the reader
                self.replaced |= "\ufffd" in text
                return text.encode("utf-8")


def iter_export_file(path: str | os.PathLike) -> Iterator[dict]:
    """Stream the tasks of a Label Studio JSON export file (a JSON list) with ijson.

    Parameters
    ----------
    path : str or os.PathLike
        The export file.

    Yields
    ------
    dict
        One task at a time (non-object list items are yielded as they are and
        rejected by :func:`parse_tasks`). Bytes that are not UTF-8 are read as U+FFFD, so
        the field holding them is rejected rather than the whole file.

    Raises
    ------
    ValueError
        While iterating, if the file is not a JSON list or is invalid JSON; the
        message names the file and the position.
    """
    import ijson

    path = pathlib.Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4096)
        start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
        stripped = head[start:].lstrip()
        if not stripped.startswith(b"["):
            where = len(head) - len(stripped)
            found = "nothing" if not stripped else "something else"  # its bytes are not repeated
            raise ValueError(f"{path}: expected a JSON list of tasks at byte {where}, found {found}")
        fh.seek(start)
        done = 0  # tasks yielded so far
        try:
            for backend in (ijson, ijson.get_backend("python")):
                fh.seek(start)
                repaired = _Utf8Repair(fh)
                try:
                    for index, task in enumerate(backend.items(repaired, "item", use_float=True)):
                        if index >= done:
                            done += 1
                            yield task
                except (ijson.JSONError, UnicodeDecodeError) as exc:
                    overflow = isinstance(exc, ijson.JSONError) and "integer overflow" in str(exc)
                    if backend is not ijson or not (overflow or isinstance(exc, UnicodeDecodeError)):
                        raise
                    # The C parser cannot hold an integer beyond 64 bits, nor decode a lone low surrogate
                    # escape ("\udc80"), which are still valid JSON: read on with the pure-Python parser
                    # (skipping what was yielded); the field holding it is rejected by the parser.
                    logger.warning(
                        "%s: %s; reading on with the Python JSON parser",
                        path,
                        "integer beyond 64 bits" if overflow else "lone surrogate escape",
                    )
                    continue
                break
            if repaired.replaced:
                logger.warning("%s: bytes that are not UTF-8 were read as U+FFFD", path)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            detail = _error_detail(exc)
            raise ValueError(f"{path}: invalid JSON at {_error_position(path, fh.tell())}: {detail}") from None


def _inside(base_dir: str | os.PathLike, rel: str) -> str:
    base = os.path.abspath(base_dir)
    target = os.path.normpath(os.path.join(base, rel))
    if "\x00" in rel or os.path.commonpath([base, target]) != base:
        raise ValueError(f"image reference {rel!r} escapes the base directory {base}")
    return target


def resolve_image_ref(
    image_ref: str, base_dir: str | os.PathLike, server_url: str | None = None, policy=None
) -> tuple[str, str]:
    """Classify a task's ``data.image`` reference and check it against the allow-lists.

    Parameters
    ----------
    image_ref : str
        ``/data/local-files/?d=REL``, a relative or absolute path, an http(s) URL,
        an ``s3://bucket/key`` URI, or ``file:///abs/path``.
    base_dir : str or os.PathLike
        Directory that ``REL`` and relative paths are resolved against.
    server_url : str, optional
        Label Studio base URL; if given, ``/data/upload/...`` references become
        ``("http", server_url + ref)`` instead of absolute file paths.
    policy : linerec.labelstudio.image_fetch.ImagePolicy, optional
        Allow-lists and limits (default: :func:`linerec.labelstudio.image_fetch.image_policy`).

    Returns
    -------
    tuple of str
        ``("file", absolute_path)``, ``("http", url)`` or ``("s3", "s3://bucket/key")``.

    Raises
    ------
    ValueError
        For an empty or unsupported reference, or a path escaping ``base_dir``
        (absolute paths may not contain ``..``).
    linerec.labelstudio.image_fetch.ImageRefused
        (a ``ValueError``) For a reference the allow-lists refuse: an absolute or ``file://``
        path outside the import roots, something other than a regular file, a file over the byte
        cap, a bucket other than the configured one, or a host that is not allowed (see
        :mod:`linerec.labelstudio.image_fetch`).
    """
    from linerec.labelstudio import image_fetch

    policy = policy or image_fetch.image_policy(server_url)
    ref = image_ref.strip() if isinstance(image_ref, str) else ""
    if not ref:
        raise ValueError(f"empty image reference {image_ref!r}")
    parts = urlsplit(ref)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.netloc:
        image_fetch.check_url(ref, policy)
        return "http", ref
    if scheme == "s3" and parts.netloc and parts.path.lstrip("/"):
        image_fetch.check_s3(parts.netloc, parts.path.lstrip("/"), policy)
        return "s3", f"s3://{parts.netloc}/{parts.path.lstrip('/')}"
    if scheme not in ("", "file"):
        raise ValueError(f"unsupported image reference (scheme {scheme!r}, need host/bucket and path): {ref!r}")
    if scheme == "" and parts.path.rstrip("/") == "/data/local-files":
        rel = parse_qs(parts.query).get("d")
        if not rel or not rel[0].strip():
            raise ValueError(f"local-files reference without ?d=: {ref!r}")
        return "file", image_fetch.check_local(_inside(base_dir, rel[0]), policy, base_dir)
    path = unquote(parts.path) if scheme == "file" else ref
    if server_url and scheme == "" and path.startswith("/data/upload/"):
        url = server_url.rstrip("/") + path
        image_fetch.check_url(url, policy)
        return "http", url
    if os.path.isabs(path):
        if ".." in pathlib.PurePosixPath(path).parts or "\x00" in path:
            raise ValueError(f"image reference {ref!r} contains '..'")
        return "file", image_fetch.check_local(path, policy)
    return "file", image_fetch.check_local(_inside(base_dir, path), policy, base_dir)
