"""Page layout: text blocks in reading order, each with its lines.

:func:`analyze_page` cuts a page into blocks by whitespace (a recursive XY-cut over the deskewed
boxes of the letter-sized ink components, :func:`xy_cut`) and finds the lines of each block with
the row analysis of :mod:`linerec.vision.segment`, so no line crosses a column gutter. Reading order:
blocks top to bottom, columns left to right, each column top to bottom; a full-width title or
table between column sections falls where it stands.

The cut, at every node of the recursion:

1. **Columns.** Gaps in the node's horizontal ink profile at least :data:`GUTTER` letter heights
   wide with ink on both sides are candidate gutters; one is a column gutter when the ink on each
   side of it, up to the next candidate, is at least :data:`COLUMN` letter heights wide, two rows or
   more (a wide space in a single line cuts nothing), holds :data:`WORDS` words a row on average and
   has no gap shared by half its rows (so the wide gaps of a table row or a label/value form do not
   cut it into cells). A title or heading narrower than a column, standing apart by wide gaps at the
   top of the node or between bands spanning the columns (:func:`_separators`), is cut off first, so
   it is read before or between the columns rather than as part of one. Otherwise columns are cut at
   the gutters and each is cut again.
2. **Sections.** Otherwise the node's rows of ink (bands, separated by empty rows) are grouped
   into sections of consecutive bands that share a column gutter (the free columns of the
   section's bands intersected), or that have none; a full-width title above two columns is one
   section, the columns below it another. At a boundary between a section with a gutter and one
   without, rows move to the side they are closer to (:func:`_regroup`): the first rows of two
   side-by-side blocks, too short to show the gutter one by one, join the blocks; lines under the
   taller block join the full-width text below them. When no section has a gutter, the node is
   cut at one of its widest gaps between rows if the rows on one side hold side-by-side blocks
   (:func:`_split_at_wide_gap`). Each section is cut again.
3. A node that is one section with no gutter is a block: ``"table"`` when two or more of its
   rows share a gap at least :data:`GUTTER` wide, else ``"text"``.

Known limit: side-by-side blocks narrower than :data:`COLUMN` letter heights (two short signature
blocks) are not columns; their rows are read across both blocks.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from functools import partial

import numpy as np

from linerec.vision.crop import crop_line
from linerec.vision.geometry import Box, Rect
from linerec.vision.segment import Line, segment_regions

logger = logging.getLogger(__name__)

#: Narrowest whitespace between columns, in letter heights (the working copy's typical component height).
GUTTER = 1.5
#: Narrowest column a gutter may separate, in letter heights (about ten characters).
COLUMN = 8.0
#: Fewest words a row a column must average (table columns and form labels hold one or two).
WORDS = 2.0
#: Narrowest gap between two words, in letter heights.
WORD_GAP = 0.2


@dataclasses.dataclass(frozen=True)
class Block:
    """One text block of a page.

    Attributes
    ----------
    bbox : tuple of int
        Axis-aligned ``(x, y, w, h)`` page box around :attr:`rect`, clipped to the page.
    rect : tuple
        ``(x, y, w, h, rotation)`` around the block's lines (Label Studio convention, rotated
        by the page skew, as :attr:`linerec.vision.segment.Line.rect`).
    kind : str
        ``"text"`` or ``"table"`` (rows sharing wide gaps).
    lines : list of Line
        The block's lines, top to bottom.
    """

    bbox: Box
    rect: Rect
    kind: str
    lines: list[Line]


@dataclasses.dataclass
class PageLayout:
    """Blocks of a page in reading order and the page skew (degrees clockwise, y down)."""

    skew: float
    blocks: list[Block]

    @property
    def lines(self) -> list[Line]:
        """Every line of the page in reading order (block by block)."""
        return [line for block in self.blocks for line in block.lines]

    def crops(self, page: np.ndarray) -> list[np.ndarray]:
        """Upright ``(h, w)`` uint8 crops of :attr:`lines`, cut with :func:`linerec.vision.crop.crop_line`."""
        return [crop_line(page, line.rect[:4], rotation=line.rect[4]) for line in self.lines]


def _free(boxes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Columns ``lo..hi`` (inclusive) that no box of ``boxes`` (N, 4) covers, bool (hi - lo + 1,)."""
    size = hi - lo + 2  # every box starts at or after lo and ends at or before hi
    starts = np.bincount(np.floor(boxes[:, 0]).astype(np.int64) - lo, minlength=size)
    stops = np.bincount(np.ceil(boxes[:, 2]).astype(np.int64) - lo + 1, minlength=size)
    return np.cumsum(starts - stops)[:-1] == 0


