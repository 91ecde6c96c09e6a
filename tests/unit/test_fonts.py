"""Tests of the font catalog and its held-out split."""

from __future__ import annotations

import pathlib

import pytest
from PIL import ImageFont

from linerec.data import fonts as fontlib
from linerec.data.fonts import HELDOUT_FAMILIES, fonts


def test_splits_partition_the_installed_fonts():
    train, heldout, every = fonts("train"), fonts("heldout"), fonts("all")
    assert {f.name for f in train}.isdisjoint(f.name for f in heldout)
    assert sorted(train + heldout) == sorted(every)
    assert all(pathlib.Path(f.path).is_file() for f in every)
    assert {f.family for f in heldout} == set(HELDOUT_FAMILIES)
    assert not {f.family for f in train} & HELDOUT_FAMILIES
    assert len({f.name for f in every}) == len(every)


def test_training_fonts_cover_the_styles():
    train = fonts("train")
    assert len(train) >= 100
    assert {f.category for f in train} == {"serif", "sans", "mono"}
    assert {"regular", "bold", "italic", "bold italic"} <= {f.style for f in train}
    assert sum(f.condensed for f in train) >= 10
    assert fontlib.by_name("LiberationSerif-Bold").style == "bold"


def test_every_font_draws_every_printable_ascii_character():
    missing = "\U000f0000"  # a private-use code point no font has: renders as .notdef
    for font in fonts("all"):
        face = ImageFont.truetype(font.path, 20)
        notdef = bytes(face.getmask(missing))
        for code in range(0x21, 0x7F):
            mask = face.getmask(chr(code))
            assert mask.getbbox() is not None and bytes(mask) != notdef, (font.name, chr(code))


def test_unknown_split_and_missing_fonts_are_reported(monkeypatch):
    with pytest.raises(ValueError):
        fonts("test")
    gone = tuple(f._replace(path="/nonexistent/" + f.name) for f in fontlib.catalog())
    monkeypatch.setattr(fontlib, "catalog", lambda: gone)
    with pytest.raises(RuntimeError, match="fonts-crosextra-carlito"):
        fonts("heldout")
