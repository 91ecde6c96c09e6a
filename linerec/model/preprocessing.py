"""Line image preprocessing shared by training and inference.

Training (``linerec.datasets.shards``) and inference (``linerec.model.recognizer``) both
call :func:`normalize_line`, so the model always sees identically prepared
inputs. Convention: a normalized line is float32 in [0, 1] with the *ink bright*
(background 0), height ``cfg.height``, right-padded with zeros to
``cfg.max_width``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from linerec.model.charset import Charset

LINE_HEIGHT = 32
MAX_WIDTH = 2048
MAX_LABEL_LEN = 160
#: Horizontal scale after resizing to ``LINE_HEIGHT``: 0.5 halves every line's width, and so the
#: model's work per line, while leaving ~1.7 output frames per character (CTC needs >= 1).
X_SCALE = 0.5
#: The scale of configurations written before ``x_scale`` existed (aspect ratio kept).
LEGACY_X_SCALE = 1.0
#: Margin kept around a line's own ink by :func:`text_band`, as a fraction of the ink's height.
BAND_PAD = 0.2
#: Ink-row runs closer to the line's main run than this fraction of its height belong to the line
#: (the dot of an i, an accent, a descender cut off by a thin gap).
BAND_MERGE = 0.15
#: A row whose ink covers at least this share of the crop's width is a rule (an underline, a
#: table border), not text: it does not count when finding the line's rows.
RULE_SHARE = 0.7
#: A horizontal run of ink at least this share of the crop's height long is a rule (an underline,
#: a form's field line) when :func:`text_band` looks for the line's glyphs; glyph strokes are shorter.
RULE_LENGTH = 0.8
#: Rows whose smoothed ink reaches this share of the line's peak row are the line's core: the
#: x-height of lower-case text, most of the height of capitals and digits.
CORE_SHARE = 0.4
#: Connected ink taller than this many times the line's typical glyph (a box border, a vertical
#: rule, letters of two lines run together) does not set the line's rows.
GLYPH_TALL = 2.5
#: Ink that reaches this many typical glyph heights past the typical glyph's top and also past its
#: bottom is a vertical rule (a form box's side), not a letter (brackets reach about 0.3).
RULE_OVERHANG = 0.5
#: Ink outside the line's glyphs is erased only when it amounts to at least this share of the
#: glyphs' own ink; below that the crop is cut by ink rows alone, so faint or broken print
#: (dot-matrix receipts) never loses strokes to the glyph test.
STRAY_SHARE = 0.05
#: A light-on-dark heading: rows and columns at least this dark (share of pixels below the
#: midtone) that span at least :data:`REVERSE_SPAN` of the crop mark the dark band.
REVERSE_FILL = 0.6
REVERSE_SPAN = 0.4
#: The dark band's first and last rows are solid (this share dark) and it holds light print (at
#: least this share of light pixels): bold text on paper has neither.
REVERSE_EDGE = 0.9
REVERSE_PRINT = 0.05


@dataclasses.dataclass
class LineConfig:
    """Geometry and vocabulary of normalized line images.

    Attributes
    ----------
    height : int
        Height every line is resized to.
    max_width : int
        Width lines are padded to; wider lines are squeezed to this width.
    charset : Charset
        Character vocabulary (index 0 is the CTC blank).
    max_label_len : int
        Maximum transcription length (labels are padded to this length).
    x_scale : float
        Width factor applied after resizing to ``height`` with the aspect ratio kept
        (0.5: lines are squeezed to half their width).
    band_pad : float or None
        Crops are cut down to their line's own rows plus this margin (:func:`text_band`)
        before resizing, so a line reads the same however loosely it was cropped; ``None``
        leaves crops as given (models trained before the band existed).
    """

    height: int = LINE_HEIGHT
    max_width: int = MAX_WIDTH
    charset: Charset = dataclasses.field(default_factory=Charset)
    max_label_len: int = MAX_LABEL_LEN
    x_scale: float = X_SCALE
    band_pad: float | None = BAND_PAD

    def __post_init__(self) -> None:
        if not 0.1 <= float(self.x_scale) <= 4.0:
            raise ValueError(f"x_scale must be within [0.1, 4], got {self.x_scale}")
        if self.band_pad is not None and not 0.0 <= float(self.band_pad) <= 1.0:
            raise ValueError(f"band_pad must be None or within [0, 1], got {self.band_pad}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serializable dict (the charset as its string of characters)."""
        return {
            "height": self.height,
            "max_width": self.max_width,
            "charset": self.charset.chars,
            "max_label_len": self.max_label_len,
            "x_scale": self.x_scale,
            "band_pad": self.band_pad,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineConfig:
        """Inverse of :meth:`to_dict`; missing keys take their defaults.

        A configuration without ``x_scale`` was written before lines were squeezed and
        gets :data:`LEGACY_X_SCALE` (1.0), and one without ``band_pad`` gets ``None`` (crops as
        given), so older models and datasets read as trained.

        Parameters
        ----------
        data : dict
            As produced by :meth:`to_dict`.

        Returns
        -------
        LineConfig
        """
        defaults = cls()
        chars = data.get("charset")
        return cls(
            height=int(data.get("height", defaults.height)),
            max_width=int(data.get("max_width", defaults.max_width)),
            charset=Charset(chars) if chars else defaults.charset,
            max_label_len=int(data.get("max_label_len", defaults.max_label_len)),
            x_scale=float(data.get("x_scale", LEGACY_X_SCALE)),
            band_pad=None if data.get("band_pad") is None else float(data["band_pad"]),
        )


def line_width(shape: tuple[int, ...], cfg: LineConfig) -> int:
    """Width in columns a crop of ``shape`` (h, w, ...) gets after :func:`normalize_line`."""
    h, w = int(shape[0]), int(shape[1])
    return min(max(int(round(w * cfg.height / h * cfg.x_scale)), 1), cfg.max_width)


def tones(line: np.ndarray) -> tuple[int, int, int]:
    """The 5th, 50th and 95th percentile grey levels of a uint8 crop (every other row and column).

    From a 256-bin histogram: the smallest level at or below which each share of the pixels lies.
    """
    counts = np.bincount(line[::2, ::2].ravel(), minlength=256)  # (256,)
    cum = np.cumsum(counts)
    lo, med, hi = np.searchsorted(cum, np.array([0.05, 0.5, 0.95]) * cum[-1])
    return int(lo), int(med), int(hi)


def light_background(line: np.ndarray) -> np.ndarray:
    """The crop with light paper and dark ink: light print on a dark band is cut out and inverted.

    Headings and table headers are often printed light on a dark band, and the recognizer only
    knows dark ink on light paper. When the crop holds such a band with paper around it (a loose
    crop of a heading), rows and columns that are mostly dark (:data:`REVERSE_FILL`) over at
    least :data:`REVERSE_SPAN` of the crop mark the band; when its first and last rows are solid
    and it holds light print (:data:`REVERSE_EDGE`, :data:`REVERSE_PRINT`), the band alone is
    kept, inverted.
    Otherwise the background is the majority tone: a crop is inverted when both its median and
    the median of its border (the first and last rows and columns) lie below the midpoint
    between its 5th and 95th percentiles. Relative to the crop's own range, so grey paper or
    faint ink is left alone.

    Parameters
    ----------
    line : np.ndarray
        uint8 (h, w) crop.

    Returns
    -------
    np.ndarray
        ``line`` itself, ``255 - line``, or the inverted dark band, shape (h', w') <= (h, w).
    """
    return _light_background(line, tones(line), None)


def _share(mask: np.ndarray, axis: int) -> np.ndarray:
    """``mask.mean(axis)`` of a bool (h, w) ``mask``, to the bit: counted, then divided (as float64)."""
    return np.count_nonzero(mask, axis=axis) / mask.shape[axis]


class _Dark(NamedTuple):
    """The pixels of a crop darker than the midpoint of its 5th and 95th percentile tones."""

    mask: np.ndarray  # (h, w) bool
    rows: np.ndarray  # (h,) float64: the share of every row that is dark


def _darker(line: np.ndarray, levels: tuple[int, int, int]) -> _Dark:
    """The :class:`_Dark` pixels of ``line`` whose :func:`tones` are ``levels``."""
    lo, _, hi = levels
    mask = line < (lo + hi) / 2  # (h, w)
    return _Dark(mask, _share(mask, 1))


def _light_background(line: np.ndarray, levels: tuple[int, int, int], dark: _Dark | None) -> np.ndarray:
    """:func:`light_background` of ``line`` whose :func:`tones` are ``levels`` (and dark pixels ``dark``,
    found here if ``None``)."""
    lo, med, hi = levels
    if hi - lo < 32:  # no contrast to speak of: nothing to decide on
        return line
    mid = (lo + hi) / 2
    h, w = line.shape
    dark = _darker(line, levels) if dark is None else dark
    band_rows = np.flatnonzero(dark.rows >= REVERSE_FILL)
    band_cols = np.flatnonzero(_share(dark.mask, 0) >= REVERSE_FILL)
    if len(band_rows) >= REVERSE_SPAN * h and len(band_cols) >= REVERSE_SPAN * w:
        r0, r1 = int(band_rows[0]), int(band_rows[-1]) + 1
        c0, c1 = int(band_cols[0]), int(band_cols[-1]) + 1
        band = dark.mask[r0:r1, c0:c1]  # (h', w')
        solid_edges = min(band[0].mean(), band[-1].mean()) >= REVERSE_EDGE
        has_print = 1.0 - band.mean() >= REVERSE_PRINT
        if (r1 - r0, c1 - c0) != (h, w) and solid_edges and has_print and np.median(line[r0:r1, c0:c1]) < mid:
            return 255 - line[r0:r1, c0:c1]
    border = np.concatenate([line[0], line[-1], line[:, 0], line[:, -1]])
    if med < mid and np.median(border) < mid:
        return 255 - line
    return line


def _runs(mask: np.ndarray) -> np.ndarray:
    """``(n, 2)`` start/stop indices of the runs of True in a 1-D boolean ``mask``."""
    padded = np.zeros(mask.size + 2, bool)
    padded[1:-1] = mask
    return np.flatnonzero(padded[1:] != padded[:-1]).reshape(-1, 2)  # changes alternate: start, stop, ...


def text_band(line: np.ndarray, pad: float = BAND_PAD) -> np.ndarray:
    """The rows of a crop that hold its line, plus ``pad`` of their height; other ink is erased.

    Line detectors and annotators crop lines anywhere from tight to loose, and a loose crop of a
    dense page takes in the descenders of the line above, the capitals of the line below and
    the borders of a form's boxes. At a fixed model height a loose crop also makes the text
    smaller. Both cost accuracy, so crops are brought to one framing:

    1. ink is every pixel darker than the midpoint of the crop's 5th and 95th percentiles;
       horizontal rules (runs of ink :data:`RULE_LENGTH` of the crop's height or longer) are
       set aside;
    2. the line's core is the band of rows around the peak of the ink-row profile (weighted
       towards the crop's middle, where the line's box puts it) that reach :data:`CORE_SHARE`
       of that peak;
    3. the line's glyphs are the connected pieces of ink that cross the core, except pieces
       taller than :data:`GLYPH_TALL` typical glyphs, wider than :data:`RULE_SHARE` of the crop, or
       overhanging the typical glyph both above and below (:data:`RULE_OVERHANG`); their top and
       bottom are the line's rows, and pieces lying wholly within those rows (the dot of an i, a
       quote mark) belong to it too; marks above a line with no taller letter are erased with the
       neighbours' ink (on real forms and receipts such marks are more often a neighbour's descender
       or a speck than the dot of an i);
    4. the crop keeps those rows plus ``pad`` of their height on each side (as far as the crop
       goes) and every other piece of ink is painted over with the paper tone.

    Steps 2-4 run only where rows alone cannot frame the line; first, the ink-row profile's run
    with the most ink, joined by runs within :data:`BAND_MERGE` of its height, is taken as the
    line when paper rows part it from the crop's edges (a box wholly inside the crop stays, its
    sides within the kept rows). The same rows are used where the glyph test would erase
    little (less than :data:`STRAY_SHARE` of the glyphs' ink) or cannot tell glyphs apart
    (speckled paper, no piece crossing the core). In both cases only ink in the kept margin is
    painted over.

    Parameters
    ----------
    line : np.ndarray
        uint8 (h, w) crop, dark ink on light paper (see :func:`light_background`).
    pad : float
        Margin above and below the line's rows, as a fraction of their height.

    Returns
    -------
    np.ndarray
        uint8 (h', w) crop with h' <= h; ``line`` itself when there is nothing to cut.
    """
    return _text_band(line, pad, None, None)


def _text_band(line: np.ndarray, pad: float, levels: tuple[int, int, int] | None, dark: _Dark | None) -> np.ndarray:
    """:func:`text_band` of ``line`` whose :func:`tones` are ``levels`` and dark pixels ``dark`` (each found
    here if ``None``)."""
    import cv2

    h, w = line.shape
    if h < 6 or w < 4:
        return line
    levels = tones(line) if levels is None else levels
    lo, _, hi = levels
    if hi - lo < 32:  # no contrast: no ink to find
        return line
    ink, rows = _darker(line, levels) if dark is None else dark  # (h, w), (h,) share of ink per row
    rows = np.where(rows >= RULE_SHARE, 0.0, rows)
    main = _main_rows(rows)
    if main is None:
        return line
    top, bottom = main
    if top > 0 and bottom < h:  # paper rows part the line from all other ink: cut there
        return _row_band(line, pad, ink, main, hi)
    rule_len = max(8, int(RULE_LENGTH * h))
    rules = cv2.morphologyEx(ink.view(np.uint8), cv2.MORPH_OPEN, np.ones((1, rule_len), np.uint8))
    glyph_ink = ink & ~rules.astype(bool)  # (h, w)
    rows = _share(glyph_ink, 1)  # (h,)
    rows[rows >= RULE_SHARE] = 0.0
    core = _line_core(rows)
    if core is None:
        return line
    keep, labels, (top, bottom) = _line_glyphs(glyph_ink, core)
    if keep is None:
        return _row_band(line, pad, ink, main, hi)
    margin = int(round(pad * (bottom - top)))
    y0, y1 = max(0, top - margin), min(h, bottom + margin)
    out = line[y0:y1].copy()  # (h', w)
    out[~keep[labels[y0:y1]]] = np.uint8(hi)
    return out


def _line_core(rows: np.ndarray) -> tuple[int, int] | None:
    """``(top, bottom)`` of the line's core in an ink-row profile ``rows`` (see :func:`text_band`)."""
    h = len(rows)
    if not (rows > 0).any():
        return None
    smooth = np.convolve(rows, np.ones(3) / 3, mode="same")  # (h,)
    centred = 1.0 - np.abs(np.arange(h) + 0.5 - h / 2) / h  # 1 in the middle, 0.5 at the edges
    peak = int((smooth * centred).argmax())
    floor = CORE_SHARE * smooth[peak]
    top, bottom = peak, peak + 1
    while top > 0 and max(smooth[max(0, top - 2) : top]) >= floor:  # one weak row does not end it
        top -= 1
    while bottom < h and max(smooth[bottom : bottom + 2]) >= floor:
        bottom += 1
    return top, bottom


def _line_glyphs(ink: np.ndarray, core: tuple[int, int]):
    """The connected pieces of ``ink`` that make the line whose core is ``core``.

    Returns ``(keep, labels, (top, bottom))``: ``keep`` is a boolean per label (label 0, no
    ink, counts as kept), ``labels`` the (h, w) label image and ``top``/``bottom`` the line's
    rows; ``(None, None, (0, 0))`` when the pieces do not single out a line (see :func:`text_band`).
    """
    import cv2

    none = None, None, (0, 0)
    _, labels, stats_mat, _ = cv2.connectedComponentsWithStats(ink.view(np.uint8), connectivity=8)
    stats = np.asarray(stats_mat, dtype=np.int32)  # already CV_32S: no copy, typed for numpy
    tops, heights = stats[1:, cv2.CC_STAT_TOP], stats[1:, cv2.CC_STAT_HEIGHT]
    widths, areas = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_AREA]
    bottoms = tops + heights
    if (areas <= 4).sum() > 2 * (areas > 4).sum():  # speckled paper: pieces are noise, not glyphs
        return none
    core_top, core_bottom = core
    crossing = (tops < core_bottom) & (bottoms > core_top)
    sizable = crossing & (heights >= 0.3 * (core_bottom - core_top))
    if not sizable.any():
        return none
    typical = max(float(np.median(heights[sizable])), float(core_bottom - core_top))
    shaped = (heights <= GLYPH_TALL * typical) & (widths < RULE_SHARE * ink.shape[1])
    # a vertical rule (a box's side) runs far past the typical glyph both above and below it
    over = RULE_OVERHANG * typical
    shaped &= ~((tops < np.median(tops[sizable]) - over) & (bottoms > np.median(bottoms[sizable]) + over))
    glyphs = crossing & shaped
    if not glyphs.any():
        return none
    top, bottom = int(tops[glyphs].min()), int(bottoms[glyphs].max())
    kept = glyphs | (shaped & (tops >= top) & (bottoms <= bottom))
    if areas[~kept].sum() < STRAY_SHARE * areas[kept].sum():
        return none
    return np.concatenate([[True], kept]), labels, (top, bottom)


