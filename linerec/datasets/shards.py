"""TFRecord shards of line crops, and the tf.data input pipeline reading them.

Each record is a ``tf.train.Example`` with features ``image_png`` (the uint8
grayscale crop, PNG-encoded), ``text`` (UTF-8), ``id`` (UTF-8) and two optional ones:

- ``box`` (4 x int64 ``x, y, w, h``): the annotated line box inside a crop cut with context
  around it. Evaluation reads the box itself; training cuts a frame around it with a random
  margin (:func:`frame_crop`), so the recognizer learns crops as tight and as loose as line
  detectors give. Absent (``-1``) in records written before: the crop is the box.
- ``case_folded`` (int64 0/1): the text was transcribed upper-cased whatever the print's case
  (receipt ground truth); training scores such lines case-insensitively.

The pipeline normalizes crops with :func:`linerec.model.preprocessing.normalize_line` itself
(through ``tf.numpy_function``), so training inputs match inference exactly.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from linerec.infra.storage import sha256_file
from linerec.model.preprocessing import LineConfig, normalize_line
from linerec.vision.geometry import Box

logger = logging.getLogger(__name__)

_FEATURES = {
    "image_png": tf.io.FixedLenFeature([], tf.string),
    "text": tf.io.FixedLenFeature([], tf.string),
    "id": tf.io.FixedLenFeature([], tf.string),
    "box": tf.io.FixedLenFeature([4], tf.int64, default_value=[-1, -1, -1, -1]),
    "case_folded": tf.io.FixedLenFeature([], tf.int64, default_value=0),
}
#: Context cut around each line box when a dataset is built, as a fraction of the box height
#: on every side: room for :func:`frame_crop`'s loosest frames.
CONTEXT = 0.35


@dataclasses.dataclass(frozen=True)
class LineExample:
    """One line of a dataset shard.

    Attributes
    ----------
    crop : np.ndarray
        uint8 grayscale (h, w): the line, possibly with context around its box.
    text : str
        Transcription.
    example_id : str
        Stable id (the line annotation's).
    box : tuple of int, optional
        ``(x, y, w, h)`` of the annotated line inside ``crop``; None: the whole crop.
    case_folded : bool
        The transcription is upper-cased whatever the print's case.
    """

    crop: np.ndarray
    text: str
    example_id: str
    box: Box | None = None
    case_folded: bool = False

    def tight(self) -> np.ndarray:
        """The annotated box's pixels (the whole crop when there is no box)."""
        if self.box is None:
            return self.crop
        x, y, w, h = self.box
        return self.crop[y : y + h, x : x + w]


SHUFFLE_BUFFER = 4096
#: Upper edges (columns) of the width buckets used when batching training lines.
WIDTH_BUCKETS = (128, 192, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 2048)


def encode_crop_png(image: np.ndarray) -> bytes:
    """PNG-encode a 2-D uint8 line crop for a shard record, deterministically (fixed level, no metadata).

    The same crops always give the same bytes, so rewriting a dataset version gives shards with
    the same sha256. Whole pages are stored with :func:`linerec.vision.images.encode_png` instead.
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected non-empty 2-D uint8 crop, got {image.dtype} {image.shape}")
    buf = io.BytesIO()
    Image.fromarray(image, mode="L").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def decode_crop_png(data: bytes) -> np.ndarray:
    """Decode a shard record's PNG bytes into a 2-D uint8 grayscale crop (h, w)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L"), dtype=np.uint8)


def _serialize(ex: LineExample) -> bytes:
    def _bytes(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _ints(values) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))

    feature = {
        "image_png": _bytes(encode_crop_png(ex.crop)),
        "text": _bytes(ex.text.encode("utf-8")),
        "id": _bytes(ex.example_id.encode("utf-8")),
    }
    if ex.box is not None:
        x, y, w, h = ex.box
        ch, cw = ex.crop.shape
        if w < 1 or h < 1 or x < 0 or y < 0 or x + w > cw or y + h > ch:
            raise ValueError(f"example {ex.example_id}: box {ex.box} outside its {cw}x{ch} crop")
        feature["box"] = _ints(ex.box)
    if ex.case_folded:
        feature["case_folded"] = _ints([1])
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def write_shards(
    examples: Iterable[LineExample | tuple[np.ndarray, str, str]],
    out_dir: Path,
    prefix: str,
    shard_size: int = 2000,
) -> list[dict]:
    """Write examples into TFRecord files ``{prefix}-{i:05d}-of-{n:05d}.tfrecord``.

    Parameters
    ----------
    examples : iterable of LineExample or (np.ndarray, str, str)
        :class:`LineExample`, or ``(crop, text, example_id)`` for a crop that is its own box;
        crop is a 2-D uint8 grayscale image (h, w). Consumed once, in order (a generator is fine).
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
        for ex in examples:
            if not isinstance(ex, LineExample):
                ex = LineExample(*ex)
            if writer is None:
                tmp = out_dir / f".{prefix}-{len(partial):05d}.tfrecord.partial"
                writer, count = tf.io.TFRecordWriter(str(tmp)), 0
                partial.append((tmp, 0))
            writer.write(_serialize(ex))
            count += 1
            partial[-1] = (partial[-1][0], count)
            if count == shard_size:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()
    total = len(partial)
    shards: list[dict] = []
    for i, (tmp, n) in enumerate(partial):
        final = out_dir / f"{prefix}-{i:05d}-of-{total:05d}.tfrecord"
        os.replace(tmp, final)
        shards.append({"file": final.name, "count": n, "sha256": sha256_file(final)})
    logger.info("wrote %d records into %d shards under %s", sum(s["count"] for s in shards), total, out_dir)
    return shards


_AUG_RNG = np.random.default_rng()


def jitter_crop(crop: np.ndarray, rng: np.random.Generator, max_px: int = 3) -> np.ndarray:
    """Move each edge of a line crop in or out by up to ``max_px`` pixels (training only).

    Line boxes from annotators and from :func:`linerec.vision.segment.find_lines` frame the ink a few
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


