"""Tests of the synthetic page generator and its Label Studio export."""

from __future__ import annotations

import json
import pathlib
import re
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from linerec.synth.pages import FONTS, generate_corpus, main, render_line


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
            edges = [
                v["x"] * width / 100,
                v["y"] * height / 100,
                (v["x"] + v["width"]) * width / 100,
                (v["y"] + v["height"]) * height / 100,
            ]
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


# --- profile "scan" ---

import cv2  # noqa: E402

from linerec.labelstudio.fields import pixel_box  # noqa: E402
from linerec.synth import fonts as fontlib  # noqa: E402
from linerec.synth import pages as synth
from linerec.synth.fonts import HELDOUT_FAMILIES  # noqa: E402
from linerec.synth.text import DocumentSource, Item  # noqa: E402
from linerec.vision.crop import crop_line  # noqa: E402

_SCAN_KEYS = {"image", "document", "page", "kind", "font", "font_split", "dpi", "degradation", "skew"}


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> tuple[pathlib.Path, list[dict]]:
    out = tmp_path_factory.mktemp("scan")
    export = generate_corpus(out, 6, 5, (1, 2), profile="scan", workers=2)
    return out, json.loads(export.read_text())


def _corners(item: dict) -> np.ndarray:
    """Page pixel coordinates of a rectangle's four corners, shape (4, 2)."""
    x, y, w, h, r, _, _ = pixel_box(item)
    v = item["value"]
    x, y = v["x"] * item["original_width"] / 100, v["y"] * item["original_height"] / 100
    c, s = np.cos(np.radians(r)), np.sin(np.radians(r))
    return np.array([[x + dx * c - dy * s, y + dx * s + dy * c] for dx, dy in ((0, 0), (w, 0), (0, h), (w, h))])


def test_scan_output_is_identical_for_any_number_of_workers(scan, tmp_path):
    out, _ = scan
    generate_corpus(tmp_path, 6, 5, (1, 2), profile="scan", workers=1)
    assert _files(tmp_path) == _files(out)


def test_scan_metadata_and_images(scan):
    out, tasks = scan
    assert len(tasks) >= 6
    for task in tasks:
        data = task["data"]
        assert _SCAN_KEYS <= set(data)
        assert data["image"].endswith(f"images/{data['document']}_p{data['page']}.jpg")
        image = Image.open(out / data["image"].split("?d=", 1)[1])
        assert image.format == "JPEG" and image.mode == "L"
        assert 150 <= data["dpi"] <= 300 and data["kind"] in synth.DOC_KINDS
        assert data["degradation"] in synth.DEGRADATIONS and data["font_split"] == "train"
        limit = 3.0 if data["degradation"] == "skew" else 1.0
        assert abs(data["skew"]) <= limit and (abs(data["skew"]) >= 1.5) == (data["degradation"] == "skew")
        inches = (image.width / data["dpi"], image.height / data["dpi"])
        assert min(abs(inches[0] - 8.5) + abs(inches[1] - 11), abs(inches[0] - 8.27) + abs(inches[1] - 11.69)) < 0.02
        for item in task["annotations"][0]["result"]:
            assert item["value"]["rotation"] == pytest.approx(data["skew"] % 360)
            assert (item["original_width"], item["original_height"]) == image.size


def test_scan_lines_are_ascii_inside_the_image_and_never_overlap(scan):
    _, tasks = scan
    for task in tasks:
        result, skew = task["annotations"][0]["result"], task["data"]["skew"]
        texts = [i["value"]["text"][0] for i in result if i["type"] == "textarea"]
        assert len(texts) >= 5 and all(t == t.strip() and all(" " <= c <= "~" for c in t) for t in texts)
        rects = [i for i in result if i["type"] == "rectangle"]
        width, height = rects[0]["original_width"], rects[0]["original_height"]
        upright = []
        for item in rects:
            corners = _corners(item)
            assert corners.min() >= 0 and (corners[:, 0] <= width).all() and (corners[:, 1] <= height).all()
            # Back to the upright page: turn the corners by -skew about the page centre.
            m = synth._rotation(-skew, width / 2, height / 2)
            back = corners @ m[:, :2].T + m[:, 2]
            upright.append((*back.min(axis=0), *back.max(axis=0)))
        for i, a in enumerate(upright):
            for b in upright[i + 1 :]:  # padded boxes are disjoint, so the inks are too
                assert min(a[2], b[2]) - max(a[0], b[0]) <= 1e-6 or min(a[3], b[3]) - max(a[1], b[1]) <= 1e-6


