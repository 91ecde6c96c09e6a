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
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from linerec.eval.metrics import edit_distance

#: Page segmentation mode: 6, "a single uniform block of text", rather than 3 (automatic layout),
#: for the one-block synthetic scans (``scripts/bench_quality.py --psm`` compares the modes).
DEFAULT_PSM = 6


def page_text(lines: Iterable[str]) -> str:
    """Lines in reading order as one normalized text: whitespace collapsed, empty lines dropped."""
    return "\n".join(" ".join(str(t).split()) for t in lines if str(t).strip())


def page_cer(pairs: Iterable[tuple[str, str]]) -> float:
    """Corpus page CER of ``(prediction, truth)`` pairs: summed edit distance / summed truth length."""
    edits = chars = 0
    for pred, truth in pairs:
        edits += edit_distance(pred, truth)
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
    subprocess.run(
        sudo + ["apt-get", "install", "-y", "-qq", "tesseract-ocr", "tesseract-ocr-eng"], check=True, env=env
    )
    return shutil.which("tesseract") or "tesseract"


def tesseract_page(path: Path, psm: int = DEFAULT_PSM, exe: str | None = None) -> str:
    """Normalized text (:func:`page_text`) of one page image by ``tesseract PATH stdout --psm PSM -l eng``."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = subprocess.run(
        [exe or ensure_tesseract(), str(path), "stdout", "--psm", str(psm), "-l", "eng"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
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


#: Page segmentation mode for one text line (``tesseract --psm 7``).
LINE_PSM = 7


def parse_tsv(tsv: str) -> dict[int, list[tuple[tuple[int, int, int, int], str]]]:
    """Lines of Tesseract's TSV output by page number (1-based): ``[((x, y, w, h), text), ...]``.

    A line is the words (level 5) sharing ``(page, block, paragraph, line)``, joined with one space
    in Tesseract's order; its box is their union. Pages without a word are absent.
    """
    words: dict[tuple[int, int, int, int], list[tuple[int, int, int, int, str]]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        page, block, par, line, _, x, y, w, h = (int(c) for c in cols[1:10])
        words.setdefault((page, block, par, line), []).append((x, y, w, h, cols[11].strip()))
    pages: dict[int, list[tuple[tuple[int, int, int, int], str]]] = {}
    for (page, *_), ws in words.items():  # dicts keep Tesseract's order
        x0, y0 = min(w[0] for w in ws), min(w[1] for w in ws)
        x1, y1 = max(w[0] + w[2] for w in ws), max(w[1] + w[3] for w in ws)
        pages.setdefault(page, []).append(((x0, y0, x1 - x0, y1 - y0), " ".join(w[4] for w in ws)))
    return pages


def _tesseract_tsv(source: Path, psm: int, exe: str) -> str:
    """TSV output of ``tesseract SOURCE stdout --psm PSM -l eng tsv`` (SOURCE: an image or a list file)."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = subprocess.run(
        [exe, str(source), "stdout", "--psm", str(psm), "-l", "eng", "tsv"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def tesseract_page_lines(
    path: Path, psm: int = DEFAULT_PSM, exe: str | None = None
) -> list[tuple[tuple[int, int, int, int], str]]:
    """Text lines of one page image with their boxes, ``[((x, y, w, h), text), ...]`` in Tesseract's order."""
    return parse_tsv(_tesseract_tsv(Path(path), psm, exe or ensure_tesseract())).get(1, [])


def tesseract_line_files(images: list[Path], processes: int = 2, psm: int = LINE_PSM) -> tuple[list[str], float]:
    """Read single-line images with Tesseract (``--psm 7``), ``processes`` single-threaded processes.

    Each process reads its share of the images (every ``processes``-th one) from one list file, so
    a process starts once per run, not once per line.

    Parameters
    ----------
    images : list of Path
        Line images (any format Tesseract reads).
    processes : int
        Tesseract processes running at once (``OMP_THREAD_LIMIT=1`` each).
    psm : int
        Page segmentation mode (7: the image is one text line).

    Returns
    -------
    (list of str, float)
        The text of each image in input order (words joined with one space; ``""`` when none was
        found), and the wall-clock seconds of the whole run.
    """
    import tempfile

    exe = ensure_tesseract()
    texts = [""] * len(images)
    shares = [list(range(i, len(images), processes)) for i in range(processes)]
    shares = [s for s in shares if s]
    with tempfile.TemporaryDirectory(prefix="linerec-tess-") as tmp:
        lists = []
        for n, share in enumerate(shares):
            lists.append(Path(tmp) / f"list{n}.txt")
            lists[-1].write_text("".join(f"{Path(images[i]).resolve()}\n" for i in share))
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(len(shares), 1)) as pool:
            outputs = list(pool.map(lambda f: _tesseract_tsv(f, psm, exe), lists))
        seconds = time.perf_counter() - t0
    for share, tsv in zip(shares, outputs):
        pages = parse_tsv(tsv)
        for page, i in enumerate(share, start=1):
            texts[i] = " ".join(text for _, text in pages.get(page, []))
    return texts, seconds
