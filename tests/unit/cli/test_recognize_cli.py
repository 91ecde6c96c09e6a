"""``linerec recognize`` with the shipped model on small generated pages and on bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from linerec.cli import main
from linerec.eval.metrics import corpus_cer
from linerec.infra.config import get_settings

pytestmark = pytest.mark.skipif(not (get_settings().model_dir / "model.weights.h5").exists(), reason="no shipped model")

TEXTS = [["Invoice 2024-117", "Total due: 1,250.00 EUR"], ["Minutes of the meeting", "held on 3 March"]]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _page(lines: list[str]) -> Image.Image:
    """A small clean page with ``lines`` typed on it (blank when empty)."""
    page = Image.new("L", (640, 60 + 50 * max(len(lines), 1)), 255)
    draw, font = ImageDraw.Draw(page), ImageFont.truetype(FONT, 24)
    for i, text in enumerate(lines):
        draw.text((40, 40 + 50 * i), text, fill=20, font=font)
    return page


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("scans")
    out = {
        name: d / name
        for name in (
            "a.png",
            "b.jpg",
            "c.tif",
            "d.pdf",
            "empty.png",
            "fake.jpg",
            "cut.png",
            "thin.png",
            "huge.png",
            "bomb.png",
            "dir",
        )
    }
    _page(TEXTS[0]).save(out["a.png"])
    _page(TEXTS[1]).save(out["b.jpg"], quality=92)
    _page(TEXTS[0]).save(out["c.tif"], save_all=True, append_images=[_page([]), _page(TEXTS[1])])
    _page(TEXTS[1]).convert("RGB").save(out["d.pdf"], resolution=200.0)
    out["empty.png"].write_bytes(b"")
    out["fake.jpg"].write_text("not an image\n")
    out["cut.png"].write_bytes(out["a.png"].read_bytes()[:300])
    Image.new("L", (3000, 40), 255).save(out["thin.png"])  # aspect ratio 75
    Image.new("1", (8000, 8000), 1).save(out["huge.png"])  # 64 Mpx, a few kB on disk
    Image.new("1", (30000, 30000), 1).save(out["bomb.png"])  # decompression bomb (900 Mpx)
    out["dir"].mkdir()
    return out


def _run(argv: list[str], capsys) -> tuple[int, str, list[str]]:
    code = main(["recognize", *argv])
    cap = capsys.readouterr()
    return code, cap.out, [ln for ln in cap.err.splitlines() if ln.startswith("linerec recognize:")]


def test_jsonl_records_of_every_page_format(files, capsys):
    paths = [str(files[n]) for n in ("a.png", "b.jpg", "c.tif", "d.pdf")]
    code, out, errors = _run(paths, capsys)
    assert code == 0 and errors == []
    records = [json.loads(line) for line in out.splitlines()]
    assert {tuple(sorted(r)) for r in records} == {
        ("bbox", "block", "block_bbox", "block_type", "confidence", "line", "page", "path", "text")
    }
    got = {(r["path"], r["page"]): [] for r in records}
    for r in records:
        got[(r["path"], r["page"])].append(r)
    expected = {
        (paths[0], 1): TEXTS[0],
        (paths[1], 1): TEXTS[1],
        (paths[2], 1): TEXTS[0],
        (paths[2], 3): TEXTS[1],
        (paths[3], 1): TEXTS[1],
    }  # c.tif page 2 is blank: no records
    assert set(got) == set(expected)
    preds, truths = [], []
    for key, truth in expected.items():
        lines = got[key]
        assert [r["line"] for r in lines] == list(range(1, len(truth) + 1))
        assert all(0.0 <= r["confidence"] <= 1.0 for r in lines)
        assert [r["bbox"][1] for r in lines] == sorted(r["bbox"][1] for r in lines)  # reading order
        if key[0] != paths[3]:  # PDF pages are rendered at another scale
            assert all(
                30 <= x <= 50 and 30 + 50 * i <= y + h // 2 <= 80 + 50 * i and 0 < w <= 600
                for i, (x, y, w, h) in enumerate(r["bbox"] for r in lines)
            )
        preds += [r["text"] for r in lines]
        truths += truth
    assert corpus_cer(preds, truths) < 0.1, list(zip(preds, truths))


@pytest.mark.parametrize(
    "name, reason",
    [
        ("empty.png", "empty file"),
        ("fake.jpg", "unreadable image"),
        ("cut.png", "unreadable image"),
        ("thin.png", "implausible page size"),
        ("huge.png", "exceeds the page pixel limit"),
        ("bomb.png", "decompression bomb"),
        ("dir", "is a directory"),
        ("missing.png", "no such file"),
    ],
)
def test_bad_file_is_one_stderr_line_and_the_others_go_on(files, capsys, tmp_path, name, reason):
    bad = files.get(name, tmp_path / name)
    code, out, errors = _run(["--format", "text", str(bad), str(files["a.png"])], capsys)
    assert code == 1
    assert len(errors) == 1 and errors[0].startswith(f"linerec recognize: error: {bad}: ") and reason in errors[0]
    assert out.count("\f\n") == 1 and "Invoice" in out


def test_text_format_to_output_file(files, capsys, tmp_path):
    target = tmp_path / "out.txt"
    code, out, errors = _run(
        ["--format", "text", "--decoder", "beam", "--output", str(target), str(files["c.tif"])], capsys
    )
    assert (code, out, errors) == (0, "", [])
    pages = target.read_text().split("\f\n")
    assert len(pages) == 4 and pages[3] == "" and pages[1] == ""  # 3 pages, the second blank
    assert len(pages[0].splitlines()) == 2 and len(pages[2].splitlines()) == 2


def test_real_command_exit_status_and_stderr(files):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, "-m", "linerec.cli", "recognize", str(files["fake.jpg"]), str(files["a.png"])],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert [json.loads(ln)["line"] for ln in proc.stdout.splitlines()] == [1, 2]
    assert [ln for ln in proc.stderr.splitlines() if str(files["fake.jpg"]) in ln] == [
        f"linerec recognize: error: {files['fake.jpg']}: unreadable image "
        "(UnidentifiedImageError: cannot identify image file)"
    ]
