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
from typing import NamedTuple

import cv2
import numpy as np

from linerec.vision.crop import crop_line
from linerec.vision.geometry import Box, Rect

logger = logging.getLogger(__name__)

PAD = 3  # pixels added around the ink of every line, in the deskewed frame
MAX_SKEW_DEG = 3.5  # degrees: the skew estimate searches -MAX_SKEW_DEG..+MAX_SKEW_DEG
NOISY = 7.0  # pixel noise (grey levels) above which a page is median-filtered first
WORK_SIZE = 1400  # most pixels of the long side of the copy on which skew and rows are found

# Sizes and ratios of the steps below. Unless said otherwise, pixels are those of the small
# (working) copy, "char_h" is the typical character height and "median row" the median row
# height, both in those pixels.

# Page noise and the working copy
_MIN_SIDE = 8  # page pixels: a page with a shorter side has no lines
_NOISE_ROW_STEP = 8  # rows: the noise is estimated on every 8th row of the page
_MEDIAN_DIFF_SIGMAS = 0.954  # median |difference| of two neighbours of Gaussian noise, in noise sigmas
_NOISY_MIN_FACTOR = 2  # downscaling factor at least used on a noisy page (the copy averages 2x2 pixels)
_PAIR = 2  # the usual downscaling factor (pages up to 2 * WORK_SIZE pixels): 2x2 block means computed directly
_PAIR_ROUND, _PAIR_SHIFT = 3, 2  # cv2.blur's fixed-point rounding of a 2x2 mean: (sum + 3) >> 2

# Ink maps (relative darkness 255 * (1 - page / background), grey levels below the paper)
_BACKGROUND_DIVISOR = 40  # background closing kernel side: the copy's short side / 40 ...
_BACKGROUND_EXTRA = 5  # ... + 5 pixels (made odd)
_STATS_STEP = 3  # thresholds are measured on every 3rd row and column of the copy
_MAD_SIGMAS = 1.4826  # noise sigmas per median absolute deviation (of a normal distribution)
_SIGMA_FLOOR = 0.5  # grey levels added to the measured noise sigma
_WEAK_OTSU = 0.6  # weak ink: darker than this share of the Otsu level of the darkness ...
_WEAK_MIN_DARKNESS = 14.0  # ... and than this darkness (grey levels)
_STRONG_MIN_DARKNESS = 24.0  # strong ink: darker than the Otsu level and than this darkness (grey levels)
_INK_PERCENTILE = 90  # percentile of the strong ink's darkness taken as the ink's darkness
_HALO_SHARE = 0.3  # weak ink: darker than this share of the ink's darkness (halos of dark print stay out)
_WEAK_SIGMAS = 4  # weak ink: this many noise sigmas below the paper's median
_STRONG_SIGMAS = 6  # strong ink: as many
_SURE_SIGMAS = 8  # sure ink (strong and far from the noise): as many

# Skew
_SKEW_COARSE_STEP = 0.25  # degrees between the angles tried over the whole range
_SKEW_FINE_STEP = 0.025  # degrees between the angles tried within one coarse step of the best one
_SKEW_COARSE_POINTS = 10_000  # about this many ink points are scored per coarse angle (every n-th point)
_SKEW_FINE_POINTS = 30_000  # about this many per fine angle
_SKEW_TIE_PENALTY = 1e-4  # per degree: scores are divided by 1 + this * |angle|, so ties go to the smaller angle
_SKEW_DECIMALS = 3  # decimals of the returned skew (degrees)

# Rows of the deskewed ink profile
_PITCH_MIN_ROWS = 16  # rows: a shorter profile has no line pitch
_PITCH_PEAK = 0.3  # the pitch's autocorrelation peak reaches at least this share of the zero-lag value
_MIN_ROW = 4  # rows: shorter runs of ink do not count in the median row height
_TALL_ROWS = 1.6  # median rows: a taller row is split at a deep valley ...
_TALL_PITCH = 1.3  # ... as is one taller than this many line pitches
_CUT_MARGIN = 0.4  # median rows: a cut stays this far inside the row
_VALLEY_DEPTH = 0.3  # a cut's smoothed ink is below this share of the lower of the peaks beside it
_SMOOTH = 3  # rows (or pixels) of the moving average smoothing an ink profile
_FRAGMENT_HEIGHT = 0.45  # median rows: a thinner row (accents, i-dots, commas) is a fragment ...
_FRAGMENT_REACH = 0.5  # ... joined to the nearer neighbouring row when that is at most this far

# Components
_MIN_AREA = 2  # pixels: smaller components are noise
_MAX_HEIGHT = 0.3  # share of the copy's height: taller components are not text (rules, frames)
_LETTER_HEIGHT = 0.4  # char_h: letter-sized components are at least this tall ...
_LETTER_MIN_HEIGHT = 2.0  # ... and this many pixels
_LETTER_AREA = 0.05  # char_h squared: ... and have at least this much area ...
_LETTER_MIN_AREA = 3.0  # ... and this many pixels
_SPECK_GAP = 3  # char_h: a wider gap along a row ends a run of components
_SPECK_HEIGHT = 0.6  # char_h: a run of specks has no component this tall ...
_SPECK_AREA = 0.3  # char_h squared: ... and less area than this in all

