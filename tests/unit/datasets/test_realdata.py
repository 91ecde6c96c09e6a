"""Real data sets as lines: parsing, grouping, flags, the held-out split, crops and the export.

Fixtures are fabricated in tmp_path; the tests on the real folder (``LINEREC_REAL_DATA``, default
``../shared/datasets``) skip with :func:`linerec.datasets.realdata.available`'s message when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from linerec.datasets import realdata as rd
from linerec.labelstudio.export import parse_tasks, resolve_image_ref
from linerec.model.charset import DEFAULT_CHARS

SROIE_ROWS = (
    b"10,20,110,22,109,40,9,38,  TOTAL 12.50 \r\n"  # a slanted quadrilateral, padded text
    b"10,50,110,50,110,70,10,70,CAF\xe9 LATTE\r\n"  # Latin-1, not UTF-8
    b"10,80,60,80,60,95,10,95,\r\n"  # no text
    b"1,2,3\r\n"  # too few fields
)


def _sroie_root(root: Path) -> Path:
    folder = root / "sroie-train"
    folder.mkdir(parents=True)
    Image.new("RGB", (200, 120), "white").save(folder / "001.jpg")
    (folder / "001.txt").write_bytes(SROIE_ROWS)
    return root


def _word(box, text):
    return {"box": list(box), "text": text}


FUNSD_FORM = {
    "form": [
        # Two entities on one row: a question and its answer stay two lines.
        {
            "id": 0,
            "label": "question",
            "box": [10, 10, 60, 22],
            "text": "Date :",
            "words": [_word((10, 10, 50, 22), "Date"), _word((50, 11, 54, 22), ":")],
        },
        {
            "id": 1,
            "label": "answer",
            "box": [80, 11, 140, 23],
            "text": "9/3/92",
            "words": [_word((80, 11, 100, 23), "9/"), _word((100, 11, 120, 23), "3/"), _word((120, 12, 140, 23), "92")],
        },
        # Two rows of one entity, the first split by a wide gap (> 3 line heights).
        {
            "id": 2,
            "label": "other",
            "box": [10, 40, 300, 70],
            "text": "first row far away second row",
            "words": [
                _word((10, 40, 40, 52), "first"),
                _word((44, 41, 64, 52), "row"),
                _word((200, 40, 230, 52), "far"),
                _word((234, 40, 270, 52), "away"),
                _word((10, 58, 50, 70), "second"),
                _word((54, 58, 74, 70), "row"),
            ],
        },
        # A tick box before its label: the box is a line of its own.
        {
            "id": 3,
            "label": "question",
            "box": [10, 80, 60, 92],
            "text": "\u2610 Yes",
            "words": [_word((10, 80, 22, 92), "\u2610"), _word((26, 80, 60, 92), "Yes")],
        },
        # Empty, private-use, outside the charset, vertical.
        {"id": 4, "label": "answer", "box": [100, 80, 130, 92], "text": "", "words": [_word((100, 80, 130, 92), "")]},
        {
            "id": 5,
            "label": "answer",
            "box": [140, 80, 170, 92],
            "text": "4\uf702",
            "words": [_word((140, 80, 170, 92), "4\uf702")],
        },
        {
            "id": 6,
            "label": "question",
            "box": [180, 80, 220, 92],
            "text": "f\u00fcr",
            "words": [_word((180, 80, 220, 92), "f\u00fcr")],
        },
        {
            "id": 7,
            "label": "other",
            "box": [280, 100, 292, 190],
            "text": "00040534",
            "words": [_word((280, 100, 292, 190), "00040534")],
        },
        # A word with no usable box.
        {"id": 8, "label": "other", "box": [0, 0, 1, 1], "text": "x", "words": [_word((5, 5, 5, 9), "x")]},
    ]
}


def _funsd_root(root: Path, name: str = "0000971160") -> Path:
    folder = root / "funsd-train"
    (folder / "images").mkdir(parents=True)
    (folder / "annotations").mkdir()
    Image.new("L", (320, 220), 255).save(folder / "images" / f"{name}.png")
    (folder / "annotations" / f"{name}.json").write_text(json.dumps(FUNSD_FORM), encoding="utf-8")
    return root


# --- SROIE ---------------------------------------------------------------------------------------


def test_sroie_rows_become_axis_aligned_upper_case_lines_and_bad_rows_are_rejected_with_reasons():
    lines, rejected = rd.parse_sroie(SROIE_ROWS, 200, 120)
    assert [(ln.text, ln.flag) for ln in lines] == [("TOTAL 12.50", None), ("", "empty")]
    assert lines[0].box == (9.0, 20.0, 101.0, 20.0)  # bounds of the quadrilateral
    assert all(ln.case_folded for ln in lines)
    assert rejected[0] == ("row 2", "invalid UTF-8 in row 2")
    assert rejected[1][0] == "row 4" and rejected[1][1].startswith("malformed row 4")
    assert len(rejected) == 2


def test_sroie_boxes_are_clipped_to_the_page():
    lines, rejected = rd.parse_sroie(b"-5,10,250,10,250,30,-5,30,WIDE\n300,300,310,300,310,310,300,310,OFF\n", 200, 120)
    assert lines[0].box == (0.0, 10.0, 200.0, 20.0)
    assert rejected == [("row 2", "box off the page or empty in row 2")]


def test_load_sroie_pages(tmp_path):
    pages = rd.load_pages("sroie", _sroie_root(tmp_path))
    assert len(pages) == 1
    page = pages[0]
    assert (page.source, page.document, page.width, page.height) == ("sroie", "sroie-001", 200, 120)
    assert page.image_path == tmp_path / "sroie-train" / "001.jpg"
    assert [r[1] for r in page.rejected][0] == "invalid UTF-8 in row 2"


# --- FUNSD ---------------------------------------------------------------------------------------


def test_funsd_words_are_grouped_into_lines_and_flagged(tmp_path):
    (page,) = rd.load_pages("funsd", _funsd_root(tmp_path))
    assert page.document == "funsd-0000971160" and (page.width, page.height) == (320, 220)
    got = [(ln.text, ln.flag) for ln in page.lines]
    assert got == [
        ("Date:", None),
        ("9/3/92", None),  # two entities on one row; split punctuation glued back
        ("first row", None),
        ("far away", None),  # split at the wide gap
        ("second row", None),
        ("\u2610", "checkbox"),
        ("Yes", None),
        ("", "empty"),
        ("4\uf702", "unreadable"),
        ("f\u00fcr", "charset"),
        ("00040534", "vertical"),
    ]
    boxes = {ln.text: ln.box for ln in page.lines}
    assert boxes["first row"] == (10.0, 40.0, 54.0, 12.0)  # union of the word boxes
    assert boxes["Date:"] == (10.0, 10.0, 44.0, 12.0)
    assert not any(ln.case_folded for ln in page.lines)
    assert page.rejected == (("entity 8 word 0", "word box unusable or off the page: [5, 5, 5, 9]"),)


def test_lines_are_in_reading_order(tmp_path):
    (page,) = rd.load_pages("funsd", _funsd_root(tmp_path))
    keys = [(ln.box[1], ln.box[0]) for ln in page.lines]
    assert keys == sorted(keys)


def test_words_of_a_skewed_row_stay_on_their_line():
    # Two lines rising 12 px over their length, 16 px apart: the right end of the first line is
    # higher than the left end of the second by less than a line's height.
    words = []
    for row, y0 in enumerate((100, 116)):
        for k in range(8):
            y = y0 - 1.5 * k
            words.append(((10 + 60 * k, y, 60 + 60 * k, y + 12), f"r{row}w{k}"))
    lines = rd.group_words(words)
    texts = sorted(text for _, text, _ in lines)
    assert texts == [" ".join(f"r{r}w{k}" for k in range(8)) for r in (0, 1)]
    assert all(flag == "skewed" for _, _, flag in lines)  # 12 px of rise on 12 px words: box 2x taller


def test_text_flags_and_normalisation():
    assert rd.normalize_text("  \uff21\uff22  C\u00a0D ") == "AB C D"  # NFKC: full-width letters, no-break space
    assert rd.text_flag("") == "empty"
    assert rd.text_flag("[] OTHER") == "checkbox"
    assert rd.text_flag("\u2611 ) POOR") == "checkbox"
    assert rd.text_flag("a\ufffdb") == "unreadable"
    assert rd.text_flag("\u03bf") == "charset"  # Greek omicron
    assert rd.text_flag("\u20ac 12.50 \u2013 3\u00b0") is None  # in DEFAULT_CHARS


def test_stroke_ratio_tells_thin_tall_strokes_from_print():
    printed = np.full((14, 80), 255, np.uint8)
    for x in range(4, 76, 9):  # block letters: 3-px strokes, 10 px high
        printed[2:12, x : x + 3] = 0
    pen = np.full((40, 120), 255, np.uint8)
    img = Image.fromarray(pen)
    ImageDraw.Draw(img).line([(5, 35), (30, 5), (55, 35), (80, 5), (110, 35)], fill=0, width=1)
    pen = np.asarray(img)
    assert not rd.looks_handwritten(printed, page_line_height=14)
    assert rd.looks_handwritten(pen, page_line_height=14)
    assert rd.stroke_ratio(np.full((10, 10), 200, np.uint8), 14) is None  # blank


# --- split ---------------------------------------------------------------------------------------


def test_is_held_out_is_deterministic_by_name_and_about_a_fifth():
    names = [f"doc-{i:05d}" for i in range(5000)]
    first = [rd.is_held_out(n) for n in names]
    assert first == [rd.is_held_out(n) for n in names]
    assert 0.18 < sum(first) / len(names) < 0.22
    # Pinned: a change of salt or rule would silently move held-out documents into training.
    assert [rd.is_held_out(d) for d in ("sroie-001", "sroie-002", "funsd-0000971160", "funsd-0000989556")] == [
        False,
        True,
        True,
        False,
    ]


def test_split_pages_never_shares_a_document():
    pages = [rd.RealPage("sroie", f"sroie-{i:03d}", Path(f"{i}.jpg"), 10, 10, (), ()) for i in range(300)]
    training, held_out = rd.split_pages(pages)
    train_docs, held_docs = {p.document for p in training}, {p.document for p in held_out}
    assert not train_docs & held_docs
    assert train_docs | held_docs == {p.document for p in pages}
    assert all(rd.is_held_out(d) for d in held_docs) and not any(rd.is_held_out(d) for d in train_docs)


# --- crops ---------------------------------------------------------------------------------------


def test_line_crop_grows_by_the_margin_and_clips_to_the_page():
    page = np.arange(100 * 200, dtype=np.uint32).reshape(100, 200).astype(np.uint8)
    crop = rd.line_crop(page, (50, 40, 60, 20), margin=0.15)  # 3 px on every side
    assert crop.shape == (26, 66) and crop.dtype == np.uint8
    assert np.array_equal(crop, page[37:63, 47:113])
    corner = rd.line_crop(page, (0, 90, 30, 20), margin=0.5)
    assert corner.shape == (20, 40)  # rows 80..100 and columns 0..40
    with pytest.raises(ValueError):
        rd.line_crop(np.zeros((4, 4, 3), np.uint8), (0, 0, 2, 2))


# --- export --------------------------------------------------------------------------------------


def _pages(tmp_path: Path) -> list:
    root = _funsd_root(_sroie_root(tmp_path / "data"))
    return rd.load_pages("sroie", root) + rd.load_pages("funsd", root)


def test_write_export_is_an_ingestible_label_studio_export(tmp_path):
    pages = _pages(tmp_path)
    out = tmp_path / "out"
    export = rd.write_export(pages, out)
    tasks = json.loads(export.read_text(encoding="utf-8"))
    assert len(tasks) == 2
    parsed = parse_tasks(tasks)
    usable = [ln for p in pages for ln in p.lines if ln.flag is None]
    assert not parsed.rejected and len(parsed.lines) == len(usable) == 7
    assert sorted(ln.text for ln in parsed.lines) == sorted(ln.text for ln in usable)
    for task, page in zip(tasks, sorted(pages, key=lambda p: p.document)):
        data = task["data"]
        assert (data["document"], data["page"], data["source"]) == (page.document, 1, page.source)
        assert data["transcription_case"] == ("upper" if page.source == "sroie" else "as_printed")
        kind, path = resolve_image_ref(data["image"], out)
        assert kind == "file" and Path(path).read_bytes() == page.image_path.read_bytes()
        assert Path(path).is_symlink()
        result = task["annotations"][0]["result"]
        assert {r["type"] for r in result} == {"rectangle", "textarea"}
        assert all(r["original_width"] == page.width and r["original_height"] == page.height for r in result)
    sroie = next(ln for ln in parsed.lines if ln.document == "sroie-001")
    assert (sroie.x, sroie.y, sroie.w, sroie.h, sroie.text) == (9, 20, 101, 20, "TOTAL 12.50")

    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    flagged = [ln for p in pages for ln in p.lines if ln.flag is not None]
    assert len(rejected) == len(flagged) + sum(len(p.rejected) for p in pages)
    assert {
        "document": "sroie-001",
        "source": "sroie",
        "split": "train",
        "ref": "row 2",
        "box": None,
        "text": None,
        "reason": "invalid UTF-8 in row 2",
    } in rejected
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sources"]["sroie"]["train"] == {"pages": 1, "regions": 1, "rejected": 3}
    assert manifest["sources"]["funsd"]["heldout"]["regions"] == 6
    assert manifest["heldout_documents"] == ["funsd-0000971160"]
    assert manifest["rejected_by_reason"]["sroie"] == {"empty": 1, "invalid UTF-8 in row N": 1, "malformed row N": 1}


def test_write_export_is_byte_identical_on_rerun_and_splits(tmp_path):
    pages = _pages(tmp_path)
    first = rd.write_export(pages, tmp_path / "a").read_bytes()
    assert rd.write_export(list(reversed(pages)), tmp_path / "a").read_bytes() == first
    assert rd.write_export(pages, tmp_path / "b", link="copy").read_bytes() == first
    held = json.loads(rd.write_export(pages, tmp_path / "h", split="heldout").read_text())
    train = json.loads(rd.write_export(pages, tmp_path / "t", split="train").read_text())
    assert [t["data"]["document"] for t in held] == ["funsd-0000971160"]
    assert [t["data"]["document"] for t in train] == ["sroie-001"]
    assert {t["id"] for t in held}.isdisjoint(t["id"] for t in train)


def test_write_export_refuses_the_repository(tmp_path):
    from linerec.infra.config import REPO_ROOT

    with pytest.raises(ValueError, match="inside the repository"):
        rd.write_export(_pages(tmp_path), REPO_ROOT / "real-export")
    assert not (REPO_ROOT / "real-export").exists()


# --- availability and the CLI --------------------------------------------------------------------


def test_available_explains_a_missing_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LINEREC_REAL_DATA", str(tmp_path / "nowhere"))
    assert rd.dataset_root() == tmp_path / "nowhere"
    message = rd.available("sroie")
    assert "not found" in message and "LINEREC_REAL_DATA" in message and "nowhere" in message
    with pytest.raises(FileNotFoundError, match="LINEREC_REAL_DATA"):
        rd.load_pages("funsd")
    with pytest.raises(ValueError, match="unknown real data source"):
        rd.available("iam")
    assert rd.available("sroie", _sroie_root(tmp_path / "d")) is None


def _convert_main():
    import importlib.util

    from linerec.infra.config import REPO_ROOT

    spec = importlib.util.spec_from_file_location("convert_real", REPO_ROOT / "scripts" / "convert_real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_convert_real_skips_without_data(tmp_path, capsys):
    assert _convert_main()(["--source", "all", "--out", str(tmp_path / "o"), "--root", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "LINEREC_REAL_DATA" in out
    assert not (tmp_path / "o" / "export.json").exists()


def test_convert_real_writes_and_summarises(tmp_path, capsys):
    root = _funsd_root(_sroie_root(tmp_path / "data"))
    assert _convert_main()(["--source", "all", "--out", str(tmp_path / "o"), "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "invalid UTF-8 in row N: 1" in out and "checkbox: 1" in out and "funsd-0000971160" in out
    assert len(json.loads((tmp_path / "o" / "export.json").read_text())) == 2


# --- the real folder -----------------------------------------------------------------------------


def _real(source: str) -> list:
    reason = rd.available(source)
    if reason is not None:
        pytest.skip(reason)
    return rd.load_pages(source)


def test_real_sroie_loads():
    pages = _real("sroie")
    assert len(pages) == 172
    assert len({p.document for p in pages}) == 172
    lines = [ln for p in pages for ln in p.lines]
    assert 8500 <= len(lines) <= 9500  # the README: about 9,000 text lines
    assert sum(ln.flag is None for ln in lines) >= 0.98 * len(lines)
    training, held_out = rd.split_pages(pages)
    assert 0.15 <= len(held_out) / len(pages) <= 0.30
    for page in pages:
        for ln in page.lines:
            x, y, w, h = ln.box
            assert w > 0 and h > 0 and x + w <= page.width and y + h <= page.height


def test_real_funsd_loads():
    pages = _real("funsd")
    assert len(pages) == 149
    lines = [ln for p in pages for ln in p.lines]
    printed = [ln for ln in lines if ln.flag is None]
    assert 7000 <= len(printed) <= 9000  # ~22,500 words in ~9,000 lines
    assert len(printed) >= 0.85 * len(lines)
    flags = {ln.flag for ln in lines}
    assert {"empty", "checkbox", "handwritten"} <= flags
    assert all(set(ln.text) <= set(DEFAULT_CHARS) for ln in printed)
    training, held_out = rd.split_pages(pages)
    assert 0.15 <= len(held_out) / len(pages) <= 0.30


def test_real_held_out_lines_are_crops_of_held_out_pages():
    pages = _real("funsd")
    held_docs = {p.document for p in rd.split_pages(pages)[1]}
    crops = rd.held_out_lines("funsd")
    assert {doc for _, _, doc in crops} <= held_docs and len(crops) > 500
    for crop, line, _ in crops[:200]:
        assert crop.dtype == np.uint8 and crop.ndim == 2 and line.flag is None
        assert crop.shape[0] >= line.box[3]  # grown by the margin (unless at the page edge)
