"""TFRecord shards of line crops, and the tf.data input pipeline reading them.

Each record is a ``tf.train.Example`` with features ``image_png`` (the uint8
grayscale crop, PNG-encoded), ``text`` (UTF-8) and ``id`` (UTF-8). The pipeline
normalizes crops with :func:`linerec.preprocessing.normalize_line` itself
(through ``tf.numpy_function``), so training inputs match inference exactly.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import tensorflow as tf
from PIL import Image

from linerec.preprocessing import LineConfig, normalize_line
from linerec.storage import sha256_file

logger = logging.getLogger(__name__)

_FEATURES = {
    "image_png": tf.io.FixedLenFeature([], tf.string),
    "text": tf.io.FixedLenFeature([], tf.string),
    "id": tf.io.FixedLenFeature([], tf.string),
}
SHUFFLE_BUFFER = 4096
#: Upper edges (columns) of the width buckets used when batching training lines.
WIDTH_BUCKETS = (128, 192, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 2048)


def encode_png(image: np.ndarray) -> bytes:
    """PNG-encode a 2-D uint8 image deterministically (fixed level, no metadata)."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected non-empty 2-D uint8 crop, got {image.dtype} {image.shape}")
    buf = io.BytesIO()
    Image.fromarray(image, mode="L").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes into a 2-D uint8 grayscale array (h, w)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L"), dtype=np.uint8)


def _serialize(image: np.ndarray, text: str, example_id: str) -> bytes:
    def _bytes(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "image_png": _bytes(encode_png(image)),
                "text": _bytes(text.encode("utf-8")),
                "id": _bytes(example_id.encode("utf-8")),
            }
        )
    )
    return example.SerializeToString(deterministic=True)


