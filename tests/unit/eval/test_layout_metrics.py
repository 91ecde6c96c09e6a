"""Tests of rotated-rectangle IoU and one-to-one line matching."""

from __future__ import annotations

import math

import pytest

from linerec.eval.layout_metrics import match_lines, rect_corners, rect_iou


def test_corners_follow_label_studio_rotation():
    corners = rect_corners((10, 20, 100, 10, 90))  # clockwise: the width now points down
    assert corners[1] == pytest.approx([10, 120])
    assert corners[3] == pytest.approx([0, 20])
    assert rect_corners((1, 2, 3, 4))[2] == pytest.approx([4, 6])


def test_iou_of_unrotated_boxes():
    assert rect_iou((0, 0, 10, 10), (0, 0, 10, 10, 0)) == pytest.approx(1.0)
    assert rect_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert rect_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert rect_iou((0, 0, 10, 10), (2, 2, 5, 5)) == pytest.approx(25 / 100)
    assert rect_iou((0, 0, 0, 10), (0, 0, 0, 10)) == 0.0


def test_iou_of_rotated_boxes():
    assert rect_iou((5, 5, 40, 10, 2.5), (5, 5, 40, 10, 2.5)) == pytest.approx(1.0, abs=1e-4)
    # A square turned 90 degrees about its top-left corner lies left of where it was.
    assert rect_iou((10, 0, 10, 10, 90), (0, 0, 10, 10)) == pytest.approx(1.0, abs=1e-4)
    # Same centre, one turned 45 degrees: the octagon is 2 (sqrt 2 - 1) of the square's area.
    half = 5 * math.sqrt(2)
    turned = (5, 5 - half, 10, 10, 45)  # its top-left corner now lies straight above the centre
    inter = 100 * 2 * (math.sqrt(2) - 1)
    assert rect_iou((0, 0, 10, 10), turned) == pytest.approx(inter / (200 - inter), abs=1e-3)
    # A long thin line rotated 3 degrees against its upright twin barely overlaps.
    assert rect_iou((0, 0, 1000, 20, 0), (0, 0, 1000, 20, 3)) < 0.5


def test_matching_is_greedy_and_one_to_one():
    gt = [(0, 0, 100, 20), (0, 30, 100, 20)]
    pred = [(0, 1, 100, 20), (0, 0, 100, 22), (0, 31, 100, 20, 0.5), (500, 500, 10, 10)]
    result = match_lines(pred, gt)
    assert (result["tp"], result["fp"], result["fn"]) == (2, 2, 0)
    assert result["precision"] == 0.5 and result["recall"] == 1.0
    assert sorted((i, j) for i, j, _ in result["pairs"]) == [(1, 0), (2, 1)]  # IoU 0.909 beats 0.905
    # Two boxes over one ground-truth line: only the better one counts.
    assert match_lines([(0, 0, 100, 41)], [(0, 0, 100, 20), (0, 20, 100, 20)])["tp"] == 0
    assert match_lines([(0, 0, 100, 30)], [(0, 0, 100, 20), (0, 20, 100, 20)])["tp"] == 1


def test_matching_empty_sides():
    assert match_lines([], []) == {"tp": 0, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "pairs": []}
    assert match_lines([(0, 0, 5, 5)], [])["precision"] == 0.0
    assert match_lines([], [(0, 0, 5, 5)])["recall"] == 0.0
