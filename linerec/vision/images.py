"""Decoding page images safely: one place that turns untrusted bytes into grayscale pages.

Single-page PNG/JPEG, multi-page TIFF (every frame) and PDF (every page, rendered with
pypdfium2) all become 2-D ``uint8`` arrays. Every page is checked against :data:`MAX_PIXELS`
*before* its pixels are decoded or rendered, and a file may hold at most :data:`MAX_PAGES` pages.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
import zlib
from collections.abc import Iterator

import numpy as np

log = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000  # well under Pillow's own bomb limit (~179 M)
MIN_SIDE = 16
MAX_ASPECT = 20.0
MAX_PAGES = 2000  # pages per file (TIFF frames or PDF pages)
PDF_DPI = 200  # PDF pages are rendered at this resolution

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


class BadImage(ValueError):
    """The bytes are not a usable page image; the message says why."""


def _describe(exc: Exception) -> str:
    """``Type: message`` without object addresses, so the same bad input gives the same reason."""
    return f"{type(exc).__name__}: " + re.sub(r" ?<[^<>]* at 0x[0-9a-fA-F]+>", "", str(exc))


def _check_size(w: int, h: int, name: str) -> None:
    if w * h > MAX_PIXELS:
        raise BadImage(f"{name}: {w}x{h} exceeds the page pixel limit {MAX_PIXELS}")
    if min(w, h) < MIN_SIDE or max(w, h) / min(w, h) > MAX_ASPECT:
        raise BadImage(f"{name}: implausible page size {w}x{h}")


def _image_frames(data: bytes, name: str, max_pages: int) -> Iterator[np.ndarray]:
    """Frames of a Pillow-readable image (one for PNG/JPEG, every frame of a TIFF)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            n_frames = int(getattr(img, "n_frames", 1))
            if n_frames > MAX_PAGES:
                raise BadImage(f"{name}: {n_frames} frames exceed the limit of {MAX_PAGES} pages per file")
            for index in range(min(n_frames, max_pages)):
                if index:
                    img.seek(index)
                where = name if n_frames == 1 else f"{name} frame {index + 1}"
                w, h = img.size
                if w * h > MAX_PIXELS:  # before img.load(): the pixels are never decoded
                    raise BadImage(f"{where}: {w}x{h} exceeds the page pixel limit {MAX_PIXELS}")
                img.load()
                _check_size(w, h, where)
                yield np.asarray(img.convert("L"), dtype=np.uint8)  # (H, W)
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"{name}: decompression bomb ({exc})") from None
    except Exception as exc:  # Pillow raises many types for corrupt input
        raise BadImage(f"{name}: unreadable image ({_describe(exc)})") from None


def _pdf_pages(data: bytes, name: str, max_pages: int, dpi: int) -> Iterator[np.ndarray]:
    """Pages of a PDF rendered to grayscale at ``dpi``."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception as exc:  # pdfium raises PdfiumError for damaged or encrypted files
        raise BadImage(f"{name}: unreadable PDF ({type(exc).__name__}: {exc})") from None
    try:
        n_pages = len(pdf)
        if n_pages == 0:
            raise BadImage(f"{name}: PDF has no pages")
        if n_pages > MAX_PAGES:
            raise BadImage(f"{name}: {n_pages} pages exceed the limit of {MAX_PAGES} pages per file")
        scale = dpi / 72.0
        for index in range(min(n_pages, max_pages)):
            where = f"{name} page {index + 1}"
            try:
                page = pdf[index]
                w_pt, h_pt = page.get_size()
            except Exception as exc:
                raise BadImage(f"{where}: unreadable PDF page ({type(exc).__name__}: {exc})") from None
            w, h = int(round(w_pt * scale)), int(round(h_pt * scale))
            _check_size(w, h, where)  # before rendering
            try:
                bitmap = page.render(scale=scale, grayscale=True)
                pil = bitmap.to_pil()
            except Exception as exc:
                raise BadImage(f"{where}: cannot render ({type(exc).__name__}: {exc})") from None
            yield np.asarray(pil.convert("L"), dtype=np.uint8)  # (H, W)
    finally:
        pdf.close()


def iter_pages(
    data: bytes, name: str = "<bytes>", max_pages: int = MAX_PAGES, dpi: int = PDF_DPI
) -> Iterator[np.ndarray]:
    """Decode every page of a scan file lazily, one 2-D ``uint8`` page ``(H, W)`` at a time.

    Parameters
    ----------
    data
        Encoded PNG, JPEG, (multi-page) TIFF or PDF bytes.
    name
        Used in error messages.
    max_pages
        Decode at most this many pages (the file may hold more, up to :data:`MAX_PAGES`).
    dpi
        Rendering resolution of PDF pages.

    Raises
    ------
    BadImage
        Empty, truncated or unreadable input, too many pages, a page over :data:`MAX_PIXELS`
        or of an implausible shape.
    """
    if not data:
        raise BadImage(f"{name}: empty file")
    if data[: len(PDF_MAGIC)] == PDF_MAGIC:
        yield from _pdf_pages(data, name, max_pages, dpi)
    else:
        yield from _image_frames(data, name, max_pages)


def decode_pages(data: bytes, name: str = "<bytes>", dpi: int = PDF_DPI) -> list[np.ndarray]:
    """Decode every page of a scan file (see :func:`iter_pages`); all-or-nothing.

    Returns
    -------
    list of numpy.ndarray
        One ``(H, W)`` uint8 page per TIFF frame or PDF page (one for PNG/JPEG).
    """
    pages = list(iter_pages(data, name, dpi=dpi))
    log.debug("%s: decoded %d pages", name, len(pages))
    return pages


def decode_page(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes into a 2-D uint8 grayscale page ``(H, W)``.

    Parameters
    ----------
    data
        Encoded PNG, JPEG, TIFF or PDF bytes; only the first page is decoded.
    name
        Used in error messages.

    Raises
    ------
    BadImage
        Empty, truncated, unreadable, over :data:`MAX_PIXELS`, or an implausible shape.
    """
    return next(iter_pages(data, name, max_pages=1))


