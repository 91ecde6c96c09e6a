"""Field-level validation helpers for :mod:`linerec.labelstudio.export`.

Every helper raises :class:`FieldError` whose message names the offending field,
so that the parser can reject one task or region and go on with the batch.
"""

from __future__ import annotations

import math
import pathlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# The names of the OCR interface's tags (``linerec.labelstudio.project.LABEL_CONFIG``).
IMAGE, BOX, TEXT = "image", "bbox", "transcription"
# Result items from other controls are rejected one by one; "label" (the Labels of Label Studio's
# stock OCR template) and "poly" (its Polygon) are known and judged by their type.
KNOWN_FROM_NAMES = frozenset({BOX, TEXT, "label", "poly"})


# The longest transcription accepted for one line: a scanned text line holds at most a few hundred
# characters, so anything longer is a paste accident or hostile input, not a line.
MAX_TEXT_CHARS = 2000
INT64_MAX = 2**63 - 1  # ids are bigint columns
INT32_MAX = 2**31 - 1  # page numbers and pixel coordinates are integer columns
# Names that are keys of btree indexes (a document's name, a region id, with the scope) stay far
# below Postgres' index row limit (~2.7 kB, 4 bytes per character at worst); a region id of Label
# Studio is 10 characters.
MAX_NAME_CHARS = 255
MAX_REGION_ID_CHARS = 128
MAX_IMAGE_REF_CHARS = 4096
# A Label Studio task nests about 8 levels (task, annotations, result, item, value, text); anything
# much deeper is hostile and would exhaust the recursion of json.dumps (the fingerprint).
MAX_DEPTH = 32


class FieldError(Exception):
    """A task or region is unusable; the message names the field."""


def storable(text: str) -> bool:
    """Whether ``text`` can be stored as Postgres text and jsonb: no NUL and no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (e.g. from a "\\ud800" escape in the JSON)
        return False
    return True


def as_text(value: str, name: str, limit: int) -> str:
    """Return ``value`` if it is storable text of at most ``limit`` characters, else raise
    :class:`FieldError` (the message names the field, never repeats the value)."""
    if len(value) > limit:
        raise FieldError(f"{name}: too long: {len(value)} characters (limit {limit})")
    if "\x00" in value:
        raise FieldError(f"{name}: contains a NUL character")
    if not storable(value):
        raise FieldError(f"{name}: contains a lone surrogate (not valid Unicode text)")
    return value


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects nest deeper than ``limit`` levels in ``value`` (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def as_int(value: Any, name: str, limit: int = INT64_MAX) -> int:
    """Return ``value`` if it is an integer (not a bool) within ``±limit``, else raise :class:`FieldError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"{name}: expected an integer, got {value!r}")
    if not -limit <= value <= limit:
        raise FieldError(f"{name}: {value} out of range (|{name}| <= {limit})")
    return value


def as_number(value: Any, name: str) -> float:
    """Return ``value`` as a float if it is a finite number, else raise :class:`FieldError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FieldError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def known_annotation_time(annotation: dict | None) -> datetime | None:
    """:func:`annotation_time`, or ``None`` when the annotation has no usable time."""
    if annotation is None:
        return None
    stamp = annotation_time(annotation)
    return None if stamp == datetime.min.replace(tzinfo=UTC) else stamp


def annotation_time(annotation: dict) -> datetime:
    """``updated_at`` (else ``created_at``) as an aware datetime; missing or unparsable sorts first."""
    for key in ("updated_at", "created_at"):
        try:
            stamp = datetime.fromisoformat(annotation[key])
        except (KeyError, TypeError, ValueError):
            continue
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def latest_annotation(task: dict) -> dict | None:
    """The latest non-cancelled annotation of a task (by time, then id), or ``None``.

    Raises
    ------
    FieldError
        If ``annotations`` is not a list of objects.
    """
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list):
        raise FieldError("annotations: expected a list")
    live = []
    for i, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            raise FieldError(f"annotations[{i}]: expected an object")
        if not ann.get("was_cancelled"):
            live.append(ann)

    def order(ann: dict) -> tuple[datetime, int]:
        ann_id = ann.get("id")
        return annotation_time(ann), ann_id if isinstance(ann_id, int) else -1

    return max(live, key=order, default=None)


def line_text(item: dict | None) -> str:
    """Text of a ``textarea`` item: parts stripped and joined with a space ('' if none)."""
    value = (item or {}).get("value") or {}
    text = value.get("text") if isinstance(value, dict) else None
    if text is None:
        return ""
    parts = [text] if isinstance(text, str) else text
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        raise FieldError(f"value.text: expected a list of strings, got {text!r}")
    if sum(map(len, parts)) > MAX_TEXT_CHARS:
        raise FieldError(f"transcription too long: {sum(map(len, parts))} characters (limit {MAX_TEXT_CHARS})")
    for p in parts:
        as_text(p, "value.text", MAX_TEXT_CHARS)
    if any("\ufffd" in p for p in parts):  # what undecodable bytes of an export become (see iter_export_file)
        raise FieldError("value.text: not valid UTF-8 (undecodable bytes, shown as U+FFFD)")
    return " ".join(p.strip() for p in parts if p.strip())


