"""Evaluation reports (the training DAG's ``report``): a per-model report (Markdown + PNG) stored in S3.

The report of model ``V`` lives under ``reports/V/``: ``report.md`` (metrics, the promotion
decision, CER by document and by line length, the worst test lines), ``train_loss.png`` (the
training curve from the run's ``metrics.json``) and ``lines/NN.png`` (crops of the worst lines).
When the pages carry synthetic metadata (``pages.meta`` with ``font`` / ``degradation``), it also
has CER by font and by degradation, with bar charts ``cer_by_font.png`` and ``cer_by_degradation.png``.
Everything is derived from the model and its dataset version, so a rerun writes the same report.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from linerec.infra.config import get_settings
from linerec.infra.db import query
from tasks.context import engine, store
from tasks.registry import download_model, fetch_dataset

log = logging.getLogger(__name__)

LENGTH_BUCKETS = ((0, 20, "1-20"), (21, 40, "21-40"), (41, 60, "41-60"), (61, 10**9, "61+"))
META_KEYS = ("font", "degradation")  # keys of ``pages.meta`` the report groups CER by


@dataclass(frozen=True)
class LineResult:
    """One evaluated line: its id, crop (uint8, (h, w)), ground truth, prediction and CER."""

    example_id: str
    crop: np.ndarray
    truth: str
    prediction: str
    confidence: float
    cer: float


def evaluate_lines(recognizer, files: list[str]) -> list[LineResult]:
    """Recognize every record of ``files`` and score each line.

    Parameters
    ----------
    recognizer : linerec.model.recognizer.Recognizer
        Model under test (same preprocessing and decoding as inference).
    files : list of str
        TFRecord shards of one split.
    """
    from linerec.eval.evaluate import iter_examples
    from linerec.eval.metrics import cer

    out: list[LineResult] = []
    for batch in iter_examples(files):
        predictions = recognizer.recognize([crop for crop, *_ in batch])
        for (crop, truth, example_id, folded), (text, conf) in zip(batch, predictions):
            score = cer(text.upper(), truth.upper()) if folded else cer(text, truth)
            out.append(LineResult(example_id, crop, truth, text, float(conf), score))
    return out


def worst_lines(results: list[LineResult], n: int = 12) -> list[LineResult]:
    """The ``n`` lines with the highest CER (ties: longer truth first, then id, for a stable order)."""
    return sorted(results, key=lambda r: (-r.cer, -len(r.truth), r.example_id))[:n]


def grouped_cer(results: list[LineResult], key) -> list[tuple[str, int, float]]:
    """Corpus CER per group: ``(group, n_lines, cer)`` sorted by group name.

    Corpus CER is total edit distance over total truth length, so long lines weigh more.
    """
    from linerec.eval.metrics import edit_distance

    edits: dict[str, int] = defaultdict(int)
    chars: dict[str, int] = defaultdict(int)
    lines: dict[str, int] = defaultdict(int)
    for r in results:
        g = key(r)
        edits[g] += edit_distance(r.prediction, r.truth)
        chars[g] += len(r.truth)
        lines[g] += 1
    return [(g, lines[g], edits[g] / max(chars[g], 1)) for g in sorted(lines)]


def length_bucket(r: LineResult) -> str:
    n = len(r.truth)
    return next(label for lo, hi, label in LENGTH_BUCKETS if lo <= n <= hi)


def loss_curve_png(train_loss: list[float], title: str, val_cer=()) -> bytes:
    """The training curve (mean CTC loss per epoch, val CER when known) as PNG bytes."""
    from linerec.eval.plots import training_curve_png

    return training_curve_png(train_loss, title, val_cer)


def cer_bars_png(groups: list[tuple[str, int, float]], title: str) -> bytes:
    """Horizontal bars of CER per group (``(group, n_lines, cer)`` as from :func:`grouped_cer`) as PNG bytes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 1.2 + 0.28 * max(len(groups), 1)), dpi=100)
    ax = fig.subplots()
    names = [f"{g} ({n})" for g, n, _ in groups]
    values = [100.0 * c for _, _, c in groups]
    ax.barh(range(len(groups)), values, color="#1f77b4")
    ax.set_yticks(range(len(groups)), names, fontsize=8)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}%", va="center", fontsize=7)
    ax.set_xlabel("CER (%) - group (lines)")
    ax.set_title(title, fontsize=10)
    ax.margins(x=0.15)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def markdown_cell(text: str) -> str:
    """``text`` as a code span that reads back as itself inside a Markdown (GFM) table cell.

    Pipes are escaped (``\\|``: the table's own escape, which also applies inside code spans),
    line breaks become spaces, and the span is fenced by one backtick more than the longest run of
    backticks in the text, with a space either side when the text starts or ends with a backtick
    or a space (CommonMark strips one such space pair). Backslashes stay as they are: inside a code
    span they are literal. Empty or blank text shows as *(empty)*.
    """
    text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    if not text.strip():
        return "*(empty)*"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def meta_groups(results: list[LineResult], by_meta: dict[str, dict] | None) -> dict[str, list[tuple[str, int, float]]]:
    """CER per value of each :data:`META_KEYS` key, for the keys some line's page has a value of.

    Parameters
    ----------
    results : list of LineResult
        Evaluated lines.
    by_meta : dict, optional
        ``example_id`` -> the page's metadata (``pages.meta``); lines without a value count as ``?``.
    """
    by_meta = by_meta or {}
    out = {}
    for key in META_KEYS:
        if any((by_meta.get(r.example_id) or {}).get(key) for r in results):
            out[key] = grouped_cer(results, lambda r, key=key: str((by_meta.get(r.example_id) or {}).get(key) or "?"))
    return out


