"""Scoring of line detection against ground truth.

Rectangles are Label Studio's rotated boxes ``(x, y, w, h, rotation)``: ``(x, y)``
is the top-left corner and ``rotation`` degrees clockwise about it (y down), so
box corner ``(dx, dy)`` lies at ``(x + dx cos r - dy sin r, y + dx sin r + dy cos r)``.
A 4-tuple is an unrotated box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np


def rect_corners(rect: Sequence[float]) -> np.ndarray:
    """Corners of a rotated rectangle, shape (4, 2), clockwise on screen from the top-left."""
    x, y, w, h = (float(v) for v in rect[:4])
    r = math.radians(float(rect[4])) if len(rect) > 4 else 0.0
    c, s = math.cos(r), math.sin(r)
    d = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    return np.stack([x + d[:, 0] * c - d[:, 1] * s, y + d[:, 0] * s + d[:, 1] * c], axis=1)


def rect_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two rotated rectangles.

    Parameters
    ----------
    a, b : sequence of float
        ``(x, y, w, h[, rotation])`` in Label Studio's convention.

    Returns
    -------
    float
        IoU in [0, 1]; 0.0 when either rectangle has no area.
    """
    area_a, area_b = abs(float(a[2]) * float(a[3])), abs(float(b[2]) * float(b[3]))
    if area_a == 0 or area_b == 0:
        return 0.0
    pa, pb = rect_corners(a).astype(np.float32), rect_corners(b).astype(np.float32)
    inter, _ = cv2.intersectConvexConvex(pa, pb)
    inter = max(float(inter), 0.0)
    return min(inter / (area_a + area_b - inter), 1.0)


def match_lines(pred_rects: Sequence[Sequence[float]], gt_rects: Sequence[Sequence[float]], iou: float = 0.5) -> dict:
    """Greedy one-to-one matching of predicted to ground-truth rectangles by IoU.

    Pairs are taken in decreasing IoU; each rectangle is matched at most once.

    Parameters
    ----------
    pred_rects, gt_rects : sequence of rectangles
        ``(x, y, w, h[, rotation])`` each.
    iou : float, optional
        Least IoU of a match.

    Returns
    -------
    dict
        ``tp``, ``fp``, ``fn`` (ints), ``precision``, ``recall`` (1.0 when there is
        nothing to find, resp. nothing found) and ``pairs``: ``(pred index, gt index, IoU)``
        of every match.
    """
    pairs = []
    for i, p in enumerate(pred_rects):
        box_p = cv2.boundingRect(rect_corners(p).astype(np.float32))
        for j, g in enumerate(gt_rects):
            box_g = cv2.boundingRect(rect_corners(g).astype(np.float32))
            if (
                box_p[0] < box_g[0] + box_g[2]
                and box_g[0] < box_p[0] + box_p[2]
                and box_p[1] < box_g[1] + box_g[3]
                and box_g[1] < box_p[1] + box_p[3]
            ):
                score = rect_iou(p, g)
                if score >= iou:
                    pairs.append((score, i, j))
    used_p, used_g, matched = set(), set(), []
    for score, i, j in sorted(pairs, key=lambda t: -t[0]):
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            matched.append((i, j, score))
    tp = len(matched)
    fp, fn = len(pred_rects) - tp, len(gt_rects) - tp
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / len(pred_rects) if len(pred_rects) else 1.0,
        "recall": tp / len(gt_rects) if len(gt_rects) else 1.0,
        "pairs": matched,
    }
