"""Load a trained model directory and recognize line crops.

A model directory holds ``model.weights.h5`` (Keras 3 weights) and
``config.json`` (``line_config``, ``hparams``, ``model_version``, ...); the
model is rebuilt with :func:`linerec.model.crnn.build_crnn` and the weights
loaded into it, which reloads reliably across processes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from linerec.infra.config import get_settings
from linerec.model.crnn import TIME_DOWNSAMPLE, build_crnn, logit_lengths
from linerec.model.ctc import beam_decode, greedy_decode, greedy_runs
from linerec.model.preprocessing import LineConfig, line_width, normalize_line, prepare_line

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.weights.h5"
CONFIG_FILE = "config.json"
BEAM_WIDTH = 10
#: Zero columns every line gets at least, past the CNN's reach beyond a line's last frame (12
#: columns): the convolutions then see the same padding around a line whatever the widest line
#: of its batch, so its text and confidence do not depend on the batch it was read in.
EDGE_PAD = 16
#: What can run a loaded model: ONNX Runtime (default) or TensorFlow.
RUNTIMES = ("onnx", "tensorflow")
DEFAULT_RUNTIME = "onnx"
#: Most padded columns one forward pass holds (lines x padded width): passes of short lines take
#: ``batch_size`` lines, passes of the widest lines fewer, so the memory a pass needs (and the
#: runtime's arena, which keeps its largest size) stays bounded whatever the lines' widths.
PASS_COLUMNS = 128 * 768


def save_model_dir(
    model: keras.Model,
    cfg: LineConfig,
    hparams: dict,
    out_dir: Path,
    model_version: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model.weights.h5`` and ``config.json`` into ``out_dir``.

    Parameters
    ----------
    model : keras.Model
        Model built by ``build_crnn(cfg, **hparams)``.
    cfg : LineConfig
        Its line configuration.
    hparams : dict
        Its hyper-parameters (as returned by ``resolve_hparams``).
    out_dir : Path
        Destination directory (created if missing).
    model_version : str
        Version string exposed as ``Recognizer.model_version``.
    extra : dict, optional
        More JSON-serializable keys for ``config.json`` (e.g. training args).

    Returns
    -------
    Path
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(out_dir / WEIGHTS_FILE))
    config = {
        "model_version": model_version,
        "line_config": cfg.to_dict(),
        "hparams": hparams,
        "time_downsample": TIME_DOWNSAMPLE,
        **(extra or {}),
    }
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    return out_dir


def load_model_dir(model_dir: Path) -> tuple[keras.Model, LineConfig, dict]:
    """Rebuild the model saved by :func:`save_model_dir`.

    Parameters
    ----------
    model_dir : Path
        Directory with ``config.json`` and ``model.weights.h5``.

    Returns
    -------
    (keras.Model, LineConfig, dict)
        The model with weights loaded, its LineConfig and the full config dict.
    """
    model_dir = Path(model_dir)
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    cfg = LineConfig.from_dict(config["line_config"])
    # Models saved before padding masking existed were trained without it.
    model = build_crnn(cfg, **{"mask_padding": False, **config.get("hparams", {})})
    model.load_weights(str(model_dir / WEIGHTS_FILE))
    return model, cfg, config


class Recognizer:
    """Text recognizer for line crops.

    Parameters
    ----------
    model : keras.Model
        CRNN producing logits (B, T, C).
    cfg : LineConfig
        Geometry and charset the model was trained with.
    model_version : str
        Identifier of the model (from ``config.json`` when loaded).
    batch_size : int
        Lines per forward pass.
    runtime : {"tensorflow", "onnx"}
        ``"tensorflow"`` runs ``model`` itself and so always sees its current weights (training
        validates with it); ``"onnx"`` runs a translation of the weights as they are now
        (:class:`linerec.model.onnx_runtime.OnnxForward`).
    """

    def __init__(
        self,
        model: keras.Model,
        cfg: LineConfig,
        model_version: str = "unversioned",
        batch_size: int = 64,
        runtime: str = "tensorflow",
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        self.model = model
        self.cfg = cfg
        self.model_version = model_version
        self.batch_size = int(batch_size)
        self.runtime = runtime
        self._forward: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (B, H, W, 1), (B,) -> (B, T, C) logits
        if runtime == "onnx":  # a snapshot of the weights, translated once
            from linerec.model.onnx_runtime import OnnxForward

            self._forward = OnnxForward(model, cfg.height)
        else:  # reads the model's current weights at every call (training's validation)
            specs = [tf.TensorSpec([None, cfg.height, None, 1], tf.float32), tf.TensorSpec([None], tf.int32)]
            # One trace serves every batch size and width.
            graph = tf.function(lambda x, w: model([x, w], training=False), input_signature=specs)
            self._forward = lambda x, w: graph(tf.constant(x), tf.constant(w)).numpy()

    @classmethod
    def load(cls, model_dir: Path | str, batch_size: int = 64, runtime: str | None = None) -> Recognizer:
        """Load a model directory written by training.

        Parameters
        ----------
        model_dir : Path or str
            Directory with ``config.json`` and ``model.weights.h5``.
        batch_size : int
            Lines per forward pass.
        runtime : {"onnx", "tensorflow"}, optional
            What runs the model; default ``LINEREC_INFERENCE_RUNTIME`` or ``"onnx"``
            (:mod:`linerec.model.onnx_runtime`, the faster on CPU).

        Returns
        -------
        Recognizer
        """
        model, cfg, config = load_model_dir(Path(model_dir))
        version = str(config.get("model_version", "unversioned"))
        runtime = runtime or get_settings().inference_runtime or DEFAULT_RUNTIME
        logger.info("loaded model %s from %s (runtime %s)", version, model_dir, runtime)
        return cls(model, cfg, model_version=version, batch_size=batch_size, runtime=runtime)

    def _passes(self, lines: Sequence[np.ndarray] | dict[int, np.ndarray], order: list[int]):
        """Cut lines sorted by width into forward passes: ``(indices, padded width)`` each.

        A pass takes at most ``batch_size`` lines and at most :data:`PASS_COLUMNS` padded columns.
        """
        idx: list[int] = []
        last_pad = 0
        for i in order:
            pad = -(-(line_width(lines[i].shape, self.cfg) + EDGE_PAD) // 8) * 8
            if idx and (len(idx) == self.batch_size or (len(idx) + 1) * pad > PASS_COLUMNS):
                yield idx, last_pad
                idx = []
            idx.append(i)
            last_pad = pad
        if idx:
            yield idx, last_pad

    def recognize(self, lines: Sequence[np.ndarray], decoder: str = "greedy") -> list[tuple[str, float]]:
        """Recognize line crops.

        Lines are sorted by their normalized width and batched with lines of
        similar width (at most ``batch_size`` lines and :data:`PASS_COLUMNS`
        padded columns a pass), each batch padded to its widest line plus
        :data:`EDGE_PAD` columns (a multiple of 8), so short lines cost little
        and a line reads exactly the same in any batch.

        Parameters
        ----------
        lines : sequence of np.ndarray
            uint8 grayscale crops (h, w) of any size, dark ink on light paper.
        decoder : {"greedy", "beam"}
            Best-path decoding, or CTC beam search (width :data:`BEAM_WIDTH`).

        Returns
        -------
        list of (str, float)
            Text and confidence per line, in input order. The confidence is
            :func:`linerec.model.ctc.greedy_decode`'s (the product of the characters' peak
            probabilities) for both decoders. Empty crops give ``("", 0.0)``.
        """
        if decoder not in ("greedy", "beam"):
            raise ValueError(f"decoder must be 'greedy' or 'beam', got {decoder!r}")
        results: list[tuple[str, float]] = [("", 0.0)] * len(lines)
        valid = [i for i, line in enumerate(lines) if np.asarray(line).size > 0]
        prepared = {i: prepare_line(lines[i], self.cfg) for i in valid}  # sized as the model will see them
        valid.sort(key=lambda i: line_width(prepared[i].shape, self.cfg))
        for idx, pad in self._passes(prepared, valid):
            images = np.zeros((len(idx), self.cfg.height, pad, 1), np.float32)  # (B, H, W, 1)
            widths = np.zeros((len(idx),), np.int32)  # (B,)
            for j, i in enumerate(idx):
                images[j], widths[j] = normalize_line(prepared[i], self.cfg, pad_to=pad, prepared=True)
            logits = self._forward(images, widths)  # (B, T, C)
            lengths = logit_lengths(widths)
            decoded = greedy_decode(logits, lengths)
            if decoder == "beam":
                beams = beam_decode(logits, lengths, beam_width=BEAM_WIDTH)
                decoded = [(ids, conf) for (ids, _), (_, conf) in zip(beams, decoded)]
            for i, (ids, conf) in zip(idx, decoded):
                results[i] = (self.cfg.charset.decode(ids), conf)
        return results

    def recognize_words(self, lines: Sequence[np.ndarray], decoder: str = "greedy") -> list[tuple[str, float, list]]:
        """Recognize line crops with their words' column spans (:mod:`linerec.model.words`).

        Texts and line confidences are those of :meth:`recognize` (same batching and decoding).
        Greedy decoding places each character on its best-path run; beam decoding aligns the
        beam's labels on the frames (Viterbi). Columns are the crop's: a prepared crop keeps its
        columns (only rows are cut), so frame positions map back by the width scale.

        Parameters
        ----------
        lines : sequence of np.ndarray
            uint8 grayscale crops (h, w), dark ink on light paper.
        decoder : {"greedy", "beam"}
            As for :meth:`recognize`.

        Returns
        -------
        list of (str, float, list of linerec.model.words.WordSpan)
            Text, confidence and words per line, in input order; ``("", 0.0, [])`` for empty crops.
        """
        from linerec.model.crnn import TIME_DOWNSAMPLE
        from linerec.model.words import forced_alignment, ink_columns, word_spans

        if decoder not in ("greedy", "beam"):
            raise ValueError(f"decoder must be 'greedy' or 'beam', got {decoder!r}")
        results: list[tuple[str, float, list]] = [("", 0.0, [])] * len(lines)
        valid = [i for i, line in enumerate(lines) if np.asarray(line).size > 0]
        prepared = {i: prepare_line(lines[i], self.cfg) for i in valid}  # rows may be cut, columns are kept
        valid.sort(key=lambda i: line_width(prepared[i].shape, self.cfg))
        for idx, pad in self._passes(prepared, valid):
            images = np.zeros((len(idx), self.cfg.height, pad, 1), np.float32)  # (B, H, W, 1)
            widths = np.zeros((len(idx),), np.int32)  # (B,)
            for j, i in enumerate(idx):
                images[j], widths[j] = normalize_line(prepared[i], self.cfg, pad_to=pad, prepared=True)
            logits = self._forward(images, widths)  # (B, T, C)
            lengths = logit_lengths(widths)  # (B,)
            # (ids, conf, runs) per line; beam decoding has no runs (None)
            decoded: Sequence[tuple[list[int], float, tuple | None]] = greedy_runs(logits, lengths)
            if decoder == "beam":
                beams = beam_decode(logits, lengths, beam_width=BEAM_WIDTH)
                decoded = [(ids, conf, None) for (ids, _), (_, conf, _) in zip(beams, decoded)]
            for j, (i, (ids, conf, runs)) in enumerate(zip(idx, decoded)):
                n = int(min(lengths[j], logits.shape[1]))
                if runs is not None:
                    starts, ends, peaks = runs
                else:
                    z = logits[j, :n].astype(np.float64)  # (T, C)
                    probs = np.exp(z - z.max(axis=1, keepdims=True))
                    probs /= probs.sum(axis=1, keepdims=True)  # (T, C)
                    starts, ends, peaks = forced_alignment(probs, ids)
                text = self.cfg.charset.decode(ids)
                crop = prepared[i]  # (h', w)
                scale = TIME_DOWNSAMPLE * crop.shape[1] / float(widths[j])  # crop columns per frame
                words = (
                    word_spans(text, starts, ends, peaks, n, scale, ink_columns(crop)) if len(text) == len(ids) else []
                )
                results[i] = (text, conf, words)
        return results