# Lines
_MEMBER_REACH = 0.5  # char_h: letter-sized components at most this far from a row belong to it
_TRAILING_REACH = 0.7  # char_h: a dot or comma at most this far after a row's last letter belongs to it
_LINE_HEIGHT = 0.5  # char_h: a line holds a component at least this tall ...
_LINE_MIN_HEIGHT = 2.0  # ... and this many pixels
_LINE_AREA = 0.2  # char_h squared: ... and at least this much ink ...
_LINE_MIN_AREA = 4.0  # ... and this many pixels
_ROW_OVERHANG = 0.5  # rows: a line's extent ends this far outside its row (shared blobs stay in their row)

# Full-resolution refinement (page pixels)
_BAND_MARGIN = 2  # pixels cut around a line's extent besides one scale factor
_REFINE_DARKNESS = 0.3  # ink: darker than this share of the line's darkest pixel (and than the weak level)
_BASELINE_SHARE = 0.4  # the baseline: the lowest row whose smoothed ink reaches this share of the fullest row
_DESCENDER = 0.15  # a line has a descender when its depth below the baseline exceeds this share of its ascent
_MIN_DESCENDERS = 3  # lines with a descender needed to measure the page's descender ratio
_DEFAULT_DESCENDER = 0.3  # descender depth per ascent used when fewer lines have one


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


def _odd(value: float) -> int:
    """``value`` rounded to an odd integer of at least 1 (a kernel side)."""
    return max(1, int(round(value)) | 1)


def _noise(page: np.ndarray) -> float:
    """Robust estimate of the pixel noise (grey levels) from neighbour differences on every 8th row."""
    rows = page[::_NOISE_ROW_STEP]
    diff = cv2.absdiff(rows[:, 1:], rows[:, :-1])
    counts = np.cumsum(cv2.calcHist([diff], [0], None, [256], [0, 256]).ravel())
    return float(np.searchsorted(counts, counts[-1] / 2)) / _MEDIAN_DIFF_SIGMAS


