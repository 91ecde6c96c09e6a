"""Small CNN + BiLSTM line recognizer producing per-frame CTC logits."""

from __future__ import annotations

import logging
from typing import Any

import keras
from keras import layers

from linerec.model.preprocessing import LineConfig

logger = logging.getLogger(__name__)

#: Width reduction between input columns and output frames: T = ceil(W / 4).
TIME_DOWNSAMPLE = 4

DEFAULT_HPARAMS: dict[str, Any] = {
    "filters": (16, 32, 64, 96),
    "lstm_units": 96,
    "lstm_layers": 2,
    "dropout": 0.1,
    "bn_momentum": 0.9,
    "mask_padding": True,
}

#: Max-pool size ``(height, width)`` after each conv block, one per entry of ``filters``: the width
#: pools multiply to :data:`TIME_DOWNSAMPLE`, the height pools to 16 (32 px -> 2 rows).
POOLS = ((2, 2), (2, 2), (2, 1), (2, 1))


def logit_lengths(widths):
    """Valid output frames for input widths: ``ceil(width / TIME_DOWNSAMPLE)``.

    Parameters
    ----------
    widths : int, np.ndarray or tf.Tensor
        Valid input columns, shape (B,) or scalar, integer dtype.

    Returns
    -------
    Same type as ``widths``: number of valid logit frames.
    """
    return (widths + TIME_DOWNSAMPLE - 1) // TIME_DOWNSAMPLE


def resolve_hparams(**hparams: Any) -> dict[str, Any]:
    """Merge ``hparams`` over :data:`DEFAULT_HPARAMS`, rejecting unknown keys.

    Parameters
    ----------
    **hparams
        Overrides (``filters``, ``lstm_units``, ``lstm_layers``, ``dropout``,
        ``bn_momentum``, ``mask_padding``: the LSTMs skip the frames of a
        line's right padding, so its output does not depend on how far the
        batch was padded).

    Returns
    -------
    dict
        JSON-serializable hyper-parameters (``filters`` as a list).
    """
    unknown = set(hparams) - set(DEFAULT_HPARAMS)
    if unknown:
        raise ValueError(f"unknown CRNN hyper-parameters: {sorted(unknown)}")
    merged = {**DEFAULT_HPARAMS, **hparams}
    merged["filters"] = [int(f) for f in merged["filters"]]
    merged["mask_padding"] = bool(merged["mask_padding"])
    if len(merged["filters"]) != len(POOLS):
        raise ValueError(f"filters must have {len(POOLS)} entries, got {merged['filters']}")
    return merged


class FrameMask(layers.Layer):
    """Boolean (B, T) mask of the valid frames of each line, from its input width."""

    def call(self, frames, widths):
        valid = logit_lengths(keras.ops.cast(widths, "int32"))  # (B,)
        steps = keras.ops.arange(keras.ops.shape(frames)[1], dtype="int32")  # (T,)
        return keras.ops.expand_dims(steps, 0) < keras.ops.expand_dims(valid, 1)  # (B, T)

    def compute_output_shape(self, frames_shape, widths_shape):
        return frames_shape[:2]


def build_crnn(cfg: LineConfig, **hparams: Any) -> keras.Model:
    """Build the CRNN.

    Architecture: 4 x [Conv3x3 -> BatchNorm -> ReLU -> MaxPool] (pools 2x2,
    2x2, 2x1, 2x1), height collapsed into channels, ``lstm_layers`` x
    Bidirectional LSTM, Dense logits over ``cfg.charset.size`` classes
    (index 0 = CTC blank).

    Parameters
    ----------
    cfg : LineConfig
        Input geometry (height a multiple of 16, max_width a multiple of
        ``TIME_DOWNSAMPLE``) and charset.
    **hparams
        See :func:`resolve_hparams`.

    Returns
    -------
    keras.Model
        Inputs ``[image, width]``: float32 (B, cfg.height, W, 1) for any width W
        that is a multiple of ``TIME_DOWNSAMPLE`` (a batch is padded to its
        widest line, at most ``cfg.max_width``), and int32 (B,) valid columns
        per line. Output float32 logits (B, W / TIME_DOWNSAMPLE, cfg.charset.size).
    """
    hp = resolve_hparams(**hparams)
    if cfg.height % 16 or cfg.max_width % TIME_DOWNSAMPLE:
        raise ValueError(
            f"height must be a multiple of 16 and max_width of {TIME_DOWNSAMPLE}; got {cfg.height}x{cfg.max_width}"
        )
    image = keras.Input((cfg.height, None, 1), name="image")  # (B, H, W, 1), W varies per batch
    width = keras.Input((), dtype="int32", name="width")  # (B,)
    x = image
    for i, (filters, pool) in enumerate(zip(hp["filters"], POOLS)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=hp["bn_momentum"], name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        x = layers.MaxPooling2D(pool, name=f"pool{i}")(x)
    # x: (B, H/16, W/4, F)
    rows, channels = x.shape[1], x.shape[3]
    x = layers.Permute((2, 1, 3), name="to_time")(x)  # (B, W/4, H/16, F)
    x = layers.Reshape((-1, rows * channels), name="collapse_height")(x)  # (B, T, H/16*F)
    mask = FrameMask(name="frame_mask")(x, width) if hp["mask_padding"] else None  # (B, T)
    for i in range(hp["lstm_layers"]):
        if hp["dropout"]:
            x = layers.Dropout(hp["dropout"], name=f"drop{i}")(x)
        lstm = layers.LSTM(hp["lstm_units"], return_sequences=True, name=f"lstm{i}")
        x = layers.Bidirectional(lstm, name=f"bilstm{i}")(x, mask=mask)  # (B, T, 2U)
    if hp["dropout"]:
        x = layers.Dropout(hp["dropout"], name="drop_out")(x)
    logits = layers.Dense(cfg.charset.size, name="logits")(x)  # (B, T, C)
    model = keras.Model([image, width], logits, name="crnn")
    logger.debug("built CRNN with %d parameters, hparams=%s", model.count_params(), hp)
    return model