def evaluation_report_markdown(
    info: dict,
    results: list[LineResult],
    worst: list[LineResult],
    by_document: dict[str, str],
    by_meta: dict[str, dict] | None = None,
) -> str:
    """The report's Markdown; images are linked relative to the report (``train_loss.png``, ``lines/``).

    ``by_meta`` maps example ids to their page's synthetic metadata; CER by font and by degradation
    (with ``cer_by_<key>.png``) are shown for the keys present, and left out otherwise.
    """
    from linerec.eval.metrics import corpus_cer

    m = info.get("metrics") or {}
    decision = info.get("decision") or {}
    test_cer = corpus_cer([r.prediction for r in results], [r.truth for r in results]) if results else None
    rows = [
        ("model", f"`{info['version']}` (id {info['model_id']}, status {info['status']})"),
        ("dataset version", f"`{info['dataset_version']}`"),
        ("training run", str(info.get("training_run_id"))),
        ("epochs / steps", f"{m.get('epochs', '?')} / {m.get('steps', '?')}"),
        ("Horovod processes", str(m.get("world_size", "?"))),
        ("training speed", f"{m['lines_per_sec']:.1f} lines/s" if m.get("lines_per_sec") else "?"),
        ("validation CER", f"{m['val_cer']:.4f}" if m.get("val_cer") is not None else "?"),
        ("test CER", f"{test_cer:.4f} over {len(results)} lines" if test_cer is not None else "no test lines"),
    ]
    if decision:
        prod = decision.get("production_cer")
        rows.append(("production CER (same split)", f"{prod:.4f}" if prod is not None else "no production model"))
        rows.append(("promoted", f"{'yes' if decision.get('promoted') else 'no'}: {decision.get('reason', '')}"))
    out = [f"# Evaluation report: {info['version']}", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    out += ["", "## Training curve", "", "![train loss per epoch](train_loss.png)", ""]
    out += ["## CER by document (test split)", "", "| document | lines | CER |", "|---|---:|---:|"]
    out += [
        f"| {markdown_cell(g)} | {n} | {c:.4f} |"
        for g, n, c in grouped_cer(results, lambda r: by_document.get(r.example_id, "?"))
    ]
    out += ["", "## CER by line length (characters of ground truth)", "", "| length | lines | CER |", "|---|---:|---:|"]
    order = [label for _, _, label in LENGTH_BUCKETS]
    out += [
        f"| {g} | {n} | {c:.4f} |"
        for g, n, c in sorted(grouped_cer(results, length_bucket), key=lambda t: order.index(t[0]))
    ]
    for key, groups in meta_groups(results, by_meta).items():
        out += [
            "",
            f"## CER by {key} (test split)",
            "",
            f"![CER by {key}](cer_by_{key}.png)",
            "",
            f"| {key} | lines | CER |",
            "|---|---:|---:|",
        ]
        out += [f"| {markdown_cell(g)} | {n} | {c:.4f} |" for g, n, c in groups]
    out += [
        "",
        f"## Worst {len(worst)} test lines",
        "",
        "| # | line | truth | prediction | CER | confidence |",
        "|---:|---|---|---|---:|---:|",
    ]
    out += [
        f"| {i} | ![line {i}](lines/{i:02d}.png) | {markdown_cell(r.truth)} | {markdown_cell(r.prediction)} | "
        f"{r.cer:.3f} | {r.confidence:.3f} |"
        for i, r in enumerate(worst, start=1)
    ]
    return "\n".join(out) + "\n"


def line_page_meta(conn, line_ids: list[int]) -> dict[str, dict]:
    """``line_annotation_id`` (as str) -> its page's ``meta`` (empty when ``pages.meta`` does not exist)."""
    if not conn.execute(query("pages_have_meta")).scalar():
        return {}
    rows = conn.execute(query("line_page_meta"), {"ids": line_ids})
    return {str(r.line_annotation_id): r.meta for r in rows if isinstance(r.meta, dict)}


def write_report(model_id: int, decision: dict | None = None, n_worst: int = 12) -> str:
    """Evaluate ``model_id`` on its dataset version's test split and store the report in S3.

    Parameters
    ----------
    model_id : int
        A registered model (its training run's ``metrics.json`` gives the curve).
    decision : dict, optional
        The promotion decision of :func:`tasks.evaluate.promote_if_better`, shown in the report.
    n_worst : int
        How many of the worst lines to show with their crops.

    Returns
    -------
    str
        The S3 URI of ``report.md``.
    """
    from linerec.model.recognizer import Recognizer
    from linerec.vision.images import encode_png

    eng = engine()
    with eng.connect() as conn:
        row = conn.execute(query("registered_model"), {"model": model_id}).mappings().one()
    info = dict(row, decision=decision)
    data_dir = fetch_dataset(row["dataset_version_id"], get_settings().cache_dir / "datasets")
    manifest = json.loads((data_dir / "manifest.json").read_text())
    files = [str(data_dir / f["file"]) for f in manifest["splits"].get("test", [])]
    results = evaluate_lines(Recognizer.load(download_model(model_id)), files) if files else []
    ids = [int(r.example_id) for r in results if r.example_id.isdigit()]
    with eng.connect() as conn:
        by_document = {
            str(r.line_annotation_id): r.name for r in conn.execute(query("line_document_names"), {"ids": ids})
        }
        by_meta = line_page_meta(conn, ids)
    worst = worst_lines(results, n_worst)

    st = store()
    prefix = f"reports/{row['version']}/"
    metrics = row["metrics"] or {}
    curve = loss_curve_png(
        list(metrics.get("train_loss", [])),
        f"{row['version']} on {row['dataset_version']}",
        [tuple(p) for p in metrics.get("val_cer_by_epoch", []) or []],
    )
    st.put_bytes(prefix + "train_loss.png", curve, "image/png")
    for i, r in enumerate(worst, start=1):
        st.put_bytes(f"{prefix}lines/{i:02d}.png", encode_png(r.crop), "image/png")
    for key, groups in meta_groups(results, by_meta).items():
        st.put_bytes(
            f"{prefix}cer_by_{key}.png", cer_bars_png(groups, f"test CER by {key}: {row['version']}"), "image/png"
        )
    st.put_bytes(
        prefix + "report.md",
        evaluation_report_markdown(info, results, worst, by_document, by_meta).encode("utf-8"),
        "text/markdown; charset=utf-8",
    )
    uri = st.uri(prefix + "report.md")
    log.info(
        "evaluation report of %s: %s (%d test lines, %d worst shown)", row["version"], uri, len(results), len(worst)
    )
    return uri
