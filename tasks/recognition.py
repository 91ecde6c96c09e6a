"""Step 5: nightly batch recognition of pages the production model has not seen yet."""

from __future__ import annotations

import logging
import time
from datetime import date
from functools import lru_cache

import sqlalchemy as sa

from linerec.db import query
from tasks.context import engine, quarantine, store
from tasks.training import download_model

log = logging.getLogger(__name__)

STAGE = "recognition"


def production_model_id(conn) -> int:
    model_id = conn.execute(sa.text("SELECT model_id FROM models WHERE status = 'production'")).scalar()
    if model_id is None:
        raise LookupError("no production model: run the training DAG (or `linerec models bootstrap`) first")
    return model_id


def open_recognition_run(logical_date: str | date) -> int:
    """Open (or reopen, on a rerun) the production model's run for ``logical_date``; returns its id."""
    with engine().begin() as conn:
        model_id = production_model_id(conn)
        return conn.execute(query("open_recognition_run"), {"model": model_id, "d": str(logical_date)}).scalar_one()


def pending_batches(run_id: int, batch_size: int = 32) -> list[list[int]]:
    """Split the pages the run's model has not processed yet into batches of page ids."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    with engine().connect() as conn:
        model_id = conn.execute(sa.text("SELECT model_id FROM recognition_runs WHERE recognition_run_id = :r"),
                                {"r": run_id}).scalar_one()
        pending = [r[0] for r in conn.execute(query("pending_pages"), {"model": model_id})]
    batches = [pending[i:i + batch_size] for i in range(0, len(pending), batch_size)]
    log.info("recognition run %s (model %s): %d pending pages in %d batches",
             run_id, model_id, len(pending), len(batches))
    return batches


@lru_cache(maxsize=2)
def _recognizer(model_id: int):
    from linerec.inference import Recognizer

    return Recognizer.load(download_model(model_id))


def recognize_batch(run_id: int, page_ids: list[int]) -> dict:
    """Segment and recognize ``page_ids``; write the batch's predictions in one transaction.

    A page already done by the run's model is skipped; rerunning a batch replaces nothing and
    duplicates nothing. An unreadable page is quarantined and the batch goes on.
    """
    from linerec.images import BadImage, decode_page
    from linerec.preprocessing import crop_line
    from linerec.segment import find_lines

    eng = engine()
    st = store()
    with eng.connect() as conn:
        model_id = conn.execute(sa.text("SELECT model_id FROM recognition_runs WHERE recognition_run_id = :r"),
                                {"r": run_id}).scalar_one()
        pages = conn.execute(query("batch_pages"), {"model": model_id, "ids": list(page_ids)}).all()
    recognizer = _recognizer(model_id)
    t0 = time.perf_counter()
    rows, results, errors = [], [], []
    for page in pages:
        try:
            image = decode_page(st.get_bytes(page.s3_key), page.s3_key)
        except BadImage as exc:
            errors.append((page, str(exc)))
            results.append({"page": page.page_id, "lines": 0, "error": str(exc)})
            continue
        boxes = find_lines(image)
        crops = [crop_line(image, box) for box in boxes]
        outputs = recognizer.recognize(crops) if crops else []
        for line_no, (box, (text, conf)) in enumerate(zip(boxes, outputs), start=1):
            rows.append({"run": run_id, "model": model_id, "doc": page.document_id, "page": page.page_id,
                         "line_no": line_no, "x": int(box[0]), "y": int(box[1]), "w": int(box[2]),
                         "h": int(box[3]), "text": text, "conf": float(min(max(conf, 0.0), 1.0))})
        results.append({"page": page.page_id, "lines": len(boxes), "error": None})
    seconds = time.perf_counter() - t0
    with eng.begin() as conn:
        for page, reason in errors:
            quarantine(conn, STAGE, f"page:{page.page_id}", reason, {"s3_key": page.s3_key})
        if rows:
            conn.execute(query("insert_prediction"), rows)
        if results:
            conn.execute(query("insert_page_result"),
                         [dict(r, model=model_id, run=run_id) for r in results])
    stats = {"run_id": run_id, "pages": len(results), "lines": len(rows), "seconds": round(seconds, 3)}
    log.info("recognized batch: %s", stats)
    return stats


def finish_recognition(run_id: int) -> dict:
    """Close the run with its totals (pages, lines) from the rows actually written."""
    with engine().begin() as conn:
        row = conn.execute(query("finish_recognition_run"), {"r": run_id}).one()
    return dict(row._mapping)
