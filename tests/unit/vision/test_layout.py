"""Blocks and reading order of multi-column pages (linerec.vision.layout)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from linerec.vision.layout import analyze_page, xy_cut

from helpers.columns import FONT, two_column_page


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _matches(layout, truth):
    """Index of the truth line each found line matches best, in reading order, and that IoU."""
    out = []
    for line in layout.lines:
        x, y, w, h = line.bbox
        ious = [_iou((x, y, x + w, y + h), t["page_box"]) for t in truth]
        out.append((int(np.argmax(ious)), max(ious)))
    return out


@pytest.mark.parametrize("columns, angle, seed", [(2, 0.8, 0), (2, -1.5, 1), (3, 0.4, 2)])
def test_columns_read_in_order_and_no_line_crosses_a_gutter(columns, angle, seed):
    page, truth = two_column_page(angle=angle, seed=seed, columns=columns, size=24 if columns == 2 else 20)
    layout = analyze_page(page)
    found = _matches(layout, truth)
    assert [i for i, _ in found] == list(range(len(truth)))  # every line once, in reading order
    assert all(iou > 0.4 for _, iou in found), found
    for line in layout.lines:  # inside one column's extent
        x, y, w, h = line.bbox
        cols = {
            t["column"]
            for t in truth
            if t["column"] >= 0
            and min(x + w, t["page_box"][2]) - max(x, t["page_box"][0]) > 0
            and min(y + h, t["page_box"][3]) - max(y, t["page_box"][1]) > 0
        }
        assert len(cols) <= 1, (line, cols)
    assert [b.kind for b in layout.blocks] == ["text"] * len(layout.blocks)
    assert len(layout.blocks) == columns + 1  # the title, then one block a column


def _render(rows: list[tuple[int, int, str]], shape=(900, 1400)) -> np.ndarray:
    image = Image.new("L", shape[::-1], 245)
    draw, font = ImageDraw.Draw(image), ImageFont.truetype(FONT, 26)
    for x, y, text in rows:
        draw.text((x, y), text, font=font, fill=25)
    return np.asarray(image)


def test_table_rows_stay_whole_lines():
    rows = [(80, 100 + 50 * i, t) for i, t in enumerate(["Item", "Apples", "Pears", "Total:"])]
    rows += [(700, 150 + 50 * i, t) for i, t in enumerate(["3", "12", "$15.00"])]
    rows += [(900, 150 + 50 * i, t) for i, t in enumerate(["kg", "kg", "EUR"])]
    layout = analyze_page(_render(rows))
    assert len(layout.lines) == 4 and all(line.bbox[2] > 700 for line in layout.lines[1:])
    assert [b.kind for b in layout.blocks] == ["table"]


def test_side_by_side_address_blocks_are_two_blocks_left_first():
    left = ["Harbour Commission", "12 Quay Street", "Bristol BS1 4RN"]
    right = ["Ms Jane Doe, Director", "Northern Shipping Ltd", "44 Canal Road, Leeds"]
    rows = [(80, 100 + 45 * i, t) for i, t in enumerate(left)] + [(800, 100 + 45 * i, t) for i, t in enumerate(right)]
    rows += [(80, 400, "Dear Ms Doe, thank you for your letter of last week regarding the report.")]
    layout = analyze_page(_render(rows))
    assert [len(b.lines) for b in layout.blocks] == [3, 3, 1]
    assert layout.blocks[0].bbox[0] + layout.blocks[0].bbox[2] < 800 <= layout.blocks[1].bbox[0] + 10
    assert layout.blocks[2].bbox[2] > 900  # the full-width line after both


def test_blank_page_and_bad_input():
    assert analyze_page(np.full((600, 500), 240, np.uint8)).blocks == []
    assert xy_cut(np.zeros((0, 4)), 10.0) == []
    with pytest.raises(ValueError):
        analyze_page(np.zeros((10, 10, 3), np.uint8))


def _words(x0: float, x1: float, v: float) -> list[tuple]:
    """Word boxes 12 wide, 3 apart, filling ``[x0, x1]`` on a row from ``v`` (6 high)."""
    return [(x, v, min(x + 12, x1), v + 6) for x in np.arange(x0, x1, 15)]


def test_xy_cut_on_boxes():
    title = _words(0, 200, 0)
    left = [b for i in range(5) for b in _words(0, 90, 20 + 10 * i)]
    right = [b for i in range(4) for b in _words(110, 200, 20 + 10 * i)]
    table = [b for i in range(3) for b in _words(0, 25, 80 + 10 * i) + _words(85, 120, 80 + 10 * i)]
    boxes = np.array(title + left + right + table, float)
    blocks = xy_cut(boxes, char_h=6.0)
    n = np.cumsum([0, len(title), len(left), len(right), len(table)])
    assert [sorted(idx.tolist()) for idx, _ in blocks] == [list(range(a, b)) for a, b in zip(n[:-1], n[1:])]
    assert [kind for _, kind in blocks] == ["text", "text", "text", "table"]


def test_a_wide_space_in_one_line_cuts_nothing():
    rows = [
        (80, 100, "Johnson, Harmon and Oneal reported 0.3% growth in net sales."),
        (80, 145, "The balance of EUR 2.25 is due by 14 Dec.        2022; late fees may apply."),
        (80, 190, "The balance of $ 40.17 is due by November 13; late fees may apply."),
    ]
    layout = analyze_page(_render(rows))
    assert len(layout.lines) == 3 and all(line.bbox[2] > 800 for line in layout.lines)
