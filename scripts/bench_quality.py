"""Recognition quality on held-out synthetic scans, next to its targets (``make bench-quality``).

Pages come from seeds training never uses: 910001 (training fonts) and 910002 (held-out fonts),
about half each, ``profile="scan"``, one page per document; they are generated once into
``$LINEREC_STATE_DIR/bench-quality/<seed>-<n>/`` and reused. Figures:

- line detection precision / recall at IoU >= 0.5 (segmentation vs the export's line rectangles);
- line CER on ground-truth line crops, training and held-out fonts, greedy and beam decoding;
- page CER end to end (segment + recognize; lines joined in reading order with ``"\\n"``) and
  Tesseract 5's on the same pages, with lines/s of both (ground-truth lines / wall seconds; linerec
  from the decoded page, 2 segmentation threads + the model on 2 cores; Tesseract from the image
  file, 2 single-threaded processes). Both outputs and the truth are normalized alike before CER
  (:func:`linerec.tesseract.page_text`: whitespace runs collapsed, empty lines dropped);
- CER of the least confident 10 % of lines against the other 90 % (greedy, ground-truth crops);
- CER by font and by degradation.

    .venv/bin/python scripts/bench_quality.py [--pages 200] [--model DIR] [--report [DIR]]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from linerec.tesseract import DEFAULT_PSM, levenshtein, page_cer, page_text, run_tesseract  # noqa: E402

SEEDS = {"train": 910001, "heldout": 910002}  # font split -> corpus seed (never used by training)
TARGETS = {  # figure -> (comparison, target)
    "precision": (">=", 0.98), "recall": (">=", 0.98), "cer_train": ("<=", 0.010),
    "cer_heldout": ("<=", 0.030), "page_cer": ("<=", 0.020),
}
CHUNK_PAGES = 16  # pages decoded, then segmented and recognized together (end-to-end timing)


def say(msg: str) -> None:
    print(f"[bench-quality] {msg}", file=sys.stderr, flush=True)


@dataclass
class Page:
    """One benchmark page: its image file, synthetic metadata and ground-truth lines."""

    path: Path
    meta: dict
    truth: list[tuple[tuple[int, int, int, int, float], str]]  # ((x, y, w, h, rotation), text), reading order
    pred: list[tuple[str, float]] = field(default_factory=list)  # end to end, reading order

    @property
    def truth_text(self) -> str:
        return page_text(t for _, t in self.truth)


@dataclass
class LineScore:
    """A ground-truth line crop recognized by the model."""

    crop: object  # (h, w) uint8
    truth: str
    greedy: str
    confidence: float
    beam: str
    font: str
    split: str
    degradation: str

    @property
    def edits(self) -> int:
        return levenshtein(self.greedy, self.truth)


# --------------------------------------------------------------------------- corpus
def corpus(state: Path, split: str, n_pages: int) -> list[Page]:
    """The cached pages of one font split (generated once, atomically) with their ground truth."""
    from linerec.data.labelstudio import iter_export_file, iter_parsed_tasks
    from linerec.data.synth import generate_corpus

    seed = SEEDS[split]
    folder = state / f"{seed}-{n_pages}"
    if not (folder / "export.json").exists():
        tmp = folder.with_name(folder.name + ".tmp")
        say(f"generating {n_pages} pages ({split} fonts, seed {seed}) into {folder} (once)")
        generate_corpus(tmp, n_documents=n_pages, seed=seed, pages_per_document=(1, 1), profile="scan",
                        fonts=split, workers=2)
        tmp.rename(folder)
    pages = []
    for task in iter_export_file(folder / "export.json"):
        parsed = next(iter_parsed_tasks([task]))
        lines = sorted(parsed.lines, key=lambda ln: ln.line_no)
        name = Path(task["data"]["image"]).name
        pages.append(Page(folder / "images" / name, dict(task["data"]),
                          [((ln.x, ln.y, ln.w, ln.h, ln.rotation), ln.text) for ln in lines]))
    return pages


# --------------------------------------------------------------------------- measurements
def end_to_end(pages: list[Page], recognizer) -> tuple[dict, float]:
    """Segment + recognize every page (timed from the decoded page); detection counts and seconds."""
    from linerec.images import decode_page
    from linerec.layout_metrics import match_lines
    from linerec.recognize import segment_lines

    counts, seconds = {"tp": 0, "fp": 0, "fn": 0}, 0.0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, len(pages), CHUNK_PAGES):
            chunk = pages[start:start + CHUNK_PAGES]
            images = [decode_page(p.path.read_bytes(), str(p.path)) for p in chunk]
            t0 = time.perf_counter()
            segmented = list(pool.map(segment_lines, images))
            texts = iter(recognizer.recognize([c for _, _, crops in segmented for c in crops]))
            seconds += time.perf_counter() - t0
            for page, (_, rects, crops) in zip(chunk, segmented):
                page.pred = [next(texts) for _ in crops]
                m = match_lines(rects, [r for r, _ in page.truth], iou=0.5)
                for k in counts:
                    counts[k] += int(m[k])
    return counts, seconds


def ground_truth_lines(pages: list[Page], recognizer) -> list[LineScore]:
    """Recognize the ground-truth line crops of every page, greedy and beam."""
    from linerec.images import decode_page
    from linerec.preprocessing import crop_line

    crops, owners = [], []
    for page in pages:
        image = decode_page(page.path.read_bytes(), str(page.path))
        for (x, y, w, h, rot), text in page.truth:
            crops.append(crop_line(image, (x, y, w, h), rotation=rot))
            owners.append((page, text))
    greedy = recognizer.recognize(crops, decoder="greedy")
    beam = recognizer.recognize(crops, decoder="beam")
    return [LineScore(c, t, g, conf, b, str(p.meta.get("font", "?")), str(p.meta.get("font_split", "?")),
                      str(p.meta.get("degradation", "?")))
            for c, (p, t), (g, conf), (b, _) in zip(crops, owners, greedy, beam)]


def cer(lines: list[LineScore], decoder: str = "greedy") -> float:
    """Corpus CER of lines: summed edit distance over summed truth length."""
    edits = sum(levenshtein(getattr(ln, decoder), ln.truth) for ln in lines)
    return edits / max(sum(len(ln.truth) for ln in lines), 1)


def grouped(lines: list[LineScore], key) -> list[tuple[str, int, float]]:
    """``(group, lines, greedy CER)`` per group, sorted by group."""
    groups: dict[str, list[LineScore]] = {}
    for ln in lines:
        groups.setdefault(key(ln), []).append(ln)
    return [(g, len(v), cer(v)) for g, v in sorted(groups.items())]


def choose_psm(pages: list[Page], n: int) -> tuple[int, dict[int, float]]:
    """Tesseract page CER with ``--psm 3`` and ``--psm 6`` on ``n`` pages (both splits); the better mode."""
    sample = pages[:: max(1, len(pages) // n)][:n]
    scores = {}
    for psm in (3, 6):
        texts, _ = run_tesseract([p.path for p in sample], processes=2, psm=psm)
        scores[psm] = page_cer((texts[p.path.name], p.truth_text) for p in sample)
    return min(scores, key=scores.get), scores


# --------------------------------------------------------------------------- output
def verdict(key: str, value: float) -> tuple[str, str]:
    """The target of figure ``key`` as shown (CER in percent) and whether ``value`` meets it."""
    op, target = TARGETS[key]
    ok = value >= target if op == ">=" else value <= target
    return f"{op} {target:.1%}" if "cer" in key else f"{op} {target:g}", "yes" if ok else "NO"


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def worst_png(lines: list[LineScore], path: Path) -> None:
    """The worst lines as one PNG: each crop above its truth (T) and greedy prediction (P)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 0.9 * max(len(lines), 1)), dpi=100)
    for i, ln in enumerate(lines):
        ax = fig.add_subplot(len(lines), 1, i + 1)
        ax.imshow(ln.crop, cmap="gray", vmin=0, vmax=255, aspect="equal")
        ax.set_axis_off()
        ax.text(0, -0.08, f"T: {ln.truth}\nP: {ln.greedy}", transform=ax.transAxes, va="top", fontsize=8,
                family="monospace", parse_math=False)
    fig.subplots_adjust(hspace=1.2, left=0.02, right=0.98, top=0.98, bottom=0.08)
    fig.savefig(path, format="png", metadata={"Software": None})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=200, help="pages in all, half per font split")
    p.add_argument("--model", default=None, help="model folder (default: the shipped model, LINEREC_SHIPPED_MODEL)")
    p.add_argument("--report", nargs="?", const="", default=None, metavar="DIR",
                   help="write an evaluation report (README.md + PNGs) here (no DIR: <model>/eval)")
    p.add_argument("--psm", type=int, default=None,
                   help=f"Tesseract page segmentation mode (default: the better of 3 and 6 on --psm-pages pages; "
                        f"{DEFAULT_PSM} when --psm-pages is 0)")
    p.add_argument("--psm-pages", type=int, default=20)
    p.add_argument("--worst", type=int, default=12, help="worst lines shown in the report")
    args = p.parse_args()

    import numpy as np

    from linerec.config import get_settings
    from linerec.inference import Recognizer

    settings = get_settings()
    model_dir = Path(args.model) if args.model else settings.model_dir
    state = settings.state_dir / "bench-quality"
    state.mkdir(parents=True, exist_ok=True)
    half = args.pages // 2
    pages = corpus(state, "train", half) + corpus(state, "heldout", args.pages - half)
    gt_lines = sum(len(pg.truth) for pg in pages)
    say(f"{len(pages)} pages, {gt_lines} ground-truth lines; model {model_dir}")

    recognizer = Recognizer.load(model_dir, batch_size=128)
    recognizer.recognize([np.full((32, 300), 255, np.uint8)] * 2)  # warm-up (trace) outside the timings
    say("end to end: segment + recognize")
    counts, ours_s = end_to_end(pages, recognizer)
    say("ground-truth line crops: greedy and beam")
    lines = ground_truth_lines(pages, recognizer)

    if args.psm is not None or args.psm_pages <= 0:
        psm, psm_scores = args.psm or DEFAULT_PSM, {}
    else:
        say(f"Tesseract --psm 3 vs 6 on {args.psm_pages} pages")
        psm, psm_scores = choose_psm(pages, args.psm_pages)
    say(f"Tesseract 5 (--psm {psm}, 2 processes, OMP_THREAD_LIMIT=1) on {len(pages)} pages")
    tess, tess_s = run_tesseract([pg.path for pg in pages], processes=2, psm=psm)

    precision = counts["tp"] / max(counts["tp"] + counts["fp"], 1)
    recall = counts["tp"] / max(counts["tp"] + counts["fn"], 1)
    ours_pairs = [(page_text(t for t, _ in pg.pred), pg.truth_text) for pg in pages]
    tess_pairs = [(tess[pg.path.name], pg.truth_text) for pg in pages]
    ours_cer, tess_cer = page_cer(ours_pairs), page_cer(tess_pairs)
    by_split = {s: [ln for ln in lines if ln.split == s] for s in ("train", "heldout")}
    ranked = sorted(lines, key=lambda ln: ln.confidence)
    k = max(1, len(ranked) // 10)
    low_cer, rest_cer = cer(ranked[:k]), cer(ranked[k:])

    main_rows = [
        ["line detection precision (IoU >= 0.5)", f"{precision:.4f}", *verdict("precision", precision)],
        ["line detection recall (IoU >= 0.5)", f"{recall:.4f}", *verdict("recall", recall)],
    ]
    for split, key in (("train", "cer_train"), ("heldout", "cer_heldout")):
        for dec in ("greedy", "beam"):
            value = cer(by_split[split], dec)
            main_rows.append([f"line CER, {split} fonts, {dec} ({len(by_split[split])} lines)", f"{value:.4%}",
                              *verdict(key, value)])
    main_rows.append(["page CER linerec (segment + recognize)", f"{ours_cer:.4%}", *verdict("page_cer", ours_cer)])
    main_rows.append([f"page CER Tesseract 5 (--psm {psm})", f"{tess_cer:.4%}", "> linerec",
                      "yes" if ours_cer < tess_cer else "NO"])
    main_rows.append(["lines/s linerec (from decoded page)", f"{gt_lines / ours_s:.1f}", "", ""])
    main_rows.append(["lines/s Tesseract (2 processes, from file)", f"{gt_lines / tess_s:.1f}", "", ""])
    main_rows.append(["CER of the least confident 10% of lines", f"{low_cer:.4%}", "> other 90%",
                      "yes" if low_cer > rest_cer else "NO"])
    main_rows.append(["CER of the other 90%", f"{rest_cer:.4%}", "", ""])
    by_font = grouped(lines, lambda ln: f"{ln.font} ({ln.split})")
    by_degradation = grouped(lines, lambda ln: ln.degradation)
    font_rows = [[g, n, f"{c:.4%}"] for g, n, c in by_font]
    deg_pages: dict[str, list[int]] = {}
    for i, pg in enumerate(pages):
        deg_pages.setdefault(str(pg.meta.get("degradation", "?")), []).append(i)
    deg_rows = [[g, len(deg_pages.get(g, [])), n, f"{c:.4%}",
                 f"{page_cer(ours_pairs[i] for i in deg_pages.get(g, [])):.4%}",
                 f"{page_cer(tess_pairs[i] for i in deg_pages.get(g, [])):.4%}"]
                for g, n, c in by_degradation]

    shown = model_dir.resolve().relative_to(ROOT) if model_dir.resolve().is_relative_to(ROOT) else model_dir
    tables = [
        f"Model `{shown}` (version {recognizer.model_version}); {len(pages)} pages ({len(by_split['train'])} lines in training fonts, seed "
        f"{SEEDS['train']}; {len(by_split['heldout'])} in held-out fonts, seed {SEEDS['heldout']}); "
        f"{gt_lines} ground-truth lines. Page texts normalized alike before CER (whitespace runs collapsed, "
        f"empty lines dropped). Tesseract psm chosen: {psm}"
        + (f" (page CER on {args.psm_pages} pages: " + ", ".join(f"psm {m}: {v:.2%}" for m, v in psm_scores.items())
           + ")" if psm_scores else "") + ".",
        "", *markdown_table(["figure", "measured", "target", "met"], main_rows),
        "", "CER by font (ground-truth crops, greedy)", "",
        *markdown_table(["font (split)", "lines", "line CER"], font_rows),
        "", "CER by degradation", "",
        *markdown_table(["degradation", "pages", "lines", "line CER", "page CER linerec", "page CER Tesseract"],
                        deg_rows),
    ]
    print("\n".join(tables))
    figures = {"pages": len(pages), "gt_lines": gt_lines, "precision": precision, "recall": recall,
               "line_cer": {s: {d: cer(by_split[s], d) for d in ("greedy", "beam")} for s in by_split},
               "page_cer": ours_cer, "tesseract_page_cer": tess_cer, "psm": psm, "psm_scores": psm_scores,
               "lines_per_s": gt_lines / ours_s, "tesseract_lines_per_s": gt_lines / tess_s,
               "low_confidence_cer": low_cer, "rest_cer": rest_cer, "model": str(model_dir)}
    (state / "bench-quality.json").write_text(json.dumps(figures, indent=2))

    if args.report is not None:
        report_dir = Path(args.report) if args.report else model_dir / "eval"
        write_report(report_dir, model_dir, tables, lines, by_font, by_degradation, args.worst)
        card = {"line CER, training fonts (greedy)": figures["line_cer"]["train"]["greedy"],
                "line CER, held-out fonts (greedy)": figures["line_cer"]["heldout"]["greedy"],
                "line CER, training fonts (beam)": figures["line_cer"]["train"]["beam"],
                "line CER, held-out fonts (beam)": figures["line_cer"]["heldout"]["beam"],
                "page CER (segment + recognize)": ours_cer,
                f"page CER Tesseract 5 (psm {psm}), same pages": tess_cer,
                "line detection precision": precision, "line detection recall": recall}
        (report_dir / "results.json").write_text(json.dumps(
            {"pages": len(pages), "date": time.strftime("%Y-%m-%d"), "card": card, "figures": figures}, indent=2))
    return 0


def write_report(out: Path, model_dir: Path, tables: list[str], lines: list[LineScore], by_font: list[tuple],
                 by_degradation: list[tuple], n_worst: int) -> None:
    """README.md with the tables, ``worst_lines.png`` and bar charts of CER by font and degradation."""
    from tasks.report import _md_cell, cer_bars_png

    out.mkdir(parents=True, exist_ok=True)
    worst = sorted(lines, key=lambda ln: (-ln.edits / max(len(ln.truth), 1), -len(ln.truth), ln.truth))[:n_worst]
    worst_png(worst, out / "worst_lines.png")
    (out / "cer_by_font.png").write_bytes(cer_bars_png(by_font, "line CER by font (greedy)"))
    (out / "cer_by_degradation.png").write_bytes(cer_bars_png(by_degradation, "line CER by degradation (greedy)"))
    md = [f"# Evaluation: {model_dir.name}", "", "Written by `make bench-quality REPORT=...` "
          "(`scripts/bench_quality.py --report`).", "", *tables, "",
          "![CER by font](cer_by_font.png)", "", "![CER by degradation](cer_by_degradation.png)", "",
          f"## Worst {len(worst)} lines (ground-truth crops, greedy)", "", "![worst lines](worst_lines.png)", "",
          *markdown_table(["#", "truth", "prediction", "CER", "confidence", "font", "degradation"],
                          [[i, _md_cell(ln.truth), _md_cell(ln.greedy), f"{ln.edits / max(len(ln.truth), 1):.3f}",
                            f"{ln.confidence:.3f}", ln.font, ln.degradation] for i, ln in enumerate(worst, start=1)])]
    (out / "README.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    say(f"report written to {out}")


if __name__ == "__main__":
    sys.exit(main())
