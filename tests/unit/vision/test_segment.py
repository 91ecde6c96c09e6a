"""Tests of page line segmentation on hand-made degraded pages with known line rectangles."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from linerec.eval.layout_metrics import match_lines, rect_corners, rect_iou
from linerec.vision.segment import PAD, Layout, find_lines, segment_page

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
TEXT = [
    "Minutes of the meeting held on Tuesday,",
    "the committee agreed to quickly review",
    "Total: $12.00",
    "Item        Qty        Price        Amount",
    "jumping fox, quiet dog; big gray wolf.",
    "2024-03-17",
    "Signed",
]


def make_page(lines=TEXT, size=26, angle=0.0, shape=(1100, 850), pitch=1.9, seed=0, degrade=()):
    """Render ``lines`` upright, turn the page ``angle`` degrees clockwise, degrade it.

    Returns the uint8 page and the ground-truth rects in Label Studio's convention: the ink,
    from ascender top to descender bottom even where the text has none, plus PAD.
    """
    rng = np.random.default_rng(seed)
    font = ImageFont.truetype(FONT, size)
    clean = np.full(shape, 255, np.uint8)
    boxes, y = [], 90
    for text in lines:
        image = Image.new("L", (shape[1], 2 * size), 255)
        ImageDraw.Draw(image).text((70, 0), text, font=font, fill=0)
        strip = np.asarray(image)
        rows, cols = np.flatnonzero((strip < 128).any(1)), np.flatnonzero((strip < 128).any(0))
        top = min(rows[0], font.getbbox("Hdbfhklt")[1])  # the frame spans ascenders to descenders
        bottom = max(rows[-1] + 1, font.getbbox("gjpqy")[3])
        boxes.append((cols[0], y + top, cols[-1] + 1, y + bottom))
        np.minimum(clean[y : y + 2 * size], strip, out=clean[y : y + 2 * size])
        y += round(pitch * size)
    h, w = shape
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)  # clockwise on screen
    page = cv2.warpAffine(clean, turn, (w, h), flags=cv2.INTER_LINEAR, borderValue=255).astype(np.float64)
    rects = []
    for x0, y0, x1, y1 in boxes:
        cx, cy = turn @ np.array([x0 - PAD, y0 - PAD, 1.0])
        rects.append((cx, cy, x1 - x0 + 2 * PAD, y1 - y0 + 2 * PAD, angle))
    paper, ink = (190.0, 120.0) if "low_contrast" in degrade else (235.0, 30.0)
    page = ink + (paper - ink) * page / 255.0
    if "shadow" in degrade:  # a soft book-gutter shadow darkening the paper by 55 %
        xs = np.arange(w)
        page *= 1 - 0.55 * np.exp(-(((xs - 0.75 * w) / (0.08 * w)) ** 2))[None, :]
        page *= np.linspace(1.0, 0.8, h)[:, None]
    if "noise" in degrade:
        page += rng.normal(0, 25, page.shape)
        specks = rng.random(page.shape)
        page[specks < 0.002], page[specks > 0.998] = 0, 255
    page = np.clip(np.rint(page), 0, 255).astype(np.uint8)
    if "blur" in degrade:
        page = cv2.GaussianBlur(page, (0, 0), 1.5)
    if "jpeg" in degrade:
        page = cv2.imdecode(cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 20])[1], cv2.IMREAD_GRAYSCALE)
    return page, rects


def test_generated_scans_of_held_out_fonts(tmp_path):
    from linerec.labelstudio.export import iter_export_file, iter_parsed_tasks, resolve_image_ref
    from linerec.synth.pages import generate_corpus

    export = generate_corpus(tmp_path, 3, seed=4711, pages_per_document=(1, 1), profile="scan", fonts="heldout")
    for task in iter_export_file(export):
        truth = [(ln.x, ln.y, ln.w, ln.h, ln.rotation) for ln in next(iter_parsed_tasks([task])).lines]
        page = cv2.imread(resolve_image_ref(task["data"]["image"], tmp_path)[1], cv2.IMREAD_GRAYSCALE)
        layout = segment_page(page)
        result = match_lines([line.rect for line in layout.lines], truth, iou=0.7)
        assert result["fp"] == 0 and result["fn"] == 0, (task["data"], result)
        assert layout.skew == pytest.approx(task["data"]["skew"], abs=0.15)


def check(page, truth, min_iou=0.5):
    layout = segment_page(page)
    result = match_lines([line.rect for line in layout.lines], truth, iou=min_iou)
    assert result["fp"] == 0 and result["fn"] == 0, (result, layout)
    return layout


@pytest.mark.parametrize("angle", [-3.0, -1.2, 0.0, 0.6, 3.0])
def test_skewed_pages(angle):
    page, truth = make_page(angle=angle, seed=1)
    layout = check(page, truth, min_iou=0.7)
    assert layout.skew == pytest.approx(angle, abs=0.15)


@pytest.mark.parametrize(
    "degrade",
    [
        ("shadow",),
        ("low_contrast",),
        ("noise", "jpeg"),
        ("blur", "shadow"),
        ("noise", "shadow", "jpeg"),
        ("low_contrast", "shadow", "blur"),
    ],
)
def test_degraded_pages(degrade):
    page, truth = make_page(angle=1.5, seed=2, degrade=degrade)
    check(page, truth)


def test_small_and_large_print():
    for size, pitch in ((18, 1.5), (56, 1.4)):
        lines = TEXT[:4] if size > 40 else TEXT * 3
        page, truth = make_page(
            lines, size=size, pitch=pitch, angle=-2.0, shape=(1650, 1275) if size < 40 else (1300, 2000)
        )
        check(page, truth)


def test_dense_blurred_page():
    # Lines 7 px apart whose ascenders and descenders blur together at the working scale.
    lines = ["The committee agreed to quickly review the jumping fox, quiet dog; big gray wolf."] * 40
    page, truth = make_page(lines, size=17, pitch=1.45, angle=1.7, shape=(1650, 1275), degrade=("blur",))
    check(page, truth)


def test_table_row_with_wide_gaps_is_one_line():
    rows = [
        "Date",
        "Apples                                                    3",
        "Pears                                               12",
        "Total:                                                    $15.00",
    ]
    page, truth = make_page(rows, angle=2.0)
    layout = check(page, truth)
    assert len(layout.lines) == 4


def test_empty_and_invalid_pages():
    rng = np.random.default_rng(0)
    blank = np.clip(rng.normal(235, 5, (800, 600)), 0, 255).astype(np.uint8)
    assert segment_page(blank).lines == [] and find_lines(blank) == []
    shaded = (np.linspace(120, 240, 600)[None, :] * np.ones((800, 1))).astype(np.uint8)
    assert segment_page(shaded).lines == []
    for seed in range(3):  # noise, specks, a shadow and JPEG blocks make no lines either
        assert segment_page(make_page([], seed=seed, degrade=("noise", "shadow", "jpeg"))[0]).lines == []
    assert segment_page(np.zeros((0, 0), np.uint8)).lines == []
    with pytest.raises(ValueError):
        segment_page(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        find_lines(np.zeros((10, 10), np.float32))


def test_reading_order_and_bbox_rect_consistency():
    page, truth = make_page(angle=-2.5, seed=3, degrade=("noise",))
    layout = segment_page(page)
    height, width = page.shape
    tops = [rect_corners(line.rect)[:, 1].mean() for line in layout.lines]
    assert tops == sorted(tops)
    assert [max(range(len(truth)), key=lambda j: rect_iou(line.rect, truth[j])) for line in layout.lines] == list(
        range(len(truth))
    )
    for line in layout.lines:
        x, y, w, h = line.bbox
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height
        corners = rect_corners(line.rect)
        assert x <= max(corners[:, 0].min(), 0) + 1 and x + w >= min(corners[:, 0].max(), width) - 1
        assert y <= max(corners[:, 1].min(), 0) + 1 and y + h >= min(corners[:, 1].max(), height) - 1
        assert line.rect[4] == layout.skew
    assert find_lines(page) == [line.bbox for line in layout.lines]


def test_crops_are_upright_and_frame_the_ink():
    page, truth = make_page(angle=3.0, seed=4)
    layout = segment_page(page)
    crops = layout.crops(page)
    assert [c.shape for c in crops] == [(line.rect[3], line.rect[2]) for line in layout.lines]
    for crop, line, gt in zip(crops, layout.lines, truth):
        cols = np.flatnonzero((crop < 128).any(0))
        assert abs(cols[0] - PAD) <= 1 and abs(crop.shape[1] - 1 - cols[-1] - PAD) <= 1
        # Every edge within 2 px of the ground truth's, also below lines without descenders.
        c, s = math.cos(math.radians(gt[4])), math.sin(math.radians(gt[4]))
        dx, dy = line.rect[0] - gt[0], line.rect[1] - gt[1]
        du, dv = dx * c + dy * s, dy * c - dx * s
        assert max(abs(du), abs(dv), abs(du + line.rect[2] - gt[2]), abs(dv + line.rect[3] - gt[3])) <= 2
    assert Layout(0.0, []).crops(page) == []


def test_histogram_median_is_numpys_median():
    """The noise level's median and MAD come from a histogram; they must equal numpy's (even counts too)."""
    from linerec.vision.segment import _median

    rng = np.random.default_rng(5)
    grey = np.arange(256, dtype=np.float64)
    for n in (1, 2, 7, 10, 1001, 1000):
        sample = rng.integers(0, 40, n).astype(np.uint8)
        hist = np.bincount(sample, minlength=256)
        med = _median(hist, grey)
        assert med == float(np.median(sample))
        spread = np.abs(grey - med)
        order = np.argsort(spread, kind="stable")
        assert _median(hist[order], spread[order]) == float(np.median(np.abs(sample - med)))
