"""The ONNX translation of the CRNN computes what the Keras model computes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from linerec.model.crnn import build_crnn, logit_lengths, resolve_hparams
from linerec.model.onnx_runtime import OnnxForward, crnn_to_onnx
from linerec.model.preprocessing import LineConfig
from linerec.model.recognizer import Recognizer, save_model_dir


def _randomize_batchnorm(model, rng) -> None:
    """Give every BatchNormalization non-trivial statistics, as training would."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.5, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.2, 3.0, n).astype(np.float32))
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.beta.assign(rng.normal(0, 0.3, n).astype(np.float32))


def _saved_model(folder, seed: int, max_width: int, **hparams) -> np.random.Generator:
    """Save a seeded CRNN with trained-looking BN statistics to ``folder``; the generator used."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = LineConfig(max_width=max_width)
    hp = resolve_hparams(**hparams)
    model = build_crnn(cfg, **hp)
    _randomize_batchnorm(model, rng)
    save_model_dir(model, cfg, hp, folder, f"test-{seed}")
    return rng


def _batch(rng, widths: list[int], pad_to: int) -> tuple[np.ndarray, np.ndarray]:
    """Random lines zero-padded on the right, as ``Recognizer.recognize`` pads them."""
    images = np.zeros((len(widths), 32, pad_to, 1), np.float32)
    for i, w in enumerate(widths):
        images[i, :, :w] = rng.uniform(0, 1, (32, w, 1))
    return images, np.array(widths, np.int32)


@pytest.mark.parametrize(
    "hp",
    [
        {"filters": (8, 16, 16, 24), "lstm_units": 16, "lstm_layers": 2, "mask_padding": True},
        {"filters": (8, 8, 16, 16), "lstm_units": 12, "lstm_layers": 1, "mask_padding": False},
        {"filters": (4, 8, 8, 8), "lstm_units": 8, "lstm_layers": 3, "mask_padding": True},
    ],
)
def test_logits_match_keras_on_valid_frames(hp):
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    cfg = LineConfig(max_width=256)
    model = build_crnn(cfg, **hp)
    _randomize_batchnorm(model, rng)
    images, widths = _batch(rng, [160, 97, 8, 153], pad_to=160)
    expected = model([images, widths], training=False).numpy()  # (B, T, C)
    got = OnnxForward(model, cfg.height, threads=1)(images, widths)
    assert got.shape == expected.shape
    frames = logit_lengths(widths) if hp["mask_padding"] else np.full(len(widths), expected.shape[1])
    for i, n in enumerate(frames):
        np.testing.assert_allclose(got[i, :n], expected[i, :n], atol=2e-4, rtol=1e-4)


def test_recognizer_runtimes_read_the_same(tmp_path):
    rng = _saved_model(tmp_path, 6, max_width=512, filters=(8, 16, 16, 16), lstm_units=16, lstm_layers=2)
    crops = [rng.integers(0, 256, (rng.integers(20, 50), rng.integers(30, 600)), dtype=np.uint8) for _ in range(9)]
    onnx_rec = Recognizer.load(tmp_path, batch_size=4, runtime="onnx")
    tf_rec = Recognizer.load(tmp_path, batch_size=4, runtime="tensorflow")
    assert (onnx_rec.runtime, tf_rec.runtime) == ("onnx", "tensorflow")
    got, expected = onnx_rec.recognize(crops), tf_rec.recognize(crops)
    assert [t for t, _ in got] == [t for t, _ in expected]
    np.testing.assert_allclose([c for _, c in got], [c for _, c in expected], atol=1e-4)


@pytest.mark.parametrize("runtime", ["onnx", "tensorflow"])
def test_a_line_reads_the_same_in_any_batch(tmp_path, runtime):
    rng = _saved_model(tmp_path, 7, max_width=1024, filters=(8, 8, 16, 16), lstm_units=8, lstm_layers=1)
    rec = Recognizer.load(tmp_path, batch_size=8, runtime=runtime)
    line = rng.integers(0, 256, (32, 400), dtype=np.uint8)  # as wide as any chunk it lands in
    others = [rng.integers(0, 256, (32, w), dtype=np.uint8) for w in (90, 399, 401, 1100)]
    alone = rec.recognize([line])[0]
    assert all(rec.recognize([line, other])[0] == alone for other in others)
    assert rec.recognize(others + [line])[-1] == alone


def test_default_runtime_follows_the_environment(tmp_path, monkeypatch):
    cfg = LineConfig(max_width=256)
    hp = resolve_hparams(filters=(4, 4, 4, 4), lstm_units=4, lstm_layers=1)
    save_model_dir(build_crnn(cfg, **hp), cfg, hp, tmp_path, "env-check")
    monkeypatch.delenv("LINEREC_INFERENCE_RUNTIME", raising=False)
    assert Recognizer.load(tmp_path).runtime == "onnx"
    monkeypatch.setenv("LINEREC_INFERENCE_RUNTIME", "tensorflow")
    assert Recognizer.load(tmp_path).runtime == "tensorflow"
    monkeypatch.setenv("LINEREC_INFERENCE_RUNTIME", "torch")
    with pytest.raises(ValueError, match="runtime must be one of"):
        Recognizer.load(tmp_path)


def test_unknown_layers_are_refused():
    cfg = LineConfig(max_width=256)
    model = build_crnn(cfg, lstm_units=4, filters=(4, 4, 4, 4))
    extra = keras.layers.Dense(3, name="extra_head")(model.output)
    with pytest.raises(ValueError, match="extra_head"):
        crnn_to_onnx(keras.Model(model.inputs, extra), cfg.height)
