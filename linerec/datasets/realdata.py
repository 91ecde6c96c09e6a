"""Real scanned documents with ground truth (SROIE receipts, FUNSD forms) as text lines.

The folder :func:`dataset_root` (``Settings.real_data_dir``, env ``LINEREC_REAL_DATA``) holds
``sroie-train/`` (``NNN.jpg`` + ``NNN.txt``, one line a row: ``x1,y1,...,x4,y4,text``) and
``funsd-train/`` (``images/NAME.png`` + ``annotations/NAME.json``, words grouped in entities).
Both load into the same :class:`RealPage` / :class:`RealLine` shape, and :func:`write_export`
turns pages into a Label Studio OCR export that :mod:`tasks.annotation_sync` ingests like an
annotator's. Images are never copied into the repository: the export links to them.

Whether a document is held out depends on its name alone (:func:`is_held_out`, a salted
hash), so the held-out pages are the same for every caller and are never trained on.

Nothing is dropped silently. A row that cannot be read at all is a ``RealPage.rejected``
entry ``(reference, reason)``; a line that was read but must not be trained or evaluated on
keeps its box and text and carries a ``RealLine.flag``:

``"empty"``
    No transcription.
``"checkbox"``
    A word holding a box glyph (☐ ☑ ☒, or ``[]`` typed for one): a tick box, not text.
``"unreadable"``
    The transcription holds a private-use glyph or U+FFFD: the annotator could not say what
    is printed there.
``"charset"``
    A character outside :data:`linerec.model.charset.DEFAULT_CHARS` after NFKC normalisation
    (ü, á, a Greek omicron inside a Latin word).
``"vertical"``
    A FUNSD word of two or more characters whose box is over 1.5x taller than wide: text
    running top to bottom (the document numbers along FUNSD page margins).
``"skewed"``
    A FUNSD line whose words climb or fall across it, so that its axis-aligned box is over
    1.8x taller than its median word: the box holds parts of the neighbouring lines.
``"handwritten"``
    A FUNSD line that :func:`looks_handwritten` judges handwritten from its pixels (thin
    strokes for its height); it also takes script logos and stamps, and some large or light
    print.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linerec.labelstudio.regions import annotated_task, ocr_region, region_id_from_bytes
from linerec.model.charset import DEFAULT_CHARS
from linerec.vision.geometry import FloatBox

logger = logging.getLogger(__name__)

SOURCES = ("sroie", "funsd")
_FOLDERS = {"sroie": "sroie-train", "funsd": "funsd-train"}
#: Fixed salt of :func:`is_held_out`; changing it reshuffles every split (do not).
HELD_OUT_SALT = "linerec-real-heldout-v1:"
HELD_OUT_FRACTION = 0.2
_CHARSET = frozenset(DEFAULT_CHARS)
_CHECKBOXES = frozenset("\u2610\u2611\u2612")  # ☐ ☑ ☒
GAP_FACTOR = 3.0  # a FUNSD line splits where the gap between words exceeds this many line heights
VERTICAL_ASPECT = 1.5  # a word of >= 2 characters this much taller than wide runs top to bottom
SKEW_FACTOR = 1.8  # a line whose box is this much taller than its median word is skewed


@dataclass(frozen=True)
class RealLine:
    """One text line of a real page.

    Attributes
    ----------
    box
        ``(x, y, w, h)`` axis-aligned, in page pixels.
    text
        The transcription, NFKC-normalised, runs of whitespace as one space.
    case_folded
        True where the ground truth is upper-cased regardless of the print (SROIE): compare
        case-folded, and do not teach a model to upper-case from it.
    flag
        ``None`` for a printed line usable for training and evaluation, else why not
        (see the module docstring).
    """

    box: FloatBox
    text: str
    case_folded: bool
    flag: str | None


@dataclass(frozen=True)
class RealPage:
    """One scanned page and its lines in reading order (top to bottom, then left to right).

    ``rejected`` holds ``(reference, reason)`` for rows or words that could not be read at all,
    e.g. ``("row 7", "invalid UTF-8 in row 7")``.
    """

    source: str
    document: str
    image_path: Path
    width: int
    height: int
    lines: tuple[RealLine, ...]
    rejected: tuple[tuple[str, str], ...]


# --- where the data is ---------------------------------------------------------------------------


def dataset_root(root: Path | None = None) -> Path:
    """``root`` if given, else ``Settings.real_data_dir`` (env ``LINEREC_REAL_DATA``)."""
    if root is not None:
        return Path(root)
    from linerec.infra.config import get_settings

    return get_settings().real_data_dir


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown real data source {source!r}; expected one of {SOURCES}")


def available(source: str, root: Path | None = None) -> str | None:
    """Whether ``source`` can be loaded: ``None`` if so, else a message saying why not.

    Parameters
    ----------
    source : {"sroie", "funsd"}
    root : pathlib.Path, optional
        The folder holding ``sroie-train/`` and ``funsd-train/`` (default :func:`dataset_root`).

    Raises
    ------
    ValueError
        For an unknown source.
    """
    _check_source(source)
    base = dataset_root(root)
    folder = base / _FOLDERS[source]
    hint = f"set LINEREC_REAL_DATA (or pass --root) to the folder holding {_FOLDERS['sroie']}/ and {_FOLDERS['funsd']}/"
    if not folder.is_dir():
        return f"real data set {source!r} not found: {folder} does not exist; {hint}"
    if source == "sroie":
        found = any(folder.glob("*.txt"))
    else:
        found = (folder / "annotations").is_dir() and any((folder / "annotations").glob("*.json"))
    if not found:
        what = "*.txt ground truth files" if source == "sroie" else "annotations/*.json"
        return f"real data set {source!r} at {folder} holds no {what}; {hint}"
    return None


# --- text and boxes ----------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """NFKC, runs of whitespace as one space, stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def text_flag(text: str) -> str | None:
    """Why a normalised transcription cannot be a training target, or ``None`` if it can."""
    if not text:
        return "empty"
    if "[]" in text or any(c in _CHECKBOXES for c in text):  # "[]": a box typed as brackets
        return "checkbox"
    if any(c == "\ufffd" or unicodedata.category(c) == "Co" for c in text):
        return "unreadable"
    if any(c not in _CHARSET for c in text):
        return "charset"
    return None