def test_scan_cropping_a_rotated_rect_gives_the_upright_line():
    rng = np.random.default_rng(0)
    items = DocumentSource(0, rng).document("report", first=True)
    page = synth._layout(items, synth.fonts_of_split("train")[0].path, 200, "letter", 11.0, rng)
    upright, pad, m = page.pixels, synth.PAD + 2, 2  # m: the largest misalignment tried
    h, w = upright.shape
    for angle in (2.5, -2.0):
        rotated = cv2.warpAffine(upright, synth._rotation(angle, w / 2, h / 2), (w, h), borderValue=255)
        results = synth._scan_results(page.lines, angle, w, h, rng)[::2]
        assert len(results) == len(page.lines) >= 8
        for (_, (x0, y0, x1, y1)), item in zip(page.lines, results):
            x, y, bw, bh, rotation, _, _ = pixel_box(item)
            assert rotation == pytest.approx(angle % 360)
            got = crop_line(rotated, (x, y, bw, bh), rotation).astype(float)
            around = upright[y0 - pad : y1 + pad, x0 - pad : x1 + pad].astype(float)  # the line, 2 px more
            assert got.shape == (around.shape[0] - 2 * m, around.shape[1] - 2 * m)
            diff = {
                (dx, dy): np.abs(got - around[m + dy : m + dy + bh, m + dx : m + dx + bw]).mean()
                for dx in range(-m, m + 1)
                for dy in range(-m, m + 1)
            }
            # Aligned to the pixel (only resampling blur remains) and far closer than ignoring the rotation.
            assert min(diff, key=diff.get) == (0, 0) and diff[0, 0] < 15
            if bw > 400:
                flat = crop_line(rotated, (x, y, bw, bh), 0.0).astype(float)
                assert np.abs(flat - around[m : m + bh, m : m + bw]).mean() > 1.5 * diff[0, 0]


def test_scan_clean_page_has_no_ink_outside_the_line_boxes():
    rng = np.random.default_rng(3)
    source = DocumentSource(3, rng)
    for kind in synth.DOC_KINDS:
        page = synth._layout(
            source.document(kind, first=True), synth.fonts_of_split("all")[7].path, 150, "a4", 9.0, rng
        )
        covered = np.zeros(page.pixels.shape, dtype=bool)
        for _, (x0, y0, x1, y1) in page.lines:
            assert page.pixels[y0:y1, x0:x1].min() < 128
            covered[y0:y1, x0:x1] = True
        assert not ((page.pixels < 200) & ~covered).any()


def test_scan_plans_spread_degradations_and_keep_heldout_fonts_out_of_training():
    plans = [synth._plan(11, i, (1, 3), "train") for i in range(400)]
    labels = [d for p in plans for d in p.degradations]
    expected = len(labels) / len(synth.DEGRADATIONS)
    for label in synth.DEGRADATIONS:
        assert 0.7 * expected <= labels.count(label) <= 1.3 * expected, label
    assert {p.kind for p in plans} == set(synth.DOC_KINDS)
    assert not {p.font.family for p in plans} & HELDOUT_FAMILIES
    assert len({p.font.name for p in plans}) > 50
    heldout = {synth._plan(11, i, (1, 1), "heldout").font.family for i in range(100)}
    assert heldout == set(HELDOUT_FAMILIES)


