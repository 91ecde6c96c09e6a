"""Line segmentation benchmark on generated scanned pages.

Generates ``--pages`` pages of the "scan" profile (:func:`linerec.synth.pages.generate_corpus`)
into a temporary folder, segments every page with :func:`linerec.vision.segment.segment_page` on one
core, matches the found line rectangles to the Label Studio ground truth one-to-one at
IoU >= ``--iou`` and prints precision and recall (overall, per degradation and per dpi
band), milliseconds per page (mean, p95) and the worst pages.

Usage::

    .venv/bin/python scripts/eval_segmentation.py --pages 200 --seed 777001 --fonts heldout
"""

from __future__ import annotations

import argparse
import collections
import math
import pathlib
import sys
import tempfile
import time

import cv2
import numpy as np

from linerec.eval.layout_metrics import match_lines
from linerec.labelstudio.export import iter_export_file, iter_parsed_tasks, resolve_image_ref
from linerec.synth.pages import generate_corpus
from linerec.vision.segment import segment_page


def evaluate(folder: pathlib.Path, export: pathlib.Path, iou: float) -> list[dict]:
    """Segment every page of ``export``; one dict of scores and timing per page."""
    cv2.setNumThreads(1)
    rows = []
    for task in iter_export_file(export):
        parsed = next(iter_parsed_tasks([task]))
        data = task["data"]
        _, path = resolve_image_ref(data["image"], folder)
        page = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        start, cpu = time.perf_counter(), time.process_time()
        layout = segment_page(page)
        ms, cpu_ms = 1000 * (time.perf_counter() - start), 1000 * (time.process_time() - cpu)
        truth = [(ln.x, ln.y, ln.w, ln.h, ln.rotation) for ln in parsed.lines]
        score = match_lines([line.rect for line in layout.lines], truth, iou=iou)
        skew_err = abs(layout.skew - float(data.get("skew", 0.0)))
        edges = [_edge_errors(layout.lines[i].rect, truth[j]) for i, j, _ in score.pop("pairs")]
        rows.append(
            {
                **score,
                "edges": edges,
                "ms": ms,
                "cpu_ms": cpu_ms,
                "name": pathlib.Path(path).name,
                "pixels": page.size,
                "degradation": data.get("degradation", "?"),
                "dpi": data.get("dpi", 0),
                "font": data.get("font", "?"),
                "skew_err": skew_err,
            }
        )
    return rows


def _edge_errors(pred, gt) -> tuple[float, float, float, float]:
    """Signed (left, top, right, bottom) offsets of ``pred`` from ``gt`` in the frame of ``gt``."""
    r = math.radians(gt[4])
    c, s = math.cos(r), math.sin(r)
    dx, dy = pred[0] - gt[0], pred[1] - gt[1]
    du, dv = dx * c + dy * s, -dx * s + dy * c  # pred's corner in gt's frame
    return du, dv, du + pred[2] - gt[2], dv + pred[3] - gt[3]


def _summary(rows: list[dict]) -> str:
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return f"pages {len(rows):4d}  lines {tp + fn:6d}  precision {p:.4f}  recall {r:.4f}  fp {fp:4d}  fn {fn:4d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--seed", type=int, default=777001)
    parser.add_argument("--fonts", choices=("train", "heldout", "all"), default="heldout")
    parser.add_argument("--iou", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=2, help="processes generating pages")
    parser.add_argument("--worst", type=int, default=10)
    parser.add_argument("--keep", type=pathlib.Path, help="generate into (or reuse) this folder")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="evalseg-") as tmp:
        folder = args.keep or pathlib.Path(tmp)
        export = folder / "export.json"
        if not export.exists():
            t0 = time.perf_counter()
            generate_corpus(
                folder, args.pages, args.seed, (1, 1), profile="scan", fonts=args.fonts, workers=args.workers
            )
            print(f"generated {args.pages} pages in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        rows = evaluate(folder, export, args.iou)

    print(f"IoU >= {args.iou}, fonts {args.fonts}, seed {args.seed}")
    print(f"{'all':14s} {_summary(rows)}")
    for key, label in (("degradation", None), ("dpi", "dpi")):
        groups = collections.defaultdict(list)
        for r in rows:
            groups[r[key] if label is None else f"{(r[key] // 50) * 50}-{(r[key] // 50) * 50 + 49} dpi"].append(r)
        for name in sorted(groups):
            print(f"{name:14s} {_summary(groups[name])}")
    for key, label in (("ms", "wall"), ("cpu_ms", "cpu")):
        ms = np.array([r[key] for r in rows])
        big = np.array([r[key] for r in rows if r["pixels"] >= 2400 * 3100])
        print(
            f"ms/page ({label}, one thread): mean {ms.mean():.1f}  p95 {np.percentile(ms, 95):.1f}  "
            f"max {ms.max():.1f}" + (f"  (~300 dpi pages: mean {big.mean():.1f}, n={big.size})" if big.size else "")
        )
    edges = np.array([e for r in rows for e in r["edges"]]).reshape(-1, 4)
    if edges.size:
        print(
            "frame offsets from the ground truth (px; left top right bottom): median "
            + " ".join(f"{v:+.1f}" for v in np.median(edges, 0))
            + ", mean |.| "
            + " ".join(f"{v:.1f}" for v in np.abs(edges).mean(0))
            + f"; lines with every edge within 2 px: {np.mean(np.abs(edges).max(1) <= 2.5):.1%}"
        )
    skew = np.array([r["skew_err"] for r in rows])
    print(f"skew error (deg): mean {skew.mean():.3f}  max {skew.max():.3f}")
    print("worst pages:")
    for r in sorted(rows, key=lambda r: -(r["fp"] + r["fn"]))[: args.worst]:
        if r["fp"] + r["fn"]:
            print(
                f"  {r['name']}  fp {r['fp']} fn {r['fn']} of {r['tp'] + r['fn']}  {r['degradation']}  "
                f"{r['dpi']} dpi  {r['font']}  skew err {r['skew_err']:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
