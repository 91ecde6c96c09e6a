"""Tests for linerec.metrics."""

import pytest

from linerec.metrics import cer, corpus_cer, edit_distance


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