#: Random frame margins (fractions of the box height) drawn by :func:`frame_crop` per side:
#: from slightly inside the box to about a third of its height beyond it, as tight and as
#: loose as line detectors cut.
FRAME_MARGIN_Y = (-0.06, 0.32)
FRAME_MARGIN_X = (0.0, 0.35)


def frame_crop(crop: np.ndarray, box: Box | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cut a random frame around ``box`` out of a context crop (training only).

    Each side moves independently by a margin drawn from :data:`FRAME_MARGIN_Y` (top, bottom)
    or :data:`FRAME_MARGIN_X` (left, right) times the box height, limited to the context the
    crop holds.

    Parameters
    ----------
    crop : np.ndarray
        uint8 (H, W) line with context.
    box : tuple of int or np.ndarray
        ``(x, y, w, h)`` of the annotated line inside ``crop`` (four integers).
    rng : np.random.Generator
        Source of the margins.

    Returns
    -------
    np.ndarray
        uint8 (h', w') view of ``crop``.
    """
    x, y, w, h = (int(v) for v in box)
    top, bottom = (int(round(m * h)) for m in rng.uniform(*FRAME_MARGIN_Y, size=2))
    left, right = (int(round(m * h)) for m in rng.uniform(*FRAME_MARGIN_X, size=2))
    y0, y1 = max(0, y - top), min(crop.shape[0], y + h + bottom)
    x0, x1 = max(0, x - left), min(crop.shape[1], x + w + right)
    if y1 - y0 < 4 or x1 - x0 < 4:
        return crop[y : y + h, x : x + w]
    return crop[y0:y1, x0:x1]


def iter_records(files: list[str]) -> Iterator[LineExample]:
    """Read the records of TFRecord shards back as :class:`LineExample` (in file order)."""
    for record in tf.data.TFRecordDataset([str(f) for f in files]):
        ex = tf.io.parse_single_example(record, _FEATURES)
        x, y, w, h = (int(v) for v in ex["box"].numpy())  # fixed length 4 (_FEATURES)
        yield LineExample(
            decode_crop_png(ex["image_png"].numpy()),
            ex["text"].numpy().decode("utf-8"),
            ex["id"].numpy().decode("utf-8"),
            None if x < 0 else (x, y, w, h),
            bool(ex["case_folded"].numpy()),
        )


def _prepare(
    png: bytes, text: bytes, example_id: bytes, box: np.ndarray, folded, cfg: LineConfig, augment: bool = False
):
    """numpy side of the pipeline: decode, frame (randomly when augmenting), normalize, encode the label.

    A case-folded line's label is upper-cased (it is scored case-insensitively).
    """
    crop = decode_crop_png(png)
    if box[0] >= 0:
        crop = frame_crop(crop, box, _AUG_RNG) if augment else crop[box[1] : box[1] + box[3], box[0] : box[0] + box[2]]
    elif augment:
        crop = jitter_crop(crop, _AUG_RNG)
    # Unpadded (H, w, 1) up to a multiple of 4 columns; batches pad to their widest line.
    image, width = normalize_line(crop, cfg, pad_to=1)
    if image.shape[1] % 4:
        image = np.pad(image, ((0, 0), (0, 4 - image.shape[1] % 4), (0, 0)))
    label = np.full((cfg.max_label_len,), -1, dtype=np.int32)  # (L,)
    try:
        ids = cfg.charset.encode(text.decode("utf-8").upper() if folded else text.decode("utf-8"))
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
        Frame each line randomly around its box (:func:`frame_crop`), or jitter a crop without
        a box (:func:`jitter_crop`); for training only. Without it, lines are cut at their box.
    bucket : bool
        Group examples into batches of similar width (:data:`WIDTH_BUCKETS`)
        instead of batching in record order.

    Returns
    -------
    tf.data.Dataset
        Dicts with ``image`` float32 (B, H, W, 1) padded to the widest line of
        the batch (a multiple of 4 columns), ``width`` int32 (B,),
        ``label`` int32 (B, max_label_len) padded with -1, ``label_length``
        int32 (B,), ``case_folded`` int32 (B,) 0/1, ``id`` string (B,) and ``text`` string (B,).
    """
    ds = tf.data.TFRecordDataset([str(f) for f in files])
    ds = ds.shard(num_shards, shard_index)
    if shuffle:
        ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)

    def _map(record):
        ex = tf.io.parse_single_example(record, _FEATURES)
        image, width, label, length = tf.numpy_function(
            lambda p, t, i, b, f: _prepare(p, t, i, b, f, cfg, augment),
            [ex["image_png"], ex["text"], ex["id"], ex["box"], ex["case_folded"]],
            [tf.float32, tf.int32, tf.int32, tf.int32],
            stateful=augment,
        )
        image.set_shape((cfg.height, None, 1))
        width.set_shape(())
        label.set_shape((cfg.max_label_len,))
        length.set_shape(())
        return {
            "image": image,
            "width": width,
            "label": label,
            "label_length": length,
            "case_folded": tf.cast(ex["case_folded"], tf.int32),
            "id": ex["id"],
            "text": ex["text"],
        }

    ds = ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.filter(lambda ex: ex["label_length"] >= 0)
    if repeat:
        ds = ds.repeat()
    padding = {"image": 0.0, "width": 0, "label": -1, "label_length": 0, "case_folded": 0, "id": "", "text": ""}
    if bucket:
        # Batch lines of similar width together so little of each batch is padding.
        bounds = [b for b in WIDTH_BUCKETS if b < cfg.max_width]
        ds = ds.bucket_by_sequence_length(
            lambda ex: ex["width"],
            bounds,
            [batch_size] * (len(bounds) + 1),
            padding_values=padding,
            drop_remainder=drop_remainder,
        )
    else:
        ds = ds.padded_batch(batch_size, padding_values=padding, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)
