"""Nightly recognition: the pages a model has not read yet, recognized batch by batch into Postgres.

A run is one (model, date). Its batches are planned from the pages registered before the run was
first opened, so a rerun of the date reads the same pages and writes the same rows. One batch
(:func:`recognize_batch`): a thread pool downloads, decodes and segments its pages while the model
recognizes the lines of the pages already read (:mod:`tasks.pages`), in batched inference calls
of ~128 lines; then the predictions go in with COPY into a staging table and one
``INSERT ... ON CONFLICT DO NOTHING``, together with the page results, the pages' text blocks and
the searchable document text, in a single transaction. Every prediction names its block
(``predictions.block_id``) and keeps its line's rotated rectangle and word boxes
(``predictions.geometry``), from which :mod:`tasks.outputs` writes each document's hOCR, ALTO,
PAGE XML and searchable PDF. A batch hands the checked bytes of the pages it read to its caller
when asked, so that the caller (the nightly DAG's ``recognize`` task, the Luigi graph) writes the
outputs of the documents the batch completed right after the batch is committed
(:func:`tasks.outputs.write_batch_outputs`); the run's ``write_outputs`` step writes the rest.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from datetime import date

from linerec.infra.db import query, run_transaction
from tasks.context import engine, quarantine
from tasks.pages import model_recognizer, read_and_recognize_pages
from tasks.registry import production_model

log = logging.getLogger(__name__)

STAGE = "recognition"
_DOCUMENT_TEXT_LOCK = 72110005  # serialises document_text refreshes of concurrent batches


def _model_id(conn, model_version: str | None) -> int:
    """The id of the model registered as ``model_version``, else of the production model; ``LookupError``
    when there is no such model."""
    if not model_version:
        model = production_model(conn)
        if model is None:
            raise LookupError("no production model: run the training DAG (or `linerec bootstrap-model`) first")
        return model.model_id
    model_id = conn.execute(query("model_id_by_version"), {"v": model_version}).scalar()
    if model_id is None:
        raise LookupError(f"no model with version {model_version!r}")
    return model_id


def open_recognition_run(logical_date: str | date, model_version: str | None = None) -> int:
    """Open (or reopen, on a rerun) the run of a model for ``logical_date``; returns its id.

    Parameters
    ----------
    logical_date
        The run's date (``YYYY-MM-DD`` or a date).
    model_version
        Read with this registered model instead of the production model.

    Notes
    -----
    The first open fixes the run's page cutoff; a reopen keeps it (see ``open_nightly_run.sql``).
    """
    with engine().begin() as conn:
        model_id = _model_id(conn, model_version)
        return conn.execute(query("open_nightly_run"), {"model": model_id, "d": str(logical_date)}).scalar_one()


def pending_batches(run_id: int, batch_size: int = 32) -> list[list[int]]:
    """Split the pages the run still has to read into batches of page ids (oldest first)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    with engine().connect() as conn:
        pending = [r[0] for r in conn.execute(query("run_pending_pages"), {"run": run_id})]
    batches = [pending[i : i + batch_size] for i in range(0, len(pending), batch_size)]
    log.info("recognition run %s: %d pending pages in %d batches", run_id, len(pending), len(batches))
    return batches


