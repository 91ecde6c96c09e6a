"""Other OCR systems beside linerec for the quality bench, and the one way every system is scored.

Peers:

- **Tesseract 5** (:mod:`linerec.eval.tesseract`): line crops with ``--psm 7`` in ``processes``
  single-threaded processes (``OMP_THREAD_LIMIT=1``), each reading its share from one list file.
- **PaddleOCR** (PP-OCRv4 ONNX models bundled in ``rapidocr_onnxruntime`` 1.4.4) in a virtualenv of
  its own, made by ``scripts/setup_rapidocr.sh`` (its opencv and onnxruntime pins clash with ours)
  and run as ``scripts/peer_rapidocr.py`` with that venv's python. Threads: 2 worker processes, each
  ONNX Runtime session with ``intra_op_num_threads=1`` and ``inter_op_num_threads=1``: each core
  reads whole items on its own, like the Tesseract runs, rather than one process splitting every
  item over two intra-op threads (the faster arrangement for small line crops). Line crops are
  read rec-only (``use_det=False, use_cls=False``), pages det + rec (no angle classifier: the
  scans are upright).

Every crop reaches each system as the same ``(h, w)`` uint8 grayscale pixels (PNG files for the
peers). Seconds are wall time of recognition alone for RapidOCR (images decoded and engines warm
first, as linerec is timed from decoded images) and of the whole ``tesseract`` runs for Tesseract
(which reads its files itself).

Scoring (same for all systems and the truth): :func:`norm_line` (whitespace runs as one space,
case-folded where the truth is, e.g. SROIE's upper-cased transcriptions), :func:`line_cer`
(summed edits over summed truth characters), :func:`reading_text` (a page's text fragments as rows
read top to bottom, left to right within a row, from their boxes alone, so no system is scored on
its own reading order), :func:`bag_of_words` (word multiset precision / recall / F1, blind to
order), :func:`least_confident_share` (share of errors in the least confident lines).
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from linerec.eval.metrics import edit_distance
from linerec.eval.tesseract import ensure_tesseract, tesseract_line_files, tesseract_page_lines
from linerec.infra.config import REPO_ROOT
from linerec.vision.geometry import FloatBox

logger = logging.getLogger(__name__)

SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup_rapidocr.sh"
WORKER_SCRIPT = REPO_ROOT / "scripts" / "peer_rapidocr.py"
#: Worker processes x ONNX Runtime intra-op threads each (see the module docstring).
RAPIDOCR_PROCESSES, RAPIDOCR_THREADS = 2, 1


# --------------------------------------------------------------------------- scoring
def norm_line(text: str, case_fold: bool = False) -> str:
    """``text`` with whitespace runs as one space, stripped, and case-folded when ``case_fold``."""
    text = " ".join(str(text).split())
    return text.casefold() if case_fold else text


def line_cer(preds: Sequence[str], truths: Sequence[str], case_fold: bool = False) -> float:
    """Corpus CER: summed edit distance over summed truth length, after :func:`norm_line` on both sides.

    Parameters
    ----------
    preds, truths : sequence of str
        Same length; ``preds[i]`` read from the line whose ground truth is ``truths[i]``.
    case_fold : bool
        Compare case-folded (for ground truth that ignores the printed case).

    Returns
    -------
    float
        0.0 for no truth characters and no predicted ones, else ``edits / max(chars, 1)``.
    """
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} predictions for {len(truths)} truths")
    edits = chars = 0
    for pred, truth in zip(preds, truths):
        truth = norm_line(truth, case_fold)
        edits += edit_distance(norm_line(pred, case_fold), truth)
        chars += len(truth)
    return edits / max(chars, 1)


def line_edits(preds: Sequence[str], truths: Sequence[str], case_fold: bool = False) -> list[int]:
    """Edit distance of each line after :func:`norm_line` on both sides."""
    return [edit_distance(norm_line(p, case_fold), norm_line(t, case_fold)) for p, t in zip(preds, truths)]


def least_confident_share(confidences: Sequence[float], edits: Sequence[int], fraction: float = 0.1) -> float:
    """Share of all errors held by the ``fraction`` least confident lines.

    The ``max(1, int(n * fraction))`` lines of lowest confidence (ties: earlier lines first) are
    taken; their summed edits are divided by all lines' summed edits. ``nan`` when there is no error.
    """
    if len(confidences) != len(edits):
        raise ValueError(f"{len(confidences)} confidences for {len(edits)} lines")
    total = sum(edits)
    if not edits or total == 0:
        return float("nan")
    k = max(1, int(len(edits) * fraction))
    order = sorted(range(len(edits)), key=lambda i: (confidences[i], i))
    return sum(edits[i] for i in order[:k]) / total


def reading_text(fragments: Iterable[tuple[Sequence[float], str]], case_fold: bool = False) -> str:
    """Page text from boxed fragments, read by geometry alone: rows top to bottom, left to right in a row.

    Fragments are taken by vertical centre; one joins the current row when its centre lies within
    half the smaller of its height and the row's first fragment's height from that fragment's centre.
    A row is its fragments by ``x`` joined with one space; rows are joined with ``"\\n"``; each
    row goes through :func:`norm_line` and empty rows are dropped. Lines of the truth, of linerec,
    of Tesseract and of RapidOCR (which may split a printed line into several boxes) all pass here,
    so none is scored on its own reading order or line splitting beyond the joining character.

    Parameters
    ----------
    fragments : iterable of (box, str)
        ``box`` is ``(x, y, w, h)`` in page pixels.
    case_fold : bool
        Case-fold every row.
    """
    items = sorted(
        ((float(b[1]) + float(b[3]) / 2, float(b[3]), float(b[0]), str(t)) for b, t in fragments if str(t).strip()),
        key=lambda f: (f[0], f[2]),
    )
    rows: list[list[tuple[float, float, float, str]]] = []
    for frag in items:
        anchor = rows[-1][0] if rows else None
        if anchor is not None and abs(frag[0] - anchor[0]) <= 0.5 * min(frag[1], anchor[1]):
            rows[-1].append(frag)
        else:
            rows.append([frag])
    texts = (norm_line(" ".join(f[3] for f in sorted(row, key=lambda f: f[2])), case_fold) for row in rows)
    return "\n".join(t for t in texts if t)


def bag_of_words(pairs: Iterable[tuple[str, str]]) -> tuple[float, float, float]:
    """Word multiset precision, recall and F1 over ``(prediction, truth)`` page texts (order-blind).

    Words are whitespace-separated tokens; a predicted word counts as matched up to as many times as
    it occurs in the truth of the same page. Sums run over all pages before dividing.
    """
    matched = predicted = true = 0
    for pred, truth in pairs:
        p, t = Counter(pred.split()), Counter(truth.split())
        matched += sum((p & t).values())
        predicted += sum(p.values())
        true += sum(t.values())
    precision, recall = matched / max(predicted, 1), matched / max(true, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


# --------------------------------------------------------------------------- peers
def _write_pngs(crops: Sequence[np.ndarray], folder: Path) -> list[Path]:
    """Each ``(h, w)`` uint8 crop as ``folder/NNNNNN.png``; the paths in order."""
    import cv2

    paths = []
    for i, crop in enumerate(crops):
        path = folder / f"{i:06d}.png"
        if not cv2.imwrite(str(path), np.ascontiguousarray(crop, dtype=np.uint8)):
            raise OSError(f"cannot write {path}")
        paths.append(path)
    return paths


def tesseract_lines(crops: Sequence[np.ndarray], processes: int = 2) -> tuple[list[str], float]:
    """Read line crops with Tesseract 5 (``--psm 7``, ``processes`` single-threaded processes).

    Parameters
    ----------
    crops : sequence of numpy.ndarray
        ``(h, w)`` uint8 grayscale line crops.
    processes : int
        Tesseract processes at once.

    Returns
    -------
    (list of str, float)
        Text per crop in input order, and wall seconds of the Tesseract runs (PNG writing excluded).
    """
    with tempfile.TemporaryDirectory(prefix="linerec-peer-") as tmp:
        return tesseract_line_files(_write_pngs(crops, Path(tmp)), processes=processes)


@functools.cache
def rapidocr_python() -> str:
    """The python of RapidOCR's venv, installed by ``scripts/setup_rapidocr.sh`` when missing (once)."""
    proc = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True, text=True)
    for line in proc.stderr.splitlines():
        logger.info("%s", line)
    if proc.returncode != 0:
        raise RuntimeError(f"{SETUP_SCRIPT.name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


def rapidocr_available() -> bool:
    """Whether RapidOCR's venv is installed with the pinned versions (installs nothing)."""
    return subprocess.run(["bash", str(SETUP_SCRIPT), "--check"], capture_output=True).returncode == 0


def _run_worker(mode: str, folder: Path, files: list[str]) -> dict:
    """Run ``scripts/peer_rapidocr.py`` on ``files`` (relative to ``folder`` or absolute); its JSON."""
    (folder / "items.json").write_text(json.dumps(files))
    out = folder / "result.json"
    cmd = [
        rapidocr_python(),
        str(WORKER_SCRIPT),
        "--mode",
        mode,
        "--input",
        str(folder),
        "--output",
        str(out),
        "--processes",
        str(RAPIDOCR_PROCESSES),
        "--threads",
        str(RAPIDOCR_THREADS),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{WORKER_SCRIPT.name} --mode {mode} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(out.read_text())
    if len(result["items"]) != len(files):
        raise RuntimeError(f"{WORKER_SCRIPT.name}: {len(result['items'])} results for {len(files)} items")
    return result


def rapidocr_lines(crops: Sequence[np.ndarray]) -> tuple[list[str], float]:
    """Read line crops with PaddleOCR's PP-OCRv4 recognizer (RapidOCR, rec only).

    Parameters
    ----------
    crops : sequence of numpy.ndarray
        ``(h, w)`` uint8 grayscale line crops.

    Returns
    -------
    (list of str, float)
        Text per crop in input order, and wall seconds of recognition (decoding and warm-up excluded).
    """
    if not crops:
        return [], 0.0
    with tempfile.TemporaryDirectory(prefix="linerec-peer-") as tmp:
        files = [p.name for p in _write_pngs(crops, Path(tmp))]
        result = _run_worker("lines", Path(tmp), files)
    return [item["text"] for item in result["items"]], float(result["seconds"])


def _float_box(values: Sequence[float]) -> FloatBox:
    """``(x, y, w, h)`` as floats from the worker's four-number ``box``."""
    x, y, w, h = values
    return (float(x), float(y), float(w), float(h))


def rapidocr_page_lines(paths: Sequence[Path]) -> tuple[list[list[tuple[FloatBox, str]]], float]:
    """Detect and read whole pages with RapidOCR (PP-OCRv4 det + rec): boxed text fragments per page.

    Returns
    -------
    (list of list of (box, str), float)
        Per page, ``((x, y, w, h), text)`` for every detected fragment above RapidOCR's score
        threshold, in its own order; and wall seconds of recognition over all pages.
    """
    if not paths:
        return [], 0.0
    with tempfile.TemporaryDirectory(prefix="linerec-peer-") as tmp:
        result = _run_worker("pages", Path(tmp), [str(Path(p).resolve()) for p in paths])
    pages = [[(_float_box(ln["box"]), ln["text"]) for ln in item.get("lines", [])] for item in result["items"]]
    return pages, float(result["seconds"])


def rapidocr_pages(paths: Sequence[Path], case_fold: bool = False) -> tuple[list[str], float]:
    """Page texts by RapidOCR det + rec, normalized by :func:`reading_text`; and wall seconds."""
    pages, seconds = rapidocr_page_lines(paths)
    return [reading_text(frags, case_fold) for frags in pages], seconds


def tesseract_pages(
    paths: Sequence[Path], psm: int, processes: int = 2, case_fold: bool = False
) -> tuple[list[str], float]:
    """Page texts by Tesseract 5 (whole page, ``--psm psm``), normalized by :func:`reading_text`.

    Parameters
    ----------
    paths : sequence of Path
        Page image files, read by Tesseract itself.
    psm : int
        Page segmentation mode.
    processes : int
        Pages at once, one single-threaded process each.
    case_fold : bool
        Case-fold the texts.

    Returns
    -------
    (list of str, float)
        Text per page in input order, and wall seconds of the whole run.
    """
    exe = ensure_tesseract()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=processes) as pool:
        pages = list(pool.map(lambda p: tesseract_page_lines(Path(p), psm, exe), paths))
    seconds = time.perf_counter() - t0
    return [reading_text(frags, case_fold) for frags in pages], seconds
