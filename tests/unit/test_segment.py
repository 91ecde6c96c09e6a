"""Tests of page line segmentation against synthetic ground truth."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from linerec.data.labelstudio import iter_export_file, parse_tasks, resolve_image_ref
from linerec.segment import find_lines, iou, match_boxes


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> list[tuple[np.ndarray, list[tuple[int, int, int, int]]]]:
    """Six generated pages with their ground-truth boxes, read back through the parser."""
    from linerec.data.synth import generate_corpus

    out = tmp_path_factory.mktemp("seg")
    export = generate_corpus(out, n_documents=6, seed=2024, pages_per_document=(1, 1))
    parsed = parse_tasks(iter_export_file(export))
    assert parsed.tasks_seen == 6 and not parsed.rejected
    truth: dict[str, list] = {}
    for line in parsed.lines:
        truth.setdefault(line.image_ref, []).append((line.x, line.y, line.w, line.h))
    result = []
    for ref, boxes in truth.items():
        kind, path = resolve_image_ref(ref, out)
        assert kind == "file"
        result.append((np.asarray(Image.open(path)), boxes))
    return result


def test_precision_and_recall_on_generated_pages(pages):
    matched = found_total = truth_total = 0
    start = time.perf_counter()
    for page, truth in pages:
        found = find_lines(page)
        assert found == sorted(found, key=lambda b: (b[1], b[0]))
        m, f, t = match_boxes(found, truth, threshold=0.5)
        matched, found_total, truth_total = matched + m, found_total + f, truth_total + t
    assert truth_total >= 6 * 8
    assert matched / truth_total >= 0.98, f"recall {matched}/{truth_total}"
    assert matched / found_total >= 0.98, f"precision {matched}/{found_total}"
    assert time.perf_counter() - start < 5.0


def test_skewed_page_still_segments(pages):
    page, truth = pages[0]
    skewed = np.asarray(Image.fromarray(page).rotate(0.8, Image.Resampling.BILINEAR, fillcolor=240))
    found = find_lines(skewed)
    assert len(found) == len(truth)
    assert all(15 <= h <= 80 for _, _, _, h in found)


def test_blank_and_invalid_pages():
    rng = np.random.default_rng(0)
    blank = np.clip(rng.normal(235, 5, (400, 300)), 0, 255).astype(np.uint8)
    assert find_lines(blank) == []
    assert find_lines(np.zeros((0, 0), np.uint8)) == []
    with pytest.raises(ValueError):
        find_lines(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        find_lines(np.zeros((10, 10), np.float32))


def test_boxes_stay_inside_the_page(pages):
    page, _ = pages[1]
    height, width = page.shape
    for x, y, w, h in find_lines(page):
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height


def test_iou_and_matching():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    found, truth = [(0, 0, 10, 10), (0, 0, 10, 11), (50, 50, 5, 5)], [(0, 0, 10, 10)]
    assert match_boxes(found, truth) == (1, 3, 1)
