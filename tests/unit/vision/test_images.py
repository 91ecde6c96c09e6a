from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from linerec.vision.images import MAX_PIXELS, BadImage, decode_page, encode_png


def _png(w, h, mode="L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h), 200).save(buf, format="PNG")
    return buf.getvalue()


def test_decode_roundtrip():
    page = (np.arange(64 * 48) % 251).astype(np.uint8).reshape(48, 64)
    assert np.array_equal(decode_page(encode_png(page)), page)
    assert decode_page(_png(40, 30, "RGB")).shape == (30, 40)


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty file"),
        (b"not an image at all", "unreadable image"),
        (_png(200, 200)[:60], "unreadable image"),
        (_png(2000, 1), "implausible page size"),
    ],
)
def test_bad_images_named(data, reason):
    with pytest.raises(BadImage, match=reason) as err:
        decode_page(data, "scan-17.png")
    assert "scan-17.png" in str(err.value)


def test_pixel_limit_is_checked_before_decoding():
    side = int(MAX_PIXELS**0.5) + 10
    with pytest.raises(BadImage, match="pixel limit"):
        decode_page(_png(side, side), "bomb.png")


def _pages(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)) for w, h in sizes]


def _multi(frames, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], **kw)
    return buf.getvalue()


def test_multipage_tiff_decodes_every_frame_exactly():
    from linerec.vision.images import decode_pages

    frames = _pages([(64, 48), (80, 60), (40, 120)])
    pages = decode_pages(_multi(frames, "TIFF"), "fax.tif")
    assert [p.shape for p in pages] == [(48, 64), (60, 80), (120, 40)]
    assert all(np.array_equal(p, np.asarray(f)) for p, f in zip(pages, frames))
    assert decode_page(_multi(frames, "TIFF")).shape == (48, 64)  # first frame only


def test_pdf_pages_render_to_grayscale_at_200_dpi():
    from linerec.vision.images import PDF_DPI, decode_pages

    frames = [Image.new("RGB", (144, 72), (255, 255, 255)), Image.new("RGB", (72, 144), (0, 0, 0))]
    pages = decode_pages(_multi(frames, "PDF", resolution=72), "letter.pdf")  # 2 x 1 inch, 1 x 2 inch
    assert [p.shape for p in pages] == [(PDF_DPI, 2 * PDF_DPI), (2 * PDF_DPI, PDF_DPI)]
    assert pages[0].dtype == np.uint8 and pages[0].min() > 250 and pages[1].max() < 5


def test_pdf_page_over_the_pixel_limit_is_refused_before_rendering():
    from linerec.vision.images import decode_pages

    huge = _multi([Image.new("L", (100, 100), 255)], "PDF", resolution=1)  # a 100-inch page
    with pytest.raises(BadImage, match=r"big.pdf page 1: .* exceeds the page pixel limit"):
        decode_pages(huge, "big.pdf")


def test_a_bad_frame_rejects_the_file_and_is_named(monkeypatch):
    import linerec.vision.images as images

    data = _multi(_pages([(100, 100), (400, 400)]), "TIFF")
    monkeypatch.setattr(images, "MAX_PIXELS", 50_000)
    with pytest.raises(BadImage, match=r"scan.tif frame 2: 400x400 exceeds the page pixel limit 50000"):
        images.decode_pages(data, "scan.tif")
    monkeypatch.setattr(images, "MAX_PAGES", 1)
    with pytest.raises(BadImage, match="2 frames exceed the limit of 1 pages"):
        images.decode_pages(data, "scan.tif")


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"%PDF-1.7\n%%EOF", "unreadable PDF"),
        (b"II*\x00" + b"\x00" * 40, "unreadable image"),
    ],
)
def test_damaged_pdf_and_tiff_are_bad_images(data, reason):
    from linerec.vision.images import decode_pages

    with pytest.raises(BadImage, match=reason):
        decode_pages(data, "x")


def _noisy_page(h=300, w=240, seed=4):
    rng = np.random.default_rng(seed)
    page = np.full((h, w), 235, np.uint8)
    page[40:60, 20:200] = 30  # a "line" of ink
    return np.clip(page.astype(int) + rng.normal(0, 12, page.shape), 0, 255).astype(np.uint8)


def test_canonical_png_decodes_to_the_same_pixels_as_pillow():
    from linerec.vision.images import decode_canonical_png

    page = _noisy_page()
    data = encode_png(page)
    assert np.array_equal(decode_canonical_png(data, "p.png"), page)
    assert np.array_equal(decode_canonical_png(data), decode_page(data))


@pytest.mark.parametrize("mode", ["RGB", "LA", "I;16", "1"])
def test_other_pngs_take_pillows_path(mode):
    from linerec.vision.images import decode_canonical_png

    data = _png(40, 30, mode)
    assert np.array_equal(decode_canonical_png(data), decode_page(data))


def test_canonical_png_errors_are_pillows_and_the_limit_is_checked_before_decoding():
    from linerec.vision.images import decode_canonical_png

    side = int(MAX_PIXELS**0.5) + 10
    with pytest.raises(BadImage, match="pixel limit"):
        decode_canonical_png(_png(side, side), "bomb.png")
    with pytest.raises(BadImage, match="implausible page size"):
        decode_canonical_png(_png(2000, 1), "strip.png")
    with pytest.raises(BadImage, match=r"cut\.png: unreadable image"):
        decode_canonical_png(encode_png(_noisy_page())[:500], "cut.png")
    with pytest.raises(BadImage, match="empty file"):
        decode_canonical_png(b"", "none.png")


def _jpeg(page: np.ndarray, mode="L", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(page).convert(mode).save(buf, format="JPEG", quality=80, **kw)
    return buf.getvalue()


def test_a_gray_jpeg_decodes_fast_to_the_canonical_page_and_the_crc_tells():
    import zlib

    from linerec.vision.images import decode_jpeg_gray, pixels_crc32

    data = _jpeg(_noisy_page())
    canonical = decode_page(data)
    fast = decode_jpeg_gray(data)
    assert np.array_equal(fast, canonical)
    assert pixels_crc32(fast) == pixels_crc32(canonical) == zlib.crc32(canonical.tobytes())
    changed = canonical.copy()
    changed[7, 9] ^= 1
    assert pixels_crc32(changed) != pixels_crc32(canonical)
    assert pixels_crc32(canonical[:, ::2]) == zlib.crc32(np.ascontiguousarray(canonical[:, ::2]).tobytes())


def test_decode_jpeg_gray_gives_none_for_what_it_cannot_read():
    from linerec.vision.images import decode_jpeg_gray

    assert decode_jpeg_gray(encode_png(_noisy_page())) is None  # not a JPEG
    assert decode_jpeg_gray(b"\xff\xd8\xff" + b"\x00" * 64) is None  # a JPEG's magic, no image
    assert decode_jpeg_gray(b"") is None