def _runs(mask: np.ndarray) -> np.ndarray:
    """``(n, 2)`` start/stop indices of the runs of True in a 1-D bool ``mask``."""
    padded = np.zeros(mask.size + 2, bool)
    padded[1:-1] = mask
    return np.flatnonzero(padded[1:] != padded[:-1]).reshape(-1, 2)  # changes alternate: start, stop, ...


def _gaps(free: np.ndarray, gap: float) -> np.ndarray:
    """Runs of ``free`` at least ``gap`` wide with ink on both sides, (n, 2)."""
    runs = _runs(free)
    inner = (runs[:, 0] > 0) & (runs[:, 1] < free.size) & (runs[:, 1] - runs[:, 0] >= gap)
    return runs[inner]


def _words_per_line(boxes: np.ndarray, char_h: float, rows: list[np.ndarray] | None = None) -> float:
    """Mean words per row of ink of ``boxes`` (N, 4): runs of boxes apart by more than :data:`WORD_GAP`.

    ``rows`` is :func:`_bands` of ``boxes`` when the caller has it already.
    """
    rows = _bands(boxes) if rows is None else rows
    words = 0
    for row in rows:
        b = boxes[row][np.argsort(boxes[row, 0])]
        reach = np.maximum.accumulate(b[:, 2])
        words += 1 + int(np.count_nonzero(b[1:, 0] - reach[:-1] > WORD_GAP * char_h))
    return words / max(len(rows), 1)


def _gutters(free: np.ndarray, boxes: np.ndarray, lo: int, char_h: float, rows: int = 1) -> np.ndarray:
    """Column gutters among the candidate gaps (:func:`_gaps`) of ``free`` (columns from ``lo``).

    A candidate is a gutter when the ink of ``boxes`` (N, 4) on each side of it, up to the next
    candidate, is at least :data:`COLUMN` letter heights wide, ``rows`` rows or more, and reads as
    text (at least :data:`WORDS` words a row on average, and not :func:`_tabular`), so table
    columns and label/value pairs stay rows.
    """
    cand = _gaps(free, GUTTER * char_h)
    if not len(cand):
        return cand
    piece = np.searchsorted(cand.mean(axis=1), (boxes[:, 0] + boxes[:, 2]) / 2 - lo)  # (N,) piece of each box
    good = np.zeros(len(cand) + 1, bool)
    for k in range(len(cand) + 1):
        part = boxes[piece == k]
        if not (len(part) > 0 and part[:, 2].max() - part[:, 0].min() >= COLUMN * char_h):
            good[k] = False
            continue
        bands = _bands(part)
        good[k] = (
            len(bands) >= rows and _words_per_line(part, char_h, bands) >= WORDS and not _tabular(part, char_h, bands)
        )
    return cand[good[:-1] & good[1:]]


def _tabular(boxes: np.ndarray, char_h: float, rows: list[np.ndarray] | None = None) -> bool:
    """Whether half or more of the rows of ``boxes`` (N, 4) share a gap of :data:`GUTTER` letter
    heights inside each row (cells of a table, labels and values of a form); ``rows`` as in
    :func:`_words_per_line`."""
    rows = _bands(boxes) if rows is None else rows
    if len(rows) < 2:
        return False
    lo, hi = int(math.floor(boxes[:, 0].min())), int(math.ceil(boxes[:, 2].max()))
    width = hi - lo + 1
    row_of = np.empty(len(boxes), np.int64)  # (N,) row of each box
    for r, row in enumerate(rows):
        row_of[row] = r
    size = len(rows) * (width + 1)  # (R, W + 1) boxes starting / ending per column, flattened
    opening = np.bincount(row_of * (width + 1) + np.floor(boxes[:, 0]).astype(np.int64) - lo, minlength=size)
    closing = np.bincount(row_of * (width + 1) + np.ceil(boxes[:, 2]).astype(np.int64) - lo + 1, minlength=size)
    cover = (opening - closing).reshape(len(rows), width + 1)
    free = np.cumsum(cover, axis=1)[:, :-1] == 0  # (R, W) as _free, one row each
    pad = np.zeros((len(rows), 1), np.int8)
    edges = np.diff(np.concatenate([pad, free.astype(np.int8), pad], axis=1), axis=1)  # (R, W + 1)
    starts, stops = np.nonzero(edges == 1)[1], np.nonzero(edges == -1)[1]  # row-major: paired run by run
    inner = (starts > 0) & (stops < width) & (stops - starts >= GUTTER * char_h)  # as _gaps: between the row's ink
    count = np.bincount(starts[inner], minlength=width + 1) - np.bincount(stops[inner], minlength=width + 1)
    return bool((np.cumsum(count)[:-1] >= 0.5 * len(rows)).any())