def encode_png(page: np.ndarray) -> bytes:
    """Encode a ``(H, W)`` uint8 page as the canonical grayscale PNG.

    Every row is stored with PNG's "up" filter (the difference to the row above): the file is a
    little larger than with per-row adaptive filtering, but decoding it, which every recognition
    of the page does, is cheaper (there are no Paeth rows to undo).
    """
    import cv2

    page = np.ascontiguousarray(page, dtype=np.uint8)
    if page.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale page, got shape {page.shape}")
    ok, buf = cv2.imencode(".png", page, [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])
    if not ok:
        raise ValueError(f"PNG encoding failed for a page of shape {page.shape}")
    return buf.tobytes()


def pixels_crc32(page: np.ndarray) -> int:
    """CRC-32 (``zlib.crc32``) of a page's pixels, row-major ``uint8``: a cheap check that two
    decoders gave the same page."""
    return zlib.crc32(np.ascontiguousarray(page, dtype=np.uint8).data) & 0xFFFFFFFF


def decode_canonical_png(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode a stored canonical page (an 8-bit grayscale PNG, :func:`encode_png`) with OpenCV.

    PNG is lossless, so OpenCV's decoder gives the same pixels as Pillow's in about three
    quarters of the time. The header is read first: the page is checked against
    :data:`MAX_PIXELS` before it is decoded, and anything but a non-interlaced 8-bit grayscale
    PNG, or bytes OpenCV cannot decode, goes through :func:`decode_page` (and its errors).
    """
    import cv2

    # IHDR: signature (8), chunk length (4), "IHDR" (4), width (4), height (4), bit depth, colour
    # type, compression, filter, interlace (1 each)
    if len(data) < 33 or data[:8] != PNG_MAGIC or data[12:16] != b"IHDR":
        return decode_page(data, name)
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    depth, colour, interlace = data[24], data[25], data[28]
    if (depth, colour, interlace) != (8, 0, 0) or not 0 < w * h <= MAX_PIXELS:
        return decode_page(data, name)
    _check_size(w, h, name)
    page = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if page is None or page.dtype != np.uint8 or page.shape != (h, w):
        return decode_page(data, name)
    return page


def decode_jpeg_gray(data: bytes) -> np.ndarray | None:
    """A JPEG's grayscale pixels as OpenCV decodes them (EXIF orientation ignored, as Pillow
    does), or ``None`` when these bytes are not a JPEG OpenCV can decode within :data:`MAX_PIXELS`.

    For a grayscale JPEG this is usually exactly what :func:`decode_page` gives, in about 60% of
    the time; a caller must check that (:func:`pixels_crc32`) before using one for the other.
    """
    import cv2

    if data[:3] != JPEG_MAGIC:
        return None
    try:
        page = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        return None
    if page is None or page.ndim != 2 or page.size > MAX_PIXELS:
        return None
    return page
