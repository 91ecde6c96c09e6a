"""Tests of the font catalog and its held-out split."""

from __future__ import annotations

import pathlib

import pytest
from PIL import ImageFont

from linerec.synth import fonts as fontlib
from linerec.synth.fonts import HELDOUT_FAMILIES, fonts


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


# --- discovery of every installed font (the line-sheet generator's fonts) ---

from linerec.model.charset import EXTRA_CHARS  # noqa: E402
from linerec.synth.fonts import design_groups, discover, line_fonts  # noqa: E402


def test_discovery_finds_hundreds_of_families_and_holds_out_whole_designs():
    every = discover()
    families = {f.family for f in every}
    assert len(families) >= 250 and len(every) >= 1000
    train, heldout = line_fonts("train"), line_fonts("heldout")
    assert sorted(train + heldout) == sorted(line_fonts("all"))
    train_groups, heldout_groups = {f.group for f in train}, {f.group for f in heldout}
    assert not train_groups & heldout_groups
    assert 0.08 <= len(heldout_groups) / len(train_groups | heldout_groups) <= 0.3
    group_of = {f.family: f.group for f in every}
    for family in HELDOUT_FAMILIES:  # the catalog's held-out families and their clones under other names
        assert group_of[family] in heldout_groups, family
    for clone, original in (
        ("TeX Gyre Pagella", "P052"),
        ("Ricty Diminished", "Inconsolata"),
        ("Tinos", "Liberation Serif"),
        ("CMU Serif", "Latin Modern Roman"),
    ):
        if clone in group_of:
            assert group_of[clone] == group_of[original], clone
    for font in fontlib.catalog():  # the page generator's training fonts stay training fonts here
        if font.family not in HELDOUT_FAMILIES and font.family in group_of:
            assert group_of[font.family] in train_groups, font.family
    assert {f.category for f in train} == {"serif", "sans", "mono"} and sum(f.condensed for f in train) >= 50
    assert set(design_groups("heldout")) == heldout_groups


def test_discovered_fonts_draw_printable_ascii_and_the_extras_they_claim():
    missing = "\U000f0000"
    every = discover()
    for font in every[::15]:
        face = ImageFont.truetype(font.path, 20)
        notdef = bytes(face.getmask(missing))
        for ch in [chr(c) for c in range(0x21, 0x7F) if chr(c) not in font.lacks] + list(font.extras):
            mask = face.getmask(ch)
            assert mask.getbbox() is not None and bytes(mask) != notdef, (font.name, ch)
        assert set(font.extras) <= set(EXTRA_CHARS) and 0.3 < font.x_height < 0.75, font
        assert len(font.lacks) <= fontlib.MAX_LACKING and not any(
            c.isalnum() or c in fontlib.ESSENTIAL for c in font.lacks
        ), font
    assert sum(len(f.extras) == len(EXTRA_CHARS) for f in every) > 0.8 * len(every)
    assert sum(f.lacks == "" for f in every) > 0.95 * len(every)
    assert "GNUTypewriter" in {f.family for f in every}  # a typewriter face lacking only "&"
    assert fontlib.by_name(every[-1].name) == every[-1]


def test_probe_rejects_symbols_small_caps_and_hairlines():
    urw, go = fontlib.FONT_ROOT / "opentype/urw-base35", fontlib.FONT_ROOT / "fonts-go"
    for path in (
        urw / "D050000L.otf",
        urw / "StandardSymbolsPS.otf",
        go / "Go-Smallcaps.ttf",
        fontlib.FONT_ROOT / "truetype/dejavu/DejaVuSans-ExtraLight.ttf",
    ):
        if path.is_file():
            record, reason = fontlib._probe(path)
            assert record is None and reason != "ok", path
    record, reason = fontlib._probe(pathlib.Path(fontlib.by_name("LiberationMono-Regular").path))
    assert reason == "ok" and record["category"] == "mono" and record["extras"] == EXTRA_CHARS
    assert fontlib._probe(pathlib.Path(fontlib.by_name("LiberationSerif-Bold").path))[0]["category"] == "serif"
    assert fontlib._probe(pathlib.Path(fontlib.by_name("LiberationSans-Regular").path))[0]["category"] == "sans"


def test_design_groups_merge_names_and_identical_renderings():
    assert fontlib._design_name("TeX Gyre Pagella") == fontlib._design_name("P052") == "p052"
    assert fontlib._design_name("Noto Serif Display") == fontlib._design_name("Noto Sans") == "noto"
    assert fontlib._design_name("Liberation Sans Narrow") == "liberation"
    assert fontlib._design_name("TeX Gyre Heros Cn") == "nimbus"
    records = [
        {"family": "Alpha Sans", "print": "1"},
        {"family": "Beta Text", "print": "1"},
        {"family": "Gamma", "print": "2"},
        {"family": "Beta Text", "print": "3"},
    ]
    assert fontlib._groups(records) == {"Alpha Sans": "alpha", "Beta Text": "alpha", "Gamma": "gamma"}
    held = fontlib._heldout_groups({"Carlito": "carlito", "Liberation Serif": "liberation", "Zeta": "zeta"})
    assert "carlito" in held and "liberation" not in held