def _main_rows(rows: np.ndarray) -> tuple[int, int] | None:
    """``(top, bottom)`` of the run of ink rows with the most ink in a profile ``rows`` (rules
    zeroed), joined by runs within :data:`BAND_MERGE` of its height; None without ink."""
    runs = _runs(rows > 0)  # (n, 2)
    if not len(runs):
        return None
    mass = np.add.reduceat(rows, runs[:, 0])  # (n,) ink of each run: the gap rows after it add 0
    top, bottom = runs[int(mass.argmax())]
    reach = max(1.0, BAND_MERGE * (bottom - top))
    grown = True
    while grown:  # absorb runs within reach of the band, on either side
        grown = False
        above = runs[(runs[:, 1] <= top) & (top - runs[:, 1] <= reach)]
        below = runs[(runs[:, 0] >= bottom) & (runs[:, 0] - bottom <= reach)]
        if len(above) and above[:, 0].min() < top:
            top, grown = int(above[:, 0].min()), True
        if len(below) and below[:, 1].max() > bottom:
            bottom, grown = int(below[:, 1].max()), True
    return int(top), int(bottom)


def _row_band(line: np.ndarray, pad: float, ink: np.ndarray, rows: tuple[int, int], paper: int) -> np.ndarray:
    """``line`` cut to ``rows`` (top, bottom) plus ``pad`` of their height; ink in the kept margin
    (``ink``: the crop's (h, w) ink mask) is painted with ``paper``."""
    h = line.shape[0]
    top, bottom = rows
    margin = int(round(pad * (bottom - top)))
    y0, y1 = max(0, top - margin), min(h, bottom + margin)
    if (y0, y1) == (0, h) and top == 0 and bottom == h:
        return line
    out = line[y0:y1].copy()  # (h', w)
    stray = np.zeros(y1 - y0, dtype=bool)  # rows of the kept margin
    stray[: top - y0] = True
    stray[bottom - y0 :] = True
    out[stray] = np.where(ink[y0:y1][stray], np.uint8(paper), out[stray])
    return out


