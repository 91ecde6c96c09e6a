"""Recognize the text of scan files: decode, cut into blocks and lines, recognize, page by page.

:func:`recognize_file` yields one record per text line of a file (PNG, JPEG, multi-page TIFF or
PDF), in reading order (block by block: columns left to right, see :mod:`linerec.vision.layout`);
:func:`write_results` streams the records of several files as JSON Lines or plain text and
reports unreadable files without stopping (``linerec recognize``). :func:`recognize_pages` also
gives each page's blocks, lines and words (:mod:`linerec.document.model`), from which
:mod:`linerec.formats` writes hOCR, ALTO, PAGE XML and searchable PDF.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from linerec.vision.geometry import Box, Rect

log = logging.getLogger(__name__)

#: Files larger than this are refused before they are read (the largest legitimate scans are far smaller).
MAX_FILE_BYTES = 512 * 2**20
#: Marks the end of every page in ``text`` output (on a line of its own).
PAGE_END = "\f"


class InputError(Exception):
    """A file that cannot be recognized; the message is ``"PATH: reason"``."""


@dataclass
class PageResult:
    """The recognized lines of one page: ``records`` as yielded by :func:`recognize_file`.

    ``width`` and ``height`` are the decoded page's pixels; ``blocks`` holds the same lines in
    their blocks, with their rotated rectangles and (when asked for) their words.
    """

    path: str
    page: int
    records: list[dict] = field(default_factory=list)
    width: int = 0
    height: int = 0
    blocks: list = field(default_factory=list)  # list of linerec.document.model.TextBlock

    @property
    def text(self) -> str:
        """The page's lines joined with ``"\\n"`` in reading order."""
        return "\n".join(r["text"] for r in self.records)


def segment_lines(page: np.ndarray) -> tuple[list[Box], list[Rect], list[np.ndarray]]:
    """Lines of a page in reading order: page boxes, rotated rectangles and upright crops.

    Parameters
    ----------
    page : numpy.ndarray
        ``(H, W)`` uint8 grayscale page.

    Returns
    -------
    (list of Box, list of Rect, list of numpy.ndarray)
        Axis-aligned page boxes ``(x, y, w, h)``, rectangles ``(x, y, w, h, rotation)`` (Label Studio
        convention, rotated by the page skew) and one ``(h, w)`` uint8 crop per line, block by block
        (:func:`linerec.vision.layout.analyze_page`: no line crosses a column gutter). Empty for a blank page.
    """
    from linerec.vision.layout import analyze_page

    layout = analyze_page(page)
    return (
        [_int_box(ln.bbox) for ln in layout.lines],
        [ln.rect for ln in layout.lines],
        list(layout.crops(page)),
    )


def _int_box(box: Box) -> Box:
    """``box`` with plain Python ints (no numpy integers), as JSON and the document model want."""
    x, y, w, h = box
    return (int(x), int(y), int(w), int(h))


