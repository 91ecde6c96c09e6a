"""Decoding page images safely: one place that turns untrusted bytes into a grayscale page."""

from __future__ import annotations

import io
import warnings

import numpy as np

MAX_PIXELS = 40_000_000  # well under Pillow's own bomb limit (~179 M)
MIN_SIDE = 16
MAX_ASPECT = 20.0


class BadImage(ValueError):
    """The bytes are not a usable page image; the message says why."""


def decode_page(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes into a 2-D uint8 grayscale page ``(H, W)``.

    Parameters
    ----------
    data
        Encoded PNG, JPEG or TIFF bytes (first frame).
    name
        Used in error messages.

    Raises
    ------
    BadImage
        Empty, truncated, unreadable, over :data:`MAX_PIXELS`, or an implausible shape.
    """
    from PIL import Image

    if not data:
        raise BadImage(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise BadImage(f"{name}: {w}x{h} exceeds the page pixel limit {MAX_PIXELS}")
            img.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"{name}: decompression bomb ({exc})") from None
    except Exception as exc:  # Pillow raises many types for corrupt input
        raise BadImage(f"{name}: unreadable image ({type(exc).__name__}: {exc})") from None
    if min(w, h) < MIN_SIDE or max(w, h) / min(w, h) > MAX_ASPECT:
        raise BadImage(f"{name}: implausible page size {w}x{h}")
    return np.asarray(img.convert("L"), dtype=np.uint8)


def encode_png(page: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(page).save(buf, format="PNG", optimize=False)
    return buf.getvalue()
