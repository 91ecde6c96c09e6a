"""PaddleOCR (PP-OCRv4 through ``rapidocr_onnxruntime``) on a folder of line crops or pages, for the bench.

Runs with the python of the venv made by ``scripts/setup_rapidocr.sh`` (not linerec's: the two pin
different opencv and onnxruntime builds), so it imports nothing from linerec.

Input: ``DIR/items.json``, a JSON list of image files (relative to ``DIR`` or absolute; PNG for line
crops, any format OpenCV reads for pages). Output (``--output``): one JSON object::

    {"mode": "lines" | "pages", "processes": P, "threads": T, "seconds": S,
     "items": [{"file": ..., "text": ..., "score": ...,            # lines: the crop's text
                "lines": [{"box": [x, y, w, h], "text": ..., "score": ...}, ...]}, ...]}  # pages only

``seconds`` is the wall time of recognition alone, over all items: images are decoded and every
engine is built and warmed up before the clock starts (as linerec is timed from decoded pages).
Line mode calls ``engine(crop, use_det=False, use_cls=False, use_rec=True)`` per crop; page mode
``engine(page, use_det=True, use_cls=False, use_rec=True)`` (upright scans: no angle classifier).
A page's ``text`` is its lines in RapidOCR's own order (top to bottom, then left to right), joined
with ``"\\n"``.

Threads: ``--processes`` engines in as many worker processes, each ONNX Runtime session with
``intra_op_num_threads=--threads`` and ``inter_op_num_threads=1``; items go to the workers in
order, one at a time. The default, 2 processes of 1 thread, keeps both cores busy on one item each,
as the Tesseract runs do (2 processes, ``OMP_THREAD_LIMIT=1``).

    PY=$(scripts/setup_rapidocr.sh) && $PY scripts/peer_rapidocr.py --mode lines --input DIR --output out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

_ENGINE = None  # one RapidOCR engine per worker process
_SETUP: dict = {}


def _init(threads: int, barrier) -> None:
    """Worker start: remember the settings (the engine is built by :func:`_ready`, where errors surface)."""
    _SETUP.update(threads=threads, barrier=barrier)


def _ready(_: int) -> int:
    """Build and warm up this worker's engine, then wait until every worker has (one call per worker)."""
    global _ENGINE
    import numpy as np
    from rapidocr_onnxruntime import RapidOCR

    _ENGINE = RapidOCR(intra_op_num_threads=_SETUP["threads"], inter_op_num_threads=1)
    _ENGINE(np.full((48, 320, 3), 255, np.uint8), use_det=False, use_cls=False, use_rec=True)
    _ENGINE(np.full((320, 320, 3), 255, np.uint8), use_det=True, use_cls=False, use_rec=True)
    _SETUP["barrier"].wait(timeout=300)  # a worker busy here cannot take a second call: one each
    return os.getpid()


def _line(image) -> dict:
    result, _ = _ENGINE(image, use_det=False, use_cls=False, use_rec=True)
    if not result:
        return {"text": "", "score": 0.0}
    text, score = result[0][0], result[0][1]
    return {"text": str(text), "score": float(score)}


def _page(image) -> dict:
    result, _ = _ENGINE(image, use_det=True, use_cls=False, use_rec=True)
    lines = []
    for quad, text, score in result or []:
        xs, ys = [float(p[0]) for p in quad], [float(p[1]) for p in quad]
        box = [round(min(xs)), round(min(ys)), round(max(xs) - min(xs)), round(max(ys) - min(ys))]
        lines.append({"box": box, "text": str(text), "score": float(score)})
    return {
        "text": "\n".join(ln["text"] for ln in lines),
        "score": min((ln["score"] for ln in lines), default=0.0),
        "lines": lines,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("lines", "pages"), required=True)
    p.add_argument("--input", type=Path, required=True, help="folder holding items.json and the images")
    p.add_argument("--output", type=Path, required=True, help="JSON file written")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads per process")
    args = p.parse_args()

    import cv2

    files = json.loads((args.input / "items.json").read_text())
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise SystemExit(f"{args.input / 'items.json'}: expected a JSON list of file names")
    flag = cv2.IMREAD_GRAYSCALE if args.mode == "lines" else cv2.IMREAD_COLOR
    images = []
    for name in files:
        path = Path(name) if Path(name).is_absolute() else args.input / name
        image = cv2.imread(str(path), flag)
        if image is None:
            raise SystemExit(f"{path}: cannot read the image")
        images.append(image)

    work = _line if args.mode == "lines" else _page
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no inherited ONNX Runtime threads
    barrier = ctx.Barrier(args.processes)
    with ctx.Pool(args.processes, initializer=_init, initargs=(args.threads, barrier)) as pool:
        pool.map(_ready, range(args.processes), chunksize=1)  # every engine built and warm
        t0 = time.perf_counter()
        results = pool.map(work, images, chunksize=1)
        seconds = time.perf_counter() - t0
    items = [{"file": name, **r} for name, r in zip(files, results)]
    args.output.write_text(
        json.dumps(
            {
                "mode": args.mode,
                "processes": args.processes,
                "threads": args.threads,
                "seconds": seconds,
                "items": items,
            },
            ensure_ascii=False,
        )
    )
    print(
        f"[peer_rapidocr] {len(items)} {args.mode} in {seconds:.2f} s ({args.processes} processes x "
        f"{args.threads} threads)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