def _bands(boxes: np.ndarray) -> list[np.ndarray]:
    """Indices of ``boxes`` (N, 4) in rows of ink separated by empty rows, top to bottom."""
    order = np.argsort(boxes[:, 1], kind="stable")
    reach = np.maximum.accumulate(boxes[order, 3])  # (N,) lowest bottom so far
    cuts = [0, *(np.flatnonzero(boxes[order[1:], 1] > reach[:-1]) + 1).tolist(), len(order)]
    return [order[start:stop] for start, stop in zip(cuts[:-1], cuts[1:])]


def _crossing(boxes: np.ndarray, gutters: np.ndarray, lo: int) -> bool:
    """Whether any of ``boxes`` (N, 4) reaches into one of ``gutters`` (columns from ``lo``)."""
    u0, u1 = boxes[:, 0:1] - lo, boxes[:, 2:3] - lo  # (N, 1)
    return bool(((u0 < gutters[:, 1]) & (u1 > gutters[:, 0])).any())


def _clear_of(b: np.ndarray, sub: np.ndarray, gutter: np.ndarray, lo: int) -> bool:
    """Whether no line of band ``b`` crosses ``gutter``."""
    return not _crossing(sub[b], gutter, lo)


def _one_side(b: np.ndarray, sub: np.ndarray, mids: np.ndarray, lo: int) -> bool:
    """Whether every line of band ``b`` has its middle on one side of the gutters at ``mids``."""
    return len(np.unique(np.searchsorted(mids, (sub[b, 0] + sub[b, 2]) / 2 - lo))) == 1


def _loose_tail(sub: np.ndarray, bands: list[np.ndarray], fits, after: np.ndarray | None) -> int:
    """How many of the last ``bands`` belong with what follows them rather than with the bands above.

    The tail considered is the longest run of last bands for which ``fits(band)`` holds; it is cut
    at its widest vertical gap (the gap above the run included), and the part below that gap
    moves when it is tighter than the gap: every gap inside it and the gap down to ``after`` (the
    next section's first band, if any) are narrower than the gap above it.
    """
    k = len(bands)
    while k > 0 and fits(bands[k - 1]):
        k -= 1
    if k == len(bands):
        return 0
    tops = [float(sub[b, 1].min()) for b in bands]
    bottoms = [float(sub[b, 3].max()) for b in bands]
    above = [tops[i] - bottoms[i - 1] if i > 0 else math.inf for i in range(k, len(bands))]  # gap above band i
    start = k + int(np.argmax(above))
    inner = [tops[i] - bottoms[i - 1] for i in range(start + 1, len(bands))]
    if after is not None:
        inner.append(float(sub[after, 1].min()) - bottoms[-1])
    return len(bands) - start if max(inner, default=-math.inf) < above[start - k] else 0


def _regroup(sub: np.ndarray, sections: list[list[np.ndarray]], gutters: list[np.ndarray], lo: int) -> None:
    """Move bands across the boundaries of consecutive sections, in place (see :func:`_cut`).

    Before a section with a gutter, the loose tail of a section without one (rows whose short lines
    showed no gutter on their own, e.g. the first rows of two address blocks side by side) joins
    it when no box of the tail reaches into the gutter. After a section with a gutter, its loose
    tail of rows that stay on one side of it (e.g. the lines under the taller of two address
    blocks) joins the section below when that has no gutter.
    """
    for i in range(len(sections) - 1):
        prev, nxt = sections[i], sections[i + 1]
        if not prev or not nxt:
            continue
        if len(gutters[i + 1]) and not len(gutters[i]):
            n = _loose_tail(sub, prev, partial(_clear_of, sub=sub, gutter=gutters[i + 1], lo=lo), nxt[0])
        elif len(gutters[i]) and not len(gutters[i + 1]):
            n = _loose_tail(sub, prev, partial(_one_side, sub=sub, mids=gutters[i].mean(axis=1), lo=lo), nxt[0])
        else:
            continue
        if n:
            sections[i + 1] = prev[-n:] + nxt
            sections[i] = prev[:-n]


