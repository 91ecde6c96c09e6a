"""Tesseract 5 as the baseline, and page text compared the same way for every system.

:func:`run_tesseract` OCRs page images with the ``tesseract`` command (``OMP_THREAD_LIMIT=1``,
``processes`` pages at a time). :func:`page_text` is the one normalization applied to every
system's output and to the ground truth before :func:`page_cer`: whitespace runs collapsed to one
space, lines stripped, empty lines dropped, lines joined with ``"\\n"``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

#: Page segmentation mode: 6 ("a single uniform block of text") beat 3 (automatic layout) on the
#: synthetic scans (see ``scripts/bench_quality.py --psm``).
DEFAULT_PSM = 6


def page_text(lines: Iterable[str]) -> str:
    """Lines in reading order as one normalized text: whitespace collapsed, empty lines dropped."""
    return "\n".join(" ".join(str(t).split()) for t in lines if str(t).strip())


def levenshtein(a: str, b: str) -> int:
    """Edit distance with Hyyro's bit-parallel algorithm (Python ints as bit vectors).

    Same result as :func:`linerec.metrics.edit_distance`, ~100x faster on page-length strings.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    m = len(b)
    mask, high = (1 << m) - 1, 1 << (m - 1)
    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    pv, mv, score = mask, 0, m
    for ch in a:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & mask) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
    return score


def page_cer(pairs: Iterable[tuple[str, str]]) -> float:
    """Corpus page CER of ``(prediction, truth)`` pairs: summed edit distance / summed truth length."""
    edits = chars = 0
    for pred, truth in pairs:
        edits += levenshtein(pred, truth)
        chars += len(truth)
    return edits / max(chars, 1)


def ensure_tesseract() -> str:
    """Path of the ``tesseract`` executable; installs ``tesseract-ocr`` with apt-get when missing."""
    exe = shutil.which("tesseract")
    if exe:
        return exe
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "tesseract-ocr", "tesseract-ocr-eng"], check=True,
                   env=env)
    return shutil.which("tesseract") or "tesseract"


def tesseract_page(path: Path, psm: int = DEFAULT_PSM, exe: str | None = None) -> str:
    """Normalized text (:func:`page_text`) of one page image by ``tesseract PATH stdout --psm PSM -l eng``."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = subprocess.run([exe or ensure_tesseract(), str(path), "stdout", "--psm", str(psm), "-l", "eng"],
                          env=env, capture_output=True, text=True, check=True)
    return page_text(proc.stdout.splitlines())


def run_tesseract(images: list[Path], processes: int = 2, psm: int = DEFAULT_PSM) -> tuple[dict[str, str], float]:
    """OCR page images with Tesseract, ``processes`` at a time.

    Parameters
    ----------
    images : list of Path
        Page image files (any format Tesseract reads).
    processes : int
        Tesseract processes running at once (each single-threaded).
    psm : int
        Tesseract page segmentation mode.

    Returns
    -------
    (dict, float)
        Normalized page text by file name, and the wall-clock seconds of the whole run.
    """
    exe = ensure_tesseract()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=processes) as pool:
        texts = dict(zip((p.name for p in images), pool.map(lambda p: tesseract_page(p, psm, exe), images)))
    return texts, time.perf_counter() - t0
