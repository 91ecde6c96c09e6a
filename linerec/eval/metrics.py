"""Character error rate (CER) metrics, on the one edit distance every CER figure of linerec uses.

:func:`edit_distance` is rapidfuzz's Levenshtein distance (unit-cost insert, delete, substitute;
bit-parallel, in C): page-length strings cost microseconds, so line, page and corpus CERs, the
evaluation reports and the benchmarks all call it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from rapidfuzz.distance import Levenshtein


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance (unit-cost insert, delete, substitute).

    Parameters
    ----------
    a, b : sequence
        Strings, or lists of hashable items (word ids, say).

    Returns
    -------
    int
        Minimum number of edits turning ``a`` into ``b``.
    """
    return Levenshtein.distance(a, b)


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
