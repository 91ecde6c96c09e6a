"""Step 5: nightly batch recognition of pages the production model has not seen yet.

A run is one (model, date). Its batches are planned from the pages registered before the run was
first opened, so a rerun of the date reads the same pages and writes the same rows. One batch:
a thread pool downloads, decodes and segments its pages while the model recognizes the lines of
the pages already read, in batched inference calls of ~128 lines; then the predictions go in with
COPY into a staging table and one ``INSERT ... ON CONFLICT DO NOTHING``, together with the page
results, the pages' text blocks and the searchable document text, in a single transaction.
Every prediction names its block (``predictions.block_id``) and keeps its line's rotated
rectangle and word boxes (``predictions.geometry``), from which :mod:`tasks.outputs` writes each
document's hOCR, ALTO, PAGE XML and searchable PDF: once the batch is committed, for its documents
the run has now read in full, from the page bytes the batch holds
(:func:`tasks.outputs.write_batch_outputs`); the run's ``write_outputs`` step writes the rest.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import lru_cache

import sqlalchemy as sa

from linerec.infra.db import query, run_transaction
from tasks.context import engine, quarantine, store
from tasks.outputs import write_batch_outputs
from tasks.registry import download_model

log = logging.getLogger(__name__)

STAGE = "recognition"
#: Threads that download, decode and segment the pages of a batch.
IO_THREADS = int(os.environ.get("LINEREC_IO_THREADS", "2"))
#: Lines per forward pass of the recognizer.
INFERENCE_BATCH = int(os.environ.get("LINEREC_INFERENCE_BATCH", "128"))
#: Lines read before they are recognized together: sorted by width, so that each forward pass
#: holds lines of similar width and pads little.
INFERENCE_POOL = int(os.environ.get("LINEREC_INFERENCE_POOL", "1024"))
#: Write the outputs of the documents a batch completes inside the batch (0: leave them all to the
#: run's write_outputs step).
BATCH_OUTPUTS = os.environ.get("LINEREC_BATCH_OUTPUTS", "1") != "0"
_DOCUMENT_TEXT_LOCK = 72110005  # serialises document_text refreshes of concurrent batches


def production_model_id(conn) -> int:
    """The id of the production model; ``LookupError`` when there is none."""
    model_id = conn.execute(sa.text("SELECT model_id FROM models WHERE status = 'production'")).scalar()
    if model_id is None:
        raise LookupError("no production model: run the training DAG (or `linerec models bootstrap`) first")
    return model_id


def _model_id(conn, model_version: str | None) -> int:
    if not model_version:
        return production_model_id(conn)
    model_id = conn.execute(sa.text("SELECT model_id FROM models WHERE version = :v"), {"v": model_version}).scalar()
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
    batches = [pending[i:i + batch_size] for i in range(0, len(pending), batch_size)]
    log.info("recognition run %s: %d pending pages in %d batches", run_id, len(pending), len(batches))
    return batches


def _recognizer(model_id: int):
    return _load_recognizer(str(download_model(model_id)))


@lru_cache(maxsize=2)
def _load_recognizer(model_dir: str):
    """One loaded model per process, keyed by its files' folder (named by model version)."""
    from linerec.model.recognizer import Recognizer

    return Recognizer.load(model_dir, batch_size=INFERENCE_BATCH)


