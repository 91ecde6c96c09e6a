"""Tests for linerec.eval.peers (Tesseract and RapidOCR as peers, scoring shared by every system)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from linerec.eval import peers
from linerec.eval.tesseract import parse_tsv

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def render(lines: list[str], size: int = 32, width: int = 640) -> np.ndarray:
    """Black text lines on white, one above the other: a ``(h, w)`` uint8 image."""
    from PIL import Image, ImageDraw, ImageFont

    if not FONT.exists():
        pytest.skip(f"{FONT} missing (apt-get install fonts-dejavu-core)")
    font = ImageFont.truetype(str(FONT), size)
    pitch = int(size * 1.8)
    image = Image.new("L", (width, 16 + pitch * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(lines):
        draw.text((16, 8 + i * pitch), text, font=font, fill=0)
    return np.asarray(image, dtype=np.uint8)


# --------------------------------------------------------------------------- scoring helpers
def test_line_cer_sums_edits_over_truth_chars():
    # 1 edit over 2 chars + 0 over 8 = 1/10 (a mean of per-line CERs would give 0.25)
    assert peers.line_cer(["ax", "abcdefgh"], ["ab", "abcdefgh"]) == pytest.approx(0.1)
    assert peers.line_cer(["", "abc"], ["abcd", "abc"]) == pytest.approx(4 / 7)
    assert peers.line_cer([], []) == 0.0
    with pytest.raises(ValueError):
        peers.line_cer(["a"], [])


def test_line_cer_case_folding_and_whitespace():
    pred, truth = "Total  RM 12.50 ", "TOTAL RM 12.50"
    assert peers.line_cer([pred], [truth], case_fold=True) == 0.0
    # without folding: o, t, a, l are wrong case: 4 edits over 14 chars (the spaces collapse alike)
    assert peers.line_cer([pred], [truth]) == pytest.approx(4 / 14)
    assert peers.norm_line("  a \t b  ") == "a b"
    assert peers.line_edits(["Ab", "x"], ["AB", "xyz"], case_fold=True) == [0, 2]


def test_least_confident_share():
    confidences = [0.9] * 20
    edits = [0] * 20
    confidences[3], edits[3] = 0.1, 3  # least confident
    confidences[7], edits[7] = 0.2, 1  # second least
    edits[12] = 4  # a confident mistake
    # 10% of 20 lines = the 2 least confident: 4 of the 8 errors
    assert peers.least_confident_share(confidences, edits) == pytest.approx(0.5)
    assert peers.least_confident_share(confidences, edits, fraction=0.05) == pytest.approx(3 / 8)
    # ties go to the earlier line: line 0 (no error) is taken before line 5 (2 errors)
    assert (
        peers.least_confident_share([0.5, 0.9, 0.9, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9, 0.9], [0, 1, 0, 0, 0, 2, 0, 0, 0, 1])
        == 0.0
    )
    assert math.isnan(peers.least_confident_share([0.1, 0.2], [0, 0]))
    with pytest.raises(ValueError):
        peers.least_confident_share([0.1], [1, 2])


def test_reading_text_orders_by_geometry():
    fragments = [
        ((300, 52, 80, 20), "RM 6.00"),  # right part of the second row, a little lower
        ((10, 10, 200, 22), "BHPETROL  PALEKBANG"),
        ((10, 50, 120, 20), "CASH"),
        ((10, 90, 100, 20), " "),  # nothing to read
        ((10, 120, 150, 20), "Thank you"),
    ]
    assert peers.reading_text(fragments) == "BHPETROL PALEKBANG\nCASH RM 6.00\nThank you"
    assert peers.reading_text(fragments, case_fold=True) == "bhpetrol palekbang\ncash rm 6.00\nthank you"
    # rows 15 px apart with 20 px tall boxes (centres more than half a height apart) stay apart
    assert peers.reading_text([((0, 15, 50, 20), "b"), ((0, 0, 50, 20), "a")]) == "a\nb"
    assert peers.reading_text([]) == ""


def test_bag_of_words():
    precision, recall, f1 = peers.bag_of_words([("a a b x", "a b b"), ("c", "c d")])
    # page 1: matched a, b (2 of 4 predicted, 2 of 3 true); page 2: c (1 of 1, 1 of 2)
    assert (precision, recall) == (pytest.approx(3 / 5), pytest.approx(3 / 5))
    assert f1 == pytest.approx(3 / 5)
    assert peers.bag_of_words([("", "a")]) == (0.0, 0.0, 0.0)


def test_parse_tsv_groups_words_into_lines_by_page():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t400\t100\t-1\t",
        "5\t1\t1\t1\t1\t1\t10\t20\t50\t12\t96\tTOTAL",
        "5\t1\t1\t1\t1\t2\t70\t18\t40\t15\t95\tRM",
        "5\t1\t1\t1\t2\t1\t10\t50\t30\t12\t90\t6.00",
        "5\t1\t1\t1\t2\t2\t50\t50\t30\t12\t10\t ",  # a word without text
        "5\t3\t1\t1\t1\t1\t5\t5\t20\t10\t91\tnext",
    ]
    pages = parse_tsv("\n".join([header, *rows]))
    assert pages[1] == [((10, 18, 100, 15), "TOTAL RM"), ((10, 50, 30, 12), "6.00")]
    assert 2 not in pages and pages[3] == [((5, 5, 20, 10), "next")]


# --------------------------------------------------------------------------- real peers
@pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng, "
    "or make bench-quality, which installs it)",
)
def test_tesseract_reads_rendered_lines_in_order():
    lines = ["TOTAL RM 12.50", "Invoice 2024-07"]
    crops = [render([text]) for text in lines]
    crops.insert(1, np.full((40, 200), 255, np.uint8))  # a blank crop keeps its place
    texts, seconds = peers.tesseract_lines(crops, processes=2)
    assert len(texts) == 3 and seconds > 0
    assert texts[0] == lines[0] and texts[2] == lines[1]
    assert peers.line_cer([texts[0], texts[2]], lines) == 0.0


@pytest.fixture(scope="module")
def rapidocr():
    if not peers.rapidocr_available():
        pytest.skip("RapidOCR's venv is not installed (scripts/setup_rapidocr.sh, or make bench-quality)")
    return peers.rapidocr_python()


def test_rapidocr_worker_json_contract(rapidocr, tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), render(["TOTAL RM 12.50"]))
    cv2.imwrite(str(tmp_path / "page.png"), render(["Invoice 2024", "Thank you"], width=480))
    (tmp_path / "items.json").write_text(json.dumps(["a.png"]))
    out = tmp_path / "lines.json"
    subprocess.run(
        [
            rapidocr,
            str(peers.WORKER_SCRIPT),
            "--mode",
            "lines",
            "--input",
            str(tmp_path),
            "--output",
            str(out),
            "--processes",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    assert result["mode"] == "lines" and result["processes"] == 1 and result["threads"] == 1
    assert result["seconds"] > 0
    [item] = result["items"]
    assert item["file"] == "a.png" and item["text"].replace(" ", "") == "TOTALRM12.50"
    assert 0.5 < item["score"] <= 1.0

    (tmp_path / "items.json").write_text(json.dumps([str(tmp_path / "page.png")]))  # absolute paths work too
    subprocess.run(
        [rapidocr, str(peers.WORKER_SCRIPT), "--mode", "pages", "--input", str(tmp_path), "--output", str(out)],
        check=True,
        capture_output=True,
    )
    [page] = json.loads(out.read_text())["items"]
    # detection may cut a line into fragments; read by their boxes, the rows come out whole
    fragments = [(ln["box"], ln["text"]) for ln in page["lines"]]
    assert all(len(box) == 4 for box, _ in fragments)  # (x, y, w, h)
    rows = peers.reading_text(fragments).split("\n")
    assert [r.replace(" ", "") for r in rows] == ["Invoice2024", "Thankyou"]


def test_rapidocr_through_peers(rapidocr):
    texts, seconds = peers.rapidocr_lines([render(["Invoice 2024"]), render(["TOTAL RM 12.50"])])
    assert [t.replace(" ", "") for t in texts] == ["Invoice2024", "TOTALRM12.50"] and seconds > 0
    assert peers.rapidocr_lines([]) == ([], 0.0)