def _union(boxes: Iterable[Sequence[float]]) -> FloatBox:
    """Union of ``(x0, y0, x1, y1)`` boxes as ``(x, y, w, h)``."""
    boxes = list(boxes)
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def _clip(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float] | None:
    """``(x0, y0, x1, y1)`` clipped to the page; ``None`` if nothing of it is left."""
    x0, y0 = max(float(box[0]), 0.0), max(float(box[1]), 0.0)
    x1, y1 = min(float(box[2]), float(width)), min(float(box[3]), float(height))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _reading_order(lines: Iterable[RealLine]) -> tuple[RealLine, ...]:
    """Top to bottom, then left to right: by ``(y, x)``, the order the export parser numbers lines in."""
    return tuple(sorted(lines, key=lambda ln: (ln.box[1], ln.box[0], ln.text)))


def _image_size(path: Path) -> tuple[int, int]:
    """Width and height from the image header (no pixels decoded)."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size


# --- SROIE ---------------------------------------------------------------------------------------


def parse_sroie(raw: bytes, width: int, height: int) -> tuple[list[RealLine], list[tuple[str, str]]]:
    """Lines of one SROIE ground truth file.

    Parameters
    ----------
    raw : bytes
        The ``NNN.txt`` file; one row a line, ``x1,y1,x2,y2,x3,y3,x4,y4,text`` (the text may
        hold commas). Rows are decoded one by one, so a row that is not UTF-8 costs only itself.
    width, height : int
        Page size in pixels; boxes are clipped to it.

    Returns
    -------
    lines : list of RealLine
        One per readable row (quadrilateral -> its axis-aligned bounds), ``case_folded=True``;
        an empty text is kept with flag ``"empty"``.
    rejected : list of (str, str)
        ``("row N", reason)`` for rows not valid UTF-8 (``"invalid UTF-8 in row N"``), with
        fewer than nine fields or non-numeric coordinates, or a box off the page.
    """
    lines, rejected = [], []
    for n, row in enumerate(raw.split(b"\n"), start=1):
        row = row.rstrip(b"\r")
        if not row.strip():
            continue
        ref = f"row {n}"
        try:
            decoded = row.decode("utf-8")
        except UnicodeDecodeError:
            rejected.append((ref, f"invalid UTF-8 in row {n}"))
            continue
        decoded = decoded.lstrip("\ufeff")
        fields = decoded.split(",", 8)
        if len(fields) < 9:
            rejected.append((ref, f"malformed row {n}: {len(fields)} fields, expected 8 coordinates and a text"))
            continue
        try:
            coords = [float(v) for v in fields[:8]]
        except ValueError:
            rejected.append((ref, f"malformed row {n}: coordinates are not numbers"))
            continue
        if "\ufffd" in fields[8]:
            rejected.append((ref, f"invalid UTF-8 in row {n}"))
            continue
        xs, ys = coords[0::2], coords[1::2]
        box = _clip((min(xs), min(ys), max(xs), max(ys)), width, height)
        if box is None:
            rejected.append((ref, f"box off the page or empty in row {n}"))
            continue
        text = normalize_text(fields[8])
        lines.append(RealLine(_union([box]), text, True, text_flag(text)))
    return lines, rejected


def _load_sroie(folder: Path) -> list[RealPage]:
    pages = []
    for txt in sorted(folder.glob("*.txt")):
        image = txt.with_suffix(".jpg")
        if not image.is_file():
            logger.warning("%s: no image %s beside it; skipped", txt, image.name)
            continue
        width, height = _image_size(image)
        lines, rejected = parse_sroie(txt.read_bytes(), width, height)
        pages.append(
            RealPage("sroie", f"sroie-{txt.stem}", image, width, height, _reading_order(lines), tuple(rejected))
        )
    return pages


# --- FUNSD ---------------------------------------------------------------------------------------


def _word_flag(text: str, box: Sequence[float]) -> str | None:
    flag = text_flag(text)
    if flag is None and len(text) >= 2 and box[3] - box[1] > VERTICAL_ASPECT * (box[2] - box[0]):
        return "vertical"
    return flag


def _rows(words: list[tuple[tuple[float, ...], str, str | None]]) -> list[list]:
    """Words grouped into rows, taken left to right: a word joins the row whose rightmost word so far
    it overlaps vertically most, by at least half the smaller height, else starts a row.

    Comparing a word with its left neighbour rather than with the whole row keeps skewed lines
    apart: on a page turned by 1 degree the ends of a 600-pixel line are 10 pixels apart in y,
    more than the gap between lines, but neighbouring words still overlap.
    """
    rows: list[list] = []
    for word in sorted(words, key=lambda w: (w[0][0], w[0][1])):
        (_, top, _, bottom), best, best_overlap = word[0], None, 0.0
        for row in rows:
            _, last_top, _, last_bottom = row[-1][0]
            overlap = min(bottom, last_bottom) - max(top, last_top)
            if overlap >= 0.5 * min(bottom - top, last_bottom - last_top) and overlap > best_overlap:
                best, best_overlap = row, overlap
        if best is None:
            rows.append([word])
        else:
            best.append(word)
    return rows


_GLUE_BEFORE = tuple(":;,.)]}%/")  # a word starting with one of these may be glued to the one before
_GLUE_AFTER = tuple("/([{-")  # a word ending with one of these may be glued to the one after
GLUE_GAP = 0.15  # ... when the gap between their boxes is at most this many line heights


def _join_words(run: list, height: float) -> str:
    """The text of a run of words: single spaces, except that punctuation which FUNSD split off a
    word (``"(Note" ":"``, ``"9/" "3/" "92"``, ``"Non-" "Menthol"``) is glued back where the boxes touch."""
    text = ""
    prev = None
    for box, word, _ in run:
        if not word:
            continue
        glued = (
            prev is not None
            and box[0] - prev[2] <= GLUE_GAP * height
            and (word.startswith(_GLUE_BEFORE) or text.endswith(_GLUE_AFTER))
        )
        text = word if not text else text + ("" if glued else " ") + word
        prev = box
    return text


def group_words(words: Sequence[tuple[Sequence[float], str]]) -> list[tuple[FloatBox, str, str | None]]:
    """Group the words of one FUNSD entity into lines.

    Words that overlap vertically (see :func:`_rows`) form a row; a row is read in x order and
    split where the horizontal gap between words exceeds :data:`GAP_FACTOR` times the row's
    median word height. A word that has a flag (:func:`text_flag`, or ``"vertical"``) also
    splits its row: it becomes a line of its own (merged with its neighbours of the same flag),
    so a usable line's box never holds the ink of a word missing from its text. A line whose box
    is over :data:`SKEW_FACTOR` times taller than its median word is flagged ``"skewed"``.

    Parameters
    ----------
    words : list of (box, text)
        ``box`` is ``[x0, y0, x1, y1]`` in pixels; ``text`` is normalised here.

    Returns
    -------
    list of (box, text, flag)
        ``box`` is ``(x, y, w, h)``, the union of the line's word boxes; ``text`` its words
        joined by single spaces, except punctuation split off a word whose boxes touch
        (:data:`GLUE_GAP`), which is glued back (``"(Note:"``, ``"9/3/92"``).
    """
    prepared = []
    for box, text in words:
        box = tuple(float(v) for v in box)
        text = normalize_text(text)
        prepared.append((box, text, _word_flag(text, box)))
    out = []
    for row in _rows(prepared):
        height = float(np.median([w[0][3] - w[0][1] for w in row]))
        runs: list[list] = []
        for word in row:
            prev = runs[-1][-1] if runs else None
            if prev is None or prev[2] != word[2] or word[0][0] - prev[0][2] > GAP_FACTOR * height:
                runs.append([word])
            else:
                runs[-1].append(word)
        for run in runs:
            text = _join_words(run, height)
            box, flag = _union(w[0] for w in run), run[0][2]
            if flag is None and box[3] > SKEW_FACTOR * float(np.median([w[0][3] - w[0][1] for w in run])):
                flag = "skewed"
            out.append((box, text, flag))
    return out


def parse_funsd(annotation: dict, width: int, height: int) -> tuple[list[RealLine], list[tuple[str, str]]]:
    """Lines of one FUNSD annotation (``{"form": [entity, ...]}``), before the handwriting check.

    Parameters
    ----------
    annotation : dict
        Parsed ``annotations/NAME.json``.
    width, height : int
        Page size in pixels; word boxes are clipped to it.

    Returns
    -------
    lines : list of RealLine
        The entities' lines (:func:`group_words`), ``case_folded=False``.
    rejected : list of (str, str)
        ``("entity E word K", reason)`` for words without a usable box.
    """
    lines, rejected = [], []
    for e_index, entity in enumerate(annotation.get("form") or []):
        entity_ref = f"entity {entity.get('id', e_index)}"
        words = []
        for k, word in enumerate(entity.get("words") or []):
            box, text = word.get("box"), word.get("text")
            if not isinstance(text, str):
                rejected.append((f"{entity_ref} word {k}", f"word text is not a string: {text!r}"))
                continue
            try:
                clipped = _clip([float(v) for v in box], width, height) if len(box) == 4 else None
            except (TypeError, ValueError):  # not a list of four numbers
                clipped = None
            if clipped is None:
                rejected.append((f"{entity_ref} word {k}", f"word box unusable or off the page: {box!r}"))
                continue
            words.append((clipped, text))
        for box, text, flag in group_words(words):
            lines.append(RealLine(box, text, False, flag))
    return lines, rejected


def _load_funsd(folder: Path) -> list[RealPage]:
    pages = []
    for ann_path in sorted((folder / "annotations").glob("*.json")):
        image = folder / "images" / f"{ann_path.stem}.png"
        if not image.is_file():
            logger.warning("%s: no image %s; skipped", ann_path, image)
            continue
        width, height = _image_size(image)
        lines, rejected = parse_funsd(json.loads(ann_path.read_text(encoding="utf-8")), width, height)
        if any(ln.flag is None for ln in lines):
            lines = mark_handwriting(read_gray(image), lines)
        pages.append(
            RealPage("funsd", f"funsd-{ann_path.stem}", image, width, height, _reading_order(lines), tuple(rejected))
        )
    return pages


# --- handwriting ---------------------------------------------------------------------------------

#: A line is judged handwritten when its :func:`stroke_ratio` is below this.
HANDWRITING_RATIO = 0.06


def stroke_ratio(crop: np.ndarray, page_line_height: float) -> float | None:
    """Mean stroke width of a line's ink relative to its size; ``None`` if the crop holds no ink.

    The ink is the darker class of an Otsu threshold; the stroke width is ``2 * area / perimeter``
    of the ink (a stroke of width ``s`` and length ``L`` has area ``s*L`` and perimeter about
    ``2*L``). The ratio is ``stroke / h * sqrt(page_line_height / h)`` for a crop ``h`` pixels
    high: pen strokes are thin for the size of the writing, and handwritten entries on forms
    are taller than the print around them, which the second factor weighs in.

    Parameters
    ----------
    crop : numpy.ndarray
        ``(h, w)`` uint8 crop of the line box, no margin.
    page_line_height : float
        Median box height of the page's lines.
    """
    import cv2

    if crop.size == 0 or int(crop.max()) - int(crop.min()) < 60:  # blank: no ink to judge
        return None
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)  # (h, w) ink = 255
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    if perimeter <= 0:
        return None
    stroke = 2.0 * float(np.count_nonzero(ink)) / perimeter
    height = float(crop.shape[0])
    return stroke / height * math.sqrt(max(page_line_height, 1.0) / height)


def looks_handwritten(crop: np.ndarray, page_line_height: float) -> bool:
    """Whether a line crop looks handwritten: :func:`stroke_ratio` below :data:`HANDWRITING_RATIO`.

    FUNSD marks no handwriting. The threshold was set on 419 FUNSD lines labelled by eye (the ~350
    lowest ratios and 120 drawn at random from the rest). It flags 237 of FUNSD's lines: it
    catches signatures, handwritten dates, initials and notes (94 of the 101 handwritten lines
    labelled) and script logos and outlined stamps (10 of 10), which are no body print either.
    It misses short handwritten entries written as small and as boldly as the print (2 of the 120
    random lines were such), and more than half of what it flags is print (133 labelled lines):
    large or thin type (letterheads, spaced capitals, light typewriter faces) and underlined
    lines. Those are lost for training, not misread in evaluation.
    """
    ratio = stroke_ratio(crop, page_line_height)
    return ratio is not None and ratio < HANDWRITING_RATIO


def mark_handwriting(gray_page: np.ndarray, lines: Iterable[RealLine]) -> list[RealLine]:
    """``lines`` with the unflagged ones that :func:`looks_handwritten` flagged ``"handwritten"``."""
    lines = list(lines)
    heights = [ln.box[3] for ln in lines if ln.flag is None]
    if not heights:
        return lines
    page_height = float(np.median(heights))
    out = []
    for ln in lines:
        if ln.flag is None and looks_handwritten(line_crop(gray_page, ln.box, margin=0.0), page_height):
            ln = RealLine(ln.box, ln.text, ln.case_folded, "handwritten")
        out.append(ln)
    return out


# --- loading, splitting, crops -------------------------------------------------------------------


def load_pages(source: str, root: Path | None = None) -> list[RealPage]:
    """Every page of one real data set, sorted by document.

    Parameters
    ----------
    source : {"sroie", "funsd"}
    root : pathlib.Path, optional
        Default :func:`dataset_root`.

    Returns
    -------
    list of RealPage

    Raises
    ------
    FileNotFoundError
        With the message of :func:`available` when the data set is not there.
    """
    reason = available(source, root)
    if reason is not None:
        raise FileNotFoundError(reason)
    folder = dataset_root(root) / _FOLDERS[source]
    pages = _load_sroie(folder) if source == "sroie" else _load_funsd(folder)
    pages.sort(key=lambda p: p.document)
    flags = Counter(ln.flag or "printed" for p in pages for ln in p.lines)
    logger.info(
        "%s: %d pages, lines %s, %d rows rejected", source, len(pages), dict(flags), sum(len(p.rejected) for p in pages)
    )
    return pages


def is_held_out(document: str) -> bool:
    """Whether a document belongs to the held-out split (never trained on).

    Deterministic by name: the first 8 bytes of ``sha256(HELD_OUT_SALT + document)`` as a
    fraction of 2**64 below :data:`HELD_OUT_FRACTION` (about 20% of any set of documents).
    """
    digest = hashlib.sha256((HELD_OUT_SALT + document).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < HELD_OUT_FRACTION * 2**64


def split_pages(pages: Iterable[RealPage]) -> tuple[list[RealPage], list[RealPage]]:
    """``(training, held_out)`` by :func:`is_held_out` of each page's document, order kept."""
    training: list[RealPage] = []
    held_out: list[RealPage] = []
    for page in pages:
        (held_out if is_held_out(page.document) else training).append(page)
    return training, held_out


