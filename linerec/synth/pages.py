"""Synthetic scanned pages of printed text with a Label Studio OCR export.

:func:`generate_corpus` writes grayscale page images and an ``export.json`` in
the format Label Studio exports for the OCR template (a ``bbox`` rectangle and a
``transcription`` textarea per text line, sharing one region id). The export is
the ground truth. Output is a pure function of the seed: the same seed gives
byte-identical images and JSON.

Two profiles: ``"clean"`` (the original short PNG pages of mixed text blocks)
and ``"scan"`` (whole letters, invoices, forms, tables and reports at 150-300
dpi in one font a page, with one primary scanner degradation from
:data:`DEGRADATIONS` on top of mild base ones; JPEG pages whose boxes carry the
page skew as Label Studio's clockwise ``rotation``). "scan" documents are
rendered independently from ``(seed, document index)``, so ``workers`` never
changes the output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import pathlib
from collections.abc import Callable
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageFont

from linerec.labelstudio.regions import annotated_task, ocr_region, random_region_id
from linerec.synth.fonts import Font
from linerec.synth.fonts import fonts as fonts_of_split
from linerec.synth.layouts import BODY_PT, LAYOUT_KINDS, LAYOUTS, MULTI_COLUMN, LayoutSource, check_mix, parse_mix
from linerec.synth.text import DOC_KINDS, TextSource, draw_text, fit_text, printable, wrap

logger = logging.getLogger(__name__)

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation")
_FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "LiberationSans-Regular.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationSans-Italic.ttf",
    "LiberationSerif-Regular.ttf",
    "LiberationSerif-Bold.ttf",
    "LiberationSerif-Italic.ttf",
    "LiberationMono-Regular.ttf",
    "LiberationMono-Bold.ttf",
)
#: Font files used for synthetic text, filtered to those installed.
FONTS: list[str] = [str(pathlib.Path(d, f)) for f in _FONT_FILES for d in _FONT_DIRS if pathlib.Path(d, f).is_file()]
PAD = 3  # pixels of padding around the ink of a line box


def _degrade(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn a clean black-on-white image into a mildly degraded 'scan'."""
    from PIL import ImageFilter

    blurred = Image.fromarray(clean, "L").filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    paper, ink = rng.uniform(228.0, 250.0), rng.uniform(15.0, 60.0)
    out = ink + (paper - ink) * (np.asarray(blurred, dtype=np.float64) / 255.0)
    h, w = out.shape
    out += rng.uniform(-6, 6) * np.linspace(-1, 1, w)[None, :]
    out += rng.uniform(-6, 6) * np.linspace(-1, 1, h)[:, None]
    out += rng.normal(0.0, rng.uniform(2.0, 6.0), out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_line(text: str, font_path: str, size: int, rng: np.random.Generator) -> Image.Image:
    """Render one line of text as a small degraded grayscale image.

    Parameters
    ----------
    text : str
        Printable ASCII text.
    font_path : str
        A TrueType font file, e.g. an entry of :data:`FONTS`.
    size : int
        Font size in pixels.
    rng : numpy.random.Generator
        Source of the degradation randomness.

    Returns
    -------
    PIL.Image.Image
        Mode ``"L"`` image cropped to the ink plus :data:`PAD` pixels.

    Raises
    ------
    ValueError
        If the text renders no ink (e.g. only spaces).
    """
    canvas, box = draw_text(text, ImageFont.truetype(str(font_path), size))
    if box is None:
        raise ValueError(f"text {text!r} renders no ink")
    x0, y0, x1, y1 = box
    crop = canvas[max(y0 - PAD, 0) : y1 + PAD, max(x0 - PAD, 0) : x1 + PAD]
    return Image.fromarray(_degrade(np.ascontiguousarray(crop), rng), "L")


def _rotate_box(box: tuple[int, int, int, int], angle: float, cx: float, cy: float) -> tuple[int, int, int, int]:
    """Axis-aligned bounds of ``box`` after PIL's counter-clockwise rotation about (cx, cy)."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    pts = [(px - cx, py - cy) for px in (box[0], box[2]) for py in (box[1], box[3])]
    xs = [cx + dx * c + dy * s for dx, dy in pts]
    ys = [cy - dx * s + dy * c for dx, dy in pts]
    return math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))


def _render_page(source: TextSource, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, tuple]]]:
    """Lay out and render one page; return the degraded page and (text, box) per line."""
    width, height = int(rng.integers(960, 1041)), int(rng.integers(1260, 1341))
    page: np.ndarray = np.full((height, width), 255, dtype=np.uint8)
    size = int(rng.integers(18, 31))
    page_font = FONTS[int(rng.integers(len(FONTS)))]
    pitch = round(size * rng.uniform(1.45, 2.0))
    left, right = int(rng.integers(60, 140)), int(rng.integers(60, 140))
    baseline, bottom = int(rng.integers(60, 130)) + size, height - int(rng.integers(60, 110))
    target = int(rng.integers(8, 21))
    lines: list[tuple[str, tuple[int, int, int, int]]] = []  # (text, (x0, y0, x1, y1))
    while len(lines) < target and baseline + pitch < bottom:
        font_path = page_font if rng.random() < 0.75 else FONTS[int(rng.integers(len(FONTS)))]
        font = ImageFont.truetype(font_path, size)
        indent = int(rng.integers(40, 300)) if rng.random() < 0.2 else 0
        avail = int((width - left - right - indent) * rng.uniform(0.7, 1.0))
        for text in (t for block_text in source.block() for t in wrap(block_text, font, avail)):
            if len(lines) >= target or baseline + pitch >= bottom:
                break
            canvas, box = draw_text(text, font)
            if box is None:
                continue
            ox, oy = left + indent - size, baseline - 2 * size  # canvas origin on the page
            region = page[oy : oy + canvas.shape[0], ox : ox + canvas.shape[1]]
            np.minimum(region, canvas[: region.shape[0], : region.shape[1]], out=region)
            lines.append((text, (box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy)))
            baseline += pitch
        gap = round(pitch * rng.uniform(0.5, 1.5))  # between blocks, unless needed for >= 8 lines
        baseline += gap if bottom - baseline > (max(8 - len(lines), 0) + 1) * pitch + gap else 0
    if rng.random() < 0.4:
        angle = float(rng.uniform(-0.5, 0.5))
        rotated = Image.fromarray(page, "L").rotate(angle, Image.Resampling.BILINEAR, fillcolor=255)
        page = np.asarray(rotated).copy()
        lines = [(t, _rotate_box(b, angle, width / 2, height / 2)) for t, b in lines]
    boxes = [
        (t, (max(b[0] - PAD, 0), max(b[1] - PAD, 0), min(b[2] + PAD, width), min(b[3] + PAD, height))) for t, b in lines
    ]
    return _degrade(page, rng), boxes


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _results(lines: list[tuple[str, tuple]], width: int, height: int, rng: np.random.Generator) -> list[dict]:
    """Label Studio OCR result items: a rectangle and a textarea per line."""
    items = []
    for text, (x0, y0, x1, y1) in lines:
        items += ocr_region(random_region_id(rng), (x0, y0, x1 - x0, y1 - y0), text, width, height)
    return items


def export_task(task_id: int, data: dict, results: list[dict], clock: dt.datetime, rng: np.random.Generator) -> dict:
    """One task of a Label Studio JSON export, with a single completed annotation of ``results``.

    Its creation time is ``clock``; the annotation's completion time and lead time are drawn
    from ``rng``. Shared by every generator that writes exports (pages and line sheets).
    """
    done = clock + dt.timedelta(seconds=float(rng.uniform(60, 1800)))
    lead_time = round(float(rng.uniform(20, 900)), 3)
    return annotated_task(
        task_id, data, results, created_at=_iso(clock), completed_at=_iso(done), lead_time=lead_time, ground_truth=False
    )


# --- profile "scan": whole documents at a random dpi, one font a page, scanner degradations ---

#: Primary degradations of the "scan" profile; each page gets one, drawn uniformly.
DEGRADATIONS = ("clean", "skew", "blur", "noise", "jpeg", "low_contrast", "illumination")
PROFILES = ("clean", "scan")
_PAGE_INCHES = {"letter": (8.5, 11.0), "a4": (8.27, 11.69)}


class _Page:
    """An upright white page that lines of one font are drawn onto, top to bottom."""

    def __init__(
        self, width: int, height: int, margins: tuple[int, int, int, int], gap: int, pixels: np.ndarray | None = None
    ) -> None:
        # ``pixels``: an existing (height, width) page to draw on (columns of one page share it)
        self.pixels = np.full((height, width), 255, dtype=np.uint8) if pixels is None else pixels
        self.left, self.top, self.right, self.bottom = margins
        self.gap = gap  # minimum ink-to-ink distance between consecutive lines
        self.cursor = self.top  # the next line's ink may start here
        self.lines_baseline = 0.0  # baseline of the last line (plus any skipped space)
        self.lines: list[tuple[str, tuple[int, int, int, int]]] = []

    @property
    def text_width(self) -> int:
        return self.right - self.left

    def place(self, parts: list[tuple[str, float]], font: ImageFont.FreeTypeFont, pitch: float) -> bool:
        """Draw one line made of ``(text, x)`` parts below the previous line.

        Returns False (drawing nothing) when the line does not fit above the bottom margin.
        """
        rendered = [(x, *draw_text(text, font)) for text, x in parts if text]
        drawn = [(x, canvas, box) for x, canvas, box in rendered if box is not None]
        if not drawn:
            return True
        size = int(font.size)
        top = min(b[1] for _, _, b in drawn)  # ink top relative to the canvas (baseline at 2 * size)
        baseline = max(self.cursor - top + 2 * size, self.lines_baseline + pitch if self.lines else 0)
        oy = int(round(baseline)) - 2 * size
        bottom = oy + max(b[3] for _, _, b in drawn)
        if bottom > self.bottom:
            return False
        ink_x0, ink_x1 = self.pixels.shape[1], 0  # the line's ink extent across its parts
        for x, canvas, (x0, _, x1, _) in drawn:
            ox = int(round(x)) - x0  # ink starts at x
            ox0 = max(ox, 0)
            region = self.pixels[oy : oy + canvas.shape[0], ox0 : ox + canvas.shape[1]]
            np.minimum(region, canvas[: region.shape[0], ox0 - ox : ox0 - ox + region.shape[1]], out=region)
            ink_x0, ink_x1 = min(ink_x0, ox + x0), max(ink_x1, ox + x1)
        self.lines.append((" ".join(t for t, _ in parts if t.strip()), (ink_x0, oy + top, ink_x1, bottom)))
        self.lines_baseline = oy + 2 * size
        self.cursor = bottom + self.gap
        return True

    def skip(self, pixels: float) -> None:
        """Leave vertical space."""
        self.cursor += int(round(pixels))
        if self.lines:
            self.lines_baseline += pixels


def _table_parts(
    rows: tuple, align: str, font: ImageFont.FreeTypeFont, width: int, rng: np.random.Generator
) -> list[list[tuple[str, float]]]:
    """Column x positions for a table; each row becomes a list of ``(cell, x)`` parts."""
    n = len(rows[0])
    em = font.size
    widths = [max(font.getlength(r[j]) for r in rows) for j in range(n)]
    min_gap = 1.5 * em
    overflow = sum(widths) + min_gap * (n - 1) - width
    if overflow > 0:  # shorten the widest left-aligned column (the description)
        j = max((k for k in range(n) if align[k] == "l"), key=lambda k: widths[k])
        widths[j] = max(widths[j] - overflow, 2 * em)
        rows = tuple(tuple(fit_text(c, font, widths[j]) if k == j else c for k, c in enumerate(r)) for r in rows)
        widths[j] = max(font.getlength(r[j]) for r in rows)
    spare = max(width - sum(widths) - min_gap * (n - 1), 0) * float(rng.uniform(0.3, 1.0))
    gap = min_gap + spare / max(n - 1, 1)
    starts = np.concatenate([[0.0], np.cumsum([w + gap for w in widths[:-1]])])
    out = []
    for r in rows:
        parts = []
        for j, cell in enumerate(r):
            cell = fit_text(cell, font, width - starts[j]) if starts[j] < width else ""
            x = starts[j] + (widths[j] - font.getlength(cell) if align[j] == "r" else 0)
            parts.append((cell, x))
        out.append(parts)
    return out


class _Fonts:
    """The body font of a page at ``dpi`` and its larger sizes (headings), made once each."""

    def __init__(self, font_path: str, dpi: int, body_pt: float) -> None:
        self.path, self.dpi, self.body_pt = font_path, dpi, body_pt
        self.body = ImageFont.truetype(font_path, max(int(round(body_pt * dpi / 72)), 8))
        self._by_size = {self.body.size: self.body}

    def sized(self, scale: float) -> ImageFont.FreeTypeFont:
        """The font ``scale`` times the body size (at most 20 pt, at least the body)."""
        px = max(int(round(min(self.body_pt * scale, 20.0) * self.dpi / 72)), self.body.size)
        if px not in self._by_size:
            self._by_size[px] = ImageFont.truetype(self.path, px)
        return self._by_size[px]


def _draw_items(page: _Page, items, fonts: _Fonts, pitch: float, rng: np.random.Generator) -> bool:
    """Draw layout items top to bottom within ``page``'s text width; False once one no longer fits."""
    body, tw = fonts.body, page.text_width
    for item in items:
        ok = True
        if item.kind == "gap":
            page.skip(pitch * item.scale)
        elif item.kind in ("line", "heading"):
            font = fonts.sized(item.scale) if item.kind == "heading" else body
            indent = item.indent * tw
            text = fit_text(item.text, font, tw - indent)
            x = {"left": indent, "right": tw - font.getlength(text), "center": (tw - font.getlength(text)) / 2}[
                item.align
            ]
            ok = page.place([(text, page.left + x)], font, font.size * pitch / body.size)
        elif item.kind == "para":
            indent = item.indent * tw
            for k, line in enumerate(wrap(item.text, body, tw - indent)):
                first = indent if k == 0 else 0.0
                text = fit_text(line, body, tw - first)
                ok = page.place([(text, page.left + first)], body, pitch)
                if not ok:
                    break
        elif item.kind == "table":
            for parts in _table_parts(item.rows, item.align, body, tw, rng):
                ok = page.place([(t, page.left + x) for t, x in parts], body, pitch)
                if not ok:
                    break
        if not ok:
            return False
    return True


def _page_frame(paper: str, dpi: int, rng: np.random.Generator) -> tuple[int, int, tuple[int, int, int, int]]:
    """Page width and height in pixels and its text area ``(left, top, right, bottom)`` (random margins)."""
    w_in, h_in = _PAGE_INCHES[paper]
    width, height = int(round(w_in * dpi)), int(round(h_in * dpi))
    margins = [int(round(rng.uniform(0.6, 1.2) * dpi)) for _ in range(4)]
    return width, height, (margins[0], margins[1], width - margins[2], height - margins[3])


def _layout(items: list, font_path: str, dpi: int, paper: str, body_pt: float, rng: np.random.Generator) -> _Page:
    """Draw the items of one page in one font (headings larger) on an upright white page."""
    width, height, area = _page_frame(paper, dpi, rng)
    page = _Page(width, height, area, gap=2 * PAD + 1)
    fonts = _Fonts(font_path, dpi, body_pt)
    pitch = fonts.body.size * float(rng.uniform(1.25, 1.7))
    _draw_items(page, items, fonts, pitch, rng)
    return page


# --- multi-column layouts (linerec.synth.layouts): sections of blocks side by side ---


class LaidOut(NamedTuple):
    """An upright clean page of a multi-column layout and its ground truth.

    ``lines`` are ``(text, (x0, y0, x1, y1))`` ink boxes in reading order; ``blocks`` are
    ``(kind, role, line indices)`` in reading order; ``gutters`` are the ``(x0, y0, x1, y1)``
    whitespace rectangles between side-by-side columns, each as tall as its section's ink and
    clear of the line boxes padded by :data:`PAD` (as the export's rectangles are).
    """

    pixels: np.ndarray  # (H, W) uint8
    lines: list[tuple[str, tuple[int, int, int, int]]]
    blocks: list[tuple[str, str, list[int]]] | None
    gutters: list[tuple[int, int, int, int]]


def _flow_lines(items, fonts: _Fonts, width: int, pitch: float, justify: bool):
    """The lines of flowing items in a column ``width`` pixels wide: ``("gap", pixels)`` or
    ``("line", [(text, x)], font, pitch)`` with ``x`` from the column's left edge.

    A paragraph's first line is indented by ``indent`` of the width; with ``justify`` every line
    but a paragraph's last is stretched to the width when that widens no word space by more than
    0.6 em.
    """
    body = fonts.body
    for item in items:
        if item.kind == "gap":
            yield ("gap", pitch * item.scale)
        elif item.kind == "heading":
            font = fonts.sized(item.scale)
            yield ("line", [(fit_text(item.text, font, width), 0.0)], font, font.size * pitch / body.size)
        elif item.kind == "para":
            rows: list[list[str]] = []
            current: list[str] = []
            indent = item.indent * width
            for word in item.text.split():
                room = width - (indent if not rows else 0.0)
                if current and body.getlength(" ".join(current + [word])) > room:
                    rows.append(current)
                    current = []
                current.append(word)
            if current:
                rows.append(current)
            for k, words in enumerate(rows):
                x0 = indent if k == 0 else 0.0
                text = fit_text(" ".join(words), body, width - x0)
                natural = body.getlength(text)
                words = text.split()
                extra = (width - x0 - natural) / max(len(words) - 1, 1)
                if justify and k < len(rows) - 1 and len(words) > 1 and extra <= 0.6 * body.size:
                    parts = [
                        (w, x0 + body.getlength(" ".join(words[:i]) + " ") + i * extra if i else x0)
                        for i, w in enumerate(words)
                    ]
                else:
                    parts = [(text, x0)]
                yield ("line", parts, body, pitch)


def _layout_sections(
    sections: list, font_path: str, dpi: int, paper: str, body_pt: float, rng: np.random.Generator
) -> LaidOut:
    """Draw :class:`linerec.synth.layouts.Section` bands top to bottom on an upright white page.

    Columns of a section share its top; the next section starts below the lowest ink of all its
    columns. Drawing stops at the first section that no longer fits.
    """
    width, height, (left, top, right, bottom) = _page_frame(paper, dpi, rng)
    pixels = np.full((height, width), 255, dtype=np.uint8)
    fonts = _Fonts(font_path, dpi, body_pt)
    em = fonts.body.size
    pitch = em * float(rng.uniform(1.2, 1.5))
    justify = rng.random() < 0.5
    gap = 2 * PAD + 1
    lines: list[tuple[str, tuple[int, int, int, int]]] = []
    blocks: list[tuple[str, str, list[int]]] = []
    gutters: list[tuple[int, int, int, int]] = []
    cursor = top
    for n, sec in enumerate(sections):
        if n:
            cursor += int(round(pitch * sec.space))
        gutter = int(round(sec.gutter * em))
        free = right - left - gutter * (len(sec.weights) - 1)
        edges = np.concatenate([[0.0], np.cumsum(sec.weights)]) / sum(sec.weights) * free
        low = bottom if not sec.flow else cursor + int(sec.height * (bottom - cursor))
        xs = [
            (left + int(round(edges[k])) + k * gutter, left + int(round(edges[k + 1])) + k * gutter)
            for k in range(len(sec.weights))
        ]
        slack = max(2, int(round(0.3 * em))) if len(xs) > 1 else 0  # italic ink may overhang its advance
        frames = [_Page(width, height, (x0, cursor, x1 - slack, low), gap, pixels) for x0, x1 in xs]
        full = False
        if sec.flow:
            k = 0
            for entry in _flow_lines(sec.blocks[0].items, fonts, frames[0].text_width, pitch, justify):
                if entry[0] == "gap":
                    if frames[k].lines:
                        frames[k].skip(entry[1])
                    continue
                parts = [(t, frames[k].left + x) for t, x in entry[1]]
                while not frames[k].place(parts, entry[2], entry[3]):
                    k += 1
                    if k == len(frames):
                        break
                    parts = [(t, frames[k].left + x) for t, x in entry[1]]
                if k == len(frames):
                    full = sec.height >= 1.0
                    break
            owners = [(f, sec.blocks[0]._replace(role="column")) for f in frames]
        else:
            full = not all([_draw_items(f, b.items, fonts, pitch, rng) for f, b in zip(frames, sec.blocks)])
            owners = list(zip(frames, sec.blocks))
        drawn = [(f, b) for f, b in owners if f.lines]
        if not drawn:
            break
        for f, b in drawn:
            blocks.append((b.kind, b.role, list(range(len(lines), len(lines) + len(f.lines)))))
            lines += f.lines
        low_ink = max(box[3] for f, _ in drawn for _, box in f.lines)
        for (_, a), (b, _) in zip(xs, xs[1:]):  # clear of the columns' boxes padded as in the export
            gutters.append((a + PAD, cursor, b - PAD, low_ink))
        cursor = low_ink + gap
        if full:
            break
    return LaidOut(pixels, lines, blocks, gutters)


def _rotation(angle: float, cx: float, cy: float) -> np.ndarray:
    """2x3 affine matrix turning the page ``angle`` degrees CLOCKWISE (as seen) about (cx, cy)."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy]])


def _gain_map(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Uneven illumination: a linear gradient times a soft gutter or corner shadow, float32 (h, w)."""
    sh, sw = max(h // 8, 2), max(w // 8, 2)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    yy, xx = yy / (sh - 1), xx / (sw - 1)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5)  # in [-0.71, 0.71]
    gain = 1.0 - rng.uniform(0.1, 0.3) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    depth, spread = rng.uniform(0.35, 0.55), rng.uniform(0.06, 0.25)
    if rng.random() < 0.5:  # book gutter along the left or right edge
        dist = xx if rng.random() < 0.5 else 1.0 - xx
    else:  # a corner
        cx, cy = float(rng.integers(0, 2)), float(rng.integers(0, 2))
        dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / 1.5
    gain *= 1.0 - depth * np.exp(-dist / spread)
    gain = np.maximum(gain, 0.45).astype(np.float32)
    return cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)


def _degrade_scan(page: np.ndarray, dpi: int, primary: str, rng: np.random.Generator) -> tuple[np.ndarray, float, int]:
    """Scan an upright clean page: skew, blur, tone, lighting, noise; returns (image, skew, jpeg quality)."""
    h, w = page.shape
    # Draw every parameter up front, in a fixed order, so each primary only changes its own values.
    skew = float(rng.uniform(-1.0, 1.0))
    sigma = float(rng.uniform(0.3, 0.6)) * dpi / 300
    ink, paper = float(rng.uniform(10, 50)), float(rng.uniform(215, 250))
    noise_sigma = float(rng.uniform(2, 5))
    quality = int(rng.integers(75, 96))
    if primary == "skew":
        skew = float(rng.choice([-1, 1]) * rng.uniform(1.5, 3.0))
    elif primary == "blur":
        sigma = float(rng.uniform(0.8, 1.8)) * max(dpi / 300, 0.6)
    elif primary == "noise":
        noise_sigma = float(rng.uniform(12, 25))
    elif primary == "jpeg":
        quality = int(rng.integers(20, 41))
    elif primary == "low_contrast":
        ink, paper = float(rng.uniform(100, 150)), float(rng.uniform(170, 215))
    skew = round(skew, 4)  # the value recorded in the export is the one applied
    img = cv2.warpAffine(
        page,
        _rotation(skew, w / 2, h / 2),
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    )
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    out = img.astype(np.float32) * np.float32((paper - ink) / 255.0) + np.float32(ink)
    if primary == "illumination":
        out *= _gain_map(h, w, rng)
    out += rng.standard_normal((h, w), dtype=np.float32) * np.float32(noise_sigma)
    if primary == "noise":  # salt-and-pepper specks, a few pixels across at high dpi
        k = max(int(round(dpi / 150)), 1)
        small = rng.random((h // k + 1, w // k + 1), dtype=np.float32)
        specks = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST) if k > 1 else small[:h, :w]
        rate = float(rng.uniform(0.001, 0.004))
        out[specks < rate] = ink
        out[specks > 1 - rate] = paper
    return np.clip(out, 0, 255).astype(np.uint8), skew, quality


def _rect(box: tuple[int, int, int, int], angle: float, cx: float, cy: float) -> tuple[float, float, float, float]:
    """Top-left corner, width and height of the padded upright ``box`` after turning the page by ``angle``."""
    x0, y0, x1, y1 = box[0] - PAD, box[1] - PAD, box[2] + PAD, box[3] + PAD
    m = _rotation(angle, cx, cy)
    return m[0, 0] * x0 + m[0, 1] * y0 + m[0, 2], m[1, 0] * x0 + m[1, 1] * y0 + m[1, 2], x1 - x0, y1 - y0


def line_rects(lines: list, angle: float, width: int, height: int) -> list[tuple[float, float, float, float, float]]:
    """``(x, y, w, h, rotation)`` pixel rectangles of upright ``(text, box)`` lines on the page turned
    by ``angle`` (the skew of :func:`render_layout`), padded as in the export; Label Studio's convention."""
    return [(*_rect(box, angle, width / 2, height / 2), angle % 360.0) for _, box in lines]


def _scan_results(lines: list, angle: float, width: int, height: int, rng: np.random.Generator) -> list[dict]:
    """Label Studio result items of a scanned page: rotated rectangles and textareas."""
    items = []
    for text, box in lines:
        rect = _rect(box, angle, width / 2, height / 2)
        items += ocr_region(random_region_id(rng), rect, text, width, height, rotation=angle % 360.0)
    return items


class _DocPlan(NamedTuple):
    """What one "scan" document looks like, drawn before any text or pixel."""

    kind: str
    font: Font
    dpi: int
    paper: str
    body_pt: float
    degradations: tuple[str, ...]  # one a page


def _plan(seed: int, doc_index: int, pages: tuple[int, int], split: str) -> _DocPlan:
    """The document's plan, from its own random stream (cheap, so tests can draw thousands)."""
    rng = np.random.default_rng([seed, doc_index, 0])
    catalog = fonts_of_split(split)
    kind = DOC_KINDS[int(rng.integers(len(DOC_KINDS)))]
    font = catalog[int(rng.integers(len(catalog)))]
    dpi = int(rng.integers(150, 301))
    paper = "letter" if rng.random() < 0.5 else "a4"
    body_pt = round(float(rng.uniform(8.0, 14.0)), 2)
    n_pages = int(rng.integers(pages[0], pages[1] + 1))
    degradations = tuple(DEGRADATIONS[int(i)] for i in rng.integers(len(DEGRADATIONS), size=n_pages))
    return _DocPlan(kind, font, dpi, paper, body_pt, degradations)


def _choose_layout(seed: int, doc_index: int, layouts: dict[str, float] | None) -> str:
    """The document's layout, drawn from its own random stream (none drawn without a mix)."""
    if not layouts:
        return "single"
    names = [n for n in LAYOUTS if layouts.get(n, 0.0) > 0]
    if len(names) == 1:
        return names[0]
    weights = np.array([layouts[n] for n in names], dtype=np.float64)
    rng = np.random.default_rng([seed, doc_index, 3])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _layout_page(
    source: LayoutSource, layout: str, plan: _DocPlan, first: bool, rng: np.random.Generator
) -> tuple[LaidOut, float]:
    """Draw one upright page of ``layout`` and return it with its body size in points.

    For "single" the page's ``blocks`` is ``None`` and it has no gutters.
    """
    if layout == "single":
        page = _layout(source.document(plan.kind, first=first), plan.font.path, plan.dpi, plan.paper, plan.body_pt, rng)
        return LaidOut(page.pixels, page.lines, None, []), plan.body_pt
    lo, hi = BODY_PT[layout]
    body_pt = round(lo + (hi - lo) * (plan.body_pt - 8.0) / 6.0, 2)  # the plan's 8-14 pt mapped into the layout's range
    sections = [
        sec._replace(blocks=tuple(b._replace(items=map(printable, b.items)) for b in sec.blocks))
        for sec in source.sections(layout, first)
    ]
    return _layout_sections(sections, plan.font.path, plan.dpi, plan.paper, body_pt, rng), body_pt


def render_layout(
    layout: str, seed: int, split: str = "train", degradation: str | None = None, doc_index: int = 0
) -> tuple[LaidOut, np.ndarray, float]:
    """Render the first page of one "scan" document of ``layout`` in memory (for tests and tools).

    Parameters
    ----------
    layout : str
        One of :data:`linerec.synth.layouts.MULTI_COLUMN`.
    seed, doc_index : int
        As in :func:`generate_corpus`: the same pair gives the same page.
    split : {"train", "heldout", "all"}
        Font split.
    degradation : str, optional
        One of :data:`DEGRADATIONS` for the scan; by default the document plan's.

    Returns
    -------
    (LaidOut, numpy.ndarray, float)
        The upright clean page with its ground truth, the scanned ``(H, W)`` uint8 page and its
        skew (degrees clockwise about the page centre; the upright boxes turn by it).
    """
    if layout not in MULTI_COLUMN:
        raise ValueError(f"unknown multi-column layout {layout!r}; expected one of {MULTI_COLUMN}")
    plan = _plan(seed, doc_index, (1, 1), split)
    rng = np.random.default_rng([seed, doc_index, 1])
    source = LayoutSource(int(rng.integers(2**62)), rng)
    primary = degradation or plan.degradations[0]
    if primary not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {primary!r}; expected one of {DEGRADATIONS}")
    laid, _ = _layout_page(source, layout, plan, True, rng)
    image, skew, _ = _degrade_scan(laid.pixels, plan.dpi, primary, rng)
    return laid, image, skew


def _scan_document(args: tuple) -> list[tuple[str, bytes, dict, list[dict]]]:
    """Render one document of the "scan" profile: (file name, JPEG bytes, task data, results) per page."""
    out_name, seed, doc_index, pages, split, image_prefix, layouts = args
    plan = _plan(seed, doc_index, pages, split)
    layout = _choose_layout(seed, doc_index, layouts)
    rng = np.random.default_rng([seed, doc_index, 1])
    source = LayoutSource(int(rng.integers(2**62)), rng)
    document = f"{out_name}_{doc_index:04d}"
    rendered = []
    for page_no, primary in enumerate(plan.degradations, start=1):
        (pixels, lines, blocks, _), body_pt = _layout_page(source, layout, plan, page_no == 1, rng)
        image, skew, quality = _degrade_scan(pixels, plan.dpi, primary, rng)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        name = f"{document}_p{page_no}.jpg"
        h, w = image.shape
        data = {
            "image": f"{image_prefix}images/{name}",
            "document": document,
            "page": page_no,
            "kind": plan.kind if blocks is None else LAYOUT_KINDS[layout],
            "font": plan.font.name,
            "font_split": plan.font.split,
            "dpi": plan.dpi,
            "paper": plan.paper,
            "body_pt": body_pt,
            "degradation": primary,
            "skew": skew,
            "jpeg_quality": quality,
        }
        results = _scan_results(lines, skew, w, h, rng)
        if blocks is not None:  # reading order: lines (by region id) block by block
            data["layout"] = layout
            data["blocks"] = [
                {"kind": kind, "role": role, "lines": [results[2 * i]["id"] for i in idx]} for kind, role, idx in blocks
            ]
        rendered.append((name, jpeg.tobytes(), data, results))
    return rendered


def _generate_clean(
    out: pathlib.Path,
    n_documents: int,
    seed: int,
    pages: tuple[int, int],
    image_prefix: str,
    progress: Callable[[int, str], None] | None,
) -> list[dict]:
    """Profile "clean": the original generator (one random stream, PNG pages)."""
    if not FONTS:
        raise RuntimeError("no DejaVu/Liberation fonts installed (apt-get install fonts-dejavu-core fonts-liberation)")
    lo, hi = pages
    rng = np.random.default_rng(seed)
    source = TextSource(seed, rng)
    clock = dt.datetime(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    tasks: list[dict] = []
    for doc_index in range(n_documents):
        document = f"synth_{seed}_{doc_index:04d}"
        for page_no in range(1, int(rng.integers(lo, hi + 1)) + 1):
            page, lines = _render_page(source, rng)
            name = f"{document}_p{page_no}.png"
            Image.fromarray(page, "L").save(out / "images" / name)
            data = {"image": f"{image_prefix}images/{name}", "document": document, "page": page_no}
            clock += dt.timedelta(seconds=float(rng.uniform(30, 600)))
            results = _results(lines, page.shape[1], page.shape[0], rng)
            tasks.append(export_task(len(tasks) + 1, data, results, clock, rng))
            logger.debug("rendered %s with %d lines", name, len(lines))
        if progress is not None:
            progress(doc_index + 1, document)
    return tasks


def _generate_scan(
    out: pathlib.Path,
    n_documents: int,
    seed: int,
    pages: tuple[int, int],
    image_prefix: str,
    split: str,
    workers: int,
    layouts: dict[str, float] | None,
    progress: Callable[[int, str], None] | None,
) -> list[dict]:
    """Profile "scan": documents rendered independently (seeded by (seed, index)), maybe in processes.

    Documents are written in index order whatever the number of workers.
    """
    fonts_of_split(split)  # fail early, naming the packages, if the split has no installed font
    jobs = [(f"synth_{seed}", seed, i, pages, split, image_prefix, layouts) for i in range(n_documents)]
    meta_rng = np.random.default_rng([seed, 2**32])  # export timestamps, independent of the pages
    clock = dt.datetime(2024, 1, 1) + dt.timedelta(days=int(meta_rng.integers(0, 365)))
    tasks: list[dict] = []
    done = 0  # documents written

    def collect(rendered: list) -> None:
        nonlocal clock, done
        for name, jpeg, data, results in rendered:
            (out / "images" / name).write_bytes(jpeg)
            clock += dt.timedelta(seconds=float(meta_rng.uniform(30, 600)))
            tasks.append(export_task(len(tasks) + 1, data, results, clock, meta_rng))
        document = rendered[0][2]["document"]  # every document has a page
        done += 1
        logger.debug("rendered %s (%d pages)", document, len(rendered))
        if progress is not None:
            progress(done, document)

    if workers > 1 and n_documents > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(workers, n_documents)) as pool:
            for rendered in pool.map(_scan_document, jobs, chunksize=1):
                collect(rendered)
    else:
        for job in jobs:
            collect(_scan_document(job))
    return tasks


def generate_corpus(
    out_dir: str | pathlib.Path,
    n_documents: int,
    seed: int,
    pages_per_document: tuple[int, int] = (1, 2),
    image_prefix: str = "/data/local-files/?d=",
    *,
    profile: str = "clean",
    fonts: str = "train",
    workers: int = 1,
    first_task_id: int = 1,
    layouts: dict[str, float] | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> pathlib.Path:
    """Generate synthetic scanned documents and their Label Studio export.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output directory; ``images/<doc>_p<page>.<png|jpg>`` and ``export.json`` are written in it.
    n_documents : int
        Number of documents (each becomes one or more pages / tasks).
    seed : int
        Non-negative seed; equal seeds give byte-identical output.
    pages_per_document : tuple of int, optional
        Inclusive ``(min, max)`` number of pages per document.
    image_prefix : str, optional
        Prefix of ``data.image`` in the export, followed by ``images/<file>``.
    profile : {"clean", "scan"}, optional
        ``"clean"``: the original short pages of mixed text blocks (PNG, axis-aligned
        boxes). ``"scan"``: whole letters, invoices, forms, tables and reports at
        150-300 dpi in one font a page, with scanner degradations (JPEG, boxes
        rotated by the page skew); ``data`` then also holds ``kind``, ``font``,
        ``font_split``, ``dpi``, ``degradation``, ``skew`` and a few more.
    fonts : {"train", "heldout", "all"}, optional
        Font split of :func:`linerec.synth.fonts.fonts` used by the "scan" profile.
    workers : int, optional
        Processes rendering "scan" documents; the output does not depend on it.
        The "clean" profile always runs in this process.
    first_task_id : int, optional
        Id of the first task (the others follow). Export files share one task id scope in
        annotation sync, so exports meant to be ingested together need disjoint ranges.
    layouts : dict of str to float, optional
        "scan" profile: relative weights of the page layouts of
        :data:`linerec.synth.layouts.LAYOUTS` (e.g. ``{"single": 0.8, "columns2": 0.2}``, or
        :func:`linerec.synth.layouts.layout_mix`); each document draws one from its own
        random stream. ``None`` (the default) makes every page "single", as before layouts
        existed, byte for byte. Pages of another layout carry ``data["layout"]`` and
        ``data["blocks"]``: the blocks in reading order, each ``{"kind": "text" | "table",
        "role": ..., "lines": [region ids, top to bottom]}``.
    progress : callable, optional
        ``progress(done, document)`` is called in this process each time a document's pages
        are written: ``done`` documents so far (1, 2, ... ``n_documents``, in order, for any
        number of workers) and the name of the document just written (``synth_<seed>_<index>``).

    Returns
    -------
    pathlib.Path
        Path of the written ``export.json``.
    """
    lo, hi = pages_per_document
    if n_documents < 0 or seed < 0 or not 1 <= lo <= hi or workers < 1:
        raise ValueError(
            f"bad arguments: n_documents={n_documents} seed={seed} pages={pages_per_document} workers={workers}"
        )
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    layouts = check_mix(layouts)
    if profile == "clean" and layouts is not None and set(k for k, v in layouts.items() if v > 0) != {"single"}:
        raise ValueError("layouts other than 'single' need profile='scan'")
    out = pathlib.Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    if profile == "clean":
        tasks = _generate_clean(out, n_documents, seed, (lo, hi), image_prefix, progress)
    else:
        tasks = _generate_scan(out, n_documents, seed, (lo, hi), image_prefix, fonts, workers, layouts, progress)
    for task in tasks:  # ids were numbered from 1
        task["id"] = task["inner_id"] = task["id"] + first_task_id - 1
        for annotation in task["annotations"]:
            annotation["task"] = task["id"]
    export = out / "export.json"
    export.write_text(json.dumps(tasks, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %d tasks (%d documents, profile %s) to %s", len(tasks), n_documents, profile, export)
    return export


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: ``python -m linerec.synth.pages OUT_DIR --documents N --seed S [--profile scan]``."""
    parser = argparse.ArgumentParser(prog="python -m linerec.synth.pages", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pages", type=int, nargs=2, default=(1, 2), metavar=("MIN", "MAX"))
    parser.add_argument("--image-prefix", default="/data/local-files/?d=")
    parser.add_argument("--profile", choices=PROFILES, default="scan")
    parser.add_argument("--fonts", choices=("train", "heldout", "all"), default="train")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--layouts",
        type=parse_mix,
        default=None,
        metavar="SPEC",
        help=f"page layout weights, e.g. single=4,columns2=1,table=1 (layouts: {', '.join(LAYOUTS)}); "
        "default: single only",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    generate_corpus(
        args.out_dir,
        args.documents,
        args.seed,
        tuple(args.pages),
        args.image_prefix,
        profile=args.profile,
        fonts=args.fonts,
        workers=args.workers,
        layouts=args.layouts,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
