"""Evaluating a recognizer on dataset shards through the inference path."""

from __future__ import annotations

from typing import Iterator

import numpy as np


def iter_examples(files: list[str], batch_size: int = 256) -> Iterator[list[tuple[np.ndarray, str, str]]]:
    """Yield batches of raw shard records as ``(crop uint8 (h, w), text, example_id)``."""
    import tensorflow as tf

    from linerec.data.shards import _FEATURES, decode_png

    records = tf.data.TFRecordDataset(files).map(lambda r: tf.io.parse_single_example(r, _FEATURES))
    for batch in records.batch(batch_size):
        yield [(decode_png(png), text.decode("utf-8"), ident.decode("utf-8"))
               for png, text, ident in zip(batch["image_png"].numpy(), batch["text"].numpy(), batch["id"].numpy())]


def evaluate_cer(recognizer, files: list[str]) -> float | None:
    """Corpus CER of ``recognizer`` on the records of ``files`` (None when they hold none).

    Parameters
    ----------
    recognizer : linerec.inference.Recognizer
        Model under test; lines go through the same preprocessing and decoding as inference.
    files : list of str
        TFRecord shards.
    """
    from linerec.metrics import corpus_cer

    preds, truths = [], []
    for batch in iter_examples(files):
        preds += [text for text, _ in recognizer.recognize([crop for crop, _, _ in batch])]
        truths += [text for _, text, _ in batch]
    return corpus_cer(preds, truths) if truths else None