def prepare_line(line: np.ndarray, cfg: LineConfig | None = None) -> np.ndarray:
    """Check one crop and bring it to dark ink on light paper, cut to its line's rows.

    A crop with a dark background (light print on a dark band) is turned into dark ink on light
    paper (:func:`light_background`), then cut down to its line's rows when the configuration
    asks for it (``cfg.band_pad``, :func:`text_band`). :func:`normalize_line` starts with this;
    callers that need the prepared crop's size first (batching by width) call it themselves.

    Parameters
    ----------
    line : np.ndarray
        uint8 grayscale crop, shape (h, w) or (h, w, 1).
    cfg : LineConfig, optional
        Defaults to ``LineConfig()``.

    Returns
    -------
    np.ndarray
        uint8 (h', w) crop.

    Raises
    ------
    ValueError
        If the crop is empty or not 2-D.
    TypeError
        If the crop is not uint8.
    """
    cfg = cfg or LineConfig()
    line = np.asarray(line)
    if line.ndim == 3 and line.shape[-1] == 1:
        line = line[..., 0]
    if line.ndim != 2:
        raise ValueError(f"line must be 2-D (h, w), got shape {line.shape}")
    if line.dtype != np.uint8:
        raise TypeError(f"line must be uint8, got {line.dtype}")
    if line.shape[0] == 0 or line.shape[1] == 0:
        raise ValueError(f"empty line crop of shape {line.shape}")
    levels = tones(line)
    dark = _darker(line, levels)
    prepared = _light_background(line, levels, dark)
    if cfg.band_pad is not None:  # the tones and dark pixels hold for the crop as it was, if it stays so
        same = prepared is line
        prepared = _text_band(prepared, cfg.band_pad, levels if same else None, dark if same else None)
    return prepared


