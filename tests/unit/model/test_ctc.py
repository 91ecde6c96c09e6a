"""Tests for linerec.model.ctc."""

import numpy as np
import pytest
import tensorflow as tf

from linerec.model.charset import BLANK
from linerec.model.ctc import CONFIDENCE_FLOOR, beam_decode, ctc_feasible, ctc_loss, greedy_decode, path_runs


def _peaked(path, num_classes=5, high=10.0):
    """Logits (1, T, C) whose argmax per frame follows ``path``."""
    logits = np.zeros((1, len(path), num_classes), np.float32)
    for t, k in enumerate(path):
        logits[0, t, k] = high
    return logits


def test_loss_matches_dense_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 12, 6)).astype(np.float32)  # (B, T, C)
    labels = np.array([[1, 2, 3, -1], [4, 4, -1, -1], [5, 1, 2, 3]], np.int32)
    label_len = np.array([3, 2, 4], np.int32)
    logit_len = np.array([12, 9, 10], np.int32)
    ref = tf.nn.ctc_loss(
        np.maximum(labels, 0), logits, label_len, logit_len, logits_time_major=False, blank_index=BLANK
    )
    got = ctc_loss(labels, label_len, logits, logit_len)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-4)


def test_padding_value_does_not_matter():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 8, 4)).astype(np.float32)
    a = ctc_loss([[1, 2, -1, -1]], [2], logits, [8])
    b = ctc_loss([[1, 2, 0, 0]], [2], logits, [8])
    np.testing.assert_allclose(a.numpy(), b.numpy())


def test_confident_correct_alignment_has_low_loss():
    logits = _peaked([1, 0, 2, 2, 0, 3])
    loss = ctc_loss([[1, 2, 3]], [3], logits, [6])
    assert float(loss[0]) < 0.01


def test_infeasible_examples_give_zero_loss_and_finite_grads():
    logits = tf.Variable(np.zeros((2, 3, 4), np.float32))
    labels = np.array([[1, 1, 1], [1, 2, 0]], np.int32)  # "aaa" needs 5 frames; "ab" fits in 3
    np.testing.assert_array_equal(ctc_feasible(labels, [3, 2], [3, 3]).numpy(), [False, True])
    with tf.GradientTape() as tape:
        loss = ctc_loss(labels, [3, 2], logits, [3, 3])
    grads = tape.gradient(loss, logits)
    assert float(loss[0]) == 0.0 and float(loss[1]) > 0.0
    assert np.all(np.isfinite(grads.numpy()))


def test_greedy_collapses_repeats_and_drops_blanks():
    logits = _peaked([1, 1, 0, 1, 2, 2, 0, 3])
    [(ids, conf)] = greedy_decode(logits, [8])
    assert ids == [1, 1, 2, 3]
    assert 0.99 < conf <= 1.0


def test_greedy_respects_lengths_and_batches():
    logits = np.concatenate([_peaked([1, 2, 3, 4]), _peaked([4, 0, 4, 0])])
    out = greedy_decode(logits, [2, 4])
    assert [ids for ids, _ in out] == [[1, 2], [4, 4]]


def test_greedy_confidence_is_the_product_of_character_peaks():
    # frames: "1" (0.9), "1" again (0.7, same run), "2" (0.6), blank
    logits = np.log(
        np.array([[[0.1, 0.9, 0.0001], [0.3, 0.7, 0.0001], [0.2, 0.0001, 0.6], [0.9, 0.05, 0.05]]], np.float32)
    )
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    [(ids, conf)] = greedy_decode(logits, [4])
    assert ids == [1, 2]
    assert conf == pytest.approx(probs[0, 0, 1] * probs[0, 2, 2], rel=1e-5)  # "1" peaks at its best frame
    # one weaker character lowers the line's confidence
    weaker = logits.copy()
    weaker[0, 2] = np.log([0.45, 0.0001, 0.55])
    assert greedy_decode(weaker, [4])[0][1] < conf
    # so does one more sure character: a longer line has more ways to be wrong
    longer = np.concatenate([logits, np.log(np.array([[[0.05, 0.0001, 0.95]]], np.float32))], axis=1)
    [(ids, conf_longer)] = greedy_decode(longer, [5])
    assert ids == [1, 2, 2] and conf_longer == pytest.approx(conf * 0.95 / (0.05 + 0.0001 + 0.95), rel=1e-4)
    # a long line of doubtful characters stops at the floor (a float Postgres real columns can hold)
    pair = np.array([[0.3, 0.4, 0.3], [0.3, 0.3, 0.4]], np.float32)  # "1" then "2", each at 0.4
    doubtful = np.log(np.tile(pair, (100, 1)))[None]  # (1, 200, 3): 200 characters of peak 0.4
    [(ids, low)] = greedy_decode(doubtful, [200])
    assert len(ids) == 200 and low == CONFIDENCE_FLOOR


