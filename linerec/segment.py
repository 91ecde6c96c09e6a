"""Text line segmentation of grayscale page images.

:func:`find_lines` turns a page into axis-aligned line boxes ``(x, y, w, h)`` in
reading order (top to bottom, single column). Steps: illumination
normalization (division by a max-filtered background), Otsu binarization,
removal of specks, skew estimation by maximizing the sharpness of the
horizontal projection profile of the ink pixels (small angles, handled as a
shear), row detection on that profile, then per row the bounding box of its ink.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # (x, y, w, h)

PAD = 3  # pixels added around the ink of every found line
MAX_SKEW_DEG = 1.0
_MIN_SPECK_AREA = 3  # connected components smaller than this are noise
_MAX_INK_LEVEL = 0.78  # normalized intensity above this is never ink, whatever Otsu says


def _binarize(page: np.ndarray) -> np.ndarray:
    """Boolean ink mask after background division, Otsu and speck removal."""
    k = max(15, (min(page.shape) // 40) | 1)
    kernel = np.ones((k, k), np.uint8)
    background = cv2.blur(cv2.dilate(page, kernel), (k, k)).astype(np.float32)
    norm = np.clip(page.astype(np.float32) / np.maximum(background, 1.0) * 255.0, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(norm, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = (norm < min(otsu, _MAX_INK_LEVEL * 255)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= _MIN_SPECK_AREA
    keep[0] = False
    return keep[labels]


def _estimate_slope(xs: np.ndarray, ys: np.ndarray) -> float:
    """Slope dy/dx of the text lines that makes the row profile sharpest."""
    step = max(1, xs.size // 150_000)
    xs, ys = xs[::step].astype(np.float64), ys[::step].astype(np.float64)
    xs = xs - xs.mean()
    best, best_score = 0.0, -1.0
    for angle in sorted(np.arange(-MAX_SKEW_DEG, MAX_SKEW_DEG + 1e-9, 0.1), key=abs):
        slope = float(np.tan(np.radians(angle)))
        rows = np.rint(ys - slope * xs).astype(np.int64)
        profile = np.bincount(rows - rows.min()).astype(np.float64)
        score = float(np.dot(profile, profile))
        if score > best_score * 1.002:
            best, best_score = slope, score
    return best


def _runs(profile: np.ndarray) -> list[list[int]]:
    """Half-open ``[start, end)`` spans of rows where ``profile`` is positive."""
    inked = np.concatenate(([0], (profile > 0).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(inked))
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])]


def _merge_fragments(runs: list[list[int]], profile: np.ndarray) -> list[list[int]]:
    """Join rows split by tiny gaps and attach thin fragments (i-dots, commas) to a neighbour."""
    merged: list[list[int]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] <= 1:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    heights = [b - a for a, b in merged if b - a >= 5]
    if not heights:
        return merged
    median = float(np.median(heights))
    i = 0
    while i < len(merged):
        a, b = merged[i]
        if b - a >= 0.4 * median or len(merged) == 1:
            i += 1
            continue
        gap_up = a - merged[i - 1][1] if i > 0 else np.inf
        gap_down = merged[i + 1][0] - b if i + 1 < len(merged) else np.inf
        if min(gap_up, gap_down) <= 0.5 * median:
            j = i - 1 if gap_up <= gap_down else i + 1
            merged[j] = [min(merged[j][0], a), max(merged[j][1], b)]
            del merged[i]
            i = max(i - 1, 0)
        elif profile[a:b].sum() < 30:
            del merged[i]
        else:
            i += 1
    return merged


def find_lines(page: np.ndarray) -> list[Box]:
    """Find text line boxes on a grayscale page.

    Parameters
    ----------
    page : numpy.ndarray
        2-D ``uint8`` grayscale image ``(H, W)``, dark text on light paper.

    Returns
    -------
    list of tuple of int
        Boxes ``(x, y, w, h)`` in page pixels, padded by :data:`PAD` and clipped
        to the page, top to bottom. Empty for a blank page.

    Raises
    ------
    ValueError
        If ``page`` is not a 2-D ``uint8`` array.
    """
    page = np.asarray(page)
    if page.ndim != 2 or page.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 page, got shape {page.shape} dtype {page.dtype}")
    height, width = page.shape
    if page.size == 0:
        return []
    ys, xs = np.nonzero(_binarize(page))
    if ys.size == 0:
        return []
    slope = _estimate_slope(xs, ys)
    rows = np.rint(ys - slope * (xs - xs.mean())).astype(np.int64)
    rows -= rows.min()
    order = np.argsort(rows, kind="stable")
    rows, xs, ys = rows[order], xs[order], ys[order]
    profile = np.bincount(rows)
    boxes: list[Box] = []
    for start, end in _merge_fragments(_runs(profile), profile):
        lo, hi = np.searchsorted(rows, [start, end])
        x0, x1 = max(int(xs[lo:hi].min()) - PAD, 0), min(int(xs[lo:hi].max()) + 1 + PAD, width)
        y0, y1 = max(int(ys[lo:hi].min()) - PAD, 0), min(int(ys[lo:hi].max()) + 1 + PAD, height)
        boxes.append((x0, y0, x1 - x0, y1 - y0))
    logger.debug("found %d lines (skew slope %.4f)", len(boxes), slope)
    return sorted(boxes, key=lambda b: (b[1], b[0]))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes (0.0 if both are empty)."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match_boxes(found: list[Box], truth: list[Box], threshold: float = 0.5) -> tuple[int, int, int]:
    """Greedy one-to-one matching of found boxes to ground-truth boxes by IoU.

    Parameters
    ----------
    found, truth : list of tuple of int
        ``(x, y, w, h)`` boxes.
    threshold : float, optional
        Minimum IoU for a match.

    Returns
    -------
    tuple of int
        ``(matches, len(found), len(truth))``; precision is ``matches / len(found)``
        and recall ``matches / len(truth)``.
    """
    pairs = sorted(((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)), reverse=True)
    used_f, used_t = set(), set()
    for score, i, j in pairs:
        if score < threshold:
            break
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return len(used_f), len(found), len(truth)
