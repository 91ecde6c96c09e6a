"""CTC loss and decoding helpers.

Logits are batch-major, shape (B, T, C), with class ``BLANK`` (0) the CTC
blank, as produced by :func:`linerec.model.crnn.build_crnn`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from linerec.model.charset import BLANK


def ctc_loss(labels, label_length, logits, logit_length) -> tf.Tensor:
    """Per-example CTC negative log-likelihood.

    Parameters
    ----------
    labels : tf.Tensor
        int32 (B, L) dense labels in ``1..C-1``; padding (any value <= 0)
        beyond ``label_length`` is ignored.
    label_length : tf.Tensor
        int32 (B,) true number of characters per example.
    logits : tf.Tensor
        float32 (B, T, C) unnormalized scores.
    logit_length : tf.Tensor
        int32 (B,) valid time steps per example (``ceil(width / 4)``).

    Returns
    -------
    tf.Tensor
        float32 (B,) losses. An empty label (length 0, e.g. a blank line) is
        scored as the all-blank path. An example whose label cannot be aligned
        in its ``logit_length`` frames (too many characters, counting the blank
        needed between repeated characters) contributes 0 loss and 0 gradient
        instead of inf/NaN; see :func:`ctc_feasible`.
    """
    labels = tf.maximum(tf.cast(labels, tf.int32), 0)  # (B, L), -1 padding -> 0
    label_length = tf.cast(label_length, tf.int32)  # (B,)
    logit_length = tf.cast(logit_length, tf.int32)  # (B,)
    logits = tf.cast(logits, tf.float32)  # (B, T, C)
    feasible = ctc_feasible(labels, label_length, logit_length)  # (B,) bool
    regular = tf.logical_and(feasible, label_length > 0)  # (B,)
    # TF's C++ CTC kernel (selected by sparse labels; far faster than the dense
    # pure-TF path) rejects empty labels, so every non-regular row gets a dummy
    # one-character label here and its loss is replaced below.
    safe_length = tf.where(regular, label_length, tf.ones_like(label_length))  # (B,)
    safe_labels = tf.where(regular[:, None], labels, tf.ones_like(labels))  # (B, L)
    indices = tf.where(tf.sequence_mask(safe_length, tf.shape(labels)[1]))  # (N, 2)
    sparse = tf.SparseTensor(indices, tf.gather_nd(safe_labels, indices), tf.shape(labels, out_type=tf.int64))
    loss = tf.nn.ctc_loss(
        labels=sparse,
        logits=logits,
        label_length=None,
        logit_length=tf.maximum(logit_length, 1),
        logits_time_major=False,
        blank_index=BLANK,
    )  # (B,)
    # Empty label: the only alignment is all blanks, -sum_t log p_t(blank).
    frames = tf.sequence_mask(logit_length, tf.shape(logits)[1], dtype=tf.float32)  # (B, T)
    blank_logp = tf.nn.log_softmax(logits)[..., BLANK]  # (B, T)
    empty_loss = -tf.reduce_sum(blank_logp * frames, axis=1)  # (B,)
    loss = tf.where(label_length > 0, loss, empty_loss)
    return tf.where(feasible, loss, tf.zeros_like(loss))


def ctc_feasible(labels, label_length, logit_length) -> tf.Tensor:
    """Whether each label fits its frames: ``len + repeats <= logit_length``.

    Parameters
    ----------
    labels : tf.Tensor
        int32 (B, L) dense labels.
    label_length : tf.Tensor
        int32 (B,) true label lengths.
    logit_length : tf.Tensor
        int32 (B,) valid frames.

    Returns
    -------
    tf.Tensor
        bool (B,).
    """
    labels = tf.cast(labels, tf.int32)
    valid = tf.sequence_mask(label_length, tf.shape(labels)[1])  # (B, L)
    same = tf.logical_and(tf.equal(labels[:, 1:], labels[:, :-1]), valid[:, 1:])  # (B, L-1)
    repeats = tf.reduce_sum(tf.cast(same, tf.int32), axis=1)  # (B,)
    return label_length + repeats <= tf.cast(logit_length, tf.int32)


#: Lowest line confidence reported: a product of many small peaks would underflow what
#: Postgres ``real`` columns hold (about 1e-37), so it stops here.
CONFIDENCE_FLOOR = 1e-30


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def path_runs(path: np.ndarray, path_p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse a best path into its characters' runs.

    Parameters
    ----------
    path : numpy.ndarray
        (T,) int, the argmax class of each frame.
    path_p : numpy.ndarray
        (T,) float, its probability.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Per emitted character (a maximal run of one non-blank class): its class id, first and
        last frame (int64, (L,)) and peak probability over the run (float64, (L,)).
    """
    path = np.asarray(path)
    if path.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, np.zeros(0)
    run_start = np.flatnonzero(np.concatenate([[True], path[1:] != path[:-1]]))  # (R,)
    run_end = np.append(run_start[1:], path.size) - 1
    peak = np.maximum.reduceat(np.asarray(path_p, np.float64), run_start)
    keep = path[run_start] != BLANK
    return (
        path[run_start][keep].astype(np.int64),
        run_start[keep].astype(np.int64),
        run_end[keep].astype(np.int64),
        peak[keep],
    )


