"""Word boxes from the CTC alignment of a line.

A recognized line's characters are placed on the frames of the model's output (the best path
for greedy decoding, a forced Viterbi alignment of the decoded labels for beam search); frame
``t`` covers normalized columns ``[4 t, 4 t + 4)`` (:data:`linerec.model.crnn.TIME_DOWNSAMPLE`),
which map back to crop columns by the width scale only (line preparation may cut rows, never
columns). Consecutive characters part half-way between their frame runs; a word spans its
characters and is then trimmed to the ink columns of the crop inside that span. Its confidence
is the product of its characters' peak probabilities, as the line's is
(:func:`linerec.model.ctc.greedy_decode`). :func:`to_page` carries a crop span to page coordinates
through the line's rotated rectangle.
"""

from __future__ import annotations

import dataclasses
import math
from typing import cast

import numpy as np

from linerec.model.charset import BLANK

NEG = -1e30  # log-probability of an impossible state


@dataclasses.dataclass(frozen=True)
class WordSpan:
    """One word of a line crop: ``text``, crop columns ``[x0, x1)`` and ``confidence`` in [0, 1]."""

    text: str
    x0: float
    x1: float
    confidence: float


def best_path(probs: np.ndarray) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Characters of the best path with their frame runs.

    Parameters
    ----------
    probs : numpy.ndarray
        (T, C) softmax probabilities of one line's valid frames, blank at ``BLANK``.

    Returns
    -------
    (list of int, numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Class ids as :func:`linerec.model.ctc.greedy_decode` gives them, and per character the first
        and last frame of its run (int, (L,)) and its peak probability (float, (L,)).
    """
    from linerec.model.ctc import path_runs  # (the CTC module loads TensorFlow: only when decoding)

    ids, starts, ends, peaks = path_runs(probs.argmax(axis=1), probs.max(axis=1))
    return ids.tolist(), starts, ends, peaks


def forced_alignment(probs: np.ndarray, ids: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Most likely CTC path that reads ``ids`` (Viterbi): each character's frame run and peak.

    Parameters
    ----------
    probs : numpy.ndarray
        (T, C) softmax probabilities of one line's valid frames.
    ids : list of int
        The labels to align (e.g. a beam search's result).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        First and last frame (int, (L,)) and peak probability of the label over its run (float, (L,)).
        When the labels cannot fit the frames, they are spread evenly with zero peaks.
    """
    n, length = probs.shape[0], len(ids)
    if length == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    ext = np.full(2 * length + 1, BLANK, np.int64)  # blank, c1, blank, c2, ..., blank
    ext[1::2] = ids
    size = ext.size
    logp = np.log(np.maximum(probs[:, ext], 1e-30))  # (T, S)
    skip = np.zeros(size, bool)  # a character may follow the previous character directly
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    score = np.full(size, NEG)
    score[:2] = logp[0, :2]
    back = np.zeros((n, size), np.int8)  # 0 stay, 1 from s - 1, 2 from s - 2
    for t in range(1, n):
        one = np.concatenate([[NEG], score[:-1]])
        two = np.where(skip, np.concatenate([[NEG, NEG], score[:-2]]), NEG)
        choice = np.stack([score, one, two])  # (3, S)
        back[t] = choice.argmax(axis=0)
        score = choice.max(axis=0) + logp[t]
    if max(score[-1], score[-2]) <= NEG / 2:
        edges = np.linspace(0, n, length + 1)
        return edges[:-1].astype(np.int64), np.maximum(edges[1:].astype(np.int64) - 1, 0), np.zeros(length)
    s = size - 1 if score[-1] >= score[-2] else size - 2
    state = np.zeros(n, np.int64)  # (T,)
    for t in range(n - 1, -1, -1):
        state[t] = s
        s -= int(back[t, s])
    starts, ends, peaks = np.zeros(length, np.int64), np.zeros(length, np.int64), np.zeros(length)
    for k in range(length):
        frames = np.flatnonzero(state == 2 * k + 1)
        starts[k], ends[k] = frames[0], frames[-1]
        peaks[k] = probs[frames, ids[k]].max()
    return starts, ends, peaks


def word_spans(
    text: str,
    starts: np.ndarray,
    ends: np.ndarray,
    peaks: np.ndarray,
    frames: int,
    scale: float,
    ink: np.ndarray | None = None,
) -> list[WordSpan]:
    """Cut an aligned line into words with crop column spans and confidences.

    Parameters
    ----------
    text : str
        The line's characters, one per aligned character.
    starts, ends : numpy.ndarray
        (L,) first and last frame of each character's run.
    peaks : numpy.ndarray
        (L,) each character's peak probability.
    frames : int
        Valid frames of the line.
    scale : float
        Crop columns per frame (``TIME_DOWNSAMPLE * crop width / normalized width``).
    ink : numpy.ndarray, optional
        (w,) bool, the crop columns that hold ink: a word is trimmed to the ink inside its span.

    Returns
    -------
    list of WordSpan
        Words (maximal runs of non-space characters) left to right.
    """
    if len(text) != len(starts):
        raise ValueError(f"{len(text)} characters but {len(starts)} aligned runs")
    width = frames * scale if ink is None else float(ink.size)
    # Boundary k lies between character k - 1 and character k (frame units).
    cuts = np.concatenate([[0.0], (ends[:-1] + 1 + starts[1:]) / 2.0, [float(frames)]]) * scale
    cuts = np.clip(cuts, 0.0, width)
    words = []
    k = 0
    while k < len(text):
        if text[k].isspace():
            k += 1
            continue
        j = k
        while j < len(text) and not text[j].isspace():
            j += 1
        x0, x1 = float(cuts[k]), float(cuts[j])
        if ink is not None:
            cols = np.flatnonzero(ink[int(math.floor(x0)) : int(math.ceil(x1))]) + int(math.floor(x0))
            if cols.size:
                x0, x1 = float(max(cols[0], x0)), float(min(cols[-1] + 1, x1))
        words.append(WordSpan(text[k:j], x0, max(x1, x0 + 1.0), float(np.prod(peaks[k:j]))))
        k = j
    return words


def to_page(rect, x0: float, x1: float) -> list[tuple[float, float]]:
    """Page corners of crop columns ``[x0, x1)`` over the full height of a line's rectangle.

    Parameters
    ----------
    rect : tuple
        The line's ``(x, y, w, h, rotation)`` (Label Studio convention; the crop was cut with
        :func:`linerec.vision.crop.crop_line`, which clips an unrotated box to the page).
    x0, x1 : float
        Crop columns.

    Returns
    -------
    list of (float, float)
        Top-left, top-right, bottom-right, bottom-left corners in page pixels.
    """
    x, y, w, h, rotation = (float(v) for v in rect)
    if rotation % 360 == 0:  # crop_line clipped the box at the page's left and top edges
        x, y = max(x, 0.0), max(y, 0.0)
    c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    return [(x + dx * c - dy * s, y + dx * s + dy * c) for dx, dy in ((x0, 0), (x1, 0), (x1, h), (x0, h))]


def ink_columns(crop: np.ndarray) -> np.ndarray:
    """(w,) bool: the columns of a uint8 crop with a pixel darker than the middle of its tones."""
    if not crop.size:
        return np.ones(crop.shape[1], bool)
    counts = np.cumsum(np.bincount(crop[::2, ::2].ravel(), minlength=256))  # (256,) tones at or below
    lo, hi = np.searchsorted(counts, [0.05 * counts[-1], 0.95 * counts[-1]])  # 5th and 95th percentile tones
    if hi - lo < 32:
        return np.ones(crop.shape[1], bool)
    return cast(np.ndarray, (crop < (int(lo) + int(hi)) / 2).any(axis=0))  # 2-d crop: an array, never a scalar
