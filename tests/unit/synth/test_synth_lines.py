"""Tests of the line-sheet generator, its corpus and its Label Studio export."""

from __future__ import annotations

import json
import logging
import pathlib

import numpy as np
import pytest
from PIL import Image

from linerec.labelstudio.export import iter_export_file, parse_tasks
from linerec.model.charset import Charset
from linerec.synth import corpora, text_kinds
from linerec.synth import lines as synth_lines
from linerec.synth.fonts import HELDOUT_FAMILIES, design_groups, line_fonts
from linerec.synth.lines import generate_line_sheets, render_sheet

CHARSET = Charset()
SHEETS, LINES = 3, 25


def _files(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sheets(tmp_path_factory) -> tuple[pathlib.Path, list[dict], list[dict]]:
    out = tmp_path_factory.mktemp("lines")
    export = generate_line_sheets(out, SHEETS, seed=5, lines_per_sheet=LINES, workers=2)
    rows = [json.loads(x) for x in (out / "lines.jsonl").read_text(encoding="utf-8").splitlines()]
    return out, json.loads(export.read_text(encoding="utf-8")), rows


def test_same_seed_gives_identical_bytes_for_any_number_of_workers(sheets, tmp_path):
    out, _, _ = sheets
    generate_line_sheets(tmp_path, SHEETS, seed=5, lines_per_sheet=LINES, workers=1)
    assert _files(tmp_path) == _files(out)
    other = tmp_path / "other"
    generate_line_sheets(other, 1, seed=6, lines_per_sheet=LINES, workers=1)
    assert (other / "images" / "lines_6_00000.png").read_bytes() != (out / "images" / "lines_5_00000.png").read_bytes()


def test_export_parses_like_an_annotators_export(sheets):
    out, tasks, rows = sheets
    parsed = parse_tasks(iter_export_file(out / "export.json"))
    assert parsed.rejected == [] and parsed.tasks_seen == SHEETS and len(parsed.lines) == SHEETS * LINES
    assert [t["id"] for t in tasks] == list(range(1, SHEETS + 1))
    by_region = {(r["task"], r["region"]): r for r in rows}
    for line in parsed.lines:
        row = by_region[(line.task_id, line.region_id)]
        assert line.text == row["text"] and line.rotation == 0.0
        assert (line.x, line.y, line.x + line.w, line.y + line.h) == tuple(row["box"])
        assert line.document == row["document"] and line.page_no == 1
    for task in tasks:
        data = task["data"]
        assert data["generator"] == "lines" and data["font_split"] == "train" and data["lines"] == LINES
        assert data["image"] == f"/data/local-files/?d=images/{data['document']}.png"
        assert all(isinstance(v, (str, int, float)) for v in data.values())
        assert {"font", "kind", "degradation"} <= set(data)


def test_every_line_is_encodable_and_of_realistic_length(sheets):
    _, _, rows = sheets
    for row in rows:
        text = row["text"]
        assert text == text.strip() and 1 <= len(text) <= 80
        CHARSET.encode(text)  # raises on a character outside the default charset
        assert row["kind"] in corpora.KINDS
        assert all(part in synth_lines.DEGRADATIONS for part in row["degradation"].split("+"))
        assert synth_lines.X_HEIGHT_RANGE[0] <= row["x_height"] <= synth_lines.X_HEIGHT_RANGE[1]


def test_no_line_asks_its_font_for_a_glyph_it_lacks(sheets):
    _, _, rows = sheets
    fonts = {f.name: f for f in line_fonts("all")}
    for row in rows:
        font = fonts[row["font"]]
        assert synth_lines._draws(font, row["text"]), (row["font"], row["text"])
    lacking = next(f for f in line_fonts("all") if f.lacks)
    rng = np.random.default_rng(0)
    text, font = synth_lines._ensure_glyphs(f"a{lacking.lacks[0]}b \u20ac5", lacking, ((lacking,),), rng)
    assert font is lacking and lacking.lacks[0] not in text and text.startswith("ab")


def test_boxes_lie_inside_the_sheet_and_hold_the_ink_box(sheets):
    out, _, rows = sheets
    for row in rows:
        image = np.asarray(Image.open(out / "images" / f"{row['document']}.png"))
        height, width = image.shape
        assert synth_lines.WIDTH_RANGE[0] <= width <= synth_lines.WIDTH_RANGE[1]
        x0, y0, x1, y1 = row["box"]
        t0, s0, t1, s1 = row["tight"]
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert 0 <= t0 < t1 <= width and 0 <= s0 < s1 <= height
        left, top, right, bottom = row["margins"]
        grown = (max(t0 - left, 0), max(s0 - top, 0), min(t1 + right, width), min(s1 + bottom, height))
        assert (x0, y0, x1, y1) == grown
        if min(row["margins"]) >= 0:
            assert x0 <= t0 and y0 <= s0 and t1 <= x1 and s1 <= y1
        assert all(-2 <= m <= 0.35 * 2.5 * row["x_height"] + 1 for m in row["margins"])


def test_loose_boxes_catch_parts_of_the_neighbouring_lines(sheets):
    _, _, rows = sheets
    overlapping = 0
    for a, b in zip(rows, rows[1:]):
        if a["document"] != b["document"]:
            continue
        below = a["box"][3] > b["tight"][1]  # a's box reaches into b's ink
        above = b["box"][1] < a["tight"][3]
        overlapping += below + above
    assert overlapping >= 0.1 * len(rows)


def test_clean_lines_have_all_their_ink_inside_their_ink_boxes(monkeypatch):
    # text from the bundled corpus only: the man pages and package docs change with what the
    # machine has installed, and the check below is about ink boxes, not about those texts
    lines = dict(corpora.load_corpus().lines)
    lines["prose"] = lines["doc"] = tuple(sorted(set(corpora._bundled())))
    sampler = corpora.LineSampler(corpora.Corpus(lines, "bundled-prose"))
    monkeypatch.setattr(synth_lines, "_sampler", lambda: sampler)
    monkeypatch.setattr(synth_lines, "_NAMES", ("clean",))
    monkeypatch.setattr(synth_lines, "_P", np.array([1.0]))
    image, lines = render_sheet(3, 0, lines_per_sheet=30)
    assert len(lines) == 30 and all(ln.degradation == "clean" for ln in lines)
    paper = float(np.median(image))
    covered = np.zeros(image.shape, dtype=bool)
    for line in lines:
        x0, y0, x1, y1 = line.tight
        crop = image[y0:y1, x0:x1].astype(float)
        level = (paper + crop.min()) / 2
        assert crop.min() < paper - 40, line.text  # there is ink
        dark = crop < level
        assert dark[:, :2].any() and dark[:, -2:].any() and dark[:2].any() and dark[-2:].any(), line.text  # tight
        covered[max(y0 - 2, 0) : y1 + 2, max(x0 - 2, 0) : x1 + 2] = True
    ink_level = (
        paper + max(float(image[ln.tight[1] : ln.tight[3], ln.tight[0] : ln.tight[2]].min()) for ln in lines)
    ) / 2
    assert not ((image < ink_level) & ~covered).any(), "ink outside every ink box"


def test_heldout_fonts_never_appear_in_training_sheets(sheets, tmp_path):
    _, _, rows = sheets
    train_groups = set(design_groups("train"))
    heldout_groups = set(design_groups("heldout"))
    assert train_groups.isdisjoint(heldout_groups)
    assert all(row["group"] in train_groups for row in rows)
    heldout_families = {f.family for f in line_fonts("heldout")}
    assert not {row["family"] for row in rows} & heldout_families
    groups = synth_lines._groups("train")
    rng = np.random.default_rng(0)
    picked = {synth_lines._pick_font(groups, rng) for _ in range(5000)}
    assert all(f.split == "train" for f in picked) and not {f.family for f in picked} & HELDOUT_FAMILIES
    assert len({f.group for f in picked}) == len(groups)  # every training design group is drawn
    export = generate_line_sheets(tmp_path, 1, seed=2, fonts="heldout", lines_per_sheet=10, workers=1)
    rows = [json.loads(x) for x in (tmp_path / "lines.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["group"] for r in rows} <= heldout_groups and {r["document"] for r in rows} == {"lines_heldout_2_00000"}
    assert json.loads(export.read_text(encoding="utf-8"))[0]["data"]["font_split"] == "heldout"


def test_sheets_are_grayscale_pngs(sheets):
    out, tasks, _ = sheets
    for task in tasks:
        image = Image.open(out / "images" / f"{task['data']['document']}.png")
        assert image.format == "PNG" and image.mode == "L"


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        generate_line_sheets(tmp_path, 1, seed=-1)
    with pytest.raises(ValueError):
        generate_line_sheets(tmp_path, 1, seed=0, lines_per_sheet=0)
    with pytest.raises(ValueError):
        generate_line_sheets(tmp_path, 1, seed=0, fonts="test")
    with pytest.raises(ValueError):
        generate_line_sheets(tmp_path, 1, seed=0, first_task_id=0)


def test_cli_writes_an_export_and_first_task_id_moves_only_the_ids(tmp_path):
    argv = [str(tmp_path / "a"), "--sheets", "2", "--seed", "4", "--lines-per-sheet", "5", "--workers", "1"]
    assert synth_lines.main(argv) == 0
    base = json.loads((tmp_path / "a" / "export.json").read_text(encoding="utf-8"))
    assert [t["id"] for t in base] == [1, 2] and len(base[0]["annotations"][0]["result"]) == 10
    assert synth_lines.main([str(tmp_path / "b"), *argv[1:], "--first-task-id", "700"]) == 0
    moved = json.loads((tmp_path / "b" / "export.json").read_text(encoding="utf-8"))
    assert [t["id"] for t in moved] == [700, 701]
    assert all(t["inner_id"] == t["id"] == t["annotations"][0]["task"] == t["annotations"][0]["id"] for t in moved)
    for a, b in zip(base, moved):
        assert a["data"] == b["data"] and a["annotations"][0]["result"] == b["annotations"][0]["result"]
    rows = [json.loads(x) for x in (tmp_path / "b" / "lines.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["task"] for r in rows} == {700, 701}


# --- the corpus ---


def test_corpus_is_large_varied_and_in_the_charset():
    corpus = corpora.load_corpus()
    assert len(corpus) > 100_000
    sizes = {kind: len(lines) for kind, lines in corpus.lines.items()}
    assert sum(n >= 1000 for n in sizes.values()) >= 10, sizes
    assert sizes["prose"] > 20_000 and sizes["receipt"] > 5_000, sizes
    for lines in corpus.lines.values():
        assert len(set(lines)) == len(lines)
        for line in lines[:: max(len(lines) // 2000, 1)]:
            CHARSET.encode(line)
    extras = {c for lines in corpus.lines.values() for line in lines for c in line if ord(c) > 0x7E}
    assert {"\u20ac", "\u00a3", "\u00b0", "\u00b1", "\u00a7", "\u00d7"} <= extras


def test_sampler_gives_many_short_lines_and_every_kind():
    sampler = corpora.LineSampler(corpora.load_corpus())
    rng = np.random.default_rng(1)
    drawn = [sampler.sample(rng) for _ in range(4000)]
    lengths = np.array([len(t) for _, t in drawn])
    assert lengths.max() <= 80 and lengths.min() >= 1
    assert (lengths <= 12).mean() > 0.2 and (lengths >= 40).mean() > 0.1
    assert {k for k, _ in drawn} == set(corpora.KINDS)
    assert sum(t.isupper() for _, t in drawn) > 0.05 * len(drawn)
    assert any("\u201c" in t or "\u2019" in t for _, t in drawn)
    for _, text in drawn:
        CHARSET.encode(text)
    again = [sampler.sample(np.random.default_rng(1)) for _ in range(1)]
    assert again[0] == drawn[0]


def test_corpus_without_man_pages_falls_back_to_the_bundled_text(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(corpora, "MAN_DIRS", (tmp_path / "man1",))
    monkeypatch.setattr(corpora, "DOC_DIR", tmp_path / "doc")
    monkeypatch.setattr(text_kinds, "COUNTS", {k: 50 for k in text_kinds.COUNTS})
    with caplog.at_level(logging.WARNING, logger="linerec.synth.corpora"):
        corpus = corpora.load_corpus.__wrapped__(workers=1)
    assert "no man pages" in caplog.text and "no package documentation" in caplog.text
    bundled = set(corpora._bundled())
    assert set(corpus.lines["prose"]) == bundled and set(corpus.lines["doc"]) == bundled
    assert all(corpus.lines[k] for k in corpora.KINDS)


def test_to_charset_maps_look_alikes_and_drops_the_rest():
    assert (
        corpora.to_charset("na\u00efve caf\u00e9 \u2013 \u201cquoted\u201d\u2026 \u2122")
        == "naive cafe \u2013 \u201cquoted\u201d... TM"
    )
    assert corpora.to_charset("\u2212 40\u00a0\u00b0C  \u2022 x") == "- 40 \u00b0C \u00b7 x"
    assert corpora.to_charset("\u65e5\u672c\u8a9e\u306e\u6587") is None
    assert corpora.to_charset("   ") is None


def test_roff_is_turned_into_readable_paragraphs():
    page = "\n".join(
        [
            '.TH LS 1 "2024" "GNU" "User Commands"',
            ".SH NAME",
            "ls \\- list directory contents",
            ".SH DESCRIPTION",
            "List information about the \\fIFILE\\fRs (the current directory by default).",
            "Sort entries alphabetically \\(em if none of",
            ".B \\-cftuvSUX",
            "is specified.",
            ".TP",
            '.BR \\-a ", " \\-\\-all',
            "do not ignore entries starting with \\(lq.\\(rq",
            ".nf",
            "  ls \\-l /tmp",
            ".fi",
            '.\\" a comment',
        ]
    )
    assert corpora.roff_to_text(page) == [
        "NAME",
        "ls - list directory contents",
        "DESCRIPTION",
        "List information about the FILEs (the current directory by default). Sort entries alphabetically "
        "\u2014 if none of -cftuvSUX is specified.",
        "-a, --all do not ignore entries starting with \u201c.\u201d",
        "ls -l /tmp",
    ]
