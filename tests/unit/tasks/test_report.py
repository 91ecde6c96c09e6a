"""The evaluation report: ranking of the worst lines, grouped CER, Markdown and the loss curve."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tasks.report import (
    LineResult,
    cer_bars_png,
    evaluation_report_markdown,
    grouped_cer,
    length_bucket,
    loss_curve_png,
    meta_groups,
    worst_lines,
)


def _line(ident: str, truth: str, pred: str) -> LineResult:
    from linerec.eval.metrics import cer

    return LineResult(ident, np.full((8, 20), 255, np.uint8), truth, pred, 0.5, cer(pred, truth))


LINES = [
    _line("1", "the cat", "the cat"),
    _line("2", "a|b", "a b"),
    _line("3", "hello world", "hxllo"),
    _line("4", "x" * 45, "x" * 45),
]


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
    info = {
        "version": "crnn-r1-abc",
        "model_id": 1,
        "status": "candidate",
        "dataset_version": "ds-1",
        "training_run_id": 1,
        "metrics": {"epochs": 2, "steps": 6, "world_size": 2, "val_cer": 0.5, "lines_per_sec": 10.0},
        "decision": {"promoted": True, "reason": "no production model yet", "production_cer": None},
    }
    md = evaluation_report_markdown(info, LINES, worst_lines(LINES, 3), {"1": "doc-a", "2": "doc-a", "3": "doc-b"})
    assert "![train loss per epoch](train_loss.png)" in md
    assert "![line 1](lines/01.png)" in md and "lines/03.png" in md and "lines/04.png" not in md
    assert "`a\\|b`" in md  # a pipe in the text does not break the table
    assert "| `doc-b` | 1 |" in md and "| `?` | 1 |" in md
    assert "promoted | yes" in md


INFO = {"version": "crnn-r1-abc", "model_id": 1, "status": "candidate", "dataset_version": "ds-1", "metrics": {}}
META = {
    "1": {"font": "DejaVuSans", "degradation": "clean"},
    "2": {"font": "Carlito-Bold", "degradation": "blur"},
    "3": {"font": "Carlito-Bold"},
}  # line 3's page has no degradation, line 4's page no metadata


def test_cer_by_font_and_degradation_from_page_meta():
    groups = meta_groups(LINES, META)
    assert dict((g, (n, c)) for g, n, c in groups["font"]) == {
        "DejaVuSans": (1, 0.0),
        "Carlito-Bold": (2, (1 + 7) / (3 + 11)),
        "?": (1, 0.0),
    }
    assert [g for g, _, _ in groups["degradation"]] == ["?", "blur", "clean"]
    md = evaluation_report_markdown(INFO, LINES, [], {}, META)
    assert "## CER by font (test split)" in md and "![CER by font](cer_by_font.png)" in md
    assert "| `Carlito-Bold` | 2 | 0.5714 |" in md and "| `blur` | 1 | 0.3333 |" in md


def test_meta_sections_are_left_out_without_values():
    for by_meta in (None, {}, {"1": {"font": None, "dpi": 300}}):
        md = evaluation_report_markdown(INFO, LINES, [], {}, by_meta)
        assert "CER by font" not in md and "CER by degradation" not in md and "cer_by_" not in md
    md = evaluation_report_markdown(INFO, LINES, [], {}, {"2": {"degradation": "noise"}})
    assert "CER by degradation" in md and "CER by font" not in md


def test_cer_bars_are_a_png():
    groups = [("clean", 10, 0.001), ("blur", 4, 0.02)]
    png = cer_bars_png(groups, "CER by degradation")
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert cer_bars_png(groups, "CER by degradation") == png


def test_loss_curve_is_a_png():
    png = loss_curve_png([3.0, 2.0, 1.5], "crnn on ds")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (600, 350)
    assert loss_curve_png([3.0, 2.0, 1.5], "crnn on ds") == png  # same input, same bytes


def _table_rows(md: str) -> list[list[str]]:
    """Every table row of ``md`` as a GFM parser reads it (markdown-it with tables): cell texts."""
    from markdown_it import MarkdownIt

    rows, row = [], None
    for token in MarkdownIt("commonmark").enable("table").parse(md):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            rows.append(row)
            row = None
        elif token.type == "inline" and row is not None:
            row.append("".join(child.content for child in token.children))
    return rows


HOSTILE = [
    "`",
    "a`b",
    "``x``",
    "```",
    "`start",
    "end`",
    "a|b|c",
    "x\\",
    "back\\slash",
    "a\\|b",
    " lead",
    "trail ",
    "two\nlines\r\nhere",
    "|",
    "`|`",
    "*not bold*",
]


def test_markdown_cells_read_back_as_their_text_with_backticks_pipes_and_newlines():
    lines = [_line(str(i), text, f"<{text}>") for i, text in enumerate(HOSTILE, 1)]
    md = evaluation_report_markdown(INFO, lines, lines, {r.example_id: r.truth for r in lines})
    rows = _table_rows(md)
    worst = [row for row in rows if len(row) == 6 and row[0].isdigit()]
    documents = [row for row in rows if len(row) == 3 and row[1] == "1"]
    assert len(worst) == len(HOSTILE) and len(documents) == len(HOSTILE)  # no cell split or merged
    flat = [t.replace("\r\n", " ").replace("\n", " ") for t in HOSTILE]
    assert [row[2] for row in worst] == flat
    assert [row[3] for row in worst] == [f"<{t}>" for t in flat]
    assert sorted(row[0] for row in documents) == sorted(flat)