def read_gray(path: Path) -> np.ndarray:
    """A page image decoded to grayscale as the pipeline decodes it (:func:`linerec.vision.images.decode_page`)."""
    from linerec.vision.images import decode_page

    return decode_page(Path(path).read_bytes(), str(path))  # (H, W) uint8


def line_crop(gray_page: np.ndarray, box: Sequence[float], margin: float = 0.15) -> np.ndarray:
    """The pixels of a line box grown by ``margin`` times its height on every side, clipped to the page.

    Parameters
    ----------
    gray_page : numpy.ndarray
        ``(H, W)`` uint8 page.
    box : sequence of float
        ``(x, y, w, h)`` in page pixels.
    margin : float, optional
        Fraction of the box height added on each side.

    Returns
    -------
    numpy.ndarray
        ``(h, w)`` uint8 crop, at least one pixel each way.
    """
    if gray_page.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale page, got shape {gray_page.shape}")
    page_h, page_w = gray_page.shape
    x, y, w, h = (float(v) for v in box)
    pad = margin * h
    x0 = min(max(math.floor(x - pad), 0), page_w - 1)
    y0 = min(max(math.floor(y - pad), 0), page_h - 1)
    x1 = max(min(math.ceil(x + w + pad), page_w), x0 + 1)
    y1 = max(min(math.ceil(y + h + pad), page_h), y0 + 1)
    return np.ascontiguousarray(gray_page[y0:y1, x0:x1], dtype=np.uint8)  # (h, w)


