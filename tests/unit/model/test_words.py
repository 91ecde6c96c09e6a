"""Word spans from CTC alignments (linerec.model.words), on hand-made frame probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from linerec.model.words import best_path, forced_alignment, ink_columns, to_page, word_spans


def _probs(path: list[int], classes: int = 6, peak: float = 0.9) -> np.ndarray:
    """(T, C) probabilities whose argmax follows ``path``."""
    probs = np.full((len(path), classes), (1 - peak) / (classes - 1))
    probs[np.arange(len(path)), path] = peak
    return probs


def test_best_path_runs_and_peaks():
    probs = _probs([0, 1, 1, 0, 2, 0, 0, 2, 3, 3])
    probs[2, 1] = 0.95
    ids, starts, ends, peaks = best_path(probs)
    assert ids == [1, 2, 2, 3]
    assert starts.tolist() == [1, 4, 7, 8] and ends.tolist() == [2, 4, 7, 9]
    assert peaks[0] == pytest.approx(0.95)


def test_forced_alignment_agrees_with_the_best_path_and_places_other_labels():
    path = [0, 1, 1, 0, 2, 0, 0, 2, 3, 3, 0]
    probs = _probs(path)
    starts, ends, _ = forced_alignment(probs, [1, 2, 2, 3])
    assert starts.tolist() == [1, 4, 7, 8] and ends.tolist() == [2, 4, 7, 9]
    starts, ends, peaks = forced_alignment(probs, [1, 4, 3])  # 4 is never the argmax
    assert starts[0] == 1 and ends[-1] >= 8 and starts.tolist() == sorted(starts.tolist())
    assert peaks[1] < 0.1
    starts, ends, peaks = forced_alignment(_probs([0, 1]), [1, 1, 1])  # cannot fit 2 frames
    assert len(starts) == 3 and not peaks.any()


def test_word_spans_split_at_spaces_and_trim_to_ink():
    text = "ab cd"
    starts, ends = np.array([2, 4, 7, 10, 12]), np.array([2, 4, 7, 10, 12])
    peaks = np.array([0.9, 0.8, 0.99, 0.5, 1.0])
    words = word_spans(text, starts, ends, peaks, frames=16, scale=4.0)
    assert [w.text for w in words] == ["ab", "cd"]
    assert words[0].x0 == 0 and words[0].x1 == pytest.approx((4 + 1 + 7) / 2 * 4)
    assert words[1].x0 == pytest.approx((7 + 1 + 10) / 2 * 4) and words[1].x1 == 64
    assert words[0].confidence == pytest.approx(0.72) and words[1].confidence == pytest.approx(0.5)
    ink = np.zeros(64, bool)
    ink[6:20] = ink[40:52] = True
    trimmed = word_spans(text, starts, ends, peaks, frames=16, scale=4.0, ink=ink)
    assert [(w.x0, w.x1) for w in trimmed] == [(6, 20), (40, 52)]
    with pytest.raises(ValueError):
        word_spans("abc", starts, ends, peaks, 16, 4.0)


def test_to_page_follows_the_rotated_rectangle():
    corners = to_page((100, 50, 400, 30, 90.0), 10, 20)  # turned a quarter clockwise: x goes down
    assert np.allclose(corners, [(100, 60), (100, 70), (70, 70), (70, 60)])
    assert np.allclose(to_page((-5, 10, 100, 20, 0.0), 0, 10), [(0, 10), (10, 10), (10, 30), (0, 30)])


def test_ink_columns():
    crop = np.full((10, 30), 230, np.uint8)
    crop[2:8, 5:9] = 20
    assert np.flatnonzero(ink_columns(crop)).tolist() == [5, 6, 7, 8]
    assert ink_columns(np.full((10, 30), 200, np.uint8)).all()  # no contrast: no trimming