def read_page(st, page, keep_data: bool = False) -> dict:
    """Download, check, decode and segment one page; returns its blocks, line boxes and crops (or its error).

    ``boxes`` are axis-aligned in page pixels, ``rects`` the lines' rotated rectangles
    ``(x, y, w, h, rotation)``; crops are cut upright along the page's skew. ``blocks`` holds
    ``(kind, bbox, rect, number of lines)`` per text block in reading order; the lines are those
    of the blocks in turn. A page
    that cannot be read (its object missing or unsafe, its bytes not those recorded in
    ``pages.sha256``, undecodable, or failing segmentation) returns no box and the reason in
    ``error``; only a service outage (:class:`~linerec.infra.endpoints.ServiceUnavailable`) or a
    refused credential raises, as it is no fault of the page. With ``keep_data``, a page read keeps
    its checked bytes in ``data`` (the batch writes its documents' searchable PDFs from them).
    """
    from botocore.exceptions import ClientError

    from linerec.vision.images import BadImage, decode_page
    from linerec.vision.layout import analyze_page
    from linerec.infra.storage import sha256_bytes

    def failed(reason: str) -> dict:
        return {"page": page, "boxes": [], "crops": [], "rects": [], "blocks": [], "error": reason}

    try:
        data = st.get_bytes(page.s3_key)
    except ValueError as exc:  # an unsafe key
        return failed(str(exc))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        return failed(f"{page.s3_key}: no such object")
    recorded = getattr(page, "sha256", None)
    if recorded and sha256_bytes(data) != recorded:
        return failed(f"{page.s3_key}: bytes differ from the recorded sha256 {recorded}")
    try:
        image = decode_page(data, page.s3_key)  # (H, W) uint8
    except BadImage as exc:
        return failed(str(exc))
    kept = data if keep_data else None
    del data
    try:
        layout = analyze_page(image)  # blocks, then lines block by block in reading order
        return {"page": page, "boxes": [line.bbox for line in layout.lines], "crops": layout.crops(image),
                "rects": [line.rect for line in layout.lines],
                "blocks": [(block.kind, block.bbox, block.rect, len(block.lines)) for block in layout.blocks],
                "data": kept, "error": None}
    except Exception as exc:  # noqa: BLE001 - one page's failure must not fail its batch
        log.exception("segmentation of page %s failed", page.page_id)
        return failed(f"{page.s3_key}: segmentation failed ({type(exc).__name__}: {str(exc)[:300]})")


def iter_read_pages(pages, threads: int = IO_THREADS, keep_data: bool = False):
    """Yield :func:`read_page` results in input order while ``threads`` threads read ahead.

    The threads download, decode and segment (PIL, OpenCV and numpy release the GIL), so the
    caller can run inference on the pages already read meanwhile.
    """
    st = store()
    _ = st.client  # create the (thread-safe) client once, before the threads share it
    if len(pages) <= 1 or threads <= 1:
        yield from (read_page(st, p, keep_data) for p in pages)
        return
    with ThreadPoolExecutor(max_workers=min(threads, len(pages)), thread_name_prefix="read-page") as pool:
        futures = [pool.submit(read_page, st, p, keep_data) for p in pages]
        for future in futures:
            yield future.result()


def read_pages(pages, threads: int = IO_THREADS) -> list[dict]:
    """:func:`read_page` for every page, ``threads`` at a time, in input order."""
    return list(iter_read_pages(pages, threads))


def recognize_pages(recognizer, pages, pool: int = INFERENCE_POOL, keep_data: bool = False) -> tuple[list[dict], dict]:
    """Read ``pages`` concurrently and recognize their lines once about ``pool`` lines are read.

    The recognizer sorts the pooled lines by width before it cuts them into forward passes, so a
    large pool pads little. With pools of one pass (128 lines), each pass was padded to the widest
    of a few pages' lines, and end to end was 15-23% slower in paired runs. The reading threads
    go on while a pool is recognized.

    Returns
    -------
    (list of dict, dict)
        Per page (input order): ``page``, ``boxes``, ``rects``, ``blocks``, ``texts``
        (``(text, confidence, words)`` per box: see :func:`read_lines`) and ``error``; and the seconds spent waiting for pages (``read_wait_s``) and in
        inference (``recognize_s``).
    """
    done, waiting, timing = [], [], {"read_wait_s": 0.0, "recognize_s": 0.0}

    def flush():
        crops = [c for r in waiting for c in r["crops"]]
        t0 = time.perf_counter()
        try:
            outputs = iter(read_lines(recognizer, crops) if crops else [])
        except Exception:  # noqa: BLE001 - find the page at fault: recognize page by page
            log.exception("recognizing %d lines of %d pages failed; recognizing them page by page",
                          len(crops), len(waiting))
            outputs = iter(_recognize_each(recognizer, waiting))
        timing["recognize_s"] += time.perf_counter() - t0
        for r in waiting:
            r["texts"] = [next(outputs) for _ in r["boxes"]]
            del r["crops"]
            done.append(r)
        waiting.clear()

    reader = iter_read_pages(pages, keep_data=keep_data)
    while True:
        t0 = time.perf_counter()
        r = next(reader, None)
        timing["read_wait_s"] += time.perf_counter() - t0
        if r is None:
            break
        waiting.append(r)
        if sum(len(w["crops"]) for w in waiting) >= pool:
            flush()
    flush()
    return done, timing