def held_out_lines(
    source: str, root: Path | None = None, margin: float = 0.15, printed_only: bool = True
) -> list[tuple[np.ndarray, RealLine, str]]:
    """Line crops of the held-out pages of a real data set, for evaluation.

    Parameters
    ----------
    source : {"sroie", "funsd"}
    root : pathlib.Path, optional
        Default :func:`dataset_root`.
    margin : float, optional
        See :func:`line_crop`.
    printed_only : bool, optional
        Only lines without a flag (the default); else every line, flags included.

    Returns
    -------
    list of (numpy.ndarray, RealLine, str)
        ``(crop, line, document)`` in document then reading order; pages decoded grayscale.

    Raises
    ------
    FileNotFoundError
        When the data set is not there (message of :func:`available`).
    """
    out: list[tuple[np.ndarray, RealLine, str]] = []
    for page in split_pages(load_pages(source, root))[1]:
        wanted = [ln for ln in page.lines if ln.flag is None or not printed_only]
        if not wanted:
            continue
        gray = read_gray(page.image_path)
        out.extend((line_crop(gray, ln.box, margin), ln, page.document) for ln in wanted)
    return out


# --- Label Studio export -------------------------------------------------------------------------

_EXPORTED_AT = "2026-01-01T00:00:00.000000Z"  # fixed: the same pages give a byte-identical export
SPLITS = ("train", "heldout", "all")
#: ``data.transcription_case`` per source: SROIE's ground truth is upper-cased whatever the print.
TRANSCRIPTION_CASE = {"sroie": "upper", "funsd": "as_printed"}


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(("linerec-real", *parts)).encode("utf-8")).digest()