def _copy_rows(conn, rows: list[tuple], statement: str) -> int:
    """COPY prediction rows (CSV through a buffer) with the named COPY statement; returns the row count."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    buf.seek(0)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.copy_expert(query(statement).text, buf)
        return cursor.rowcount
    finally:
        cursor.close()


def _insert_predictions(conn, rows: list[tuple]) -> int:
    """Insert prediction rows, skipping lines already written; returns the rows inserted.

    The rows are copied straight into ``predictions`` under a savepoint. Only when a line is
    already there (a batch recomputed, or run twice at once) does that fail on the unique key;
    the rows then go through a staging table and ``INSERT ... ON CONFLICT DO NOTHING``.
    """
    import psycopg2.errors

    try:
        with conn.begin_nested():
            return _copy_rows(conn, rows, "copy_predictions")
    except psycopg2.errors.UniqueViolation:
        log.info("some of %d lines were already written; inserting the others", len(rows))
    conn.execute(query("stage_predictions"))
    _copy_rows(conn, rows, "copy_prediction_stage")
    return conn.execute(query("insert_staged_predictions")).rowcount


def write_batch(
    conn, run_id: int, model_id: int, rows: list[tuple], results: list[dict], blocks: list[dict] | None = None
) -> int:
    """Write one batch's blocks, predictions, page results and document text in the caller's transaction.

    Parameters
    ----------
    conn
        A SQLAlchemy connection inside ``engine.begin()``.
    rows
        Prediction tuples ``(run, model, document, page, line_no, x, y, w, h, text, confidence)``,
        optionally followed by the line's ``block_no`` on its page and its geometry (JSON text,
        see :func:`line_geometry`).
    results
        ``{"page", "lines", "error"}`` per page read.
    blocks
        The pages' text blocks: ``{"page_id", "block_no", "kind", "x", "y", "w", "h", "rect_x",
        "rect_y", "rect_w", "rect_h", "rotation"}`` each. Blocks a model already found on a page
        are kept as they are, and a row's ``block_no`` is resolved to that block's id.

    Returns
    -------
    int
        Prediction rows inserted (0 for lines that were already written).
    """
    block_ids: dict[tuple[int, int], int] = {}
    if blocks:
        conn.execute(query("insert_blocks"), {"run": run_id, "model": model_id, "blocks": json.dumps(blocks)})
        pages = sorted({b["page_id"] for b in blocks})
        block_ids = {
            (r.page_id, r.block_no): r.block_id
            for r in conn.execute(query("page_block_ids"), {"model": model_id, "pages": pages})
        }
    full = [
        row[:11]
        + ((block_ids[(row[3], row[11])] if row[11] is not None else None, row[12]) if len(row) > 11 else (None, None))
        for row in rows
    ]
    inserted = 0
    if full:
        inserted = _insert_predictions(conn, full)
    if results:
        conn.execute(query("insert_page_result"), [dict(r, model=model_id, run=run_id) for r in results])
    documents = sorted({row[2] for row in rows})
    if documents:
        conn.execute(query("advisory_xact_lock"), {"k": _DOCUMENT_TEXT_LOCK})
        conn.execute(query("refresh_document_text"), {"docs": documents})
    return inserted


def line_geometry(rect, words) -> str:
    """A line's ``predictions.geometry``: its rotated rectangle and its words' page quadrilaterals.

    Parameters
    ----------
    rect : tuple
        The line's ``(x, y, w, h, rotation)``.
    words : list of linerec.model.words.WordSpan
        The line's words in crop columns.

    Returns
    -------
    str
        ``{"rect": [x, y, w, h, rotation], "words": [[text, confidence, x0, y0, ..., x3, y3], ...]}``
        as JSON (corners top-left, top-right, bottom-right, bottom-left; page pixels).
    """
    from linerec.model.words import to_page

    placed = []
    for word in words:
        corners = to_page(rect, word.x0, word.x1)
        placed.append(
            [word.text, round(float(word.confidence), 4)] + [int(round(v)) for point in corners for v in point]
        )
    x, y, w, h, rotation = rect
    return json.dumps(
        {"rect": [int(x), int(y), int(w), int(h), round(float(rotation), 4)], "words": placed},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def recognize_batch(run_id: int, page_ids: list[int], page_data: dict[int, bytes] | None = None) -> dict:
    """Segment and recognize ``page_ids``; write the batch's blocks and predictions in one transaction.

    A page already done by the run's model is skipped; rerunning a batch replaces nothing and
    duplicates nothing. A page that cannot be read (object missing, bytes not those recorded,
    undecodable, segmentation failing) or whose lines alone fail recognition is quarantined with
    its reason and the batch goes on; a service outage fails the batch and writes nothing. The
    model's files are checked against their recorded sha256 before it is loaded.

    Parameters
    ----------
    run_id
        The recognition run (:func:`open_recognition_run`).
    page_ids
        The batch's pages (one of :func:`pending_batches`).
    page_data
        When given, filled once the batch is committed with the checked bytes of the pages it
        read (page id -> bytes), from which the caller writes the outputs of the documents the
        batch completed (:func:`tasks.outputs.write_batch_outputs`) without reading them again.

    Returns
    -------
    dict
        ``run_id``, ``pages``, ``lines``, ``inserted``, ``document_ids`` (the documents of the pages
        read) and seconds: from the first page read to the commit (``seconds``), waiting for pages
        (download + decode + segment, not hidden behind inference), in inference, writing, and
        planning and loading the model before (``setup_s``).
    """
    eng = engine()
    t0 = time.perf_counter()

    def plan(conn):
        model = conn.execute(query("recognition_run"), {"r": run_id}).one().model_id
        return model, conn.execute(query("batch_pages"), {"model": model, "ids": list(page_ids)}).all()

    model_id, pages = run_transaction(eng, plan, f"planning batch of run {run_id}")
    recognizer = model_recognizer(model_id)
    t_read = time.perf_counter()
    read, timing = read_and_recognize_pages(recognizer, pages, keep_data=page_data is not None)
    t_write = time.perf_counter()
    rows, results, blocks = [], [], []
    for r in read:
        page = r["page"]
        block_of = [n for n, (_, _, _, count) in enumerate(r["blocks"], start=1) for _ in range(count)]
        for n, (kind, bbox, rect, _) in enumerate(r["blocks"], start=1):
            blocks.append(
                {
                    "page_id": page.page_id,
                    "block_no": n,
                    "kind": kind,
                    **dict(zip("xywh", (int(v) for v in bbox))),
                    **dict(zip(("rect_x", "rect_y", "rect_w", "rect_h"), (int(v) for v in rect[:4]))),
                    "rotation": float(rect[4]),
                }
            )
        for line_no, (box, rect, block_no, (text, conf, words)) in enumerate(
            zip(r["boxes"], r["rects"], block_of, r["texts"]), start=1
        ):
            rows.append(
                (
                    run_id,
                    model_id,
                    page.document_id,
                    page.page_id,
                    line_no,
                    int(box[0]),
                    int(box[1]),
                    int(box[2]),
                    int(box[3]),
                    text,
                    min(max(float(conf), 0.0), 1.0),
                    block_no,
                    line_geometry(rect, words),
                )
            )
        results.append({"page": page.page_id, "lines": len(r["boxes"]), "error": r["error"]})

    def write(conn) -> int:  # one transaction, rerun whole if Postgres goes away meanwhile
        for r in read:
            if r["error"]:
                quarantine(conn, STAGE, f"page:{r['page'].page_id}", r["error"], {"s3_key": r["page"].s3_key})
        return write_batch(conn, run_id, model_id, rows, results, blocks)

    inserted = run_transaction(eng, write, f"writing batch of run {run_id} ({len(rows)} lines)")
    t_end = time.perf_counter()
    if page_data is not None:
        page_data.update((r["page"].page_id, r.pop("data")) for r in read if r.get("data"))
    stats = {
        "run_id": run_id,
        "pages": len(results),
        "lines": len(rows),
        "inserted": inserted,
        "document_ids": sorted({page.document_id for page in pages}),
        "seconds": round(t_end - t_read, 3),
        "read_wait_s": round(timing["read_wait_s"], 3),
        "recognize_s": round(timing["recognize_s"], 3),
        "write_s": round(t_end - t_write, 3),
        "setup_s": round(t_read - t0, 3),
    }
    log.info("recognized batch: %s", stats)
    return stats


def finish_recognition(run_id: int) -> dict:
    """Close the run with its totals (pages, lines) from the rows actually written."""
    with engine().begin() as conn:
        row = conn.execute(query("finish_recognition_run"), {"r": run_id}).one()
    return dict(row._mapping)
