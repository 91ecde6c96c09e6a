"""Tests for linerec.eval.metrics."""

import random

import pytest

from linerec.eval.metrics import cer, corpus_cer, edit_distance


@pytest.mark.parametrize(
    "a, b, d",
    [("", "", 0), ("abc", "abc", 0), ("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("flaw", "lawn", 2)],
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
    """Textbook full-matrix Levenshtein, to cross-check the library's (rapidfuzz's) distance."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


# Letters of several scripts, combining marks, an emoji outside the BMP, CJK and whitespace.
UNICODE = "ae\u0301\u00df\u00c6\u03a9\u0436\u05d0\u0627\u4e2d\u6587\U0001f600 \t"


def _random_text(rng: random.Random, alphabet: str, longest: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))


@pytest.mark.parametrize("alphabet, longest", [("abc ", 12), (UNICODE, 12), ("ab", 150), (UNICODE, 150)])
def test_edit_distance_matches_reference_on_random_strings(alphabet, longest):
    """Short strings, and strings longer than a 64-bit word (the bit-parallel blocks' boundary)."""
    rng = random.Random(f"{alphabet}{longest}")
    for _ in range(150 if longest < 100 else 25):
        a, b = _random_text(rng, alphabet, longest), _random_text(rng, alphabet, longest)
        assert edit_distance(a, b) == _reference_distance(a, b), (a, b)


@pytest.mark.parametrize("a", ["", "x", "\u4e2d\u6587\U0001f600", "e\u0301"])
def test_edit_distance_with_empty_strings(a):
    assert edit_distance(a, "") == edit_distance("", a) == len(a) == _reference_distance(a, "")


def test_edit_distance_on_id_lists_and_unicode():
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    rng = random.Random(5)
    for _ in range(50):
        a = [rng.randrange(6) for _ in range(rng.randint(0, 20))]
        b = [rng.randrange(6) for _ in range(rng.randint(0, 20))]
        assert edit_distance(a, b) == _reference_distance(a, b)
    assert edit_distance(["one", "two"], ["one", "too"]) == 1  # items compare whole
    assert cer("naïve", "naive") == pytest.approx(1 / 5)
    assert edit_distance("\U0001f600", "\U0001f601") == 1  # one code point, not two UTF-16 units


def test_every_cer_figure_uses_the_same_distance():
    """Page CER (baselines) and the peers' line edits agree with the reference on the same pairs."""
    from linerec.eval.peers import line_edits, norm_line
    from linerec.eval.tesseract import page_cer

    rng = random.Random(11)
    pairs = [(_random_text(rng, UNICODE, 40), _random_text(rng, UNICODE, 40)) for _ in range(30)]
    pairs.append(("", "truth"))
    expected = sum(_reference_distance(p, t) for p, t in pairs)
    assert page_cer(pairs) == pytest.approx(expected / sum(len(t) for _, t in pairs))
    assert corpus_cer([p for p, _ in pairs], [t for _, t in pairs]) == pytest.approx(page_cer(pairs))
    words = [("alpha beta", "alpha beta"), ("gamma", "gamme"), ("", "delta")]
    assert line_edits([p for p, _ in words], [t for _, t in words]) == [
        _reference_distance(norm_line(p), norm_line(t)) for p, t in words
    ]