def task_id_of(document: str) -> int:
    """A stable task id for a real page (48 bits of a hash of its name): re-exports keep their ids,
    and the export files of one folder share one scope of task ids (see :mod:`tasks.annotation_sync`)."""
    return int.from_bytes(_digest("task", document)[:6], "big")


def _region_id(document: str, index: int) -> str:
    return region_id_from_bytes(_digest("region", document, str(index)))


def _export_task(page: RealPage, image_ref: str, split: str) -> dict:
    """One task a page with one completed annotation holding its usable lines."""
    task_id = task_id_of(page.document)
    results = []
    for index, line in enumerate(page.lines):
        if line.flag is None:
            results += ocr_region(_region_id(page.document, index), line.box, line.text, page.width, page.height)
    data = {
        "image": image_ref,
        "document": page.document,
        "page": 1,
        "source": page.source,
        "split": split,
        "transcription_case": TRANSCRIPTION_CASE[page.source],
        "original_file": page.image_path.name,
    }
    return annotated_task(
        task_id, data, results, created_at=_EXPORTED_AT, completed_at=_EXPORTED_AT, lead_time=0.0, ground_truth=True
    )


def reason_kind(reason: str) -> str:
    """A rejection reason without its row numbers or details, for counting (``"invalid UTF-8 in row N"``)."""
    return re.sub(r"\b(row|word|entity) \d+", r"\1 N", reason.split(":", 1)[0])


