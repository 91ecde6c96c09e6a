"""Evaluating a recognizer on dataset shards through the inference path."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def iter_examples(files: list[str], batch_size: int = 256) -> Iterator[list[tuple[np.ndarray, str, str, bool]]]:
    """Yield batches of shard records as ``(crop uint8 (h, w), text, example_id, case_folded)``.

    The crop is the annotated line box (context stored around it is cut away). Text of a
    case-folded record (upper-cased transcription) is given as stored; :func:`evaluate_cer`
    compares such lines case-insensitively.
    """
    from linerec.datasets.shards import iter_records

    batch = []
    for ex in iter_records(files):
        batch.append((ex.tight(), ex.text, ex.example_id, ex.case_folded))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def evaluate_cer(recognizer, files: list[str]) -> float | None:
    """Corpus CER of ``recognizer`` on the records of ``files`` (None when they hold none).

    Parameters
    ----------
    recognizer : linerec.model.recognizer.Recognizer
        Model under test; lines go through the same preprocessing and decoding as inference.
    files : list of str
        TFRecord shards.
    """
    from linerec.eval.metrics import corpus_cer

    preds, truths = [], []
    for batch in iter_examples(files):
        texts = [text for text, _ in recognizer.recognize([crop for crop, *_ in batch])]
        for pred, (_, truth, _, folded) in zip(texts, batch):
            preds.append(pred.upper() if folded else pred)
            truths.append(truth.upper() if folded else truth)
    return corpus_cer(preds, truths) if truths else None
