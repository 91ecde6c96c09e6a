"""Cutting a line (or any box, upright or rotated) out of a page image."""

from __future__ import annotations

import math

import numpy as np

from linerec.vision.geometry import Box


def crop_line(page: np.ndarray, bbox: Box, rotation: float = 0.0) -> np.ndarray:
    """Cut a line out of a page image.

    Parameters
    ----------
    page : np.ndarray
        2-D uint8 grayscale page, shape (H, W).
    bbox : tuple of int
        ``(x, y, w, h)`` in pixels. Unrotated boxes are clipped to the page.
    rotation : float, optional
        Degrees the box is turned CLOCKWISE about its top-left corner ``(x, y)``
        (Label Studio's convention): the box corner ``(dx, dy)`` lies at page
        pixel ``(x + dx cos r - dy sin r, y + dx sin r + dy cos r)``. A rotated
        box is resampled (bilinear) into an upright crop of shape ``(h, w)``;
        parts outside the page repeat the page's edge pixels.

    Returns
    -------
    np.ndarray
        Copy of the crop, shape (h', w') with h' <= h, w' <= w. It is empty
        (a zero dimension) when an unrotated box lies entirely outside the page.
    """
    if page.ndim != 2:
        raise ValueError(f"page must be 2-D (H, W), got shape {page.shape}")
    x, y, w, h = (int(round(float(v))) for v in bbox)
    if w < 0 or h < 0:
        raise ValueError(f"bbox has negative size: {bbox}")
    if rotation % 360 != 0 and w > 0 and h > 0:
        import cv2

        c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
        # Maps crop pixel (u, v) to page pixel (x + u c - v s, y + u s + v c).
        to_page = np.array([[c, -s, x], [s, c, y]], dtype=np.float64)
        return cv2.warpAffine(
            page, to_page, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )
    page_h, page_w = page.shape
    x0, y0 = min(max(x, 0), page_w), min(max(y, 0), page_h)
    x1, y1 = min(max(x + w, 0), page_w), min(max(y + h, 0), page_h)
    return page[y0:y1, x0:x1].copy()