def _rejections(page: RealPage, split: str) -> list[dict]:
    """The rows of ``rejected.jsonl`` for one page: its flagged lines, then its unreadable rows."""
    base = {"document": page.document, "source": page.source, "split": split}
    rows: list[dict[str, object]] = [
        {**base, "ref": f"line {index + 1}", "box": list(line.box), "text": line.text, "reason": line.flag}
        for index, line in enumerate(page.lines)
        if line.flag is not None
    ]
    rows += [{**base, "ref": ref, "box": None, "text": None, "reason": reason} for ref, reason in page.rejected]
    return rows


def _outside_repo(out_dir: Path) -> None:
    """Refuse an output folder inside the repository, except its (ignored) state folder."""
    from linerec.infra.config import REPO_ROOT, get_settings

    out, repo, state = out_dir.resolve(), REPO_ROOT.resolve(), get_settings().state_dir.resolve()
    if out.is_relative_to(repo) and not out.is_relative_to(state):
        raise ValueError(
            f"{out_dir}: real data (and links to it) must not be written inside the repository "
            f"{repo}; use a folder outside it or under the state folder {state}"
        )


def _place_image(src: Path, dest: Path, link: str) -> None:
    if dest.is_symlink() or dest.exists():
        if dest.is_symlink() and Path(os.readlink(dest)) == src.resolve():
            return
        dest.unlink()
    if link == "symlink":
        dest.symlink_to(src.resolve())
    else:
        import shutil

        shutil.copyfile(src, dest)