def test_path_runs_match_a_frame_by_frame_walk():
    rng = np.random.default_rng(3)
    for length in (0, 1, 2, 7, 60):
        path = rng.choice([BLANK, BLANK, 1, 2, 3], size=length)  # blanks, repeats and direct changes
        prob = rng.random(length)
        want_ids, want_starts, want_ends, want_peaks, prev = [], [], [], [], BLANK
        for t, (cls, p) in enumerate(zip(path.tolist(), prob.tolist())):
            if cls != BLANK and cls == prev:
                want_ends[-1], want_peaks[-1] = t, max(want_peaks[-1], p)
            elif cls != BLANK:
                want_ids.append(cls), want_starts.append(t), want_ends.append(t), want_peaks.append(p)
            prev = cls
        ids, starts, ends, peaks = path_runs(path, prob)
        assert ids.tolist() == want_ids and starts.tolist() == want_starts and ends.tolist() == want_ends
        np.testing.assert_allclose(peaks, want_peaks)


def test_greedy_empty_output():
    [(ids, conf)] = greedy_decode(_peaked([0, 0, 0]), [3])
    assert ids == [] and conf > 0.99
    [(ids, conf)] = greedy_decode(_peaked([1, 2]), [0])
    assert ids == [] and conf == 0.0
    # Blank wins every frame, but one frame nearly holds a character: that frame decides.
    logits = _peaked([0, 0, 0, 0], high=4.0)
    logits[0, 2, 1] = 3.9
    [(ids, conf)] = greedy_decode(logits, [4])
    probs = np.exp(logits[0, 2]) / np.exp(logits[0, 2]).sum()
    assert ids == [] and conf == pytest.approx(probs[0], rel=1e-5) and conf < 0.6  # the mean would be ~0.87


def test_beam_agrees_with_greedy_on_peaked_logits():
    logits = np.concatenate([_peaked([1, 1, 0, 1, 2, 0]), _peaked([3, 0, 0, 0, 0, 4])])
    beams = beam_decode(logits, [6, 6], beam_width=4)
    greedy = greedy_decode(logits, [6, 6])
    assert [b[0] for b in beams] == [g[0] for g in greedy] == [[1, 1, 2], [3, 4]]
    assert all(0.9 < p <= 1.0 for _, p in beams)


def test_empty_label_scores_the_all_blank_path():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 5, 4)).astype(np.float32)
    loss = ctc_loss([[-1, -1], [2, -1]], [0, 1], logits, [4, 5])
    logp = tf.nn.log_softmax(logits).numpy()
    assert float(loss[0]) == pytest.approx(-logp[0, :4, BLANK].sum(), rel=1e-5)
    ref = tf.nn.ctc_loss([[2]], logits[1:], [1], [5], logits_time_major=False, blank_index=BLANK)
    assert float(loss[1]) == pytest.approx(float(ref[0]), rel=1e-4)


def test_case_fold_matrix_maps_lower_to_upper_only():
    from linerec.model.ctc import case_fold_matrix

    fold = case_fold_matrix("aAb1")  # classes: blank, a, A, b, 1
    assert fold.shape == (5, 5)
    assert fold[1].tolist() == [0, 0, 1, 0, 0]  # a -> A
    assert fold[3].tolist() == [0, 0, 0, 1, 0]  # b has no upper case in the charset: itself
    assert fold[0, 0] == fold[2, 2] == fold[4, 4] == 1
    assert fold.sum() == 5


def test_case_folded_loss_forgives_case_only_where_flagged():
    from linerec.model.ctc import case_fold_matrix, case_folded_loss

    chars = "aAbB"  # classes: blank 0, a 1, A 2, b 3, B 4
    logits = np.concatenate([_peaked([1, 0, 3, 0], 5)] * 2)  # both rows read "ab"
    labels = np.array([[2, 4], [2, 4]], np.int32)  # truth "AB"
    loss = case_folded_loss(labels, [2, 2], logits, [4, 4], [1, 0], case_fold_matrix(chars)).numpy()
    assert loss[0] < 0.01  # folded: "ab" is "AB"
    assert loss[1] > 10  # not folded: wrong case costs
    exact = ctc_loss(labels, [2, 2], _peaked([2, 0, 4, 0], 5).repeat(2, 0), [4, 4]).numpy()
    folded_exact = case_folded_loss(
        labels, [2, 2], _peaked([2, 0, 4, 0], 5).repeat(2, 0), [4, 4], [1, 0], case_fold_matrix(chars)
    ).numpy()
    assert folded_exact[0] <= exact[0] + 1e-6  # right case: folding only adds the other case's mass
    np.testing.assert_allclose(folded_exact[1], exact[1], rtol=1e-5)  # unflagged rows are plain CTC
