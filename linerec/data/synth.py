"""Synthetic scanned pages of printed text with a Label Studio OCR export.

:func:`generate_corpus` writes grayscale page images and an ``export.json`` in
the format Label Studio exports for the OCR template (a ``bbox`` rectangle and a
``transcription`` textarea per text line, sharing one region id). The export is
the ground truth. Output is a pure function of the seed: the same seed gives
byte-identical images and JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import pathlib

import numpy as np
from PIL import Image, ImageFont

from linerec.data.synth_text import TextSource, draw_text, wrap

logger = logging.getLogger(__name__)

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation")
_FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSans-Italic.ttf",
    "LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf", "LiberationSerif-Italic.ttf",
    "LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf",
)
#: Font files used for synthetic text, filtered to those installed.
FONTS: list[str] = [
    str(pathlib.Path(d, f)) for f in _FONT_FILES for d in _FONT_DIRS if pathlib.Path(d, f).is_file()
]
PAD = 3  # pixels of padding around the ink of a line box
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def _degrade(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn a clean black-on-white image into a mildly degraded 'scan'."""
    from PIL import ImageFilter

    blurred = Image.fromarray(clean, "L").filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    paper, ink = rng.uniform(228.0, 250.0), rng.uniform(15.0, 60.0)
    out = ink + (paper - ink) * (np.asarray(blurred, dtype=np.float64) / 255.0)
    h, w = out.shape
    out += rng.uniform(-6, 6) * np.linspace(-1, 1, w)[None, :]
    out += rng.uniform(-6, 6) * np.linspace(-1, 1, h)[:, None]
    out += rng.normal(0.0, rng.uniform(2.0, 6.0), out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_line(text: str, font_path: str, size: int, rng: np.random.Generator) -> Image.Image:
    """Render one line of text as a small degraded grayscale image.

    Parameters
    ----------
    text : str
        Printable ASCII text.
    font_path : str
        A TrueType font file, e.g. an entry of :data:`FONTS`.
    size : int
        Font size in pixels.
    rng : numpy.random.Generator
        Source of the degradation randomness.

    Returns
    -------
    PIL.Image.Image
        Mode ``"L"`` image cropped to the ink plus :data:`PAD` pixels.

    Raises
    ------
    ValueError
        If the text renders no ink (e.g. only spaces).
    """
    canvas, box = draw_text(text, ImageFont.truetype(str(font_path), size))
    if box is None:
        raise ValueError(f"text {text!r} renders no ink")
    x0, y0, x1, y1 = box
    crop = canvas[max(y0 - PAD, 0):y1 + PAD, max(x0 - PAD, 0):x1 + PAD]
    return Image.fromarray(_degrade(np.ascontiguousarray(crop), rng), "L")


def _rotate_box(box: tuple[int, int, int, int], angle: float, cx: float, cy: float) -> tuple[int, ...]:
    """Axis-aligned bounds of ``box`` after PIL's counter-clockwise rotation about (cx, cy)."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    pts = [(px - cx, py - cy) for px in (box[0], box[2]) for py in (box[1], box[3])]
    xs = [cx + dx * c + dy * s for dx, dy in pts]
    ys = [cy - dx * s + dy * c for dx, dy in pts]
    return math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))


def _render_page(source: TextSource, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, tuple]]]:
    """Lay out and render one page; return the degraded page and (text, box) per line."""
    width, height = int(rng.integers(960, 1041)), int(rng.integers(1260, 1341))
    page = np.full((height, width), 255, dtype=np.uint8)
    size = int(rng.integers(18, 31))
    page_font = FONTS[int(rng.integers(len(FONTS)))]
    pitch = round(size * rng.uniform(1.45, 2.0))
    left, right = int(rng.integers(60, 140)), int(rng.integers(60, 140))
    baseline, bottom = int(rng.integers(60, 130)) + size, height - int(rng.integers(60, 110))
    target, lines = int(rng.integers(8, 21)), []
    while len(lines) < target and baseline + pitch < bottom:
        font_path = page_font if rng.random() < 0.75 else FONTS[int(rng.integers(len(FONTS)))]
        font = ImageFont.truetype(font_path, size)
        indent = int(rng.integers(40, 300)) if rng.random() < 0.2 else 0
        avail = int((width - left - right - indent) * rng.uniform(0.7, 1.0))
        for text in (t for block_text in source.block() for t in wrap(block_text, font, avail)):
            if len(lines) >= target or baseline + pitch >= bottom:
                break
            canvas, box = draw_text(text, font)
            if box is None:
                continue
            ox, oy = left + indent - size, baseline - 2 * size  # canvas origin on the page
            region = page[oy:oy + canvas.shape[0], ox:ox + canvas.shape[1]]
            np.minimum(region, canvas[:region.shape[0], :region.shape[1]], out=region)
            lines.append((text, (box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy)))
            baseline += pitch
        gap = round(pitch * rng.uniform(0.5, 1.5))  # between blocks, unless needed for >= 8 lines
        baseline += gap if bottom - baseline > (max(8 - len(lines), 0) + 1) * pitch + gap else 0
    if rng.random() < 0.4:
        angle = float(rng.uniform(-0.5, 0.5))
        rotated = Image.fromarray(page, "L").rotate(angle, Image.Resampling.BILINEAR, fillcolor=255)
        page = np.asarray(rotated).copy()
        lines = [(t, _rotate_box(b, angle, width / 2, height / 2)) for t, b in lines]
    boxes = [
        (t, (max(b[0] - PAD, 0), max(b[1] - PAD, 0), min(b[2] + PAD, width), min(b[3] + PAD, height)))
        for t, b in lines
    ]
    return _degrade(page, rng), boxes


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _results(lines: list[tuple[str, tuple]], width: int, height: int, rng: np.random.Generator) -> list[dict]:
    """Label Studio OCR result items: a rectangle and a textarea per line."""
    items = []
    for text, (x0, y0, x1, y1) in lines:
        rid = "".join(_ID_CHARS[i] for i in rng.integers(0, len(_ID_CHARS), 10))
        geom = {"x": 100.0 * x0 / width, "y": 100.0 * y0 / height, "width": 100.0 * (x1 - x0) / width,
                "height": 100.0 * (y1 - y0) / height, "rotation": 0}
        common = {"original_width": width, "original_height": height, "image_rotation": 0}
        items.append({"id": rid, "type": "rectangle", "from_name": "bbox", "to_name": "image",
                      **common, "value": dict(geom), "origin": "manual"})
        items.append({"id": rid, "type": "textarea", "from_name": "transcription", "to_name": "image",
                      **common, "value": {**geom, "text": [text]}, "origin": "manual"})
    return items


def _task(task_id: int, data: dict, results: list[dict], clock: dt.datetime, rng: np.random.Generator) -> dict:
    """One exported task with a single completed annotation."""
    done = clock + dt.timedelta(seconds=float(rng.uniform(60, 1800)))
    annotation = {
        "id": task_id, "completed_by": 1, "result": results, "was_cancelled": False,
        "ground_truth": False, "created_at": _iso(done), "updated_at": _iso(done),
        "draft_created_at": None, "lead_time": round(float(rng.uniform(20, 900)), 3),
        "prediction": {}, "result_count": len(results) // 2, "task": task_id, "project": 1,
        "updated_by": 1, "parent_prediction": None, "parent_annotation": None, "last_action": None,
    }
    return {
        "id": task_id, "annotations": [annotation], "file_upload": None, "drafts": [],
        "predictions": [], "data": data, "meta": {}, "created_at": _iso(clock),
        "updated_at": _iso(done), "inner_id": task_id, "total_annotations": 1,
        "cancelled_annotations": 0, "total_predictions": 0, "project": 1, "updated_by": 1,
    }


def generate_corpus(
    out_dir: str | pathlib.Path,
    n_documents: int,
    seed: int,
    pages_per_document: tuple[int, int] = (1, 2),
    image_prefix: str = "/data/local-files/?d=",
) -> pathlib.Path:
    """Generate synthetic scanned documents and their Label Studio export.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output directory; ``images/<doc>_p<page>.png`` and ``export.json`` are written in it.
    n_documents : int
        Number of documents (each becomes one or more pages / tasks).
    seed : int
        Non-negative seed; equal seeds give byte-identical output.
    pages_per_document : tuple of int, optional
        Inclusive ``(min, max)`` number of pages per document.
    image_prefix : str, optional
        Prefix of ``data.image`` in the export, followed by ``images/<file>.png``.

    Returns
    -------
    pathlib.Path
        Path of the written ``export.json``.
    """
    lo, hi = pages_per_document
    if n_documents < 0 or seed < 0 or not 1 <= lo <= hi:
        raise ValueError(f"bad arguments: n_documents={n_documents} seed={seed} pages={pages_per_document}")
    if not FONTS:
        raise RuntimeError("no DejaVu/Liberation fonts installed")
    out = pathlib.Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    source = TextSource(seed, rng)
    clock = dt.datetime(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    tasks: list[dict] = []
    for doc_index in range(n_documents):
        document = f"synth_{seed}_{doc_index:04d}"
        for page_no in range(1, int(rng.integers(lo, hi + 1)) + 1):
            page, lines = _render_page(source, rng)
            name = f"{document}_p{page_no}.png"
            Image.fromarray(page, "L").save(out / "images" / name)
            data = {"image": f"{image_prefix}images/{name}", "document": document, "page": page_no}
            clock += dt.timedelta(seconds=float(rng.uniform(30, 600)))
            results = _results(lines, page.shape[1], page.shape[0], rng)
            tasks.append(_task(len(tasks) + 1, data, results, clock, rng))
            logger.debug("rendered %s with %d lines", name, len(lines))
    export = out / "export.json"
    export.write_text(json.dumps(tasks, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %d tasks (%d documents) to %s", len(tasks), n_documents, export)
    return export


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: ``python -m linerec.data.synth OUT_DIR --documents N --seed S``."""
    parser = argparse.ArgumentParser(prog="python -m linerec.data.synth", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pages", type=int, nargs=2, default=(1, 2), metavar=("MIN", "MAX"))
    parser.add_argument("--image-prefix", default="/data/local-files/?d=")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    generate_corpus(args.out_dir, args.documents, args.seed, tuple(args.pages), args.image_prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