def write_export(
    pages: Iterable[RealPage],
    out_dir: Path,
    *,
    split: str = "all",
    image_prefix: str = "/data/local-files/?d=",
    link: str = "symlink",
) -> Path:
    """Write real pages as a Label Studio OCR export, as an annotator's export would look.

    ``out_dir`` receives ``export.json`` (a JSON list of tasks: one task a page, ``data`` with
    ``image``, ``document``, ``page`` and the short metadata ``source``, ``split``,
    ``transcription_case`` and ``original_file``; one annotation whose ``result`` holds a
    ``rectangle`` and a ``textarea`` sharing an id per usable line, in percent with
    ``original_width/original_height``), ``images/`` (a symlink, or a copy, of each page image,
    named after its document), ``rejected.jsonl`` (every flagged line and rejected row, with its
    reason) and ``manifest.json`` (counts per source and split, the held-out documents). The
    same pages give byte-identical files (task and region ids are hashes of document names).

    Parameters
    ----------
    pages : iterable of RealPage
    out_dir : pathlib.Path
        Output folder; not inside the repository unless under the state folder.
    split : {"train", "heldout", "all"}, optional
        Which pages to write, by :func:`is_held_out`.
    image_prefix : str, optional
        Prefix of ``data.image`` before ``images/<file>``; the default
        ``/data/local-files/?d=`` resolves against the export's folder in
        :func:`linerec.labelstudio.export.resolve_image_ref`, as does ``""`` (a relative path).
    link : {"symlink", "copy"}, optional
        How images are made available beside the export.

    Returns
    -------
    pathlib.Path
        ``out_dir / "export.json"``.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if link not in ("symlink", "copy"):
        raise ValueError(f"unknown link {link!r}; expected 'symlink' or 'copy'")
    out_dir = Path(out_dir)
    _outside_repo(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    pages = sorted(pages, key=lambda p: p.document)
    tasks, rejected_rows = [], []
    manifest: dict = {
        "sources": {},
        "split_written": split,
        "heldout_salt": HELD_OUT_SALT,
        "heldout_fraction": HELD_OUT_FRACTION,
        "heldout_documents": sorted(p.document for p in pages if is_held_out(p.document)),
    }
    for page in pages:
        page_split = "heldout" if is_held_out(page.document) else "train"
        if split != "all" and page_split != split:
            continue
        name = f"{page.document}{page.image_path.suffix.lower()}"
        _place_image(page.image_path, out_dir / "images" / name, link)
        tasks.append(_export_task(page, f"{image_prefix}images/{name}", page_split))
        counts = manifest["sources"].setdefault(
            page.source, {s: {"pages": 0, "regions": 0, "rejected": 0} for s in ("train", "heldout")}
        )
        counts = counts[page_split]
        counts["pages"] += 1
        counts["regions"] += sum(ln.flag is None for ln in page.lines)
        rejected_rows.extend(_rejections(page, page_split))
        counts["rejected"] += sum(ln.flag is not None for ln in page.lines) + len(page.rejected)
    by_reason: dict = {}
    for row in rejected_rows:
        kinds = by_reason.setdefault(row["source"], Counter())
        kinds[reason_kind(row["reason"])] += 1
    manifest["rejected_by_reason"] = {s: dict(sorted(c.items())) for s, c in sorted(by_reason.items())}
    export = out_dir / "export.json"
    export.write_text(json.dumps(tasks, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with open(out_dir / "rejected.jsonl", "w", encoding="utf-8") as fh:
        for row in rejected_rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info(
        "wrote %d tasks (%d regions, %d rejected) to %s",
        len(tasks),
        sum(len(t["annotations"][0]["result"]) // 2 for t in tasks),
        len(rejected_rows),
        export,
    )
    return export