def greedy_runs(logits: np.ndarray, logit_lengths: Sequence[int]) -> list[tuple[list[int], float, tuple]]:
    """Best-path decoding with each character's frame run: what :func:`greedy_decode` gives, plus
    ``(starts, ends, peaks)`` per example from :func:`path_runs` (word placement uses them)."""
    logits = np.asarray(logits, dtype=np.float32)
    probs = _softmax(logits)  # (B, T, C)
    best = probs.argmax(axis=-1)  # (B, T)
    best_p = probs.max(axis=-1)  # (B, T)
    results = []
    for i, n in enumerate(logit_lengths):
        n = int(min(max(int(n), 0), logits.shape[1]))
        ids, starts, ends, peaks = path_runs(best[i, :n], best_p[i, :n])
        if ids.size:
            conf = max(float(np.prod(peaks)), CONFIDENCE_FLOOR)
        elif n > 0:
            conf = float(probs[i, :n, BLANK].min())
        else:
            conf = 0.0
        results.append((ids.tolist(), conf, (starts, ends, peaks)))
    return results


def greedy_decode(logits: np.ndarray, logit_lengths: Sequence[int]) -> list[tuple[list[int], float]]:
    """Best-path CTC decoding.

    Takes the argmax class per frame over the first ``logit_lengths[i]``
    frames, collapses repeated classes and drops blanks.

    Parameters
    ----------
    logits : np.ndarray
        float (B, T, C) unnormalized scores (softmax is applied here).
    logit_lengths : sequence of int
        (B,) number of valid frames per example.

    Returns
    -------
    list of (list of int, float)
        Per example: the decoded class ids (``1..C-1``) and a confidence in
        [0, 1]: the PRODUCT, over the emitted characters, of each character's
        peak softmax probability (the max over the frames of its run), i.e. the
        chance that every character is right if each were right with its own
        peak probability. One doubtful character makes the whole line doubtful,
        and a long line of fairly sure characters is less sure than a short one:
        ranked by it, the least confident lines hold more of the character
        errors than ranked by the weakest character alone (``make
        bench-quality``). It is never below :data:`CONFIDENCE_FLOOR`. For an
        empty result it is the LOWEST blank
        probability over the valid frames (the frame most likely to hold a
        character decides how sure the model is that the line is empty), and
        0.0 if there are no valid frames.
    """
    return [(ids, conf) for ids, conf, _ in greedy_runs(logits, logit_lengths)]


