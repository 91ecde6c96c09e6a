"""Tests for linerec.eval.metrics."""

import random

import pytest

from linerec.eval.metrics import cer, corpus_cer, edit_distance


@pytest.mark.parametrize(
    "a, b, d",
    [("", "", 0), ("abc", "abc", 0), ("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3),
     ("flaw", "lawn", 2)],
)
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d
    assert edit_distance(b, a) == d


def test_cer():
    assert cer("abc", "abc") == 0.0
    assert cer("abd", "abc") == pytest.approx(1 / 3)
    assert cer("", "abcd") == 1.0
    assert cer("abcdef", "ab") == 2.0


def test_cer_empty_truth():
    assert cer("", "") == 0.0
    assert cer("x", "") == 1.0


def test_corpus_cer_weights_by_length():
    # 1 edit over 2 chars + 0 edits over 8 chars = 1 / 10
    assert corpus_cer(["ax", "abcdefgh"], ["ab", "abcdefgh"]) == pytest.approx(0.1)
    assert corpus_cer([], []) == 0.0
    assert corpus_cer(["a"], [""]) == 1.0
    with pytest.raises(ValueError):
        corpus_cer(["a"], [])


def _reference_distance(a, b):
    """Textbook full-matrix Levenshtein, to cross-check the two-row version."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


def test_edit_distance_matches_reference_on_random_strings():
    rng = random.Random(0)
    for _ in range(200):
        a = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 12)))
        b = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 12)))
        assert edit_distance(a, b) == _reference_distance(a, b)


def test_edit_distance_on_id_lists_and_unicode():
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert cer("naïve", "naive") == pytest.approx(1 / 5)
