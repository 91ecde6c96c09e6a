"""OCR regions written by the generators read back through the one export parser."""

from __future__ import annotations

import numpy as np
import pytest

from linerec.labelstudio.export import parse_tasks
from linerec.labelstudio.regions import REGION_ID_CHARS, ocr_region, random_region_id, region_id_from_bytes


def _task(results: list[dict]) -> dict:
    return {"id": 7, "data": {"image": "/data/local-files/?d=page.png"}, "annotations": [{"id": 1, "result": results}]}


@pytest.mark.parametrize("rotation", [0, 3.5])
def test_a_region_reads_back_as_its_line(rotation):
    rid = random_region_id(np.random.default_rng(0))
    result = parse_tasks([_task(ocr_region(rid, (120, 40, 300, 24), "Total 12.50", 1000, 800, rotation))])
    assert not result.rejected
    (line,) = result.lines
    assert line.text == "Total 12.50" and line.region_id == rid
    assert (line.x, line.y, line.w, line.h) == pytest.approx((120, 40, 300, 24))
    assert line.rotation == pytest.approx(rotation)


def test_region_ids_are_seeded_and_look_like_the_editors():
    a = [random_region_id(np.random.default_rng(5)) for _ in range(2)]
    assert a[0] == a[1] and len(a[0]) == 10 and set(a[0]) <= set(REGION_ID_CHARS)
    assert region_id_from_bytes(bytes(range(10))) == REGION_ID_CHARS[:10]
    assert random_region_id(np.random.default_rng(6)) != a[0]


def test_percentages_are_of_the_page_size():
    rect, area = ocr_region("abc", (50, 20, 100, 10), "x", 200, 100)
    assert rect["value"] == {"x": 25.0, "y": 20.0, "width": 50.0, "height": 10.0, "rotation": 0}
    assert area["value"]["text"] == ["x"] and rect["id"] == area["id"] == "abc"
    assert (rect["original_width"], rect["original_height"]) == (200, 100)