def read_file(path: str | os.PathLike) -> bytes:
    """The bytes of ``path``; :class:`InputError` for a missing, unreadable, oversized or non-regular file."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if p.is_dir():
        raise InputError(f"{path}: is a directory")
    if not p.is_file():
        raise InputError(f"{path}: not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {st.st_size} bytes exceed the file size limit {MAX_FILE_BYTES}")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def recognize_pages(
    path: str | os.PathLike, recognizer, decoder: str = "greedy", words: bool = False
) -> Iterator[PageResult]:
    """Recognize every page of one file, one :class:`PageResult` at a time (blank pages have no records).

    Parameters
    ----------
    path : str or PathLike
        PNG, JPEG, (multi-page) TIFF or PDF file.
    recognizer : linerec.model.recognizer.Recognizer
        The loaded model.
    decoder : {"greedy", "beam"}
        CTC decoding.
    words : bool
        Also place every line's words on the page (:meth:`linerec.model.recognizer.Recognizer.recognize_words`).

    Raises
    ------
    InputError
        The file (or one of its pages) cannot be read; the pages before it have been yielded.
    """
    from linerec.vision.images import BadImage, iter_pages
    from linerec.vision.layout import analyze_page

    name = str(path)
    data = read_file(path)
    pages = iter_pages(data, name)
    page_no = 0
    while True:
        try:
            page = next(pages, None)  # (H, W) uint8
        except BadImage as exc:
            raise InputError(str(exc)) from None
        if page is None:
            return
        page_no += 1
        layout = analyze_page(page)
        crops = layout.crops(page)
        if not crops:
            read = []
        elif words:
            read = recognizer.recognize_words(crops, decoder=decoder)
        else:
            read = [(text, conf, []) for text, conf in recognizer.recognize(crops, decoder=decoder)]
        yield _page_result(name, page_no, page.shape, layout, read)


def _page_result(name: str, page_no: int, shape: tuple[int, int], layout, read: list) -> PageResult:
    """The records and blocks of one page from its layout and ``(text, confidence, word spans)`` per line."""
    from linerec.document.model import TextBlock, TextLine, Word, hull_box
    from linerec.model.words import to_page

    height, width = int(shape[0]), int(shape[1])
    per_line = iter(read)
    blocks: list[TextBlock] = []
    records: list[dict] = []
    for b, block in enumerate(layout.blocks, start=1):
        lines: list[TextLine] = []
        for line in block.lines:
            text, conf, spans = next(per_line)
            found: list[Word] = []
            for span in spans:
                corners = to_page(line.rect, span.x0, span.x1)
                found.append(
                    Word(
                        span.text,
                        round(float(span.confidence), 4),
                        hull_box(corners, width, height),
                        tuple((int(round(x)), int(round(y))) for x, y in corners),
                    )
                )
            lines.append(TextLine(text, round(float(conf), 4), _int_box(line.bbox), line.rect, tuple(found)))
            records.append(
                {
                    "path": name,
                    "page": page_no,
                    "line": len(records) + 1,
                    "bbox": [int(v) for v in line.bbox],
                    "text": text,
                    "confidence": round(float(conf), 4),
                    "block": b,
                    "block_bbox": [int(v) for v in block.bbox],
                    "block_type": block.kind,
                }
            )
        blocks.append(TextBlock(block.kind, _int_box(block.bbox), block.rect, tuple(lines)))
    return PageResult(name, page_no, records, width, height, blocks)


def recognize_file(path: str | os.PathLike, recognizer, decoder: str = "greedy") -> Iterator[dict]:
    """Recognize one scan file; yield one record per text line, pages and lines in reading order.

    Parameters
    ----------
    path : str or PathLike
        PNG, JPEG, (multi-page) TIFF or PDF file.
    recognizer : linerec.model.recognizer.Recognizer
        The loaded model.
    decoder : {"greedy", "beam"}
        CTC decoding.

    Yields
    ------
    dict
        ``path``, ``page`` (1-based), ``line`` (1-based reading order), ``bbox`` ``[x, y, w, h]`` in
        pixels of the page image, ``text``, ``confidence`` (in [0, 1], higher is more likely right),
        and the line's block: ``block`` (1-based reading order), ``block_bbox`` and ``block_type``
        (``"text"`` or ``"table"``).

    Raises
    ------
    InputError
        Missing file, directory, unreadable or truncated image, a page over the pixel limit or of an
        implausible shape, too many pages.
    """
    for page in recognize_pages(path, recognizer, decoder):
        yield from page.records


def write_results(
    paths: Iterable[str],
    recognizer,
    out: TextIO,
    fmt: str = "jsonl",
    decoder: str = "greedy",
    on_error: Callable[[str], None] | None = None,
) -> list[str]:
    """Recognize ``paths`` one after the other and stream their results to ``out``.

    Parameters
    ----------
    paths : iterable of str
        Files to recognize.
    recognizer : linerec.model.recognizer.Recognizer
        The loaded model.
    out : TextIO
        Destination; flushed after every file.
    fmt : {"jsonl", "text"}
        ``jsonl``: one JSON object per line (see :func:`recognize_file`). ``text``: the text of each
        page, one recognized line per line, each page ended by a line holding a single form feed.
    decoder : {"greedy", "beam"}
        CTC decoding.
    on_error : callable, optional
        Called with ``"PATH: reason"`` for every file that fails (the others go on).

    Returns
    -------
    list of str
        The error messages (empty when every file was read).
    """
    errors: list[str] = []
    for path in paths:
        pages, error = recognize_pages(path, recognizer, decoder), None
        while True:
            try:
                page = next(pages, None)
            except InputError as exc:
                error = str(exc)
                break
            except Exception as exc:  # one bad file never stops the others
                log.debug("recognizing %s failed", path, exc_info=True)
                error = f"{path}: cannot recognize ({type(exc).__name__}: {exc})"
                break
            if page is None:
                break
            if fmt == "jsonl":  # errors writing the output are not the file's: they propagate
                out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in page.records)
            else:
                out.write(page.text + ("\n" if page.records else "") + PAGE_END + "\n")
        out.flush()
        if error:
            errors.append(error)
            if on_error:
                on_error(error)
    return errors
