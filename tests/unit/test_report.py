"""The evaluation report: ranking of the worst lines, grouped CER, Markdown and the loss curve."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tasks.report import LineResult, grouped_cer, length_bucket, loss_curve_png, render_markdown, worst_lines


def _line(ident: str, truth: str, pred: str) -> LineResult:
    from linerec.metrics import cer

    return LineResult(ident, np.full((8, 20), 255, np.uint8), truth, pred, 0.5, cer(pred, truth))


LINES = [_line("1", "the cat", "the cat"), _line("2", "a|b", "a b"), _line("3", "hello world", "hxllo"),
         _line("4", "x" * 45, "x" * 45)]


def test_worst_lines_are_ranked_by_cer_and_stable():
    worst = worst_lines(LINES, 2)
    assert [r.example_id for r in worst] == ["3", "2"]
    assert worst_lines(list(reversed(LINES)), 2) == worst


def test_grouped_cer_is_corpus_cer_per_group():
    groups = dict((g, (n, c)) for g, n, c in grouped_cer(LINES, length_bucket))
    assert groups["1-20"][0] == 3 and groups["41-60"] == (1, 0.0)
    # 0 + 1 + 7 edits over 7 + 3 + 11 characters
    assert abs(groups["1-20"][1] - 8 / 21) < 1e-9


def test_markdown_links_images_and_escapes_cells():
    info = {"version": "crnn-r1-abc", "model_id": 1, "status": "candidate", "dataset_version": "ds-1",
            "training_run_id": 1, "metrics": {"epochs": 2, "steps": 6, "world_size": 2, "val_cer": 0.5,
                                               "lines_per_sec": 10.0},
            "decision": {"promoted": True, "reason": "no production model yet", "production_cer": None}}
    md = render_markdown(info, LINES, worst_lines(LINES, 3), {"1": "doc-a", "2": "doc-a", "3": "doc-b"})
    assert "![train loss per epoch](train_loss.png)" in md
    assert "![line 1](lines/01.png)" in md and "lines/03.png" in md and "lines/04.png" not in md
    assert "`a\\|b`" in md  # a pipe in the text does not break the table
    assert "| `doc-b` | 1 |" in md and "| `?` | 1 |" in md
    assert "promoted | yes" in md


def test_loss_curve_is_a_png():
    png = loss_curve_png([3.0, 2.0, 1.5], "crnn on ds")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (600, 350)
    assert loss_curve_png([3.0, 2.0, 1.5], "crnn on ds") == png  # same input, same bytes