def normalize_line(
    line: np.ndarray, cfg: LineConfig | None = None, pad_to: int | None = None, prepared: bool = False
) -> tuple[np.ndarray, int]:
    """Prepare, resize, scale and pad one line crop.

    The crop is prepared (:func:`prepare_line`: dark background inverted, cut to its line's
    rows), resized (bilinear, PIL) to ``cfg.height`` and to its width at
    that height times ``cfg.x_scale``; a line that would be wider than
    ``cfg.max_width`` is squeezed to exactly ``cfg.max_width``. Pixels become ``(255 - v) / 255`` so ink is
    bright and paper is 0, and the image is zero-padded on the right.

    Parameters
    ----------
    line : np.ndarray
        uint8 grayscale crop, shape (h, w) or (h, w, 1), dark ink on light paper.
    cfg : LineConfig, optional
        Geometry; defaults to ``LineConfig()``.
    pad_to : int, optional
        Output width (at least the line's normalized width); defaults to
        ``cfg.max_width``. Batches of similar lines pad to their widest line.
    prepared : bool
        ``line`` is already the output of :func:`prepare_line` for ``cfg``.

    Returns
    -------
    image : np.ndarray
        float32 array of shape (cfg.height, pad_to, 1).
    width : int
        Number of valid (unpadded) columns, in ``1..cfg.max_width``.

    Raises
    ------
    ValueError
        If the crop is empty or not 2-D.
    TypeError
        If the crop is not uint8.
    """
    cfg = cfg or LineConfig()
    if not prepared:
        line = prepare_line(line, cfg)
    h, w = line.shape
    width = line_width(line.shape, cfg)
    if (h, w) != (cfg.height, width):
        resized = Image.fromarray(line).resize((width, cfg.height), Image.Resampling.BILINEAR)
        line = np.asarray(resized, dtype=np.uint8)  # (H, width)
    out_width = cfg.max_width if pad_to is None else max(int(pad_to), width)
    out = np.zeros((cfg.height, out_width, 1), dtype=np.float32)  # (H, out_W, 1)
    out[:, :width, 0] = (255.0 - line.astype(np.float32)) / 255.0
    return out, width


def batch_lines(lines: Sequence[np.ndarray], cfg: LineConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalize several crops into one batch.

    Parameters
    ----------
    lines : sequence of np.ndarray
        uint8 grayscale crops of any size.
    cfg : LineConfig, optional
        Geometry; defaults to ``LineConfig()``.

    Returns
    -------
    images : np.ndarray
        float32, shape (B, cfg.height, cfg.max_width, 1).
    widths : np.ndarray
        int32, shape (B,), valid widths.
    """
    cfg = cfg or LineConfig()
    images = np.zeros((len(lines), cfg.height, cfg.max_width, 1), dtype=np.float32)
    widths = np.zeros((len(lines),), dtype=np.int32)
    for i, line in enumerate(lines):
        images[i], widths[i] = normalize_line(line, cfg)
    return images, widths
