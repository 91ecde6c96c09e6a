"""Multi-column layouts of the page generator (linerec.synth.layouts, drawn by linerec.synth.pages)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from linerec.labelstudio.export import iter_parsed_tasks
from linerec.synth import pages as synth
from linerec.synth.layouts import LAYOUTS, MULTI_COLUMN, layout_mix, parse_mix
from linerec.synth.pages import generate_corpus, render_layout

SEED = 4321


@pytest.fixture(scope="module")
def pages():
    """Two documents of every multi-column layout: (layout, doc index) -> (LaidOut, scan, skew)."""
    return {(lay, i): render_layout(lay, SEED, "train", "clean", doc_index=i) for lay in MULTI_COLUMN for i in range(2)}


def _hit(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_gutters_hold_no_line_box_and_no_ink(pages):
    for (lay, i), (laid, _, _) in pages.items():
        if lay in ("columns2", "columns3", "side_by_side"):
            assert laid.gutters, (lay, i)
        for g in laid.gutters:
            assert g[2] - g[0] >= 20 and g[3] > g[1], (lay, i, g)  # at 150 dpi and up, at least ~1.5 em
            for text, (x0, y0, x1, y1) in laid.lines:
                assert not _hit((x0 - synth.PAD, y0 - synth.PAD, x1 + synth.PAD, y1 + synth.PAD), g), (lay, i, text, g)
            assert laid.pixels[g[1] : g[3], g[0] : g[2]].min() >= 200, (lay, i, g)  # paper only


def test_blocks_give_every_line_once_in_reading_order(pages):
    for (lay, i), (laid, _, _) in pages.items():
        order = [j for _, _, idx in laid.blocks for j in idx]
        assert order == list(range(len(laid.lines))) and len(order) >= 8, (lay, i)
        for kind, role, idx in laid.blocks:
            tops = [laid.lines[j][1][1] for j in idx]
            assert tops == sorted(tops), (lay, i, role)  # a block reads top to bottom
            assert (kind == "table") == (role == "table")
        columns = [idx for _, role, idx in laid.blocks if role == "column"]
        if lay.startswith("columns"):
            assert len(columns) >= 2
            for a, b in zip(columns, columns[1:]):
                left_a, left_b = laid.lines[a[0]][1][0], laid.lines[b[0]][1][0]
                if left_b > left_a:  # the next column of the same band: to the right, text continuing at its top
                    assert laid.lines[b[0]][1][1] < laid.lines[a[-1]][1][1]
                    assert laid.lines[b[0]][1][0] > max(laid.lines[j][1][2] for j in a)
                else:  # a new band below the last one
                    assert laid.lines[b[0]][1][1] > max(laid.lines[j][1][3] for j in a)
        if lay == "side_by_side":
            addresses = [idx for _, role, idx in laid.blocks if role == "address"]
            assert len(addresses) == 2
            (l0, t0), (l1, t1) = [(laid.lines[ix[0]][1][0], laid.lines[ix[0]][1][1]) for ix in addresses]
            assert l0 < l1 and abs(t0 - t1) <= 0.5 * (laid.lines[addresses[0][0]][1][3] - t0)  # side by side
        if lay == "table":
            tables = [idx for kind, _, idx in laid.blocks if kind == "table"]
            assert tables and all(len(idx) >= 4 for idx in tables)
            for idx in tables:  # a row is one line: its cells joined by single spaces, wide gaps between them
                assert all(len(laid.lines[j][0].split()) >= 2 for j in idx)


def test_same_seed_same_page_and_different_documents_differ():
    a, scan_a, skew_a = render_layout("columns2", 7, "heldout", doc_index=2)
    b, scan_b, skew_b = render_layout("columns2", 7, "heldout", doc_index=2)
    assert np.array_equal(a.pixels, b.pixels) and np.array_equal(scan_a, scan_b) and skew_a == skew_b
    assert a.lines == b.lines and a.blocks == b.blocks and a.gutters == b.gutters
    c, _, _ = render_layout("columns2", 7, "heldout", doc_index=3)
    assert c.lines != a.lines


def test_export_names_each_line_block_in_reading_order_and_is_deterministic(tmp_path):
    mix = {"single": 1.0, "columns3": 1.0, "side_by_side": 1.0, "table": 1.0}
    exports = [
        json.loads(generate_corpus(tmp_path / n, 4, 11, (1, 1), profile="scan", layouts=mix).read_text())
        for n in ("a", "b")
    ]
    assert exports[0] == exports[1]
    for name in ("a", "b"):
        assert {p.name for p in (tmp_path / "a" / "images").iterdir()} == {
            p.name for p in (tmp_path / name / "images").iterdir()
        }
    for p in (tmp_path / "a" / "images").iterdir():
        assert p.read_bytes() == (tmp_path / "b" / "images" / p.name).read_bytes()
    parsed = list(iter_parsed_tasks(exports[0]))  # what annotation sync reads: every line, nothing rejected
    assert all(t.lines and not t.rejected for t in parsed)
    seen = set()
    for task in exports[0]:
        data, result = task["data"], task["annotations"][0]["result"]
        ids = [item["id"] for item in result if item["type"] == "rectangle"]
        seen.add(data.get("layout", "single"))
        if "layout" not in data:
            assert "blocks" not in data
            continue
        assert data["layout"] in MULTI_COLUMN and data["kind"] in ("report", "letter", "figures")
        listed = [rid for block in data["blocks"] for rid in block["lines"]]
        assert listed == ids  # every line once; the results themselves come in reading order
        assert all(b["kind"] in ("text", "table") and b["lines"] for b in data["blocks"])
    assert len(seen) >= 2


def test_default_keeps_single_column_pages_and_the_mix_follows_its_weights(tmp_path):
    plain = json.loads(generate_corpus(tmp_path / "p", 2, 5, (1, 1), profile="scan").read_text())
    single = json.loads(
        generate_corpus(tmp_path / "s", 2, 5, (1, 1), profile="scan", layouts={"single": 1.0}).read_text()
    )
    assert plain == single and not any("layout" in t["data"] for t in plain)
    drawn = [synth._choose_layout(3, i, layout_mix(0.4)) for i in range(2000)]
    assert 0.55 <= drawn.count("single") / len(drawn) <= 0.65
    for name in MULTI_COLUMN:
        assert 0.07 <= drawn.count(name) / len(drawn) <= 0.13, name
    assert drawn == [synth._choose_layout(3, i, layout_mix(0.4)) for i in range(2000)]


def test_bad_layouts_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown layout"):
        generate_corpus(tmp_path, 1, 0, profile="scan", layouts={"columns4": 1.0})
    with pytest.raises(ValueError, match="profile='scan'"):
        generate_corpus(tmp_path, 1, 0, profile="clean", layouts={"columns2": 1.0})
    with pytest.raises(ValueError):
        generate_corpus(tmp_path, 1, 0, profile="scan", layouts={"single": 0.0})
    with pytest.raises(ValueError):
        layout_mix(1.5)
    with pytest.raises(ValueError):
        render_layout("single", 0)
    assert parse_mix("single=3, table") == {"single": 3.0, "table": 1.0}
    with pytest.raises(ValueError, match="NAME=NUMBER"):
        parse_mix("single=x")
    assert set(LAYOUTS) == {"single", *MULTI_COLUMN}
