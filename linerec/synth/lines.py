"""Line sheets: stacks of independent synthetic text lines, exported like an annotator's work.

A *sheet* is a grayscale PNG 1,200-2,000 px wide holding ``lines_per_sheet``
lines stacked close together. Every line draws its own font (a design group of
:func:`linerec.synth.fonts.design_groups` uniformly, then a face of it), x-height
(8-40 px, log-uniform), text (a kind of :mod:`linerec.synth.corpora`), position
and degradation, and is rendered in a band of the sheet's full width that holds
its ink plus half of an ink-to-ink gap of 0.06-0.7 font sizes to each neighbour.
Its annotation rectangle is its tight ink box grown by an independent margin per
side of 0-35% of the font size (1-2 px *into* the ink on 8% of sides), so loose
boxes catch parts of the neighbouring lines (about one side in six), as real
line detectors' boxes do. Lines share the sheet's paper, ink, noise and blur
unless their degradation changes them, so most neighbours meet without a seam.

:func:`generate_line_sheets` writes ``images/*.png``, ``export.json`` (a Label
Studio OCR export in the format of :func:`linerec.synth.pages.generate_corpus`)
and ``lines.jsonl`` (one row per line: text, kind, font, degradation, margins).
Output is a pure function of the seed, the installed fonts and the corpus
cache: any number of workers gives the same bytes.

Degradations (one per line drawn from this table; with probability 0.35 a
second, different one is added; every line also gets a mild blur, paper/ink
tones and sensor noise):

============  =====  ===============================================================
name          p      what it does
============  =====  ===============================================================
clean         0.08   nothing beyond the base
binarize      0.08   thresholded to black and white (fax, old bitonal scans)
thin          0.06   strokes eroded (light print, over-exposed scan)
thick         0.06   strokes dilated (ink spread, heavy toner)
lowres        0.09   rendered at x-height 8-12 px, then upsampled to 14-30 px
thermal       0.08   light grey uneven print fading along the line, streaks, dropouts
speckle       0.06   photocopy salt-and-pepper specks
bleed         0.06   mirrored faint text of the page's other side behind the line
jpeg          0.07   JPEG at quality 8-35
illumination  0.06   uneven light: gradient and shading across the band
blur          0.07   Gaussian or horizontal motion blur
photo         0.06   slight perspective and baseline curl (phone photos)
rotate        0.04   rotated up to what keeps the line within +-0.45 x-heights of drift
paper         0.05   grey or coloured paper converted to grey, with texture
rules         0.05   underline or table rules touching the text, cell borders
leaders       0.03   dotted leaders between the text and its last word (not in the label)
============  =====  ===============================================================
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import math
import pathlib
from collections.abc import Callable
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from linerec.labelstudio.regions import ocr_region, random_region_id
from linerec.model.charset import EXTRA_CHARS
from linerec.synth import corpora
from linerec.synth.fonts import Font, design_groups
from linerec.synth.pages import export_task
from linerec.synth.text import fit_text

logger = logging.getLogger(__name__)

#: Probability of each primary degradation (see the module docstring).
DEGRADATIONS = {
    "clean": 0.08,
    "binarize": 0.08,
    "thin": 0.06,
    "thick": 0.06,
    "lowres": 0.09,
    "thermal": 0.08,
    "speckle": 0.06,
    "bleed": 0.06,
    "jpeg": 0.07,
    "illumination": 0.06,
    "blur": 0.07,
    "photo": 0.06,
    "rotate": 0.04,
    "paper": 0.05,
    "rules": 0.05,
    "leaders": 0.03,
}
SECOND_DEGRADATION = 0.35
MAX_MARGIN = 0.35  # of the font size, per side
NEGATIVE_MARGIN = 0.08  # share of sides cut 1-2 px into the ink
WIDTH_RANGE = (1200, 2000)
X_HEIGHT_RANGE = (8, 40)
_NAMES = tuple(DEGRADATIONS)
_P = np.array([DEGRADATIONS[n] for n in _NAMES]) / sum(DEGRADATIONS.values())
_FALLBACK = {
    "\u20ac": "EUR",
    "\u00a3": "GBP",
    "\u00b0": " deg",
    "\u00b1": "+/-",
    "\u00a7": "S.",
    "\u201c": '"',
    "\u201d": '"',
    "\u2018": "'",
    "\u2019": "'",
    "\u2013": "-",
    "\u2014": "-",
    "\u00b7": ".",
    "\u00d7": "x",
}


class SheetLine(NamedTuple):
    """One rendered line of a sheet; boxes are ``(x0, y0, x1, y1)`` sheet pixels, end exclusive."""

    text: str
    kind: str
    font: Font
    degradation: str
    x_height: int
    tight: tuple[int, int, int, int]  # the ink
    box: tuple[int, int, int, int]  # the annotation: ``tight`` grown by ``margins``, clipped to the sheet
    margins: tuple[int, int, int, int]  # left, top, right, bottom (negative: into the ink)


@functools.lru_cache(maxsize=4)
def _groups(split: str) -> tuple[tuple[Font, ...], ...]:
    return tuple(design_groups(split).values())


@functools.lru_cache(maxsize=1)
def _sampler() -> corpora.LineSampler:
    return corpora.LineSampler(corpora.load_corpus())


@functools.lru_cache(maxsize=512)
def _face(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _pick_font(groups, rng: np.random.Generator) -> Font:
    group = groups[int(rng.integers(len(groups)))]
    return group[int(rng.integers(len(group)))]


def _degradations(rng: np.random.Generator) -> tuple[str, ...]:
    first = _NAMES[int(rng.choice(len(_NAMES), p=_P))]
    if rng.random() >= SECOND_DEGRADATION or first == "clean":
        return (first,)
    second = first
    while second in (first, "clean"):
        second = _NAMES[int(rng.choice(len(_NAMES), p=_P))]
    return (first, second)


def _ink_box(cov: np.ndarray, level: float = 0.5) -> tuple[int, int, int, int] | None:
    ink = cov > level
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _draw(canvas: Image.Image, parts: list[tuple[str, float]], face, baseline: float, scale: float) -> None:
    draw = ImageDraw.Draw(canvas)
    for text, x in parts:
        draw.text((x * scale, baseline * scale), text, font=face, fill=255, anchor="ls")


def _leaders(
    canvas: Image.Image, x0: float, x1: float, baseline: float, size: int, scale: float, rng: np.random.Generator
) -> None:
    """Dots on the baseline between ``x0`` and ``x1`` (coverage canvas, scaled)."""
    pitch, r = size * float(rng.uniform(0.3, 0.6)), max(size * 0.05, 0.6)
    draw = ImageDraw.Draw(canvas)
    x = x0 + pitch * 0.7
    while x < x1 - pitch * 0.5:
        cx, cy = x * scale, (baseline - r) * scale
        draw.ellipse((cx - r * scale, cy - r * scale, cx + r * scale, cy + r * scale), fill=255)
        x += pitch


def _geometry(cov: np.ndarray, kinds: tuple[str, ...], params: dict, rng: np.random.Generator) -> np.ndarray:
    h, w = cov.shape
    if "rotate" in kinds:
        cx, cy = params["cx"], params["cy"]
        m = cv2.getRotationMatrix2D((cx, cy), params["angle"], 1.0)
        cov = cv2.warpAffine(cov, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    if "photo" in kinds:
        x0, x1, amp, tilt = params["x0"], params["x1"], params["curl"], params["tilt"]
        xs = np.arange(w, dtype=np.float32)
        t = np.clip((xs - x0) / max(x1 - x0, 1), 0, 1)
        dy = amp * (2 * t - 1) ** 2 - amp / 2 + tilt * (t - 0.5)  # baseline curl and a tilt, (w,)
        sx = 1.0 + params["shear"] * (np.arange(h, dtype=np.float32) - h / 2)[:, None] / max(h, 1)  # perspective-ish
        map_x = (xs[None, :] - params["cx"]) * sx + params["cx"]
        map_y = np.arange(h, dtype=np.float32)[:, None] - dy[None, :]
        cov = cv2.remap(
            cov,
            map_x.astype(np.float32),
            np.broadcast_to(map_y, (h, w)).astype(np.float32),
            cv2.INTER_LINEAR,
            borderValue=0,
        )
    return cov


def _morph(cov: np.ndarray, kinds: tuple[str, ...], x_height: int, rng: np.random.Generator) -> np.ndarray:
    for kind, op in (("thin", cv2.erode), ("thick", cv2.dilate)):
        if kind in kinds:
            k = 2 if x_height < 22 else 3
            moved = op(cov, np.ones((k, k), np.uint8))
            mix = float(rng.uniform(0.5, 1.0)) if x_height >= 14 else float(rng.uniform(0.3, 0.6))
            ratio = float(moved.sum()) / max(float(cov.sum()), 1e-6)
            if ratio < 0.4 or ratio > 1.8:  # light faces would vanish, bold ones fill their counters: go easy
                mix = min(mix, 0.4)
            cov = (1 - mix) * cov + mix * moved
    return cov


def _tone(
    cov: np.ndarray, kinds: tuple[str, ...], box, base: dict, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """Paper and ink tones (the sheet's, or thermal fading, coloured paper); float32 grey (h, w), paper, ink."""
    h, w = cov.shape
    paper, ink = base["paper"], base["ink"]
    if "thermal" in kinds:
        ink = float(rng.uniform(80, 165))
        x0, x1 = box[0], box[2]
        xs = np.arange(w, dtype=np.float32)
        along = np.clip((xs - x0) / max(x1 - x0, 1), 0, 1)  # 0 -> 1 over the text, (w,)
        fade = 1.0 - float(rng.uniform(0.0, 0.5)) * along ** float(rng.uniform(0.5, 2))
        streak = np.ones(w, np.float32)
        for _ in range(int(rng.integers(1, 8))):  # dead or weak heater dots print as pale vertical lines
            c, width = int(rng.integers(x0, max(x1, x0 + 1))), int(rng.integers(1, 4))
            streak[max(c, 0) : c + width] *= float(rng.uniform(0.0, 0.6))
        cov = cov * (fade * streak)[None, :]
        dropout = cv2.resize(
            rng.random((max(h // 3, 1), max(w // 3, 1)), dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR
        )
        cov = cov * np.clip(dropout * 3.0, 0.3, 1.0)
    if "paper" in kinds:
        paper = float(rng.uniform(140, 215))
        ink = min(ink, paper - 90)
    grey = paper - (paper - ink) * cov
    if "paper" in kinds:
        tex = cv2.resize(
            rng.standard_normal((max(h // 6, 1), max(w // 6, 1)), dtype=np.float32),
            (w, h),
            interpolation=cv2.INTER_CUBIC,
        )
        grey += tex * float(rng.uniform(3, 9))
    return grey.astype(np.float32), paper, ink


def _photometric(
    grey: np.ndarray,
    kinds: tuple[str, ...],
    x_height: int,
    paper: float,
    ink: float,
    base: dict,
    rng: np.random.Generator,
) -> np.ndarray:
    h, w = grey.shape
    if "illumination" in kinds:
        xs = np.linspace(0, 1, w, dtype=np.float32)
        phase, span = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.1, 0.35))
        gain = 1.0 - span * (0.5 + 0.5 * np.cos(2 * np.pi * xs * float(rng.uniform(0.3, 1.2)) + phase))
        gain = gain[None, :] * (1.0 - float(rng.uniform(0, 0.1)) * np.linspace(0, 1, h, dtype=np.float32)[:, None])
        grey = grey * gain
    sigma = base["blur"]
    if "blur" in kinds:
        if rng.random() < 0.7:
            sigma = float(rng.uniform(0.7, 1.5)) * max(x_height / 16, 0.6)
        else:  # horizontal motion blur (hand-held phone, moving feed)
            k = int(rng.integers(3, max(4, x_height // 3) + 2))
            grey = cv2.filter2D(grey, -1, np.full((1, k), 1.0 / k, np.float32))
    grey = np.asarray(cv2.GaussianBlur(grey, (0, 0), sigma), dtype=np.float32)  # float32 in, float32 out
    grey += rng.standard_normal((h, w), dtype=np.float32) * np.float32(base["noise"])
    if "speckle" in kinds:  # toner specks in patches, and drop-outs in the ink
        rate = float(rng.uniform(0.0005, 0.005))
        patches = (
            cv2.resize(
                rng.random((max(h // 16, 1), max(w // 16, 1)), dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR
            )
            * 2.0
        )  # density varies across the band, (h, w)
        specks: np.ndarray = rng.random((h, w), dtype=np.float32)
        if rng.random() < 0.5:  # specks of 2 px
            specks = cv2.erode(specks, np.ones((2, 2), np.uint8))
        grey[specks < rate * patches] = ink
        grey[specks > 1 - rate * patches] = paper
    if "binarize" in kinds:
        level = (paper + ink) / 2 + float(rng.uniform(-0.2, 0.2)) * (paper - ink)
        grey = np.where(grey < level, float(rng.uniform(0, 40)), float(rng.uniform(225, 255))).astype(np.float32)
    out: np.ndarray = np.clip(grey, 0, 255).astype(np.uint8)
    if "jpeg" in kinds:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(8, 36))])
        decoded = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        assert decoded is not None, "OpenCV could not decode the JPEG it has just encoded"
        out = decoded
    return out


def _draws(font: Font, text: str) -> bool:
    return all(c in font.extras if c in EXTRA_CHARS else c not in font.lacks for c in text)


def _ensure_glyphs(text: str, font: Font, groups, rng: np.random.Generator) -> tuple[str, Font]:
    """A font that draws every character of ``text`` (redrawn up to 6 times), else the text with ASCII
    stand-ins for the symbols the last font lacks (and without the ASCII symbols it lacks)."""
    for _ in range(6):
        if _draws(font, text):
            return text, font
        font = _pick_font(groups, rng)
    text = "".join(_FALLBACK.get(c, c) if c in EXTRA_CHARS and c not in font.extras else c for c in text)
    return " ".join("".join(c for c in text if c not in font.lacks).split()), font


def _render_line(width: int, groups, base: dict, rng: np.random.Generator) -> tuple[np.ndarray, dict] | None:
    """Render one line as a band of the sheet's width; returns (uint8 band, info) or None (no ink)."""
    kinds = _degradations(rng)
    kind, text = _sampler().sample(rng)
    text, font = _ensure_glyphs(text, _pick_font(groups, rng), groups, rng)
    lo, hi = X_HEIGHT_RANGE
    if "lowres" in kinds:
        x_height = int(rng.integers(14, 31))
        scale = float(rng.uniform(8, 12.5)) / x_height
    else:
        x_height = int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))
        scale = 1.0
    size = max(int(round(x_height / max(font.x_height, 0.2))), 6)
    face = _face(font.path, size)
    ascent, descent = face.getmetrics()
    left, right = int(rng.integers(15, 140)), int(rng.integers(15, 140))
    avail = width - left - right
    text = fit_text(text, face, avail)
    parts: list[tuple[str, float]] = [(text, 0.0)]
    gap_range = None
    words = text.split(" ")
    if len(words) > 1 and ("leaders" in kinds or (kind in ("receipt", "amount", "code") and rng.random() < 0.5)):
        head, tail = " ".join(words[:-1]), words[-1]
        spare = avail - face.getlength(head) - face.getlength(tail)
        if spare > 3 * size:
            gap = float(rng.uniform(1.5 * size, min(spare, 15 * size)))
            parts = [(head, 0.0), (tail, face.getlength(head) + gap)]
            gap_range = (face.getlength(head), face.getlength(head) + gap)
    text_w = max(x + face.getlength(t) for t, x in parts)
    x_start = left + (
        float(rng.uniform(0, max(avail - text_w, 0)))
        if rng.random() < 0.4
        else float(rng.uniform(0, min(3 * size, max(avail - text_w, 0))))
    )
    params = {"cx": x_start + text_w / 2}
    drift = 0.0
    if "rotate" in kinds:
        limit = math.degrees(math.atan(0.45 * x_height / max(text_w / 2, 1)))
        params["angle"] = float(rng.uniform(-1, 1)) * min(limit, 3.0)
        drift = abs(math.tan(math.radians(params["angle"]))) * text_w / 2
    if "photo" in kinds:
        params.update(
            x0=x_start,
            x1=x_start + text_w,
            curl=float(rng.uniform(-0.35, 0.35)) * x_height,
            tilt=float(rng.uniform(-0.3, 0.3)) * x_height,
            shear=float(rng.uniform(-0.04, 0.04)),
        )
        drift += 0.45 * x_height
    pad = int(math.ceil(drift + 0.1 * size)) + 3  # room for the geometry; the band is cut to the ink below
    height = pad + ascent + descent + pad
    baseline = pad + ascent
    params["cy"] = baseline - x_height / 2
    # coverage: 0 = paper, 1 = ink; rendered at ``scale`` (lowres) and brought back to full size
    small = (max(int(round(width * scale)), 1), max(int(round(height * scale)), 1))
    canvas = Image.new("L", small, 0)
    draw_face = face if scale == 1.0 else _face(font.path, max(int(round(size * scale)), 4))
    _draw(canvas, [(t, x_start + x) for t, x in parts], draw_face, baseline, scale)
    if gap_range is not None and "leaders" in kinds:
        _leaders(canvas, x_start + gap_range[0], x_start + gap_range[1], baseline, size, scale, rng)
    cov: np.ndarray = np.asarray(canvas, dtype=np.float32) / 255.0
    if scale != 1.0:
        method = cv2.INTER_CUBIC if rng.random() < 0.5 else cv2.INTER_LINEAR
        cov = cv2.resize(cov, (width, height), interpolation=method)
        cov = np.clip(cov, 0, 1)
    cov = _geometry(cov, kinds, params, rng)
    cov = _morph(cov, kinds, x_height, rng)
    box = _ink_box(cov)
    if box is None:
        return None
    # the band: the ink plus half the ink-to-ink gap to each neighbour (0.06-0.7 font sizes in all), so that
    # loose boxes of this line or the next catch some of the other's ink
    r0 = max(box[1] - 1 - int(size * float(rng.uniform(0.03, 0.35))), 0)
    r1 = min(box[3] + 1 + int(size * float(rng.uniform(0.03, 0.35))), height)
    cov, height, baseline = cov[r0:r1], r1 - r0, baseline - r0
    box = (box[0], box[1] - r0, box[2], box[3] - r0)
    grey, paper, ink = _tone(cov, kinds, box, base, rng)
    if "bleed" in kinds:
        other = "".join(c for c in _sampler().sample(rng)[1] if _draws(font, c))  # no tofu behind either
        back = Image.new("L", (width, height), 0)
        bx = float(rng.uniform(0, max(width - face.getlength(other), 1)))
        ImageDraw.Draw(back).text(
            (bx, baseline + float(rng.uniform(-0.6, 0.6)) * x_height), other, font=face, fill=255, anchor="ls"
        )
        mirrored = cv2.GaussianBlur(
            np.asarray(back, dtype=np.float32)[:, ::-1] / 255.0, (0, 0), float(rng.uniform(0.8, 2.0))
        )
        grey -= mirrored * (paper - ink) * float(rng.uniform(0.06, 0.22))
    if "rules" in kinds:
        thick = max(int(round(size * float(rng.uniform(0.03, 0.09)))), 1)
        shade = ink + float(rng.uniform(0, 0.3)) * (paper - ink)
        x0 = max(box[0] - int(rng.integers(0, 4 * size)), 0) if rng.random() < 0.6 else 0
        x1 = min(box[2] + int(rng.integers(0, 4 * size)), width) if rng.random() < 0.6 else width
        where = int(rng.integers(3))
        if where == 0:  # underline at or just under the baseline, through the descenders
            y = baseline + int(round(rng.uniform(0.0, 0.25) * descent))
        elif where == 1:  # table rule touching the line's bottom
            y = box[3] + int(rng.integers(-1, 3))
        else:  # table rule touching the line's top
            y = box[1] - thick - int(rng.integers(-1, 3))
        y = min(max(y, 0), height - thick)
        grey[y : y + thick, x0:x1] = np.minimum(grey[y : y + thick, x0:x1], shade)
        if rng.random() < 0.4:  # cell borders left and right of the text
            for xv in (box[0] - int(rng.integers(2, size)), box[2] + int(rng.integers(2, size))):
                if 0 <= xv < width - thick:
                    grey[:, xv : xv + thick] = np.minimum(grey[:, xv : xv + thick], shade)
    band = _photometric(grey, kinds, x_height, paper, ink, base, rng)
    label = " ".join(t for t, _ in parts)
    return band, {
        "text": label,
        "kind": kind,
        "font": font,
        "degradation": "+".join(kinds),
        "x_height": x_height,
        "tight": box,
        "size": size,
    }


def render_sheet(
    seed: int, index: int, split: str = "train", lines_per_sheet: int = 40
) -> tuple[np.ndarray, list[SheetLine]]:
    """Render one sheet, a pure function of ``(seed, index)`` and the machine's fonts and corpus.

    Parameters
    ----------
    seed : int
        Non-negative seed of the run.
    index : int
        Sheet number within the run.
    split : {"train", "heldout", "all"}, optional
        Font split (:func:`linerec.synth.fonts.design_groups`).
    lines_per_sheet : int, optional
        Lines stacked on the sheet.

    Returns
    -------
    image : numpy.ndarray
        ``uint8`` grey sheet, shape (H, W).
    lines : list of SheetLine
        The lines top to bottom with their ink and annotation boxes.
    """
    rng = np.random.default_rng([seed, index, 11])
    groups = _groups(split)
    width = int(rng.integers(WIDTH_RANGE[0], WIDTH_RANGE[1] + 1))
    top, bottom = int(rng.integers(8, 60)), int(rng.integers(8, 60))
    # the sheet's paper, ink, sensor noise and optics: lines without a tone or blur degradation share them
    base = {
        "paper": float(rng.uniform(212, 250)),
        "ink": float(rng.uniform(5, 70)),
        "noise": float(rng.uniform(1, 5)),
        "blur": float(rng.uniform(0.2, 0.6)),
    }
    bands: list[np.ndarray] = []
    infos: list[dict] = []
    y = top
    while len(bands) < lines_per_sheet:
        rendered = _render_line(width, groups, base, rng)
        if rendered is None:
            continue
        band, info = rendered
        info["y"] = y
        bands.append(band)
        infos.append(info)
        y += band.shape[0]
    paper = np.clip(rng.normal(base["paper"], base["noise"], (top + bottom, width)), 0, 255).astype(np.uint8)
    image = np.concatenate([paper[:top]] + bands + [paper[top:]], axis=0)
    height = image.shape[0]
    lines = []
    for info in infos:
        x0, y0, x1, y1 = info["tight"]
        tight = (x0, y0 + info["y"], x1, y1 + info["y"])
        margins = []
        for _ in range(4):
            if rng.random() < NEGATIVE_MARGIN:
                margins.append(-int(rng.integers(1, 3)))
            else:
                margins.append(int(round(float(rng.uniform(0, MAX_MARGIN)) * info["size"])))
        m_left, m_top, m_right, m_bottom = margins
        box = (
            max(tight[0] - m_left, 0),
            max(tight[1] - m_top, 0),
            min(tight[2] + m_right, width),
            min(tight[3] + m_bottom, height),
        )
        if box[2] <= box[0] or box[3] <= box[1]:  # a negative margin on a 1-3 px line: keep the ink box
            box = tight
        lines.append(
            SheetLine(
                info["text"],
                info["kind"],
                info["font"],
                info["degradation"],
                info["x_height"],
                tight,
                box,
                (m_left, m_top, m_right, m_bottom),
            )
        )
    return image, lines


def _region_items(lines: list[SheetLine], width: int, height: int, rng: np.random.Generator) -> list[dict]:
    """Label Studio OCR result items: a ``bbox`` rectangle and a ``transcription`` textarea per line."""
    items = []
    for line in lines:
        x0, y0, x1, y1 = line.box
        items += ocr_region(random_region_id(rng), (x0, y0, x1 - x0, y1 - y0), line.text, width, height)
    return items


def _summary(values: list[str]) -> str:
    return values[0] if len(set(values)) == 1 else "mixed"


def _sheet_job(args: tuple) -> tuple[str, bytes, dict, list[dict], list[dict]]:
    """Render and encode one sheet: (file name, PNG bytes, task data, result items, per-line rows)."""
    seed, index, split, lines_per_sheet, image_prefix = args
    image, lines = render_sheet(seed, index, split, lines_per_sheet)
    ok, png = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])  # noisy pages: 3+ saves <1%
    if not ok:
        raise RuntimeError("PNG encoding failed")
    # held-out sheets get names of their own, so a train and a held-out run of one seed never share a document
    document = f"lines_{seed}_{index:05d}" if split == "train" else f"lines_{split}_{seed}_{index:05d}"
    name = f"{document}.png"
    h, w = image.shape
    data = {
        "image": f"{image_prefix}images/{name}",
        "document": document,
        "page": 1,
        "generator": "lines",
        "font_split": split,
        "seed": seed,
        "sheet": index,
        "lines": len(lines),
        "fonts": len({ln.font.name for ln in lines}),
        "font": _summary([ln.font.name for ln in lines]),
        "kind": _summary([ln.kind for ln in lines]),
        "degradation": _summary([ln.degradation for ln in lines]),
    }
    rng = np.random.default_rng([seed, index, 12])
    items = _region_items(lines, w, h, rng)
    rows = [
        {
            "region": items[2 * i]["id"],
            "text": ln.text,
            "kind": ln.kind,
            "font": ln.font.name,
            "family": ln.font.family,
            "group": ln.font.group,
            "degradation": ln.degradation,
            "x_height": ln.x_height,
            "tight": list(ln.tight),
            "box": list(ln.box),
            "margins": list(ln.margins),
        }
        for i, ln in enumerate(lines)
    ]
    return name, png.tobytes(), data, items, rows


def generate_line_sheets(
    out_dir: str | pathlib.Path,
    n_sheets: int,
    seed: int,
    fonts: str = "train",
    lines_per_sheet: int = 40,
    workers: int = 2,
    image_prefix: str = "/data/local-files/?d=",
    first_task_id: int = 1,
    progress: Callable[[int, str], None] | None = None,
) -> pathlib.Path:
    """Generate line sheets and their Label Studio OCR export.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output directory: ``images/lines_<seed>_<sheet>.png`` (``lines_<fonts>_<seed>_<sheet>.png``
        unless ``fonts="train"``), ``export.json`` and ``lines.jsonl``.
    n_sheets : int
        Number of sheets (one task each).
    seed : int
        Non-negative seed; equal seeds give byte-identical output on the same machine.
    fonts : {"train", "heldout", "all"}, optional
        Font split; ``"train"`` never uses a held-out design group.
    lines_per_sheet : int, optional
        Lines per sheet (1-200).
    workers : int, optional
        Processes rendering sheets; the output does not depend on it.
    image_prefix : str, optional
        Prefix of ``data.image``, followed by ``images/<file>``.
    first_task_id : int, optional
        Id of the first task (and of its annotation); the others follow. Export files share
        one task id scope in annotation sync, so exports ingested together need disjoint ranges.
    progress : callable, optional
        ``progress(done, sheet)`` is called in this process each time a sheet is written: ``done``
        sheets so far (1, 2, ... ``n_sheets``, in order, for any number of workers) and the
        sheet's document name.

    Returns
    -------
    pathlib.Path
        Path of the written ``export.json``.
    """
    if n_sheets < 0 or seed < 0 or workers < 1 or not 1 <= lines_per_sheet <= 200 or first_task_id < 1:
        raise ValueError(
            f"bad arguments: n_sheets={n_sheets} seed={seed} workers={workers} "
            f"lines_per_sheet={lines_per_sheet} first_task_id={first_task_id}"
        )
    if fonts not in ("train", "heldout", "all"):
        raise ValueError(f"unknown font split {fonts!r}")
    _groups(fonts)  # discover fonts and build the corpus here, once, before any worker starts
    _sampler()
    out = pathlib.Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = [(seed, i, fonts, lines_per_sheet, image_prefix) for i in range(n_sheets)]
    meta_rng = np.random.default_rng([seed, 2**32])
    clock = dt.datetime(2024, 1, 1) + dt.timedelta(days=int(meta_rng.integers(0, 365)))
    tasks: list[dict] = []
    with open(out / "lines.jsonl", "w", encoding="utf-8") as sidecar:

        def collect(job_out: tuple) -> None:
            nonlocal clock
            name, png, data, items, rows = job_out
            (out / "images" / name).write_bytes(png)
            clock += dt.timedelta(seconds=float(meta_rng.uniform(30, 600)))
            tasks.append(export_task(first_task_id + len(tasks), data, items, clock, meta_rng))
            for row in rows:
                sidecar.write(
                    json.dumps({"task": tasks[-1]["id"], "document": data["document"], **row}, ensure_ascii=False)
                    + "\n"
                )
            if len(tasks) % 50 == 0:
                logger.info("%d / %d sheets", len(tasks), n_sheets)
            if progress is not None:
                progress(len(tasks), data["document"])

        if workers > 1 and n_sheets > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=min(workers, n_sheets)) as pool:
                for job_out in pool.map(_sheet_job, jobs, chunksize=1):
                    collect(job_out)
        else:
            for job in jobs:
                collect(_sheet_job(job))
    export = out / "export.json"
    export.write_text(json.dumps(tasks, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("wrote %d sheets (%d lines, fonts %s) to %s", len(tasks), len(tasks) * lines_per_sheet, fonts, export)
    return export


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m linerec.synth.lines OUT_DIR --sheets N --seed S [--fonts heldout]``."""
    parser = argparse.ArgumentParser(prog="python -m linerec.synth.lines", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--sheets", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fonts", choices=("train", "heldout", "all"), default="train")
    parser.add_argument("--lines-per-sheet", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--image-prefix", default="/data/local-files/?d=")
    parser.add_argument("--first-task-id", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    generate_line_sheets(
        args.out_dir,
        args.sheets,
        args.seed,
        fonts=args.fonts,
        lines_per_sheet=args.lines_per_sheet,
        workers=args.workers,
        image_prefix=args.image_prefix,
        first_task_id=args.first_task_id,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
