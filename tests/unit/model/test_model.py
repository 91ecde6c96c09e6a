"""Tests for linerec.model.crnn, training a tiny batch end to end, and inference."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont

from linerec.eval.metrics import corpus_cer
from linerec.model.crnn import TIME_DOWNSAMPLE, build_crnn, logit_lengths, resolve_hparams
from linerec.model.ctc import ctc_loss, greedy_decode
from linerec.model.preprocessing import LineConfig, batch_lines
from linerec.model.recognizer import Recognizer, save_model_dir

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TEXTS = ["hello world", "Line 42", "CTC test.", "quick fox", "A-Z 0-9", "zebra jumps"]


def render(text, size=22):
    """Dark text on white paper as a uint8 crop (h, w)."""
    font = ImageFont.truetype(FONT, size)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (right - left + 8, size + 10), 255)
    ImageDraw.Draw(img).text((4 - left, 4), text, font=font, fill=0)
    return np.asarray(img)


def test_shapes_and_param_budget():
    cfg = LineConfig()
    model = build_crnn(cfg)
    assert TIME_DOWNSAMPLE == 4
    assert model.count_params() <= 1_000_000
    out = model([np.zeros((2, 32, 512, 1), np.float32), np.array([512, 100], np.int32)])
    assert out.shape == (2, 512 // TIME_DOWNSAMPLE, cfg.charset.size)
    assert logit_lengths(np.array([1, 4, 5, 512])).tolist() == [1, 1, 2, 128]


def test_hparams_validation():
    assert resolve_hparams(lstm_units=64)["lstm_units"] == 64
    with pytest.raises(ValueError):
        resolve_hparams(bogus=1)
    with pytest.raises(ValueError):
        build_crnn(LineConfig(max_width=130))


def test_overfits_one_batch_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    cfg = LineConfig(max_width=256, max_label_len=16)
    crops = [render(t) for t in TEXTS]
    images, widths = batch_lines(crops, cfg)  # (B, 32, 256, 1), (B,)
    labels = np.full((len(TEXTS), cfg.max_label_len), -1, np.int32)
    for i, t in enumerate(TEXTS):
        labels[i, : len(t)] = cfg.charset.encode(t)
    label_len = np.array([len(t) for t in TEXTS], np.int32)
    model = build_crnn(cfg, dropout=0.0)
    opt = keras.optimizers.Adam(3e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = model([images, widths], training=True)
            loss = tf.reduce_mean(ctc_loss(labels, label_len, logits, logit_lengths(widths)))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    start = time.perf_counter()
    first = float(step())
    for _ in range(250):
        loss = float(step())
        if loss < 0.05:
            break
    elapsed = time.perf_counter() - start
    print(f"overfit: loss {first:.2f} -> {loss:.4f} in {i + 2} steps, {elapsed:.1f}s")
    assert loss < 0.5

    logits = model([images, widths], training=False).numpy()
    preds = [cfg.charset.decode(ids) for ids, _ in greedy_decode(logits, logit_lengths(widths))]
    assert corpus_cer(preds, TEXTS) < 0.1, preds

    # The saved directory reloads into a Recognizer that reads the raw crops the same way.
    save_model_dir(model, cfg, resolve_hparams(dropout=0.0), tmp_path, "test-v1")
    rec = Recognizer.load(tmp_path, batch_size=4)
    assert rec.model_version == "test-v1"
    results = rec.recognize(crops + [np.zeros((0, 0), np.uint8)])
    assert results[-1] == ("", 0.0)
    assert corpus_cer([t for t, _ in results[:-1]], TEXTS) < 0.1
    assert all(0.0 <= c <= 1.0 for _, c in results)


def test_output_does_not_depend_on_batch_padding():
    keras.utils.set_random_seed(1)
    cfg = LineConfig(max_width=512)
    model = build_crnn(cfg)
    image, width = batch_lines([render("short")], cfg)  # (1, 32, 512, 1)
    narrow = model([image[:, :, :96], width], training=False).numpy()  # (1, 24, C)
    wide = model([image, width], training=False).numpy()  # (1, 128, C)
    valid = int(logit_lengths(width)[0])
    np.testing.assert_allclose(narrow[0, :valid], wide[0, :valid], atol=1e-5)


def test_warm_start_across_charsets_carries_shared_classes():
    from linerec.model.charset import Charset
    from linerec.training.train import transfer_weights

    old_cfg = LineConfig(charset=Charset("abc"))
    new_cfg = LineConfig(charset=Charset("axbc"))  # "x" is new; b and c move one class up
    keras.utils.set_random_seed(1)
    old, new = (
        build_crnn(old_cfg, lstm_units=16, filters=(8, 8, 8, 8)),
        build_crnn(new_cfg, lstm_units=16, filters=(8, 8, 8, 8)),
    )
    transfer_weights(new, old, new_cfg, old_cfg)
    for layer in new.layers:
        if layer.name != "logits":
            for got, want in zip(layer.get_weights(), old.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(got, want)
    (k_new, b_new), (k_old, b_old) = new.get_layer("logits").get_weights(), old.get_layer("logits").get_weights()
    for new_id, old_id in ((0, 0), (1, 1), (3, 2), (4, 3)):  # blank, a, b, c
        np.testing.assert_array_equal(k_new[:, new_id], k_old[:, old_id])
        assert b_new[new_id] == b_old[old_id]
    assert b_new[2] < np.median(b_old[1:])  # the new class starts below the shared ones
    x = np.random.default_rng(0).random((1, 32, 64, 1)).astype(np.float32)
    out_old, out_new = old([x, np.array([64])]), new([x, np.array([64])])
    np.testing.assert_allclose(out_new.numpy()[..., [0, 1, 3, 4]], out_old.numpy(), rtol=1e-5, atol=1e-5)


def test_passes_bound_lines_and_padded_columns():
    from linerec.model.recognizer import EDGE_PAD, PASS_COLUMNS

    cfg = LineConfig(x_scale=1.0)  # 32 px crops keep their width
    rec = Recognizer(build_crnn(cfg), cfg, batch_size=8)
    lines = [np.zeros((32, w), np.uint8) for w in [40] * 10 + [2000] * 60]
    passes = list(rec._passes(lines, list(range(len(lines)))))
    assert [i for idx, _ in passes for i in idx] == list(range(len(lines)))  # every line once, in order
    for idx, pad in passes:
        assert len(idx) <= 8 and len(idx) * pad <= max(PASS_COLUMNS, pad)
        assert pad % 8 == 0 and pad >= max(lines[i].shape[1] for i in idx) + EDGE_PAD
    assert [len(idx) for idx, _ in passes] == [8] * 8 + [6]  # within the column budget: batch_size lines
    rec.batch_size = 128
    wide = [len(idx) for idx, _ in rec._passes(lines, list(range(10, 70)))]
    assert wide == [48, 12] and 48 * 2016 <= PASS_COLUMNS < 49 * 2016  # the column budget, not the batch size