def read_lines(recognizer, crops) -> list[tuple[str, float, list]]:
    """Text, confidence and word spans (:class:`linerec.model.words.WordSpan`, crop columns) per line crop.

    Words come from :meth:`linerec.model.recognizer.Recognizer.recognize_words` (the same texts and
    confidences as ``recognize``, plus the CTC alignment); a recognizer that places no words
    (it has ``recognize`` only) gives lines without words, which the output formats write as
    one word per line.
    """
    if hasattr(recognizer, "recognize_words"):
        return recognizer.recognize_words(crops)
    return [(text, conf, []) for text, conf in recognizer.recognize(crops)]


def _recognize_each(recognizer, pages: list[dict]) -> list:
    """Recognize the lines of each page on its own; a page whose lines fail gets its ``error`` set
    and no box (so the other pages of the batch keep their lines).

    When no page with lines can be recognized on its own either, the fault is not a page's (the
    model, the runtime, memory): the last error is raised, so that the batch fails and is retried
    instead of quarantining every page.
    """
    outputs, failed, last = [], [], None
    for r in pages:
        if not r["crops"]:
            continue
        try:
            outputs += list(read_lines(recognizer, r["crops"]))
        except Exception as exc:  # noqa: BLE001 - quarantined with the reason
            failed.append(r)
            last = exc
            r["error"] = (f"{r['page'].s3_key}: recognition failed ({type(exc).__name__}: {str(exc)[:300]})")
    if failed and len(failed) == sum(1 for r in pages if r["crops"]):
        raise last
    for r in failed:
        r.update(boxes=[], crops=[], rects=[], blocks=[])
    return outputs


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


def write_batch(conn, run_id: int, model_id: int, rows: list[tuple], results: list[dict],
                blocks: list[dict] | None = None) -> int:
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
        block_ids = {(r.page_id, r.block_no): r.block_id
                     for r in conn.execute(query("page_block_ids"), {"model": model_id, "pages": pages})}
    full = [row[:11] + ((block_ids[(row[3], row[11])] if row[11] is not None else None, row[12])
                        if len(row) > 11 else (None, None)) for row in rows]
    inserted = 0
    if full:
        inserted = _insert_predictions(conn, full)
    if results:
        conn.execute(query("insert_page_result"), [dict(r, model=model_id, run=run_id) for r in results])
    documents = sorted({row[2] for row in rows})
    if documents:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DOCUMENT_TEXT_LOCK})
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
        placed.append([word.text, round(float(word.confidence), 4)]
                      + [int(round(v)) for point in corners for v in point])
    x, y, w, h, rotation = rect
    return json.dumps({"rect": [int(x), int(y), int(w), int(h), round(float(rotation), 4)], "words": placed},
                      ensure_ascii=False, separators=(",", ":"))