def write_shards(
    examples: Iterable[tuple[np.ndarray, str, str]],
    out_dir: Path,
    prefix: str,
    shard_size: int = 2000,
) -> list[dict]:
    """Write examples into TFRecord files ``{prefix}-{i:05d}-of-{n:05d}.tfrecord``.

    Parameters
    ----------
    examples : iterable of (np.ndarray, str, str)
        ``(crop, text, example_id)``; crop is a 2-D uint8 grayscale image (h, w).
        Consumed once, in order (a generator is fine).
    out_dir : Path
        Output directory (created if missing).
    prefix : str
        File name prefix, e.g. ``"train"``.
    shard_size : int
        Maximum records per file.

    Returns
    -------
    list of dict
        ``{"file": name, "count": n, "sha256": hex}`` per file, in file order;
        empty (and no file written) when there are no examples. The same input
        always produces byte-identical files.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial: list[tuple[Path, int]] = []
    writer, count = None, 0
    try:
        for image, text, example_id in examples:
            if writer is None:
                tmp = out_dir / f".{prefix}-{len(partial):05d}.tfrecord.partial"
                writer, count = tf.io.TFRecordWriter(str(tmp)), 0
                partial.append((tmp, 0))
            writer.write(_serialize(image, text, example_id))
            count += 1
            partial[-1] = (partial[-1][0], count)
            if count == shard_size:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()
    total = len(partial)
    shards = []
    for i, (tmp, n) in enumerate(partial):
        final = out_dir / f"{prefix}-{i:05d}-of-{total:05d}.tfrecord"
        os.replace(tmp, final)
        shards.append({"file": final.name, "count": n, "sha256": sha256_file(final)})
    logger.info("wrote %d records into %d shards under %s", sum(s["count"] for s in shards), total, out_dir)
    return shards


_AUG_RNG = np.random.default_rng()


def jitter_crop(crop: np.ndarray, rng: np.random.Generator, max_px: int = 3) -> np.ndarray:
    """Move each edge of a line crop in or out by up to ``max_px`` pixels (training only).

    Line boxes from annotators and from :func:`linerec.segment.find_lines` frame the ink a few
    pixels differently; training on jittered frames makes the recognizer indifferent to that.
    Added margins are filled with the crop's paper tone.
    """
    top, bottom, left, right = (int(v) for v in rng.integers(-max_px, max_px + 1, size=4))
    h, w = crop.shape
    paper = np.uint8(np.percentile(crop, 90))
    out = np.pad(crop, ((max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))), constant_values=paper)
    y0, x0 = max(-top, 0), max(-left, 0)
    y1, x1 = out.shape[0] - max(-bottom, 0), out.shape[1] - max(-right, 0)
    if y1 - y0 < max(4, h // 2) or x1 - x0 < max(4, w // 2):
        return crop
    return out[y0:y1, x0:x1]


def _prepare(png: bytes, text: bytes, example_id: bytes, cfg: LineConfig, augment: bool = False):
    """numpy side of the pipeline: decode, (augment), normalize, encode the label."""
    crop = decode_png(png)
    if augment:
        crop = jitter_crop(crop, _AUG_RNG)
    # Unpadded (H, w, 1) up to a multiple of 4 columns; batches pad to their widest line.
    image, width = normalize_line(crop, cfg, pad_to=1)
    if image.shape[1] % 4:
        image = np.pad(image, ((0, 0), (0, 4 - image.shape[1] % 4), (0, 0)))
    label = np.full((cfg.max_label_len,), -1, dtype=np.int32)  # (L,)
    try:
        ids = cfg.charset.encode(text.decode("utf-8"))
        if len(ids) > cfg.max_label_len:
            raise ValueError(f"{len(ids)} characters > max_label_len {cfg.max_label_len}")
        label[: len(ids)] = ids
        length = len(ids)
    except ValueError as err:
        logger.warning("skipping example %s: %s", example_id.decode("utf-8", "replace"), err)
        length = -1
    return image, np.int32(width), label, np.int32(length)


def load_dataset(
    files: list[str],
    cfg: LineConfig,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_shards: int = 1,
    shard_index: int = 0,
    drop_remainder: bool = False,
    repeat: bool = False,
    augment: bool = False,
    bucket: bool = False,
) -> tf.data.Dataset:
    """Build the batched input pipeline over TFRecord shards.

    Records are sharded per worker with ``.shard(num_shards, shard_index)``
    (record level, so every rank gets a near-equal share whatever the file
    count). Examples whose text has characters outside ``cfg.charset`` or is
    longer than ``cfg.max_label_len`` are dropped with a warning.

    Parameters
    ----------
    files : list of str
        TFRecord paths.
    cfg : LineConfig
        Geometry and charset.
    batch_size : int
        Examples per batch.
    shuffle : bool
        Shuffle records (buffer ``SHUFFLE_BUFFER``, reshuffled every pass).
    seed : int
        Shuffle seed.
    num_shards, shard_index : int
        Input sharding (Horovod: ``hvd.size()``, ``hvd.rank()``).
    drop_remainder : bool
        Drop a final partial batch (gives static batch shapes).
    repeat : bool
        Repeat the records forever (before batching, so a shard smaller than
        one batch still yields full batches).
    augment : bool
        Jitter each crop's frame (:func:`jitter_crop`); for training only.
    bucket : bool
        Group examples into batches of similar width (:data:`WIDTH_BUCKETS`)
        instead of batching in record order.

    Returns
    -------
    tf.data.Dataset
        Dicts with ``image`` float32 (B, H, W, 1) padded to the widest line of
        the batch (a multiple of 4 columns), ``width`` int32 (B,),
        ``label`` int32 (B, max_label_len) padded with -1, ``label_length``
        int32 (B,), ``id`` string (B,) and ``text`` string (B,).
    """
    ds = tf.data.TFRecordDataset([str(f) for f in files])
    ds = ds.shard(num_shards, shard_index)
    if shuffle:
        ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)

    def _map(record):
        ex = tf.io.parse_single_example(record, _FEATURES)
        image, width, label, length = tf.numpy_function(
            lambda p, t, i: _prepare(p, t, i, cfg, augment),
            [ex["image_png"], ex["text"], ex["id"]],
            [tf.float32, tf.int32, tf.int32, tf.int32],
            stateful=augment,
        )
        image.set_shape((cfg.height, None, 1))
        width.set_shape(())
        label.set_shape((cfg.max_label_len,))
        length.set_shape(())
        return {"image": image, "width": width, "label": label,
                "label_length": length, "id": ex["id"], "text": ex["text"]}

    ds = ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.filter(lambda ex: ex["label_length"] >= 0)
    if repeat:
        ds = ds.repeat()
    padding = {"image": 0.0, "width": 0, "label": -1, "label_length": 0, "id": "", "text": ""}
    if bucket:
        # Batch lines of similar width together so little of each batch is padding.
        bounds = [b for b in WIDTH_BUCKETS if b < cfg.max_width]
        ds = ds.bucket_by_sequence_length(
            lambda ex: ex["width"], bounds, [batch_size] * (len(bounds) + 1),
            padding_values=padding, drop_remainder=drop_remainder)
    else:
        ds = ds.padded_batch(batch_size, padding_values=padding, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)
