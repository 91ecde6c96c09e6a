"""Tests of the synthetic page generator and its Label Studio export."""

from __future__ import annotations

import json
import pathlib
import re
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from linerec.data.synth import FONTS, generate_corpus, main, render_line


def _files(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[pathlib.Path, list[dict]]:
    out = tmp_path_factory.mktemp("synth")
    export = generate_corpus(out, n_documents=3, seed=3)
    return out, json.loads(export.read_text())


def test_same_seed_gives_identical_bytes(tmp_path):
    a = generate_corpus(tmp_path / "a", n_documents=2, seed=42, pages_per_document=(1, 1))
    b = generate_corpus(tmp_path / "b", n_documents=2, seed=42, pages_per_document=(1, 1))
    assert a.name == b.name == "export.json"
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(files_a) == 3
    assert files_a == files_b


def test_different_seed_gives_different_output(tmp_path):
    generate_corpus(tmp_path / "a", n_documents=1, seed=1, pages_per_document=(1, 1))
    generate_corpus(tmp_path / "b", n_documents=1, seed=2, pages_per_document=(1, 1))
    img_a = next((tmp_path / "a" / "images").iterdir()).read_bytes()
    img_b = next((tmp_path / "b" / "images").iterdir()).read_bytes()
    assert img_a != img_b
    assert (tmp_path / "a" / "export.json").read_bytes() != (tmp_path / "b" / "export.json").read_bytes()


def test_tasks_follow_label_studio_export_shape(corpus):
    out, tasks = corpus
    assert len(tasks) >= 3
    assert [t["id"] for t in tasks] == list(range(1, len(tasks) + 1))
    for task in tasks:
        data = task["data"]
        assert data["image"].startswith("/data/local-files/?d=images/")
        assert data["image"].endswith(f"{data['document']}_p{data['page']}.png")
        assert (out / data["image"].split("?d=", 1)[1]).is_file()
        assert task["predictions"] == [] and len(task["annotations"]) == 1
        ann = task["annotations"][0]
        assert ann["completed_by"] == 1 and ann["was_cancelled"] is False and ann["ground_truth"] is False
        assert isinstance(ann["lead_time"], float) and ann["updated_at"].endswith("Z")


def test_every_region_has_rectangle_and_textarea_with_same_id(corpus):
    _, tasks = corpus
    for task in tasks:
        regions: dict[str, list[dict]] = defaultdict(list)
        for item in task["annotations"][0]["result"]:
            regions[item["id"]].append(item)
        assert 8 <= len(regions) <= 20
        for rid, items in regions.items():
            assert re.fullmatch(r"[A-Za-z0-9_-]{10}", rid)
            assert sorted(i["type"] for i in items) == ["rectangle", "textarea"]
            rect, text = sorted(items, key=lambda i: i["type"])
            assert (rect["from_name"], text["from_name"]) == ("bbox", "transcription")
            assert rect["to_name"] == text["to_name"] == "image"
            geometry = {k: v for k, v in text["value"].items() if k != "text"}
            assert geometry == rect["value"] and rect["value"]["rotation"] == 0
            (line,) = text["value"]["text"]
            assert line and line == line.strip() and all(" " <= c <= "~" for c in line)


def test_percent_boxes_map_back_to_pixels_and_cover_the_ink(corpus):
    out, tasks = corpus
    for task in tasks:
        page = np.asarray(Image.open(out / task["data"]["image"].split("?d=", 1)[1]))
        covered = np.zeros(page.shape, dtype=bool)
        for item in task["annotations"][0]["result"][::2]:
            width, height, v = item["original_width"], item["original_height"], item["value"]
            assert page.shape == (height, width)
            edges = [v["x"] * width / 100, v["y"] * height / 100,
                     (v["x"] + v["width"]) * width / 100, (v["y"] + v["height"]) * height / 100]
            x0, y0, x1, y1 = (round(e) for e in edges)
            assert all(abs(e - round(e)) < 1 for e in edges)
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            assert 14 <= y1 - y0 <= 70
            assert page[y0:y1, x0:x1].min() < 100, "box contains no ink"
            covered[y0:y1, x0:x1] = True
        assert not ((page < 100) & ~covered).any(), "ink outside every line box"


def test_render_line_returns_a_tight_grayscale_line():
    image = render_line("Invoice No. 42, $17.50", FONTS[0], 24, np.random.default_rng(0))
    assert image.mode == "L"
    assert 20 <= image.height <= 45 and image.width > 150
    assert np.asarray(image).min() < 100
    with pytest.raises(ValueError):
        render_line("   ", FONTS[0], 24, np.random.default_rng(0))


def test_fonts_exist_and_cli_writes_an_export(tmp_path):
    assert len(FONTS) >= 6 and all(pathlib.Path(f).is_file() for f in FONTS)
    assert main([str(tmp_path), "--documents", "1", "--seed", "9", "--pages", "1", "1"]) == 0
    tasks = json.loads((tmp_path / "export.json").read_text())
    assert len(tasks) == 1 and tasks[0]["data"]["document"] == "synth_9_0000"


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        generate_corpus(tmp_path, n_documents=1, seed=0, pages_per_document=(2, 1))
