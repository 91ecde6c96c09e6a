"""The document model the output formats are written from: pages → blocks → lines → words.

Coordinates are page pixels of the decoded page image, ``(x, y, w, h)`` boxes and polygons of
``(x, y)`` points, y down. :func:`linerec.document.reader.recognize_pages` fills it; the writers in
:mod:`linerec.formats` read it.
"""

from __future__ import annotations

import dataclasses

from linerec.vision.geometry import Box, Rect

Polygon = tuple[tuple[int, int], ...]


@dataclasses.dataclass(frozen=True)
class Word:
    """A word: its text, confidence in [0, 1], page box and the rotated quadrilateral around it."""

    text: str
    confidence: float
    bbox: Box
    polygon: Polygon


@dataclasses.dataclass(frozen=True)
class TextLine:
    """A recognized line: text, confidence in [0, 1], page box, rotated rectangle and words."""

    text: str
    confidence: float
    bbox: Box
    rect: Rect
    words: tuple[Word, ...] = ()

    @property
    def polygon(self) -> Polygon:
        """The corners of :attr:`rect` (top-left, top-right, bottom-right, bottom-left)."""
        return rect_polygon(self.rect)


@dataclasses.dataclass(frozen=True)
class TextBlock:
    """A text block (``kind`` ``"text"`` or ``"table"``) with its lines in reading order."""

    kind: str
    bbox: Box
    rect: Rect
    lines: tuple[TextLine, ...]

    @property
    def polygon(self) -> Polygon:
        """The corners of :attr:`rect`."""
        return rect_polygon(self.rect)


def rect_polygon(rect: Rect) -> Polygon:
    """Corners of a rotated ``(x, y, w, h, rotation)`` box: top-left, top-right, bottom-right, bottom-left."""
    import math

    x, y, w, h, r = rect
    c, s = math.cos(math.radians(r)), math.sin(math.radians(r))
    return tuple(
        (int(round(x + dx * c - dy * s)), int(round(y + dx * s + dy * c)))
        for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))
    )


def hull_box(points, width: int, height: int) -> Box:
    """Axis-aligned ``(x, y, w, h)`` box around ``points``, clipped to a ``width`` x ``height`` page (at least 1x1)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0 = min(max(int(min(xs)), 0), width - 1), min(max(int(min(ys)), 0), height - 1)
    x1, y1 = min(max(int(-(-max(xs) // 1)), x0 + 1), width), min(max(int(-(-max(ys) // 1)), y0 + 1), height)
    return x0, y0, max(x1 - x0, 1), max(y1 - y0, 1)
