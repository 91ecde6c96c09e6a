"""Line image preprocessing shared by training and inference.

Training (``linerec.data.shards``) and inference (``linerec.inference``) both
call :func:`normalize_line`, so the model always sees identically prepared
inputs. Convention: a normalized line is float32 in [0, 1] with the *ink bright*
(background 0), height ``cfg.height``, right-padded with zeros to
``cfg.max_width``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np
from PIL import Image

from linerec.charset import Charset

LINE_HEIGHT = 32
MAX_WIDTH = 2048
MAX_LABEL_LEN = 160
#: Horizontal scale after resizing to ``LINE_HEIGHT``: 0.5 halves every line's width, and so the
#: model's work per line, while leaving ~1.7 output frames per character (CTC needs >= 1).
X_SCALE = 0.5
#: The scale of configurations written before ``x_scale`` existed (aspect ratio kept).
LEGACY_X_SCALE = 1.0


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
    """

    height: int = LINE_HEIGHT
    max_width: int = MAX_WIDTH
    charset: Charset = dataclasses.field(default_factory=Charset)
    max_label_len: int = MAX_LABEL_LEN
    x_scale: float = X_SCALE

    def __post_init__(self) -> None:
        if not 0.1 <= float(self.x_scale) <= 4.0:
            raise ValueError(f"x_scale must be within [0.1, 4], got {self.x_scale}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serializable dict (the charset as its string of characters)."""
        return {
            "height": self.height,
            "max_width": self.max_width,
            "charset": self.charset.chars,
            "max_label_len": self.max_label_len,
            "x_scale": self.x_scale,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LineConfig":
        """Inverse of :meth:`to_dict`; missing keys take their defaults.

        A configuration without ``x_scale`` was written before lines were squeezed and
        gets :data:`LEGACY_X_SCALE` (1.0), so older models and datasets read as trained.

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
        )


def crop_line(page: np.ndarray, bbox: tuple[int, int, int, int], rotation: float = 0.0) -> np.ndarray:
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
        return cv2.warpAffine(page, to_page, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    page_h, page_w = page.shape
    x0, y0 = min(max(x, 0), page_w), min(max(y, 0), page_h)
    x1, y1 = min(max(x + w, 0), page_w), min(max(y + h, 0), page_h)
    return page[y0:y1, x0:x1].copy()


def line_width(shape: tuple[int, ...], cfg: "LineConfig") -> int:
    """Width in columns a crop of ``shape`` (h, w, ...) gets after :func:`normalize_line`."""
    h, w = int(shape[0]), int(shape[1])
    return min(max(int(round(w * cfg.height / h * cfg.x_scale)), 1), cfg.max_width)


def light_background(line: np.ndarray) -> np.ndarray:
    """The crop with light paper and dark ink: a crop whose background is dark is inverted.

    Headings and table headers are often printed light on a dark band, and the recognizer only
    knows dark ink on light paper. The background is the majority tone: a crop is inverted when
    both its median and the median of its border (the first and last rows and columns) lie below
    the midpoint between its 5th and 95th percentiles. Relative to the crop's own range, so grey
    paper or faint ink is left alone.

    Parameters
    ----------
    line : np.ndarray
        uint8 (h, w) crop.

    Returns
    -------
    np.ndarray
        ``line`` itself, or ``255 - line``.
    """
    sample = line[::2, ::2]  # every other row and column: the same tones, a quarter of the work
    lo, med, hi = np.percentile(sample, (5, 50, 95))
    if hi - lo < 32:  # no contrast to speak of: nothing to decide on
        return line
    mid = (lo + hi) / 2
    border = np.concatenate([line[0], line[-1], line[:, 0], line[:, -1]])
    if med < mid and np.median(border) < mid:
        return 255 - line
    return line


def normalize_line(
    line: np.ndarray, cfg: LineConfig | None = None, pad_to: int | None = None
) -> tuple[np.ndarray, int]:
    """Resize, invert, scale and pad one line crop.

    A crop with a dark background (light print on a dark band) is first turned into dark ink on
    light paper (:func:`light_background`).

    The crop is resized (bilinear, PIL) to ``cfg.height`` and to its width at
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
    line = np.asarray(line)
    if line.ndim == 3 and line.shape[-1] == 1:
        line = line[..., 0]
    if line.ndim != 2:
        raise ValueError(f"line must be 2-D (h, w), got shape {line.shape}")
    if line.dtype != np.uint8:
        raise TypeError(f"line must be uint8, got {line.dtype}")
    h, w = line.shape
    if h == 0 or w == 0:
        raise ValueError(f"empty line crop of shape {line.shape}")
    line = light_background(line)
    width = line_width(line.shape, cfg)
    if (h, w) != (cfg.height, width):
        resized = Image.fromarray(line).resize((width, cfg.height), Image.Resampling.BILINEAR)
        line = np.asarray(resized, dtype=np.uint8)  # (H, width)
    out_width = cfg.max_width if pad_to is None else max(int(pad_to), width)
    out = np.zeros((cfg.height, out_width, 1), dtype=np.float32)  # (H, out_W, 1)
    out[:, :width, 0] = (255.0 - line.astype(np.float32)) / 255.0
    return out, width


def batch_lines(
    lines: Sequence[np.ndarray], cfg: LineConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
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