def pixel_box(geom: dict) -> tuple[int, int, int, int, float, int, int]:
    """Convert a geometry item's percent box to pixels.

    Parameters
    ----------
    geom : dict
        A ``rectangle`` / ``rectanglelabels`` / ``labels`` result item.

    Returns
    -------
    tuple
        ``(x, y, w, h, rotation, image_width, image_height)``. Unrotated boxes are
        clipped to the image; rotated boxes (Label Studio rotates clockwise about
        the top-left corner) are kept as they are if any part lies on the image.

    Raises
    ------
    FieldError
        For missing/non-numeric fields, a zero-area box or a box outside the image.
    """
    width = round(as_number(geom.get("original_width"), "original_width"))
    height = round(as_number(geom.get("original_height"), "original_height"))
    if width <= 0 or height <= 0:
        raise FieldError(f"original_width/original_height: must be positive, got {width}x{height}")
    value = geom.get("value")
    if not isinstance(value, dict):
        raise FieldError("value: expected an object")
    x, y, w, h = (as_number(value.get(k), f"value.{k}") for k in ("x", "y", "width", "height"))
    rotation = as_number(value.get("rotation") or 0, "value.rotation")
    x0, y0 = round(x * width / 100), round(y * height / 100)
    x1, y1 = round((x + w) * width / 100), round((y + h) * height / 100)
    if x1 <= x0 or y1 <= y0:
        raise FieldError(f"zero-area box (value.width={w}, value.height={h})")
    if rotation % 360 == 0:
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx1 <= cx0 or cy1 <= cy0:
            raise FieldError(f"box outside image: ({x0},{y0})-({x1},{y1}) on {width}x{height}")
        return cx0, cy0, cx1 - cx0, cy1 - cy0, 0.0, width, height
    if max(x1 - x0, y1 - y0) > math.hypot(width, height):  # would not fit on the page at any angle
        raise FieldError(f"box larger than the image: {x1 - x0}x{y1 - y0} rotated {rotation} deg on {width}x{height}")
    c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    corners = ((0, 0), (x1 - x0, 0), (0, y1 - y0), (x1 - x0, y1 - y0))
    xs = [x0 + dx * c - dy * s for dx, dy in corners]
    ys = [y0 + dx * s + dy * c for dx, dy in corners]
    if max(xs) <= 0 or min(xs) >= width or max(ys) <= 0 or min(ys) >= height:
        raise FieldError(f"box outside image: rotated {rotation} deg on {width}x{height}")
    return x0, y0, x1 - x0, y1 - y0, rotation, width, height


def document_of(image_ref: str) -> str:
    """Document name implied by an image reference: the file stem (of ``?d=`` if present)."""
    parts = urlsplit(image_ref)
    rel = parse_qs(parts.query).get("d")
    return pathlib.PurePosixPath(rel[0] if rel else unquote(parts.path)).stem or image_ref


_GEOMETRY_RANK = {"rectangle": 0, "rectanglelabels": 1, "labels": 2}  # lower wins
_TEXT_TYPE = "textarea"


def group_regions(result: list) -> tuple[dict[str, list[dict]], list[tuple[int, Any]]]:
    """Group result items by region ``id``.

    Returns
    -------
    regions : dict
        Region id to its items, in first-seen order.
    orphans : list of tuple
        ``(index, item)`` of items that are not objects or have no string ``id``.
    """
    regions: dict[str, list[dict]] = {}
    orphans: list[tuple[int, Any]] = []
    for i, item in enumerate(result):
        rid = item.get("id") if isinstance(item, dict) else None
        if isinstance(rid, str) and rid:
            regions.setdefault(rid, []).append(item)
        else:
            orphans.append((i, item))
    return regions, orphans


def split_unknown(result: list) -> tuple[list, list[tuple[int, dict]]]:
    """Separate result items of controls the OCR interface does not have.

    Returns
    -------
    known : list
        Items whose ``from_name`` is known or absent (hand-made exports), in order.
    unknown : list of tuple
        ``(index, item)`` of items with another ``from_name``.
    """
    known, unknown = [], []
    for i, item in enumerate(result):
        name = item.get("from_name") if isinstance(item, dict) else None
        if isinstance(name, str) and name and name not in KNOWN_FROM_NAMES:
            unknown.append((i, item))
        else:
            known.append(item)
    return known, unknown


def region_line(items: list[dict]) -> tuple[tuple[int, int, int, int, float, int, int], str] | None:
    """Pixel box (see :func:`pixel_box`) and text of one region.

    Returns ``None`` for a region made only of other tools' items (not a text line).

    Raises
    ------
    FieldError
        If the region has a transcription but no rectangle, an empty
        transcription ("empty transcription"), or a bad box.
    """
    geoms = sorted((it for it in items if it.get("type") in _GEOMETRY_RANK), key=lambda it: _GEOMETRY_RANK[it["type"]])
    texts = [it for it in items if it.get("type") == _TEXT_TYPE]
    if not geoms and not texts:
        return None
    if not geoms:
        other = sorted({str(it.get("type")) for it in items} - {_TEXT_TYPE})
        raise FieldError(f"region has no rectangle (other types: {other or 'none'})")
    text = line_text(texts[-1] if texts else None)
    if not text:
        raise FieldError("empty transcription")
    return pixel_box(geoms[0]), text
