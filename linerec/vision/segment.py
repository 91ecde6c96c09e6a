"""Text line segmentation of grayscale page images.

:func:`segment_page` turns a scanned page into a :class:`Layout`: the page skew
and, in reading order, one :class:`Line` per text line with its rotated
rectangle (Label Studio convention) and its axis-aligned page box.

Steps, on a copy downscaled by an integer factor to at most :data:`WORK_SIZE`
pixels (after a 3x3 median on noisy pages): illumination normalization (division
by a morphologically closed background), a hysteresis threshold relative to the
ink's darkness and clear of the paper's noise, connected components, skew by
maximizing the sharpness of the row profile of the ink (coarse-to-fine over
``±MAX_SKEW_DEG``), rows from that profile (split at deep valleys where taller than
the line pitch, thin fragments such as i-dots joined to their neighbour) and
components assigned to rows (specks kept out). Each line's ink bounds are then
refined at full resolution in the deskewed frame, extended below to the page's
descender depth where the text has no descender (as annotators' boxes are), and
padded by :data:`PAD`.

:func:`segment_regions` does the same region by region (rows are found among the components of
each region only), for :mod:`linerec.vision.layout`'s blocks.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import cv2
import numpy as np

from linerec.vision.crop import crop_line

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # (x, y, w, h)
Rect = tuple[int, int, int, int, float]  # (x, y, w, h, rotation): Label Studio's rotated box

PAD = 3  # pixels added around the ink of every line, in the deskewed frame
MAX_SKEW_DEG = 3.5
NOISY = 7.0  # pixel noise (grey levels) above which a page is median-filtered first
WORK_SIZE = 1400  # most pixels of the long side of the copy on which skew and rows are found


@dataclasses.dataclass(frozen=True)
class Line:
    """One text line.

    Attributes
    ----------
    bbox : tuple of int
        Axis-aligned ``(x, y, w, h)`` page box around :attr:`rect`, clipped to the page.
    rect : tuple
        ``(x, y, w, h, rotation)``: ``(x, y)`` is the top-left corner, ``rotation`` degrees
        clockwise about it; box corner ``(dx, dy)`` lies at page pixel
        ``(x + dx cos r - dy sin r, y + dx sin r + dy cos r)``.
    """

    bbox: Box
    rect: Rect


@dataclasses.dataclass
class Layout:
    """Lines of a page in reading order and the page skew (degrees clockwise, y down)."""

    skew: float
    lines: list[Line]

    def crops(self, page: np.ndarray) -> list[np.ndarray]:
        """Upright ``(h, w)`` uint8 crops of the lines, cut with :func:`linerec.vision.crop.crop_line`."""
        return [crop_line(page, line.rect[:4], rotation=line.rect[4]) for line in self.lines]


def _odd(v: float) -> int:
    return max(1, int(round(v)) | 1)


def _noise(page: np.ndarray) -> float:
    """Robust estimate of the pixel noise (grey levels) from neighbour differences on every 8th row."""
    rows = page[::8]
    diff = cv2.absdiff(rows[:, 1:], rows[:, :-1])
    counts = np.cumsum(cv2.calcHist([diff], [0], None, [256], [0, 256]).ravel())
    return float(np.searchsorted(counts, counts[-1] / 2)) / 0.954  # median |difference| = 0.954 sigma


def _median(counts: np.ndarray, values: np.ndarray) -> float:
    """``numpy.median`` of a sample given as ``counts`` of each of the sorted ``values``.

    Unlike :func:`_weighted_median` it averages the two middle values of an even count, as
    ``numpy.median`` does, so the noise level is the one the thresholds were tuned on.
    """
    cum = np.cumsum(counts)
    n = int(cum[-1])

    def kth(k: int) -> float:  # the k-th smallest, from 0
        return float(values[np.searchsorted(cum, k, side="right")])

    return kth(n // 2) if n % 2 else (kth(n // 2 - 1) + kth(n // 2)) / 2


def _above(a: np.ndarray, level: float) -> np.ndarray:
    """``a > level`` for a ``uint8`` array, as 0/1 ``uint8`` (a bool array's bytes)."""
    return cv2.threshold(a, level, 1, cv2.THRESH_BINARY)[1]


def _ink_maps(small: np.ndarray):
    """Background, the relative ink threshold, and weak / strong / sure ink masks of the small copy.

    A pixel is ink when it is dark relative to its background (``255 * (1 - page / background)``
    above an Otsu-based level, so shadows do not matter) and, in grey levels below the paper,
    clear of the noise (median + 4, 6, 8 MAD-sigmas: noise does not fade in a shadow as ink does).
    The masks are 0/1 ``uint8``.
    """
    k = _odd(min(small.shape) / 40 + 5)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    bg = cv2.blur(cv2.morphologyEx(cv2.medianBlur(small, 3), cv2.MORPH_CLOSE, kernel), (k, k))
    bg = np.maximum(bg, 1)
    smooth = cv2.GaussianBlur(small, (3, 3), 0)
    dark, below = 255 - cv2.divide(smooth, bg, scale=255), cv2.subtract(bg, smooth)
    otsu, _ = cv2.threshold(dark[::3, ::3], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    grey = np.arange(256, dtype=np.float64)
    hist = np.bincount(below[::3, ::3].ravel(), minlength=256)
    med = _median(hist, grey)
    spread = np.abs(grey - med)  # the median absolute deviation, from the same histogram
    order = np.argsort(spread, kind="stable")
    sigma = 1.4826 * _median(hist[order], spread[order]) + 0.5
    low, high = max(0.6 * otsu, 14.0), max(otsu, 24.0)
    inked = dark[::3, ::3][dark[::3, ::3] > high]
    if inked.size:  # halos of dense, dark print would join lines: a third of the ink's darkness
        low = max(low, 0.3 * float(np.percentile(inked, 90)))
    weak = cv2.bitwise_and(_above(dark, low), _above(below, med + 4 * sigma))
    strong = cv2.bitwise_and(_above(dark, high), _above(below, med + 6 * sigma))
    return bg, low, weak, strong, cv2.bitwise_and(strong, _above(below, med + 8 * sigma))


def _skew(xs: np.ndarray, ys: np.ndarray) -> float:
    """Angle (degrees clockwise) that makes the row profile of the ink points sharpest."""
    def best(angles, step):
        px, py = xs[::step] - xs.mean(), ys[::step].astype(np.float64)
        scores = []
        for a in angles:
            t = math.radians(a)
            v = np.rint(py * math.cos(t) - px * math.sin(t)).astype(np.int64)
            prof = np.bincount(v - v.min()).astype(np.float64)
            scores.append(float(prof @ prof) / (1 + 1e-4 * abs(a)))  # ties go to the smaller angle
        return float(angles[int(np.argmax(scores))])

    coarse = best(np.arange(-MAX_SKEW_DEG, MAX_SKEW_DEG + 1e-9, 0.25), max(1, xs.size // 10_000))
    fine = best(np.arange(coarse - 0.25, coarse + 0.25 + 1e-9, 0.025), max(1, xs.size // 30_000))
    return round(fine, 3)


def _pitch(profile: np.ndarray) -> float | None:
    """Line pitch: the lag of the first autocorrelation peak of the row profile (None if unclear)."""
    p = profile.astype(np.float64) - profile.mean()
    n = p.size
    if n < 16:
        return None
    spectrum = np.fft.rfft(p, 2 * n)
    ac = np.fft.irfft(spectrum * np.conj(spectrum))[:n // 2]
    below = np.flatnonzero(ac < 0)
    if below.size == 0 or ac[0] <= 0:
        return None
    lag = int(below[0]) + int(np.argmax(ac[below[0]:]))
    return float(lag) if ac[lag] > 0.3 * ac[0] else None


def _rows(profile: np.ndarray) -> list[list[int]]:
    """Row spans ``[start, end)`` of the profile, tall ones split at deep valleys."""
    inked = np.concatenate(([0], (profile > 0).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(inked))
    runs = [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])]
    heights = [b - a for a, b in runs if b - a >= 4]
    if not heights:
        return runs
    median = float(np.median(heights))
    pitch = _pitch(profile)
    tall = min(1.6 * median, 1.3 * pitch) if pitch else 1.6 * median  # a line is less tall than the pitch
    median = min(median, tall / 1.6)
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    out, todo = [], runs[::-1]
    while todo:
        a, b = todo.pop()
        if b - a < tall:
            out.append([a, b])
            continue
        lo, hi = a + int(0.4 * median), b - int(0.4 * median)
        cut = lo + int(np.argmin(smooth[lo:hi])) if hi > lo else a
        if hi > lo and smooth[cut] < 0.3 * min(smooth[a:cut].max(), smooth[cut + 1:b].max()):
            todo += [[cut + 1, b], [a, cut + 1]]
        else:
            out.append([a, b])
    return out


def _join_fragments(rows: list[list[int]], profile: np.ndarray) -> list[list[int]]:
    """Attach thin rows (accents, i-dots, commas) to the nearer neighbour if it is close."""
    heights = [b - a for a, b in rows if b - a >= 4]
    if len(rows) < 2 or not heights:
        return rows
    median = float(np.median(heights))
    i = 0
    while i < len(rows) and len(rows) > 1:
        a, b = rows[i]
        if b - a >= 0.45 * median:
            i += 1
            continue
        up = a - rows[i - 1][1] if i > 0 else np.inf
        down = rows[i + 1][0] - b if i + 1 < len(rows) else np.inf
        if min(up, down) <= 0.5 * median:
            j = i - 1 if up <= down else i + 1
            rows[j] = [min(rows[j][0], a), max(rows[j][1], b)]
            del rows[i]
            i = max(i - 1, 0)
        else:
            i += 1
    return rows


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _speck_clusters(idx, row_of, u0, u1, height, area, char_h) -> np.ndarray:
    """Components ``idx`` in small runs along a row, apart from the rest, with no character-sized blob.

    Runs split where the gap exceeds ``3 char_h`` (table cells stay, clumps of specks go).
    """
    out = np.zeros(row_of.size, bool)
    idx = idx[np.lexsort((u0[idx], row_of[idx]))]
    reach = -np.inf
    run: list[int] = []
    for n, j in enumerate(idx):
        run.append(j)
        reach = max(reach, u1[j])
        last = n + 1 == idx.size or row_of[idx[n + 1]] != row_of[j] or u0[idx[n + 1]] > reach + 3 * char_h
        if last:
            if height[run].max() < 0.6 * char_h and area[run].sum() < 0.3 * char_h ** 2:
                out[run] = True
            run, reach = [], -np.inf
    return out


def _assign(v: np.ndarray, vc: np.ndarray):
    """Rows from the deskewed row coordinates ``v`` of the major ink pixels; each component's row.

    Returns the rows, their starts and ends, and per component (deskewed centre ``vc``) its row
    and its distance from it (0 inside); a component between rows goes to the nearer one.
    """
    profile = np.bincount(v - v.min()) if v.size else np.zeros(1, np.int64)
    rows = _join_fragments(_rows(profile), profile) or [[0, 1]]
    starts = np.array([a for a, _ in rows]) + (v.min() if v.size else 0)
    ends = np.array([b for _, b in rows]) + (v.min() if v.size else 0)
    row_of = np.clip(np.searchsorted(starts, vc, side="right") - 1, 0, len(rows) - 1)
    dist = np.maximum(starts[row_of] - vc, vc - (ends[row_of] - 1))
    nxt = np.minimum(row_of + 1, len(rows) - 1)
    dist_next = np.where(nxt > row_of, np.maximum(starts[nxt] - vc, 0), np.inf)
    return rows, starts, ends, np.where(dist_next < dist, nxt, row_of), np.minimum(dist, dist_next)


@dataclasses.dataclass
class _Ink:
    """Connected components of the small copy's weak ink and what the row analysis needs of them.

    Per component (``count``,): ``sized`` (plausible size), ``major`` (letter-sized, strong),
    ``sure`` (holds sure ink), deskewed centre ``uc``/``vc`` and half width ``half``; per major
    ink pixel: its coordinates ``xs``/``ys`` and deskewed row ``v``.
    """

    labels: np.ndarray
    stats: np.ndarray
    sized: np.ndarray
    major: np.ndarray
    sure: np.ndarray
    char_h: float
    skew: float
    xs: np.ndarray
    ys: np.ndarray
    v: np.ndarray
    uc: np.ndarray
    vc: np.ndarray
    half: np.ndarray

    def boxes(self, idx: np.ndarray) -> np.ndarray:
        """Deskewed ``(u0, v0, u1, v1)`` boxes of components ``idx`` (small-copy pixels), (N, 4)."""
        hh = self.stats[idx, cv2.CC_STAT_HEIGHT] / 2
        return np.stack([self.uc[idx] - self.half[idx], self.vc[idx] - hh,
                         self.uc[idx] + self.half[idx], self.vc[idx] + hh], axis=1)


def _components(weak: np.ndarray, strong_px: np.ndarray, sure_px: np.ndarray, skew: float | None):
    """Components of the weak ink mask and the skew: an :class:`_Ink`, or ``(skew, labels)`` if no text."""
    count, labels, stats, cent = cv2.connectedComponentsWithStats(weak, connectivity=8)
    strong = np.bincount(labels[strong_px.view(bool)], minlength=count) > 0
    area, height = stats[:, cv2.CC_STAT_AREA], stats[:, cv2.CC_STAT_HEIGHT]
    sized = (area >= 2) & (height < 0.3 * weak.shape[0])
    sized[0] = False
    keep = strong & sized
    if not keep.any():
        return 0.0, labels
    char_h = _weighted_median(height[keep], area[keep])  # specks are many but small
    major = keep & (height >= max(2.0, 0.4 * char_h)) & (area >= max(3.0, 0.05 * char_h ** 2))
    points = cv2.findNonZero(np.take(major.view(np.uint8), labels))  # (n, 1, 2) of (x, y), row by row
    if points is None:
        return 0.0, labels
    xs, ys = (np.ascontiguousarray(points[:, 0, j]) for j in (0, 1))
    if skew is None:
        skew = _skew(xs, ys)
    c, s = math.cos(math.radians(skew)), math.sin(math.radians(skew))
    v = np.rint(ys * c - xs * s).astype(np.int64)  # deskewed row of every major ink pixel
    vc, uc = cent[:, 1] * c - cent[:, 0] * s, cent[:, 0] * c + cent[:, 1] * s  # component centres, deskewed
    sure = np.bincount(labels[sure_px.view(bool)], minlength=count) > 0
    return _Ink(labels, stats, sized, major, sure, char_h, skew, xs, ys, v, uc, vc, stats[:, cv2.CC_STAT_WIDTH] / 2)


def _lines_of(ink: _Ink, sel: np.ndarray):
    """Rows of the components selected by ``sel`` (bool, per component) grouped into lines.

    Returns the line of every component (0: none, else 1-based, (count,) int32) and the
    lines' first and last deskewed rows, (lines, 2).
    """
    count = sel.size
    none = np.zeros(count, np.int32), np.zeros((0, 2))
    labels, stats, char_h, vc, uc, half = ink.labels, ink.stats, ink.char_h, ink.vc, ink.uc, ink.half
    area, height = stats[:, cv2.CC_STAT_AREA], stats[:, cv2.CC_STAT_HEIGHT]
    major, sized = ink.major & sel, ink.sized & sel
    if not major.any():
        return none
    rows, starts, ends, row_of, dist = _assign(ink.v[major[labels[ink.ys, ink.xs]]], vc)
    # Clumps of specks apart from the text may have made rows (or widened them): drop them, redo.
    specks = _speck_clusters(np.flatnonzero(major), row_of, uc - half, uc + half, height, area, char_h)
    if specks.any():
        major &= ~specks
        if not major.any():
            return none
        rows, starts, ends, row_of, dist = _assign(ink.v[major[labels[ink.ys, ink.xs]]], vc)
    lo, hi = np.full(len(rows), np.inf), np.full(len(rows), -np.inf)
    np.minimum.at(lo, row_of[major], (uc - half)[major])
    np.maximum.at(hi, row_of[major], (uc + half)[major])
    # Faint letter-sized blobs inside a row (a light font in low contrast) are letters of it.
    faint = sized & ~major & (dist <= 0) & (height >= 0.4 * char_h) & (area >= max(3.0, 0.05 * char_h ** 2))
    np.minimum.at(lo, row_of[faint], (uc - half)[faint])
    np.maximum.at(hi, row_of[faint], (uc + half)[faint])
    major |= faint
    # Dots, commas, specks: inside the row, or a period or comma just after its last character.
    inside = (uc >= lo[row_of]) & (uc <= hi[row_of])
    low_half = vc >= (starts[row_of] + ends[row_of]) / 2
    trailing = (uc > hi[row_of]) & (uc <= hi[row_of] + 0.7 * char_h) & low_half
    member = ((dist <= 0.5 * char_h) & major) | ((dist <= 0) & sized & (inside | trailing))
    line_of = np.where(member, row_of + 1, 0).astype(np.int32)  # 0 = no line
    # A row needs a character-sized component and some ink; rows of dots or specks are noise.
    n = len(rows) + 1
    top_h, ink_area = np.zeros(n), np.zeros(n)
    np.maximum.at(top_h, line_of, np.where(member, height, 0))
    np.add.at(ink_area, line_of, np.where(member, area, 0))
    inked = np.bincount(line_of[member & ink.sure], minlength=n)
    real = (top_h >= max(2.0, 0.5 * char_h)) & (ink_area >= max(4.0, 0.2 * char_h ** 2)) & (inked > 0)  # e.g. "it."
    real[0] = False
    renumber = np.where(real, np.cumsum(real), 0).astype(np.int32)
    spans = np.stack([starts, ends - 1], axis=1)[real[1:]]  # (lines, 2): first and last row, deskewed
    return renumber[line_of], spans


def _groups_of(ink: _Ink, split) -> tuple[list[np.ndarray], list[str]]:
    """Components per group (bool masks) and group kinds from ``split`` over the major components.

    Other components go to the group whose box (of its major components) holds their centre,
    or else to the nearest one.
    """
    count = ink.major.size
    if split is None:
        return [np.ones(count, bool)], ["text"]
    idx = np.flatnonzero(ink.major)
    groups = [(np.asarray(g, np.int64), kind) for g, kind in split(ink.boxes(idx), ink.char_h) if len(g)]
    owner = np.full(count, -1, np.int64)
    extents = []
    for k, (g, _) in enumerate(groups):
        owner[idx[g]] = k
        b = ink.boxes(idx[g])
        extents.append((b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()))
    rest = np.flatnonzero(ink.sized & (owner < 0))
    if rest.size and extents:
        ext = np.array(extents)  # (G, 4)
        du = np.maximum(np.maximum(ext[None, :, 0] - ink.uc[rest, None], ink.uc[rest, None] - ext[None, :, 2]), 0)
        dv = np.maximum(np.maximum(ext[None, :, 1] - ink.vc[rest, None], ink.vc[rest, None] - ext[None, :, 3]), 0)
        owner[rest] = np.argmin(du ** 2 + dv ** 2, axis=1)  # (R,): 0 distance inside a box
    return [owner == k for k in range(len(groups))], [kind for _, kind in groups]


def _extents(stats: np.ndarray, line_of: np.ndarray, n: int, c: float, s: float) -> np.ndarray:
    """Per line ``(u0, v0, u1, v1)`` (inclusive) of its components' corners in the deskewed frame."""
    x, y = stats[:, 0].astype(np.float64), stats[:, 1].astype(np.float64)
    x1, y1 = x + stats[:, 2] - 1, y + stats[:, 3] - 1
    us = np.stack([x * c + y * s, x1 * c + y * s, x * c + y1 * s, x1 * c + y1 * s])
    vs = np.stack([y * c - x * s, y * c - x1 * s, y1 * c - x * s, y1 * c - x1 * s])
    ext = np.tile([np.inf, np.inf, -np.inf, -np.inf], (n + 1, 1))
    np.minimum.at(ext[:, 0], line_of, us.min(0))
    np.minimum.at(ext[:, 1], line_of, vs.min(0))
    np.maximum.at(ext[:, 2], line_of, us.max(0))
    np.maximum.at(ext[:, 3], line_of, vs.max(0))
    return ext[1:]


def _refine(page, bg, line_map, ext, f, low, c, s) -> np.ndarray:
    """Full-resolution ink bounds and baseline ``(u0, v0, u1, v1, base)`` (inclusive, deskewed frame), (N, 5).

    Each line's band is cut upright from the page; the small-copy maps (background, line
    owner) are cut at ``1/f`` of its size, band pixel ``j`` lying in small band pixel ``j // f``.
    """
    out = []
    m, k = f + 2, _odd(f)
    cross = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    for i, (u0, v0, u1, v1) in enumerate(ext, start=1):
        ub, vb = int(math.floor(u0 * f)) - m, int(math.floor(v0 * f)) - m
        ws, hs = -(-(int(math.ceil((u1 + 1) * f)) + m - ub) // f), -(-(int(math.ceil((v1 + 1) * f)) + m - vb) // f)
        w, h = ws * f, hs * f
        to_page = np.array([[c, -s, ub * c - vb * s], [s, c, ub * s + vb * c]])
        to_small = to_page.copy()  # small band pixel -> small page pixel
        to_small[:, 2] = (to_page[:, :2].sum(1) * (0.5 * f - 0.5) + to_page[:, 2] + 0.5) / f - 0.5
        mid = to_small.copy()  # the paper along the band's middle row serves the whole band
        mid[:, 2] += to_small[:, 1] * (hs // 2)
        flags = cv2.WARP_INVERSE_MAP
        band = cv2.warpAffine(page, to_page, (w, h), flags=cv2.INTER_LINEAR | flags, borderMode=cv2.BORDER_REPLICATE)
        paper = cv2.warpAffine(bg, mid, (ws, 1), flags=cv2.INTER_LINEAR | flags, borderMode=cv2.BORDER_REPLICATE)
        owner = cv2.warpAffine(line_map, to_small, (ws, hs), flags=cv2.INTER_NEAREST | flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        own_s = (owner == i).astype(np.uint8)
        mine_s = cv2.dilate(own_s, cross) & ((owner == 0) | (owner == i)).astype(np.uint8)
        own, mine = (cv2.resize(a, (w, h), interpolation=cv2.INTER_NEAREST) for a in (own_s, mine_s))
        dark = 255 - cv2.divide(cv2.blur(band, (k, k)), cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR),
                                scale=255)
        level = float(cv2.minMaxLoc(dark, own)[1]) if own_s.any() else 255.0
        ink = cv2.bitwise_and(_above(dark, max(low, 0.3 * level)), mine)  # edges as the clean ink
        x0, y0, iw, ih = cv2.boundingRect(ink)
        if iw == 0:
            out.append((ub + m, vb + m, ub + w - m - 1, vb + h - m - 1, vb + h - m - 1))
            continue
        x1, y1 = x0 + iw - 1, y0 + ih - 1
        profile = ink[y0:y1 + 1, x0:x1 + 1].sum(axis=1, dtype=np.int32)
        smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
        base = y0 + int(np.flatnonzero(smooth >= 0.4 * smooth.max())[-1])
        out.append((ub + x0, vb + y0, ub + x1, vb + y1, vb + base))
    return np.array(out, dtype=np.int64).reshape(-1, 5)


def _descend(bounds: np.ndarray) -> np.ndarray:
    """Extend lines without descenders down to where the page's descenders reach.

    The frame of a line spans ascender top to descender bottom even where the text has no
    descender (the ground truth's convention). Lines that do have one give the page's ratio of
    descender depth to ascender height (one font a page); the others are extended by it.
    """
    top, bottom, base = bounds[:, 1], bounds[:, 3], bounds[:, 4]
    ascent = np.maximum(base - top, 1).astype(np.float64)
    ratio = (bottom - base) / ascent
    deep = ratio > 0.15
    typical = float(np.median(ratio[deep])) if deep.sum() >= 3 else 0.3
    out = bounds.copy()
    out[:, 3] = np.maximum(bottom, np.rint(base + typical * ascent)).astype(np.int64)
    return out


def segment_regions(page: np.ndarray, split=None, skew: float | None = None) -> tuple[float, list[tuple[str, list[Line]]]]:
    """Find the text lines of a grayscale page, region by region.

    Parameters
    ----------
    page : numpy.ndarray
        2-D ``uint8`` grayscale image ``(H, W)``, dark text on light paper.
    split : callable, optional
        ``split(boxes, char_h)`` cuts the page into regions: ``boxes`` are the deskewed
        ``(u0, v0, u1, v1)`` boxes of the letter-sized ink components on the working copy,
        (N, 4) float, ``char_h`` their typical height in the same pixels; it returns
        ``(indices, kind)`` pairs in reading order, each index array naming the boxes of one
        region. Rows are then found in each region on its own, so no line crosses from one
        region into another. ``None``: the whole page is one region (:func:`segment_page`).
    skew : float, optional
        Known skew in degrees clockwise; estimated (within ``±MAX_SKEW_DEG``) if ``None``.

    Returns
    -------
    (float, list of (str, list of Line))
        The skew, and per region that holds a line: its kind and its lines top to bottom.

    Raises
    ------
    ValueError
        If ``page`` is not a 2-D ``uint8`` array.
    """
    page = np.asarray(page)
    if page.ndim != 2 or page.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 page, got shape {page.shape} dtype {page.dtype}")
    if min(page.shape) < 8:
        return 0.0, []
    height, width = page.shape
    f = -(-max(height, width) // WORK_SIZE)  # an integer factor; small pixel j covers page pixels [f j, f j + f)
    if _noise(page) > NOISY:
        page = cv2.medianBlur(page, 3)  # specks of up to 2x2 pixels go, strokes stay
        f = max(f, 2)  # and the small copy averages at least 2x2 pixels
    small = np.ascontiguousarray(cv2.blur(page, (f, f))[f // 2::f, f // 2::f][:height // f, :width // f])
    bg, low, weak, strong, sure = _ink_maps(small)
    ink = _components(weak, strong, sure, skew)
    if not isinstance(ink, _Ink):
        return float(ink[0]), []
    skew = ink.skew
    line_of, spans, group_of = np.zeros(ink.major.size, np.int32), [], []
    masks, kinds = _groups_of(ink, split)
    for k, sel in enumerate(masks):
        lines_k, spans_k = _lines_of(ink, sel)
        line_of = np.where(lines_k > 0, lines_k + len(group_of), line_of).astype(np.int32)
        spans.append(spans_k)
        group_of += [k] * len(spans_k)
    n = len(group_of)
    if n == 0:
        return float(skew), []
    spans = np.concatenate(spans)
    c, s = math.cos(math.radians(skew)), math.sin(math.radians(skew))
    ext = _extents(ink.stats, line_of, n, c, s)
    # A blob shared with the next line (a descender touching an ascender) stays in its row.
    ext[:, 1] = np.maximum(ext[:, 1], spans[:, 0] - 0.5)
    ext[:, 3] = np.minimum(ext[:, 3], spans[:, 1] + 0.5)
    line_map = np.take(line_of.astype(np.uint16), ink.labels)
    found: list[list[tuple[int, Line]]] = [[] for _ in masks]
    for k, (u0, v0, u1, v1, _) in zip(group_of, _descend(_refine(page, bg, line_map, ext, f, low, c, s)).tolist()):
        x0, y0 = u0 - PAD, v0 - PAD
        w, h = u1 - u0 + 1 + 2 * PAD, v1 - v0 + 1 + 2 * PAD
        corner = (x0 * c - y0 * s, x0 * s + y0 * c)
        rect = (int(round(corner[0])), int(round(corner[1])), w, h, float(skew))
        xs = [rect[0] + dx * c - dy * s for dx, dy in ((0, 0), (w, 0), (0, h), (w, h))]
        ys = [rect[1] + dx * s + dy * c for dx, dy in ((0, 0), (w, 0), (0, h), (w, h))]
        bx0, by0 = max(int(math.floor(min(xs))), 0), max(int(math.floor(min(ys))), 0)
        bx1, by1 = min(int(math.ceil(max(xs))), width), min(int(math.ceil(max(ys))), height)
        if bx1 > bx0 and by1 > by0:
            found[k].append((v0, Line((bx0, by0, bx1 - bx0, by1 - by0), rect)))
    regions = []
    for kind, lines in zip(kinds, found):
        if lines:
            lines.sort(key=lambda t: t[0])
            regions.append((kind, [line for _, line in lines]))
    logger.debug("found %d lines in %d regions, skew %.2f deg", n, len(regions), skew)
    return float(skew), regions


def segment_page(page: np.ndarray, skew: float | None = None) -> Layout:
    """Find the text lines of a grayscale page.

    Parameters
    ----------
    page : numpy.ndarray
        2-D ``uint8`` grayscale image ``(H, W)``, dark text on light paper.
    skew : float, optional
        Known skew in degrees clockwise; estimated (within ``±MAX_SKEW_DEG``) if ``None``.

    Returns
    -------
    Layout
        The skew and the lines in reading order (top to bottom). Each line frames its ink,
        from ascender top to descender bottom, plus :data:`PAD` pixels in the deskewed
        frame. No lines for a blank page. Rows run across the whole page: pages with
        columns are cut into blocks first by :func:`linerec.vision.layout.analyze_page`.

    Raises
    ------
    ValueError
        If ``page`` is not a 2-D ``uint8`` array.
    """
    skew, regions = segment_regions(page, None, skew)
    return Layout(skew, [line for _, lines in regions for line in lines])


def find_lines(page: np.ndarray) -> list[Box]:
    """Axis-aligned page boxes ``(x, y, w, h)`` of the text lines, in reading order.

    Parameters
    ----------
    page : numpy.ndarray
        2-D ``uint8`` grayscale image ``(H, W)``, dark text on light paper.

    Returns
    -------
    list of tuple of int
        :attr:`Line.bbox` of every line of :func:`segment_page`; empty for a blank page.
    """
    return [line.bbox for line in segment_page(page).lines]