def _median(counts: np.ndarray, values: np.ndarray) -> float:
    """``numpy.median`` of a sample given as ``counts`` of each of the sorted ``values``.

    Unlike :func:`_weighted_median` it averages the two middle values of an even count, as
    ``numpy.median`` does, so the noise level is the one the thresholds were tuned on.
    """
    cum = np.cumsum(counts)
    total = int(cum[-1])

    def kth(k: int) -> float:  # the k-th smallest, from 0
        return float(values[np.searchsorted(cum, k, side="right")])

    return kth(total // 2) if total % 2 else (kth(total // 2 - 1) + kth(total // 2)) / 2


def _above(image: np.ndarray, level: float) -> np.ndarray:
    """``image > level`` for a ``uint8`` array, as 0/1 ``uint8`` (a bool array's bytes)."""
    return cv2.threshold(image, level, 1, cv2.THRESH_BINARY)[1]


class _InkMaps(NamedTuple):
    """What :func:`_ink_maps` finds on the small copy; the masks are 0/1 ``uint8``, (h, w)."""

    background: np.ndarray  # the paper's grey level under every pixel, uint8 >= 1
    low: float  # the weak ink's darkness threshold (grey levels)
    weak: np.ndarray  # weak ink
    strong: np.ndarray  # strong ink
    sure: np.ndarray  # strong ink well clear of the noise


def _ink_maps(small: np.ndarray) -> _InkMaps:
    """Background, the relative ink threshold, and weak / strong / sure ink masks of the small copy.

    A pixel is ink when it is dark relative to its background (``255 * (1 - page / background)``
    above an Otsu-based level, so shadows do not matter) and, in grey levels below the paper,
    clear of the noise (median + 4, 6, 8 MAD-sigmas: noise does not fade in a shadow as ink does).
    """
    side = _odd(min(small.shape) / _BACKGROUND_DIVISOR + _BACKGROUND_EXTRA)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    background = cv2.blur(cv2.morphologyEx(cv2.medianBlur(small, 3), cv2.MORPH_CLOSE, kernel), (side, side))
    background = np.maximum(background, 1)
    smooth = cv2.GaussianBlur(small, (3, 3), 0)
    dark, below = 255 - cv2.divide(smooth, background, scale=255), cv2.subtract(background, smooth)
    dark_sample: np.ndarray = dark[::_STATS_STEP, ::_STATS_STEP]
    otsu, _ = cv2.threshold(dark_sample, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    grey = np.arange(256, dtype=np.float64)
    hist = np.bincount(below[::_STATS_STEP, ::_STATS_STEP].ravel(), minlength=256)
    paper = _median(hist, grey)  # grey levels below the paper: its median is the paper itself
    spread = np.abs(grey - paper)  # the median absolute deviation, from the same histogram
    order = np.argsort(spread, kind="stable")
    sigma = _MAD_SIGMAS * _median(hist[order], spread[order]) + _SIGMA_FLOOR
    low, high = max(_WEAK_OTSU * otsu, _WEAK_MIN_DARKNESS), max(otsu, _STRONG_MIN_DARKNESS)
    inked = dark_sample[dark_sample > high]
    if inked.size:  # halos of dense, dark print would join lines: a third of the ink's darkness
        low = max(low, _HALO_SHARE * float(np.percentile(inked, _INK_PERCENTILE)))
    weak = cv2.bitwise_and(_above(dark, low), _above(below, paper + _WEAK_SIGMAS * sigma))
    strong = cv2.bitwise_and(_above(dark, high), _above(below, paper + _STRONG_SIGMAS * sigma))
    sure = cv2.bitwise_and(strong, _above(below, paper + _SURE_SIGMAS * sigma))
    return _InkMaps(background, low, weak, strong, sure)


def _skew(xs: np.ndarray, ys: np.ndarray) -> float:
    """Angle (degrees clockwise) that makes the row profile of the ink points sharpest."""

    def best(angles, step):
        px, py = xs[::step] - xs.mean(), ys[::step].astype(np.float64)
        scores = []
        for angle in angles:
            theta = math.radians(angle)
            rows = np.rint(py * math.cos(theta) - px * math.sin(theta)).astype(np.int64)
            profile = np.bincount(rows - rows.min()).astype(np.float64)
            scores.append(float(profile @ profile) / (1 + _SKEW_TIE_PENALTY * abs(angle)))
        return float(angles[int(np.argmax(scores))])

    coarse = best(
        np.arange(-MAX_SKEW_DEG, MAX_SKEW_DEG + 1e-9, _SKEW_COARSE_STEP), max(1, xs.size // _SKEW_COARSE_POINTS)
    )
    fine = best(
        np.arange(coarse - _SKEW_COARSE_STEP, coarse + _SKEW_COARSE_STEP + 1e-9, _SKEW_FINE_STEP),
        max(1, xs.size // _SKEW_FINE_POINTS),
    )
    return round(fine, _SKEW_DECIMALS)


def _pitch(profile: np.ndarray) -> float | None:
    """Line pitch: the lag of the first autocorrelation peak of the row profile (None if unclear)."""
    centred = profile.astype(np.float64) - profile.mean()
    size = centred.size
    if size < _PITCH_MIN_ROWS:
        return None
    spectrum = np.fft.rfft(centred, 2 * size)
    autocorr = np.fft.irfft(spectrum * np.conj(spectrum))[: size // 2]
    negative = np.flatnonzero(autocorr < 0)
    if negative.size == 0 or autocorr[0] <= 0:
        return None
    lag = int(negative[0]) + int(np.argmax(autocorr[negative[0] :]))
    return float(lag) if autocorr[lag] > _PITCH_PEAK * autocorr[0] else None


class _Span(NamedTuple):
    """Rows ``[start, end)`` of a row profile."""

    start: int
    end: int


def _rows(profile: np.ndarray) -> list[_Span]:
    """Row spans of the profile, tall ones split at deep valleys."""
    inked = np.concatenate(([0], (profile > 0).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(inked))
    runs = [_Span(int(start), int(end)) for start, end in zip(edges[::2], edges[1::2])]
    heights = [end - start for start, end in runs if end - start >= _MIN_ROW]
    if not heights:
        return runs
    median = float(np.median(heights))
    pitch = _pitch(profile)
    # A line is less tall than the pitch.
    tall = min(_TALL_ROWS * median, _TALL_PITCH * pitch) if pitch else _TALL_ROWS * median
    median = min(median, tall / _TALL_ROWS)
    smooth = np.convolve(profile, np.ones(_SMOOTH) / _SMOOTH, mode="same")
    out, todo = [], runs[::-1]
    while todo:
        start, end = todo.pop()
        if end - start < tall:
            out.append(_Span(start, end))
            continue
        lo, hi = start + int(_CUT_MARGIN * median), end - int(_CUT_MARGIN * median)
        cut = lo + int(np.argmin(smooth[lo:hi])) if hi > lo else start
        if hi > lo and smooth[cut] < _VALLEY_DEPTH * min(smooth[start:cut].max(), smooth[cut + 1 : end].max()):
            todo += [_Span(cut + 1, end), _Span(start, cut + 1)]
        else:
            out.append(_Span(start, end))
    return out


def _join_fragments(rows: list[_Span]) -> list[_Span]:
    """Attach thin rows (accents, i-dots, commas) to the nearer neighbour if it is close."""
    heights = [end - start for start, end in rows if end - start >= _MIN_ROW]
    if len(rows) < 2 or not heights:
        return rows
    median = float(np.median(heights))
    i = 0
    while i < len(rows) and len(rows) > 1:
        start, end = rows[i]
        if end - start >= _FRAGMENT_HEIGHT * median:
            i += 1
            continue
        up = start - rows[i - 1].end if i > 0 else np.inf
        down = rows[i + 1].start - end if i + 1 < len(rows) else np.inf
        if min(up, down) <= _FRAGMENT_REACH * median:
            j = i - 1 if up <= down else i + 1
            rows[j] = _Span(min(rows[j].start, start), max(rows[j].end, end))
            del rows[i]
            i = max(i - 1, 0)
        else:
            i += 1
    return rows


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half the total weight lies."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _speck_clusters(
    idx: np.ndarray,
    row_of: np.ndarray,
    u0: np.ndarray,
    u1: np.ndarray,
    height: np.ndarray,
    area: np.ndarray,
    char_h: float,
) -> np.ndarray:
    """Components ``idx`` in small runs along a row, apart from the rest, with no character-sized blob.

    Runs split where the gap exceeds ``3 char_h`` (table cells stay, clumps of specks go).
    Returns a bool mask over all components.
    """
    out = np.zeros(row_of.size, bool)
    if not idx.size:
        return out
    idx = idx[np.lexsort((u0[idx], row_of[idx]))]  # row by row, left to right
    rows, lefts, rights = row_of[idx], u0[idx], u1[idx]
    # The reach of a run (its rightmost end so far) is that of its row so far: a run only ends before
    # a component that starts, and so ends, right of everything before it.
    reach = np.empty(idx.size)
    row_starts = [0, *(np.flatnonzero(rows[1:] != rows[:-1]) + 1).tolist(), idx.size]
    for first, stop in zip(row_starts[:-1], row_starts[1:]):
        reach[first:stop] = np.maximum.accumulate(rights[first:stop])
    ends = (rows[1:] != rows[:-1]) | (lefts[1:] > reach[:-1] + _SPECK_GAP * char_h)  # (n - 1,) a run ends here
    starts = np.concatenate(([0], np.flatnonzero(ends) + 1))  # (runs,) first position of every run
    tallest = np.maximum.reduceat(height[idx], starts)
    ink = np.add.reduceat(area[idx], starts)
    specks = (tallest < _SPECK_HEIGHT * char_h) & (ink < _SPECK_AREA * char_h**2)
    out[idx[np.repeat(specks, np.diff(np.append(starts, idx.size)))]] = True
    return out


class _RowFit(NamedTuple):
    """Rows of the deskewed ink and the row of every component (:func:`_assign`)."""

    spans: list[_Span]  # the rows, as offsets into the profile
    starts: np.ndarray  # (rows,) first deskewed row of each row
    ends: np.ndarray  # (rows,) deskewed row just below each row
    row_of: np.ndarray  # (count,) the row of every component
    dist: np.ndarray  # (count,) the component centre's distance from its row (rows; 0 or less inside)


def _assign(v: np.ndarray, vc: np.ndarray) -> _RowFit:
    """Rows from the deskewed row coordinates ``v`` of the major ink pixels; each component's row.

    Per component (deskewed centre ``vc``) its row and its distance from it; a component
    between rows goes to the nearer one.
    """
    profile = np.bincount(v - v.min()) if v.size else np.zeros(1, np.int64)
    spans = _join_fragments(_rows(profile)) or [_Span(0, 1)]
    starts = np.array([span.start for span in spans]) + (v.min() if v.size else 0)
    ends = np.array([span.end for span in spans]) + (v.min() if v.size else 0)
    last = len(spans) - 1
    row_of = np.clip(np.searchsorted(starts, vc, side="right") - 1, 0, last)
    dist = np.maximum(starts[row_of] - vc, vc - (ends[row_of] - 1))
    below = np.minimum(row_of + 1, last)  # the next row down
    dist_below = np.where(below > row_of, np.maximum(starts[below] - vc, 0), np.inf)
    return _RowFit(spans, starts, ends, np.where(dist_below < dist, below, row_of), np.minimum(dist, dist_below))


@dataclasses.dataclass
class _Ink:
    """Connected components of the small copy's weak ink and what the row analysis needs of them.

    Per component (``count``,): ``sized`` (plausible size), ``major`` (letter-sized, strong),
    ``sure`` (holds sure ink), deskewed centre ``uc``/``vc`` and half width ``half``; per weak
    ink pixel, row by row: its coordinates ``ink_xs``/``ink_ys`` and component ``ink_label`` (the
    labels there: every other pixel has label 0); per major ink pixel: its coordinates
    ``xs``/``ys``, component ``label`` and deskewed row ``v``.
    """

    ink_xs: np.ndarray
    ink_ys: np.ndarray
    ink_label: np.ndarray
    stats: np.ndarray
    sized: np.ndarray
    major: np.ndarray
    sure: np.ndarray
    char_h: float
    skew: float
    xs: np.ndarray
    ys: np.ndarray
    label: np.ndarray
    v: np.ndarray
    uc: np.ndarray
    vc: np.ndarray
    half: np.ndarray

    def boxes(self, idx: np.ndarray) -> np.ndarray:
        """Deskewed ``(u0, v0, u1, v1)`` boxes of components ``idx`` (small-copy pixels), (N, 4)."""
        hh = self.stats[idx, cv2.CC_STAT_HEIGHT] / 2
        return np.stack(
            [self.uc[idx] - self.half[idx], self.vc[idx] - hh, self.uc[idx] + self.half[idx], self.vc[idx] + hh], axis=1
        )


def _components(weak: np.ndarray, strong_px: np.ndarray, sure_px: np.ndarray, skew: float | None) -> _Ink | None:
    """Components of the weak ink mask and the skew (estimated if ``None``); ``None`` if no text."""
    count, found_labels, stats, centroids = cv2.connectedComponentsWithStats(weak, connectivity=8)
    labels: np.ndarray = found_labels  # (h, w) int32: the component of every pixel, 0 for none
    # Only the (few) weak ink pixels carry a label: look at those rather than at the whole image.
    points = cv2.findNonZero(weak)  # (n, 1, 2) of (x, y), row by row; None for no ink
    if points is None:
        return None
    ink_xs, ink_ys = (np.ascontiguousarray(points[:, 0, axis]) for axis in (0, 1))
    flat = ink_ys.astype(np.intp) * weak.shape[1] + ink_xs  # (n,) the pixels' indices in the flattened image
    ink_label = labels.ravel().take(flat)
    strong = np.bincount(ink_label[strong_px.ravel().take(flat).view(bool)], minlength=count) > 0
    area, height = stats[:, cv2.CC_STAT_AREA], stats[:, cv2.CC_STAT_HEIGHT]
    sized = (area >= _MIN_AREA) & (height < _MAX_HEIGHT * weak.shape[0])
    sized[0] = False  # the background
    keep = strong & sized
    if not keep.any():
        return None
    char_h = _weighted_median(height[keep], area[keep])  # specks are many but small
    major = (
        keep
        & (height >= max(_LETTER_MIN_HEIGHT, _LETTER_HEIGHT * char_h))
        & (area >= max(_LETTER_MIN_AREA, _LETTER_AREA * char_h**2))
    )
    on_major = major[ink_label]
    if not on_major.any():
        return None
    xs, ys, label = ink_xs[on_major], ink_ys[on_major], ink_label[on_major]
    if skew is None:
        skew = _skew(xs, ys)
    cos_t, sin_t = math.cos(math.radians(skew)), math.sin(math.radians(skew))
    v = np.rint(ys * cos_t - xs * sin_t).astype(np.int64)  # deskewed row of every major ink pixel
    # Component centres, deskewed.
    vc = centroids[:, 1] * cos_t - centroids[:, 0] * sin_t
    uc = centroids[:, 0] * cos_t + centroids[:, 1] * sin_t
    sure = np.bincount(ink_label[sure_px.ravel().take(flat).view(bool)], minlength=count) > 0
    sure[0] = cv2.countNonZero(cv2.subtract(sure_px, weak)) > 0  # sure ink outside the weak ink: label 0
    half = stats[:, cv2.CC_STAT_WIDTH] / 2
    return _Ink(ink_xs, ink_ys, ink_label, stats, sized, major, sure, char_h, skew, xs, ys, label, v, uc, vc, half)


class _LineSet(NamedTuple):
    """Lines of a set of components (:func:`_lines_of`)."""

    line_of: np.ndarray  # (count,) int32: the line of every component, 0 for none, else 1-based
    spans: np.ndarray  # (lines, 2): the first and last deskewed row of every line


def _lines_of(ink: _Ink, sel: np.ndarray) -> _LineSet:
    """Rows of the components selected by ``sel`` (bool, per component) grouped into lines."""
    count = sel.size
    none = _LineSet(np.zeros(count, np.int32), np.zeros((0, 2)))
    stats, char_h, vc, uc, half = ink.stats, ink.char_h, ink.vc, ink.uc, ink.half
    area, height = stats[:, cv2.CC_STAT_AREA], stats[:, cv2.CC_STAT_HEIGHT]
    major, sized = ink.major & sel, ink.sized & sel
    if not major.any():
        return none
    fit = _assign(ink.v[major[ink.label]], vc)
    # Clumps of specks apart from the text may have made rows (or widened them): drop them, redo.
    specks = _speck_clusters(np.flatnonzero(major), fit.row_of, uc - half, uc + half, height, area, char_h)
    if specks.any():
        major &= ~specks
        if not major.any():
            return none
        fit = _assign(ink.v[major[ink.label]], vc)
    row_of, dist = fit.row_of, fit.dist
    n_rows = len(fit.spans)
    left, right = np.full(n_rows, np.inf), np.full(n_rows, -np.inf)  # each row's ink ends, deskewed
    np.minimum.at(left, row_of[major], (uc - half)[major])
    np.maximum.at(right, row_of[major], (uc + half)[major])
    # Faint letter-sized blobs inside a row (a light font in low contrast) are letters of it.
    faint = (
        sized
        & ~major
        & (dist <= 0)
        & (height >= _LETTER_HEIGHT * char_h)
        & (area >= max(_LETTER_MIN_AREA, _LETTER_AREA * char_h**2))
    )
    np.minimum.at(left, row_of[faint], (uc - half)[faint])
    np.maximum.at(right, row_of[faint], (uc + half)[faint])
    major |= faint
    # Dots, commas, specks: inside the row, or a period or comma just after its last character.
    inside = (uc >= left[row_of]) & (uc <= right[row_of])
    low_half = vc >= (fit.starts[row_of] + fit.ends[row_of]) / 2
    trailing = (uc > right[row_of]) & (uc <= right[row_of] + _TRAILING_REACH * char_h) & low_half
    member = ((dist <= _MEMBER_REACH * char_h) & major) | ((dist <= 0) & sized & (inside | trailing))
    line_of = np.where(member, row_of + 1, 0).astype(np.int32)  # 0 = no line
    # A row needs a character-sized component and some ink; rows of dots or specks are noise.
    slots = n_rows + 1
    top_h, ink_area = np.zeros(slots), np.zeros(slots)
    np.maximum.at(top_h, line_of, np.where(member, height, 0))
    np.add.at(ink_area, line_of, np.where(member, area, 0))
    inked = np.bincount(line_of[member & ink.sure], minlength=slots)
    real = (
        (top_h >= max(_LINE_MIN_HEIGHT, _LINE_HEIGHT * char_h))  # e.g. "it."
        & (ink_area >= max(_LINE_MIN_AREA, _LINE_AREA * char_h**2))
        & (inked > 0)
    )
    real[0] = False
    renumber = np.where(real, np.cumsum(real), 0).astype(np.int32)
    spans = np.stack([fit.starts, fit.ends - 1], axis=1)[real[1:]]
    return _LineSet(renumber[line_of], spans)


def _groups_of(ink: _Ink, split) -> tuple[list[np.ndarray], list[str]]:
    """Components per group (bool masks) and group kinds from ``split`` over the major components.

    Other components go to the group whose box (of its major components) holds their centre,
    or else to the nearest one.
    """
    count = ink.major.size
    if split is None:
        return [np.ones(count, bool)], ["text"]
    idx = np.flatnonzero(ink.major)
    groups = [
        (np.asarray(members, np.int64), kind) for members, kind in split(ink.boxes(idx), ink.char_h) if len(members)
    ]
    owner = np.full(count, -1, np.int64)
    extents = []
    for group, (members, _) in enumerate(groups):
        owner[idx[members]] = group
        boxes = ink.boxes(idx[members])
        extents.append((boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()))
    rest = np.flatnonzero(ink.sized & (owner < 0))
    if rest.size and extents:
        ext = np.array(extents)  # (G, 4)
        du = np.maximum(np.maximum(ext[None, :, 0] - ink.uc[rest, None], ink.uc[rest, None] - ext[None, :, 2]), 0)
        dv = np.maximum(np.maximum(ext[None, :, 1] - ink.vc[rest, None], ink.vc[rest, None] - ext[None, :, 3]), 0)
        owner[rest] = np.argmin(du**2 + dv**2, axis=1)  # (R,): 0 distance inside a box
    return [owner == group for group in range(len(groups))], [kind for _, kind in groups]


def _extents(stats: np.ndarray, line_of: np.ndarray, n_lines: int, cos_t: float, sin_t: float) -> np.ndarray:
    """Per line ``(u0, v0, u1, v1)`` (inclusive) of its components' corners in the deskewed frame, (N, 4)."""
    x, y = stats[:, 0].astype(np.float64), stats[:, 1].astype(np.float64)
    x1, y1 = x + stats[:, 2] - 1, y + stats[:, 3] - 1
    us = np.stack([x * cos_t + y * sin_t, x1 * cos_t + y * sin_t, x * cos_t + y1 * sin_t, x1 * cos_t + y1 * sin_t])
    vs = np.stack([y * cos_t - x * sin_t, y * cos_t - x1 * sin_t, y1 * cos_t - x * sin_t, y1 * cos_t - x1 * sin_t])
    ext = np.tile([np.inf, np.inf, -np.inf, -np.inf], (n_lines + 1, 1))
    np.minimum.at(ext[:, 0], line_of, us.min(0))
    np.minimum.at(ext[:, 1], line_of, vs.min(0))
    np.maximum.at(ext[:, 2], line_of, us.max(0))
    np.maximum.at(ext[:, 3], line_of, vs.max(0))
    return ext[1:]


class _Band(NamedTuple):
    """An upright band of the page around one line, in the deskewed frame.

    Its top-left corner is deskewed page pixel ``(u, v)``; it is ``small_w`` x ``small_h``
    small-copy pixels, ``factor`` times as many page pixels each way.
    """

    u: int
    v: int
    small_w: int
    small_h: int


def _band(extent: np.ndarray, factor: int, margin: int) -> _Band:
    """The band around a line's small-copy extent ``(u0, v0, u1, v1)`` and ``margin`` page pixels beyond."""
    u0, v0, u1, v1 = extent
    u, v = int(math.floor(u0 * factor)) - margin, int(math.floor(v0 * factor)) - margin
    small_w = -(-(int(math.ceil((u1 + 1) * factor)) + margin - u) // factor)
    small_h = -(-(int(math.ceil((v1 + 1) * factor)) + margin - v) // factor)
    return _Band(u, v, small_w, small_h)


def _refine(
    page: np.ndarray,
    background: np.ndarray,
    line_map: np.ndarray,
    ext: np.ndarray,
    factor: int,
    low: float,
    cos_t: float,
    sin_t: float,
) -> np.ndarray:
    """Full-resolution ink bounds and baseline ``(u0, v0, u1, v1, base)`` (inclusive, deskewed frame), (N, 5).

    Each line's band is cut upright from the page; the small-copy maps (background, line
    owner) are cut at ``1/factor`` of its size, band pixel ``j`` lying in small band pixel
    ``j // factor``.
    """
    out = []
    margin, blur = factor + _BAND_MARGIN, _odd(factor)
    cross = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    inverse = cv2.WARP_INVERSE_MAP
    for line, extent in enumerate(ext, start=1):
        band = _band(extent, factor, margin)
        u, v = band.u, band.v
        w, h = band.small_w * factor, band.small_h * factor
        to_page = np.array([[cos_t, -sin_t, u * cos_t - v * sin_t], [sin_t, cos_t, u * sin_t + v * cos_t]])
        to_small = to_page.copy()  # small band pixel -> small page pixel
        to_small[:, 2] = (to_page[:, :2].sum(1) * (0.5 * factor - 0.5) + to_page[:, 2] + 0.5) / factor - 0.5
        mid = to_small.copy()  # the paper along the band's middle row serves the whole band
        mid[:, 2] += to_small[:, 1] * (band.small_h // 2)
        pixels = cv2.warpAffine(
            page, to_page, (w, h), flags=cv2.INTER_LINEAR | inverse, borderMode=cv2.BORDER_REPLICATE
        )
        paper = cv2.warpAffine(
            background, mid, (band.small_w, 1), flags=cv2.INTER_LINEAR | inverse, borderMode=cv2.BORDER_REPLICATE
        )
        owner = cv2.warpAffine(
            line_map,
            to_small,
            (band.small_w, band.small_h),
            flags=cv2.INTER_NEAREST | inverse,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        own_small = (owner == line).astype(np.uint8)  # this line's components
        mine_small = cv2.dilate(own_small, cross) & ((owner == 0) | (owner == line)).astype(np.uint8)  # and around
        own, mine = (cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST) for mask in (own_small, mine_small))
        dark = 255 - cv2.divide(
            cv2.blur(pixels, (blur, blur)), cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR), scale=255
        )
        darkest = float(cv2.minMaxLoc(dark, own)[1]) if own_small.any() else 255.0
        ink = cv2.bitwise_and(_above(dark, max(low, _REFINE_DARKNESS * darkest)), mine)  # edges as the clean ink
        x0, y0, ink_w, ink_h = cv2.boundingRect(ink)
        if ink_w == 0:
            out.append((u + margin, v + margin, u + w - margin - 1, v + h - margin - 1, v + h - margin - 1))
            continue
        x1, y1 = x0 + ink_w - 1, y0 + ink_h - 1
        profile = ink[y0 : y1 + 1, x0 : x1 + 1].sum(axis=1, dtype=np.int32)
        smooth = np.convolve(profile, np.ones(_SMOOTH) / _SMOOTH, mode="same")
        base = y0 + int(np.flatnonzero(smooth >= _BASELINE_SHARE * smooth.max())[-1])
        out.append((u + x0, v + y0, u + x1, v + y1, v + base))
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
    deep = ratio > _DESCENDER
    typical = float(np.median(ratio[deep])) if deep.sum() >= _MIN_DESCENDERS else _DEFAULT_DESCENDER
    out = bounds.copy()
    out[:, 3] = np.maximum(bottom, np.rint(base + typical * ascent)).astype(np.int64)
    return out


def _working_copy(page: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """The page (median-filtered if noisy), the integer downscaling factor and the small copy.

    Small pixel ``j`` covers page pixels ``[factor j, factor j + factor)`` each way.
    """
    height, width = page.shape
    factor = -(-max(height, width) // WORK_SIZE)
    if _noise(page) > NOISY:
        page = cv2.medianBlur(page, 3)  # specks of up to 2x2 pixels go, strokes stay
        factor = max(factor, _NOISY_MIN_FACTOR)  # and the small copy averages at least 2x2 pixels
    if factor == _PAIR:
        return page, factor, _pair_means(page)
    half = factor // 2
    small = np.ascontiguousarray(
        cv2.blur(page, (factor, factor))[half::factor, half::factor][: height // factor, : width // factor]
    )
    return page, factor, small


def _pair_means(page: np.ndarray) -> np.ndarray:
    """The page's 2x2 block means, (H // 2, W // 2) ``uint8``, as ``cv2.blur(page, (2, 2))`` rounds them.

    ``cv2.blur`` sums the 4 pixels (``s``) and scales in 16-bit fixed point: ``(s + 3) >> 2``. Only the
    kept blocks are summed here, not every pixel's neighbourhood, so the copy costs a quarter of the blur.
    """
    height, width = page.shape[0] // _PAIR, page.shape[1] // _PAIR
    quads = page[: _PAIR * height, : _PAIR * width].reshape(height, _PAIR, width, _PAIR)
    total = quads[:, 0, :, 0] + quads[:, 0, :, 1].astype(np.uint16) + quads[:, 1, :, 0] + quads[:, 1, :, 1]
    return ((total + _PAIR_ROUND) >> _PAIR_SHIFT).astype(np.uint8)


def _page_line(bounds: list[int], skew: float, cos_t: float, sin_t: float, width: int, height: int) -> Line | None:
    """The :class:`Line` of deskewed ink bounds ``(u0, v0, u1, v1)`` padded by :data:`PAD`; None if off the page."""
    u0, v0, u1, v1 = bounds
    x0, y0 = u0 - PAD, v0 - PAD
    w, h = u1 - u0 + 1 + 2 * PAD, v1 - v0 + 1 + 2 * PAD
    corner = (x0 * cos_t - y0 * sin_t, x0 * sin_t + y0 * cos_t)
    rect = (int(round(corner[0])), int(round(corner[1])), w, h, float(skew))
    xs = [rect[0] + dx * cos_t - dy * sin_t for dx, dy in ((0, 0), (w, 0), (0, h), (w, h))]
    ys = [rect[1] + dx * sin_t + dy * cos_t for dx, dy in ((0, 0), (w, 0), (0, h), (w, h))]
    bx0, by0 = max(int(math.floor(min(xs))), 0), max(int(math.floor(min(ys))), 0)
    bx1, by1 = min(int(math.ceil(max(xs))), width), min(int(math.ceil(max(ys))), height)
    if bx1 > bx0 and by1 > by0:
        return Line((bx0, by0, bx1 - bx0, by1 - by0), rect)
    return None


def segment_regions(
    page: np.ndarray, split=None, skew: float | None = None
) -> tuple[float, list[tuple[str, list[Line]]]]:
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
    if min(page.shape) < _MIN_SIDE:
        return 0.0, []
    height, width = page.shape
    page, factor, small = _working_copy(page)
    maps = _ink_maps(small)
    ink = _components(maps.weak, maps.strong, maps.sure, skew)
    if ink is None:
        return 0.0, []
    skew = ink.skew
    line_of: np.ndarray = np.zeros(ink.major.size, np.int32)
    group_spans: list[np.ndarray] = []  # per region, (lines, 2): first and last deskewed row of its lines
    group_of: list[int] = []  # the region of every line
    masks, kinds = _groups_of(ink, split)
    for group, sel in enumerate(masks):
        found_lines = _lines_of(ink, sel)
        line_of = np.where(found_lines.line_of > 0, found_lines.line_of + len(group_of), line_of).astype(np.int32)
        group_spans.append(found_lines.spans)
        group_of += [group] * len(found_lines.spans)
    n_lines = len(group_of)
    if n_lines == 0:
        return float(skew), []
    spans = np.concatenate(group_spans)
    cos_t, sin_t = math.cos(math.radians(skew)), math.sin(math.radians(skew))
    ext = _extents(ink.stats, line_of, n_lines, cos_t, sin_t)
    # A blob shared with the next line (a descender touching an ascender) stays in its row.
    ext[:, 1] = np.maximum(ext[:, 1], spans[:, 0] - _ROW_OVERHANG)
    ext[:, 3] = np.minimum(ext[:, 3], spans[:, 1] + _ROW_OVERHANG)
    line_map = np.zeros(maps.weak.shape, np.uint16)  # the line of every small-copy pixel, 0 for none
    line_map[ink.ink_ys, ink.ink_xs] = line_of[ink.ink_label]
    bounds = _descend(_refine(page, maps.background, line_map, ext, factor, maps.low, cos_t, sin_t))
    found: list[list[tuple[int, Line]]] = [[] for _ in masks]
    for group, (u0, v0, u1, v1, _) in zip(group_of, bounds.tolist()):
        line = _page_line([u0, v0, u1, v1], skew, cos_t, sin_t, width, height)
        if line is not None:
            found[group].append((v0, line))
    regions = []
    for kind, lines in zip(kinds, found):
        if lines:
            lines.sort(key=lambda pair: pair[0])
            regions.append((kind, [line for _, line in lines]))
    logger.debug("found %d lines in %d regions, skew %.2f deg", n_lines, len(regions), skew)
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