def _separators(sub: np.ndarray, bands: list[np.ndarray], col: np.ndarray, char_h: float) -> list[list[np.ndarray]]:
    """``bands`` (top to bottom) grouped at full-width separators; one group when there is none.

    A separator is a run of bands each lying within one column (``col``: the column of each box of
    ``sub``), at the top or below a wide gap, with a wide gap and a band spanning two columns or more
    below it; a gap is wide when it is wider than a letter height and than twice the median gap
    between the lines of a column. So a title over columns or a heading between two bands of
    columns stands apart, while the last line of a longer column, or a line of one column beside
    the other column's paragraph break, stays in its column.
    """
    multi = [len(np.unique(col[b])) > 1 for b in bands]
    tops = np.array([sub[b, 1].min() for b in bands])
    bottoms = np.array([sub[b, 3].max() for b in bands])
    gaps = tops[1:] - bottoms[:-1]  # (B - 1,) gap below each band but the last
    leading = []  # gaps between the rows of each column on its own
    for k in np.unique(col):
        part = sub[col == k]
        rows = _bands(part)
        leading += [part[b, 1].min() - part[a, 3].max() for a, b in zip(rows, rows[1:])]
    wide = max(2.0 * float(np.median(leading)) if leading else 0.0, char_h)
    groups, current, i = [], [], 0
    while i < len(bands):
        j = i
        while j < len(bands) and not multi[j]:
            j += 1
        if j == i:
            current.append(bands[i])
            i += 1
            continue
        # the run's part below its last wide gap (or all of it, at the top), if a wide gap follows it
        starts = [k for k in range(i, j) if k == 0 or gaps[k - 1] > wide]
        if j < len(bands) and gaps[j - 1] > wide and starts:
            current += bands[i : starts[-1]]  # the rows above it stay with their columns
            groups += [current] if current else []
            groups.append(bands[starts[-1] : j])
            current = []
        else:
            current += bands[i:j]
        i = j
    return groups + ([current] if current else [])


def _cut(boxes: np.ndarray, idx: np.ndarray, char_h: float, out: list) -> None:
    sub = boxes[idx]
    lo, hi = int(math.floor(sub[:, 0].min())), int(math.ceil(sub[:, 2].max()))
    gutters = _gutters(_free(sub, lo, hi), sub, lo, char_h, rows=2)  # a wide space in one line is no gutter
    if len(gutters):  # columns, left to right, unless a title or heading in one column's width stands apart
        col = np.searchsorted(gutters.mean(axis=1), (sub[:, 0] + sub[:, 2]) / 2 - lo)
        groups = _separators(sub, _bands(sub), col, char_h)
        if len(groups) > 1:
            for group in groups:
                _cut(boxes, idx[np.concatenate(group)], char_h, out)
            return
        for k in range(len(gutters) + 1):
            _cut(boxes, idx[col == k], char_h, out)
        return
    bands = _bands(sub)
    sections: list[list[np.ndarray]] = []
    section_gutters: list[np.ndarray] = []
    acc, had = None, False  # the last section's free columns and whether they hold a gutter
    for band in bands:
        free = _free(sub[band], lo, hi)
        band_has = None
        if acc is not None:
            both = acc & free
            members = np.concatenate(sections[-1] + [band])
            grown = _gutters(both, sub[members], lo, char_h)
            if had:
                keep = len(grown) > 0
            else:  # neither the band nor the section grown by it may have a gutter
                band_has = _gutters(free, sub[band], lo, char_h)
                keep = not len(band_has) and not len(grown)
            if keep:
                sections[-1].append(band)
                section_gutters[-1] = grown
                acc, had = both, len(grown) > 0
                continue
        sections.append([band])
        section_gutters.append(band_has if band_has is not None else _gutters(free, sub[band], lo, char_h))
        acc = free
        had = len(section_gutters[-1]) > 0
    if not any(len(g) for g in section_gutters) and _split_at_wide_gap(boxes, idx, bands, char_h, out):
        return
    if len(sections) > 1:
        _regroup(sub, sections, section_gutters, lo)
        sections = [sec for sec in sections if sec]
    if len(sections) > 1:
        for sec in sections:
            _cut(boxes, idx[np.concatenate(sec)], char_h, out)
        return
    shared = len(bands) >= 2 and len(_gaps(_free(sub, lo, hi), GUTTER * char_h)) > 0
    out.append((idx, "table" if shared else "text"))