def recognize_batch(run_id: int, page_ids: list[int]) -> dict:
    """Segment and recognize ``page_ids``; write the batch's blocks and predictions in one transaction.

    A page already done by the run's model is skipped; rerunning a batch replaces nothing and
    duplicates nothing. A page that cannot be read (object missing, bytes not those recorded,
    undecodable, segmentation failing) or whose lines alone fail recognition is quarantined with
    its reason and the batch goes on; a service outage fails the batch and writes nothing. The
    model's files are checked against their recorded sha256 before it is loaded.

    Returns
    -------
    dict
        ``run_id``, ``pages``, ``lines``, ``inserted`` and seconds: in total, waiting for pages
        (download + decode + segment, not hidden behind inference), in inference, and writing.
    """
    eng = engine()
    t0 = time.perf_counter()
    def plan(conn):
        model = conn.execute(sa.text("SELECT model_id FROM recognition_runs WHERE recognition_run_id = :r"),
                             {"r": run_id}).scalar_one()
        return model, conn.execute(query("batch_pages"), {"model": model, "ids": list(page_ids)}).all()

    model_id, pages = run_transaction(eng, plan, f"planning batch of run {run_id}")
    recognizer = _recognizer(model_id)
    t_read = time.perf_counter()
    read, timing = recognize_pages(recognizer, pages, keep_data=BATCH_OUTPUTS)
    t_write = time.perf_counter()
    rows, results, blocks = [], [], []
    for r in read:
        page = r["page"]
        block_of = [n for n, (_, _, _, count) in enumerate(r["blocks"], start=1) for _ in range(count)]
        for n, (kind, bbox, rect, _) in enumerate(r["blocks"], start=1):
            blocks.append({"page_id": page.page_id, "block_no": n, "kind": kind,
                           **dict(zip("xywh", (int(v) for v in bbox))),
                           **dict(zip(("rect_x", "rect_y", "rect_w", "rect_h"), (int(v) for v in rect[:4]))),
                           "rotation": float(rect[4])})
        for line_no, (box, rect, block_no, (text, conf, words)) in enumerate(
                zip(r["boxes"], r["rects"], block_of, r["texts"]), start=1):
            rows.append((run_id, model_id, page.document_id, page.page_id, line_no, int(box[0]), int(box[1]),
                         int(box[2]), int(box[3]), text, min(max(float(conf), 0.0), 1.0), block_no,
                         line_geometry(rect, words)))
        results.append({"page": page.page_id, "lines": len(r["boxes"]), "error": r["error"]})
    def write(conn) -> int:  # one transaction, rerun whole if Postgres goes away meanwhile
        for r in read:
            if r["error"]:
                quarantine(conn, STAGE, f"page:{r['page'].page_id}", r["error"], {"s3_key": r["page"].s3_key})
        return write_batch(conn, run_id, model_id, rows, results, blocks)

    inserted = run_transaction(eng, write, f"writing batch of run {run_id} ({len(rows)} lines)")
    t_outputs = time.perf_counter()
    page_data = {r["page"].page_id: r.pop("data") for r in read if r.get("data")}
    outputs = write_batch_outputs(run_id, {page.document_id for page in pages}, page_data) if BATCH_OUTPUTS \
        else {"written": 0}
    t_end = time.perf_counter()
    stats = {"run_id": run_id, "pages": len(results), "lines": len(rows), "inserted": inserted,
             "seconds": round(t_end - t_read, 3), "read_wait_s": round(timing["read_wait_s"], 3),
             "recognize_s": round(timing["recognize_s"], 3), "write_s": round(t_outputs - t_write, 3),
             "outputs_s": round(t_end - t_outputs, 3), "documents_written": outputs["written"],
             "setup_s": round(t_read - t0, 3)}
    log.info("recognized batch: %s", stats)
    return stats


def finish_recognition(run_id: int) -> dict:
    """Close the run with its totals (pages, lines) from the rows actually written."""
    with engine().begin() as conn:
        row = conn.execute(query("finish_recognition_run"), {"r": run_id}).one()
    return dict(row._mapping)
