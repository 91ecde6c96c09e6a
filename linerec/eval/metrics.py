"""Character error rate (CER) metrics."""

from __future__ import annotations

from typing import Iterable, Sequence


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance (unit-cost insert, delete, substitute).

    Parameters
    ----------
    a, b : sequence
        Strings or lists of comparable items.

    Returns
    -------
    int
        Minimum number of edits turning ``a`` into ``b``.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(pred: str, truth: str) -> float:
    """Character error rate of one line: ``edit_distance / len(truth)``.

    Parameters
    ----------
    pred : str
        Recognized text.
    truth : str
        Ground-truth text.

    Returns
    -------
    float
        0.0 for a perfect match. With an empty ``truth`` it is 0.0 if ``pred``
        is empty too and 1.0 otherwise (any output counts as fully wrong).
        Can exceed 1.0 when ``pred`` is much longer than ``truth``.
    """
    if not truth:
        return 0.0 if not pred else 1.0
    return edit_distance(pred, truth) / len(truth)


def corpus_cer(preds: Iterable[str], truths: Iterable[str]) -> float:
    """Corpus-level CER: total edits divided by total ground-truth characters.

    Parameters
    ----------
    preds : iterable of str
        Recognized texts.
    truths : iterable of str
        Ground-truth texts, same length as ``preds``.

    Returns
    -------
    float
        Sum of edit distances over sum of truth lengths. If all truths are
        empty, 0.0 when no characters were predicted and 1.0 otherwise.

    Raises
    ------
    ValueError
        If the two iterables have different lengths.
    """
    preds, truths = list(preds), list(truths)
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} predictions for {len(truths)} truths")
    edits = sum(edit_distance(p, t) for p, t in zip(preds, truths))
    chars = sum(len(t) for t in truths)
    if chars == 0:
        return 0.0 if edits == 0 else 1.0
    return edits / chars