def _split_at_wide_gap(boxes: np.ndarray, idx: np.ndarray, bands: list[np.ndarray], char_h: float, out: list) -> bool:
    """Cut a node none of whose rows showed a column gutter at one of its widest gaps between rows
    (the 4 widest, wider than a letter height, widest first) when the rows below it, or above it,
    hold a gutter of their own (two rows or more, one of them with ink on both sides): e.g. a title
    above two address blocks whose short lines show no gutter row by row. Returns whether it cut."""
    if len(bands) < 3:
        return False
    sub = boxes[idx]
    tops = np.array([sub[b, 1].min() for b in bands])
    bottoms = np.array([sub[b, 3].max() for b in bands])
    gaps = tops[1:] - bottoms[:-1]  # (B - 1,) gap below each band but the last
    for w in np.argsort(-gaps, kind="stable")[:4] + 1:  # bands[:w] above the gap, bands[w:] below
        if gaps[w - 1] <= char_h:
            break
        for part in (bands[w:], bands[:w]):
            if len(part) < 2:
                continue
            p = sub[np.concatenate(part)]
            plo = int(math.floor(p[:, 0].min()))
            g = _gutters(_free(p, plo, int(math.ceil(p[:, 2].max()))), p, plo, char_h, rows=2)
            mids = g.mean(axis=1)
            side_by_side = len(g) and any(  # a row with ink on both sides: blocks beside, not above, each other
                len(np.unique(np.searchsorted(mids, (sub[b, 0] + sub[b, 2]) / 2 - plo))) > 1 for b in part
            )
            if side_by_side:
                _cut(boxes, idx[np.concatenate(bands[:w])], char_h, out)
                _cut(boxes, idx[np.concatenate(bands[w:])], char_h, out)
                return True
    return False


def xy_cut(boxes: np.ndarray, char_h: float) -> list[tuple[np.ndarray, str]]:
    """Cut ink boxes into blocks by whitespace, in reading order.

    Parameters
    ----------
    boxes : numpy.ndarray
        (N, 4) float ``(u0, v0, u1, v1)`` boxes of ink components in a deskewed frame
        (``u`` right, ``v`` down).
    char_h : float
        Typical letter height in the same units (gutters and columns are measured in it).

    Returns
    -------
    list of (numpy.ndarray, str)
        Per block: the indices of its boxes and its kind (``"text"`` or ``"table"``), blocks in
        reading order (see the module docstring). Empty for no boxes.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out: list[tuple[np.ndarray, str]] = []
    if len(boxes):
        _cut(boxes, np.arange(len(boxes)), max(float(char_h), 1.0), out)
    return out


def _enclosing(lines: list[Line], skew: float, width: int, height: int) -> tuple[Box, Rect]:
    """Axis-aligned page box and rotated rectangle around ``lines`` (in the deskewed frame)."""
    c, s = math.cos(math.radians(skew)), math.sin(math.radians(skew))
    us, vs = [], []
    for x, y, w, h, _ in (line.rect for line in lines):
        u, v = x * c + y * s, y * c - x * s  # the rect's corner in the deskewed frame
        us += [u, u + w]
        vs += [v, v + h]
    u0, v0, u1, v1 = min(us), min(vs), max(us), max(vs)
    ox, oy = u0 * c - v0 * s, u0 * s + v0 * c  # the enclosing rect's corner on the page
    rect = (int(round(ox)), int(round(oy)), int(round(u1 - u0)), int(round(v1 - v0)), float(skew))
    px = [ox + du * c - dv * s for du, dv in ((0, 0), (u1 - u0, 0), (0, v1 - v0), (u1 - u0, v1 - v0))]
    py = [oy + du * s + dv * c for du, dv in ((0, 0), (u1 - u0, 0), (0, v1 - v0), (u1 - u0, v1 - v0))]
    bx0, by0 = max(int(math.floor(min(px))), 0), max(int(math.floor(min(py))), 0)
    bx1, by1 = min(int(math.ceil(max(px))), width), min(int(math.ceil(max(py))), height)
    return (bx0, by0, max(bx1 - bx0, 1), max(by1 - by0, 1)), rect


def analyze_page(page: np.ndarray, skew: float | None = None) -> PageLayout:
    """Text blocks of a grayscale page and their lines, in reading order.

    Parameters
    ----------
    page : numpy.ndarray
        2-D ``uint8`` grayscale image ``(H, W)``, dark text on light paper.
    skew : float, optional
        Known skew in degrees clockwise; estimated if ``None``.

    Returns
    -------
    PageLayout
        The skew and the blocks (each with at least one line); no blocks for a blank page.

    Raises
    ------
    ValueError
        If ``page`` is not a 2-D ``uint8`` array.
    """
    skew, regions = segment_regions(page, xy_cut, skew)
    height, width = np.shape(page)
    blocks = [Block(*_enclosing(lines, skew, width, height), kind, lines) for kind, lines in regions]
    logger.debug("%d blocks, %d lines", len(blocks), sum(len(b.lines) for b in blocks))
    return PageLayout(skew, blocks)