def beam_decode(
    logits: np.ndarray, logit_lengths: Sequence[int], beam_width: int = 10
) -> list[tuple[list[int], float]]:
    """Beam-search CTC decoding with ``tf.nn.ctc_beam_search_decoder``.

    Parameters
    ----------
    logits : np.ndarray
        float (B, T, C) unnormalized scores, blank at index ``BLANK``.
    logit_lengths : sequence of int
        (B,) valid frames per example.
    beam_width : int
        Beam size.

    Returns
    -------
    list of (list of int, float)
        Per example: the best path's class ids and its probability
        ``exp(log_prob)`` (the probability of the whole labelling, a product).
    """
    logits = tf.convert_to_tensor(np.asarray(logits, dtype=np.float32))  # (B, T, C)
    # TF's decoder expects the blank as the LAST class: rotate classes left.
    rotated = tf.concat([logits[..., BLANK + 1 :], logits[..., : BLANK + 1]], axis=-1)
    time_major = tf.transpose(tf.nn.log_softmax(rotated), [1, 0, 2])  # (T, B, C)
    decoded, log_probs = tf.nn.ctc_beam_search_decoder(
        time_major, tf.constant(list(logit_lengths), tf.int32), beam_width=beam_width, top_paths=1
    )
    dense = tf.sparse.to_dense(decoded[0], default_value=-1).numpy()  # (B, L)
    results = []
    for i in range(dense.shape[0]):
        ids = [int(k) + BLANK + 1 for k in dense[i] if k >= 0]
        results.append((ids, float(np.exp(log_probs[i, 0].numpy()))))
    return results


def case_fold_matrix(chars: str) -> np.ndarray:
    """(C, C) 0/1 matrix adding each lower-case letter's class to its upper-case one.

    Parameters
    ----------
    chars : str
        The charset's characters (class ``i + 1`` is ``chars[i]``; class 0 is the blank).

    Returns
    -------
    np.ndarray
        float32 (C, C) with ``C = len(chars) + 1``: row ``a`` has its 1 in column ``A`` when both
        cases are in the charset, every other class maps to itself.
    """
    index = {ch: i + 1 for i, ch in enumerate(chars)}
    size = len(chars) + 1
    fold = np.eye(size, dtype=np.float32)
    for ch, i in index.items():
        upper = ch.upper()
        if upper != ch and len(upper) == 1 and upper in index:
            fold[i, i] = 0.0
            fold[i, index[upper]] = 1.0
    return fold


def case_folded_loss(labels, label_length, logits, logit_length, folded, fold_matrix) -> tf.Tensor:
    """Per-example CTC loss, case-insensitive for the examples flagged ``folded``.

    A flagged example's transcription is upper-cased whatever the print's case (e.g. receipt
    ground truth): its frame probabilities of each lower-case letter are added to the upper-case
    one's before CTC, so reading ``a`` where the truth says ``A`` costs nothing, and the model
    learns case from the other examples only.

    Parameters
    ----------
    labels, label_length, logits, logit_length
        As for :func:`ctc_loss`; a flagged example's labels are upper-case.
    folded : tf.Tensor
        int32 or bool (B,): which examples are case-folded.
    fold_matrix : np.ndarray or tf.Tensor
        float32 (C, C) from :func:`case_fold_matrix`.

    Returns
    -------
    tf.Tensor
        float32 (B,) losses.
    """
    logits = tf.cast(logits, tf.float32)  # (B, T, C)
    probs = tf.nn.softmax(logits)  # (B, T, C)
    merged = tf.einsum("btc,cd->btd", probs, tf.constant(fold_matrix, tf.float32))  # (B, T, C)
    # Log-probabilities are valid logits (ctc_loss's softmax leaves them unchanged); a folded-away
    # class gets log(1e-30), i.e. never chosen.
    folded_logits = tf.math.log(tf.maximum(merged, 1e-30))  # (B, T, C)
    flag = tf.cast(folded, tf.bool)[:, None, None]  # (B, 1, 1)
    return ctc_loss(labels, label_length, tf.where(flag, folded_logits, logits), logit_length)