def test_scan_table_rows_are_single_lines_of_cells_joined_by_spaces():
    rng = np.random.default_rng(4)
    rows = (("Qty", "Description", "Amount"), ("2", "Paper clips, pack of 10", "$1,250.00"), ("15", "Ink", "9.99"))
    font = synth.ImageFont.truetype(synth.fonts_of_split("train")[0].path, 30)
    parts = synth._table_parts(rows, "lrr", font, 1500, rng)
    assert [[c for c, _ in r] for r in parts] == [list(r) for r in rows]
    for r in parts:
        for (c0, x0), (_, x1) in zip(r, r[1:]):
            assert x1 - (x0 + font.getlength(c0)) >= 1.5 * font.size - 1e-6  # wide gaps between cells
    items = [Item("table", align="lrr", rows=rows)]
    page = synth._layout(items, synth.fonts_of_split("train")[0].path, 300, "letter", 10.0, rng)
    assert [t for t, _ in page.lines] == [" ".join(r) for r in rows]


def test_scan_degradations_do_what_their_names_say():
    page = np.full((800, 600), 255, dtype=np.uint8)
    page[100:700:40, 50:550] = 0  # black bars 2 px high on white paper
    page[101:701:40, 50:550] = 0

    def scan(primary: str, seed: int = 0) -> tuple[np.ndarray, float, int]:
        return synth._degrade_scan(page, 300, primary, np.random.default_rng(seed))

    base, skew, quality = scan("clean")
    assert abs(skew) <= 1 and 75 <= quality <= 95
    paper = base[720:790, 20:580].astype(float)  # blank margin
    assert 205 < paper.mean() < 252 and 1 < paper.std() < 7
    assert base[100:700:40, 100:500].mean() < 110  # the bars stay dark
    assert 1.5 <= abs(scan("skew")[1]) <= 3
    assert 20 <= scan("jpeg")[2] <= 40
    noisy = scan("noise")[0][720:790, 20:580].astype(float)
    assert noisy.std() > 10
    low = scan("low_contrast")[0].astype(float)
    assert 165 < low[720:790, 20:580].mean() < 220 and low[100:700:40, 100:500].mean() > 90
    lit = scan("illumination")[0].astype(float)
    blocks = [lit[y : y + 40, x : x + 40].mean() for y in (0, 760) for x in (0, 560)] + [lit[400:440, 20:40].mean()]
    assert max(blocks) - min(blocks) > 25  # uneven lighting across the blank paper
    sharp = np.abs(np.diff(base[:, 300].astype(float))).max()
    assert np.abs(np.diff(scan("blur")[0][:, 300].astype(float))).max() < 0.8 * sharp


def test_cli_renders_heldout_fonts_on_request(tmp_path):
    argv = [str(tmp_path), "--documents", "2", "--seed", "1", "--pages", "1", "1", "--fonts", "heldout"]
    assert main(argv) == 0  # the CLI's default profile is "scan"
    tasks = json.loads((tmp_path / "export.json").read_text())
    assert len(tasks) == 2 and {t["data"]["font_split"] for t in tasks} == {"heldout"}
    assert all(fontlib.by_name(t["data"]["font"]).family in HELDOUT_FAMILIES for t in tasks)


def test_scan_rejects_unknown_profile_and_font_split(tmp_path):
    with pytest.raises(ValueError):
        generate_corpus(tmp_path, 1, 0, profile="glossy")
    with pytest.raises(ValueError):
        generate_corpus(tmp_path, 1, 0, profile="scan", fonts="nope")


def test_first_task_id_offsets_every_task_reference(tmp_path):
    base = json.loads(generate_corpus(tmp_path / "a", n_documents=2, seed=7, pages_per_document=(1, 1)).read_text())
    moved = json.loads(
        generate_corpus(tmp_path / "b", n_documents=2, seed=7, pages_per_document=(1, 1), first_task_id=500).read_text()
    )
    assert [t["id"] for t in base] == [1, 2] and [t["id"] for t in moved] == [500, 501]
    assert all(t["inner_id"] == t["id"] == t["annotations"][0]["task"] for t in moved)
    for a, b in zip(base, moved):  # nothing else changes
        assert a["data"] == b["data"] and a["annotations"][0]["result"] == b["annotations"][0]["result"]
