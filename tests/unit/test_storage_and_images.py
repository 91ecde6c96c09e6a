from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from linerec.images import MAX_PIXELS, BadImage, decode_page, encode_png
from linerec.storage import validate_key


@pytest.mark.parametrize("key", ["pages/abc", "datasets/ds-1/train-00000-of-00001.tfrecord", "a=b/c.json"])
def test_valid_keys(key):
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../b", "a//b", "a/./b", "a b", "x\x00y"])
def test_unsafe_keys_rejected(key):
    with pytest.raises(ValueError, match="unsafe object key"):
        validate_key(key)


def _png(w, h, mode="L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h), 200).save(buf, format="PNG")
    return buf.getvalue()


def test_decode_roundtrip():
    page = (np.arange(64 * 48) % 251).astype(np.uint8).reshape(48, 64)
    assert np.array_equal(decode_page(encode_png(page)), page)
    assert decode_page(_png(40, 30, "RGB")).shape == (30, 40)


@pytest.mark.parametrize("data,reason", [
    (b"", "empty file"),
    (b"not an image at all", "unreadable image"),
    (_png(200, 200)[:60], "unreadable image"),
    (_png(2000, 1), "implausible page size"),
])
def test_bad_images_named(data, reason):
    with pytest.raises(BadImage, match=reason) as err:
        decode_page(data, "scan-17.png")
    assert "scan-17.png" in str(err.value)


def test_pixel_limit_is_checked_before_decoding():
    side = int(MAX_PIXELS ** 0.5) + 10
    with pytest.raises(BadImage, match="pixel limit"):
        decode_page(_png(side, side), "bomb.png")
