"""The box types every part of the library passes around, defined once.

Coordinates are pixels of the decoded page image, x to the right and y down. :data:`Box` is the
axis-aligned box of a line, block or word as whole pixels; :data:`Rect` is Label Studio's rotated
box; :data:`FloatBox` is an axis-aligned box in fractional pixels, as ground-truth files and other
OCR systems report them before anything is rounded. This module imports nothing, so any part of
the library may use it.
"""

from __future__ import annotations

#: Axis-aligned ``(x, y, w, h)`` box in whole page pixels: ``(x, y)`` is the top-left corner.
Box = tuple[int, int, int, int]
#: Rotated ``(x, y, w, h, rotation)`` box (Label Studio's convention): ``(x, y)`` is the top-left
#: corner and ``rotation`` the degrees clockwise about it, so box corner ``(dx, dy)`` lies at page
#: pixel ``(x + dx cos r - dy sin r, y + dx sin r + dy cos r)``.
Rect = tuple[int, int, int, int, float]
#: Axis-aligned ``(x, y, w, h)`` box in fractional page pixels (not rounded to the pixel grid).
FloatBox = tuple[float, float, float, float]
