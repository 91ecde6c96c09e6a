"""Searchable PDF: each page image with an invisible text layer of the recognized words.

The images go in as they came: a JPEG file's own bytes (``DCTDecode``, no re-encoding), an 8-bit
grey or RGB PNG's own compressed rows (``FlateDecode`` with the PNG predictor, :func:`png_image`),
other PNG and TIFF frames losslessly (``FlateDecode`` of their grey or RGB pixels), PDF pages as
rendered for recognition. Every word is drawn in text render mode 3 (invisible) in a font without glyphs
(a ``Type0`` font, ``Identity-H`` codes with a ``ToUnicode`` map, so any character extracts as
itself), sized and stretched to fill the word's box, followed by a space except at a line's end.
The file is written here, object by object, with a cross-reference table.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import zlib
from collections.abc import Iterator

import numpy as np

logger = logging.getLogger(__name__)

#: Resolution assumed for an image that does not state a plausible one.
DEFAULT_DPI = 300.0
ASCENT, DESCENT, ADVANCE = 800, -200, 500  # glyph metrics of the text layer's font (1/1000 em)


@dataclasses.dataclass(frozen=True)
class PdfImage:
    """One page image as it goes into the PDF: pixels ``width`` x ``height`` at ``dpi``,
    ``colorspace`` (``DeviceGray``/``DeviceRGB``), ``filter`` and the encoded ``data``."""

    width: int
    height: int
    dpi: float
    colorspace: str
    filter: str
    data: bytes
    decode_parms: bytes = b""  # e.g. the PNG predictor of a PNG's own compressed rows


def _dpi(info: dict) -> float:
    dpi = info.get("dpi")
    try:
        value = float(dpi[0]) if dpi else 0.0
    except (TypeError, ValueError, IndexError):
        value = 0.0
    return value if 50.0 <= value <= 2400.0 else DEFAULT_DPI


def _flate(pixels: np.ndarray, dpi: float) -> PdfImage:
    h, w = pixels.shape[:2]
    space = "DeviceGray" if pixels.ndim == 2 else "DeviceRGB"
    return PdfImage(w, h, dpi, space, "FlateDecode", zlib.compress(np.ascontiguousarray(pixels).tobytes(), 6))


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_image(data: bytes) -> PdfImage | None:
    """A PNG's own compressed rows as a PDF image, without decoding them; ``None`` when it cannot be.

    An 8-bit grey or RGB, non-interlaced PNG's ``IDAT`` stream is a zlib stream of rows with PNG
    row filters, which PDF reads as ``FlateDecode`` with the PNG predictor (``/Predictor 15``):
    the page images stored by intake go into the PDF as they are, losslessly and at no decoding
    cost. The resolution is the ``pHYs`` chunk's, else :data:`DEFAULT_DPI`.
    """
    if data[:8] != PNG_MAGIC:
        return None
    pos, header, dpi, chunks = 8, None, DEFAULT_DPI, []
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if len(body) < length:
            return None
        if kind == b"IHDR" and length >= 13:
            header = body
        elif kind == b"pHYs" and length >= 9 and body[8] == 1:  # pixels per metre
            dpi = _dpi({"dpi": (int.from_bytes(body[:4], "big") * 0.0254,)})
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or not chunks:
        return None
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    depth, color, interlace = header[8], header[9], header[12]
    if depth != 8 or color not in (0, 2) or interlace != 0 or width < 1 or height < 1:
        return None
    colors = 1 if color == 0 else 3
    return PdfImage(
        width,
        height,
        dpi,
        "DeviceGray" if colors == 1 else "DeviceRGB",
        "FlateDecode",
        b"".join(chunks),
        b"<< /Predictor 15 /Colors %d /BitsPerComponent 8 /Columns %d >>" % (colors, width),
    )


def page_images(data: bytes, pdf_dpi: float) -> Iterator[PdfImage]:
    """The page images of a scan file for :func:`to_pdf`, one per page as
    :func:`linerec.vision.images.iter_pages` reads it.

    Parameters
    ----------
    data : bytes
        The file's bytes (already read by recognition, so within its limits).
    pdf_dpi : float
        Resolution PDF input pages were rendered at for recognition.
    """
    from PIL import Image

    from linerec.vision.images import PDF_MAGIC, iter_pages

    if data[: len(PDF_MAGIC)] == PDF_MAGIC:
        for page in iter_pages(data, dpi=int(pdf_dpi)):
            yield _flate(page, pdf_dpi)
        return
    direct = png_image(data)
    if direct is not None:
        yield direct
        return
    img = Image.open(io.BytesIO(data))
    if img.format == "JPEG" and img.mode in ("L", "RGB"):
        yield PdfImage(
            img.width, img.height, _dpi(img.info), "DeviceGray" if img.mode == "L" else "DeviceRGB", "DCTDecode", data
        )
        return
    for index in range(int(getattr(img, "n_frames", 1))):
        img.seek(index)
        frame = img.convert("L" if img.mode in ("1", "L", "LA", "I;16", "I", "F") else "RGB")
        yield _flate(np.asarray(frame, dtype=np.uint8), _dpi(img.info))


class _Writer:
    """PDF objects numbered as they are added; :meth:`finish` writes the cross-reference table."""

    def __init__(self) -> None:
        self.objects: list[bytes | None] = []

    def reserve(self) -> int:
        self.objects.append(None)
        return len(self.objects)

    def put(self, num: int, body: bytes) -> int:
        self.objects[num - 1] = body
        return num

    def add(self, body: bytes) -> int:
        return self.put(self.reserve(), body)

    def stream(self, head: bytes, data: bytes) -> int:
        return self.add(b"<< " + head + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")

    def finish(self, root: int) -> bytes:
        out = io.BytesIO()
        out.write(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for num, body in enumerate(self.objects, start=1):
            assert body is not None, f"PDF object {num} was reserved but never put"
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % num + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1))
        out.writelines(b"%010d 00000 n \n" % off for off in offsets)
        out.write(
            b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(self.objects) + 1, root, xref)
        )
        return out.getvalue()


def _to_unicode(codes: dict[str, int]) -> bytes:
    """A ToUnicode CMap from 2-byte codes to the characters."""
    lines = [
        b"/CIDInit /ProcSet findresource begin",
        b"12 dict begin",
        b"begincmap",
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        b"/CMapName /Adobe-Identity-UCS def",
        b"/CMapType 2 def",
        b"1 begincodespacerange",
        b"<0000> <FFFF>",
        b"endcodespacerange",
    ]
    items = sorted(codes.items(), key=lambda kv: kv[1])
    for start in range(0, len(items), 100):
        chunk = items[start : start + 100]
        lines.append(b"%d beginbfchar" % len(chunk))
        lines += [
            b"<%04X> <%s>" % (code, ch.encode("utf-16-be", "surrogatepass").hex().upper().encode())
            for ch, code in chunk
        ]
        lines.append(b"endbfchar")
    lines += [b"endcmap", b"CMapName currentdict /CMap defineresource pop", b"end", b"end"]
    return b"\n".join(lines)


def _text_ops(page, image: PdfImage, codes: dict[str, int], hexes: dict[str, str]) -> list[bytes]:
    """Content-stream operators drawing the page's words invisibly in their boxes (points, y up).

    A character gets the next code the first time it is drawn (``codes``; ``hexes`` holds the
    same codes as 4-digit hex).
    """
    k = 72.0 / image.dpi
    sx, sy = image.width / max(page.width, 1), image.height / max(page.height, 1)  # recognized -> image pixels
    page_h = image.height * k
    ops = [b"BT", b"3 Tr"]
    for block in page.blocks:
        for line in block.lines:
            words = [(w.text, w.bbox) for w in line.words if w.text.strip()] or (
                [(line.text, line.bbox)] if line.text.strip() else []
            )
            for n, (text, (x, y, w, h)) in enumerate(words):
                text = "".join(ch for ch in text if ch != "\x00") + (" " if n + 1 < len(words) else "")
                glyphs = len(text.rstrip(" ")) or 1
                size = max(h * sy * k, 0.5)  # the em spans the box: ascent + descent = 1000
                scale = 100.0 * (w * sx * k) / (glyphs * size * ADVANCE / 1000.0)  # horizontal stretch, %
                base = page_h - (y + h) * sy * k - DESCENT / 1000.0 * size
                for ch in text:
                    if ch not in hexes:
                        codes[ch] = len(codes) + 1
                        hexes[ch] = f"{codes[ch]:04X}"
                hexed = "".join([hexes[ch] for ch in text])
                ops.append(
                    b"/F1 %.3f Tf %.3f Tz 1 0 0 1 %.3f %.3f Tm <%s> Tj"
                    % (size, scale, x * sx * k, base, hexed.encode())
                )
    ops.append(b"ET")
    return ops


def to_pdf(pages, images: list[PdfImage], title: str = "") -> bytes:
    """A searchable PDF: one page per image, its recognized words as invisible text.

    Parameters
    ----------
    pages : list of linerec.document.reader.PageResult
        Recognized pages (word boxes in the pixels of the recognized page).
    images : list of PdfImage
        The page images, as many as ``pages`` (:func:`page_images`).
    title : str
        Unused in the file's text; for messages only.

    Returns
    -------
    bytes
        The PDF file.
    """
    if len(pages) != len(images):
        raise ValueError(f"{title}: {len(pages)} recognized pages but {len(images)} page images")
    pdf = _Writer()
    catalog, tree, font = pdf.reserve(), pdf.reserve(), pdf.reserve()
    codes: dict[str, int] = {}
    hexes: dict[str, str] = {}
    kids = []
    for page, image in zip(pages, images):
        k = 72.0 / image.dpi
        width, height = image.width * k, image.height * k
        parms = b" /DecodeParms " + image.decode_parms if image.decode_parms else b""
        img = pdf.stream(
            b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s /BitsPerComponent 8 "
            b"/Filter /%s%s" % (image.width, image.height, image.colorspace.encode(), image.filter.encode(), parms),
            image.data,
        )
        ops = [b"q %.4f 0 0 %.4f 0 0 cm /Im1 Do Q" % (width, height)] + _text_ops(page, image, codes, hexes)
        content = pdf.stream(b"/Filter /FlateDecode", zlib.compress(b"\n".join(ops), 6))
        kids.append(
            pdf.add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.4f %.4f] /Contents %d 0 R "
                b"/Resources << /XObject << /Im1 %d 0 R >> /Font << /F1 %d 0 R >> >> >>"
                % (tree, width, height, content, img, font)
            )
        )
    descriptor = pdf.add(
        b"<< /Type /FontDescriptor /FontName /GlyphLessFont /Flags 5 /FontBBox [0 %d %d %d] "
        b"/ItalicAngle 0 /Ascent %d /Descent %d /CapHeight %d /StemV 80 >>"
        % (DESCENT, ADVANCE, ASCENT, ASCENT, DESCENT, ASCENT)
    )
    cid = pdf.add(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /GlyphLessFont "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        b"/FontDescriptor %d 0 R /DW %d /CIDToGIDMap /Identity >>" % (descriptor, ADVANCE)
    )
    unicode_map = pdf.stream(b"/Filter /FlateDecode", zlib.compress(_to_unicode(codes), 6))
    pdf.put(
        font,
        b"<< /Type /Font /Subtype /Type0 /BaseFont /GlyphLessFont /Encoding /Identity-H "
        b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (cid, unicode_map),
    )
    pdf.put(tree, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % n for n in kids), len(kids)))
    pdf.put(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % tree)
    logger.debug("%s: PDF of %d pages, %d distinct characters", title, len(kids), len(codes))
    return pdf.finish(catalog)
