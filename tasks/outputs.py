"""Document outputs of a nightly run: each document's hOCR, ALTO, PAGE XML and searchable PDF.

A run writes the outputs of the documents it read a page of, once every page of the document
has been read by the run's model (a page registered after the run's cutoff waits for the next
run): mostly right after the recognition batch that completes the document, from the page bytes
that batch read (:func:`write_batch_outputs`, called by the nightly DAG's ``recognize`` task and
the Luigi graph), and in the run's ``write_outputs`` step for the rest
(:func:`write_run_outputs`). A document is rebuilt from Postgres (its blocks, lines in reading order, line rectangles
and word boxes, ``predictions.geometry``) and, for the PDF, its page images in S3: a one-page
JPEG scan's own bytes, which intake keeps (``DCTDecode``, as they came), else the canonical PNGs
intake stored, embedded as they are (:func:`linerec.formats.pdf.png_image`).

Objects are content-addressed, ``outputs/<sha256[:2]>/<sha256><suffix>`` (suffixes
:data:`linerec.formats.SUFFIXES`; PAGE XML one object per page), and uploaded before the
document's rows go into ``document_outputs``, in one transaction with the other documents
written with it (:data:`LOAD_CHUNK` at most): a row always names a whole object, a crash leaves
at most objects no row names, and a document is either fully recorded for a run or not at all.
Rendering is deterministic (PAGE XML's ``Created`` is the run's start), so a rerun renders the
same bytes to the same keys; documents already recorded for the run are
skipped. A document that cannot be written (a page that failed recognition, a page image that
is missing or not the recorded bytes, a rendering error) is quarantined with its name and the
reason, and the other documents go on; an S3 or Postgres outage fails the step.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from linerec.infra.config import get_settings
from linerec.infra.db import query, run_transaction
from tasks.context import engine, original_key, quarantine, store

log = logging.getLogger(__name__)

STAGE = "outputs"
FORMATS = ("hocr", "alto", "page", "pdf")
CONTENT_TYPES = {
    "hocr": "application/xhtml+xml",
    "alto": "application/xml",
    "page": "application/xml",
    "pdf": "application/pdf",
}
#: Documents rendered and uploaded at the same time inside a recognition batch (the batches themselves
#: run side by side); the run's write_outputs step takes ``LINEREC_OUTPUT_THREADS`` (uploads and reads
#: wait on S3 more than they compute). Whether the batches write outputs at all is
#: ``LINEREC_BATCH_OUTPUTS`` (:attr:`linerec.infra.config.Settings.batch_outputs`).
BATCH_OUTPUT_THREADS = 4


class OutputError(Exception):
    """A document whose outputs cannot be written; the message is the reason."""


def output_key(sha256: str, fmt: str) -> str:
    """The S3 key of an output object: ``outputs/<sha256[:2]>/<sha256><suffix>``."""
    from linerec.formats import SUFFIXES

    return f"outputs/{sha256[:2]}/{sha256}{SUFFIXES[fmt]}"


def _blocks_of_page(page_id: int, width: int, height: int, blocks: list, lines: list) -> list:
    """The page's :class:`linerec.document.model.TextBlock` list from its block and prediction rows.

    Lines written before blocks were stored (no ``block_id``) form one text block of their own
    after the page's blocks; a line without geometry is an unrotated rectangle without words.
    """
    from linerec.document.model import TextBlock, TextLine, Word, hull_box

    def line_of(row) -> TextLine:
        geometry = row.geometry or {}
        rect = tuple(geometry.get("rect") or (row.x, row.y, row.w, row.h, 0.0))
        words = []
        for text, conf, *corners in geometry.get("words", ()):
            polygon = tuple(zip(corners[0::2], corners[1::2]))
            words.append(Word(text, float(conf), hull_box(polygon, width, height), polygon))
        return TextLine(
            row.text,
            round(float(row.confidence), 4),
            (row.x, row.y, row.w, row.h),
            (int(rect[0]), int(rect[1]), int(rect[2]), int(rect[3]), float(rect[4])),
            tuple(words),
        )

    by_block: dict[int | None, list] = {}
    for row in lines:
        by_block.setdefault(row.block_id, []).append(row)
    out = []
    for b in blocks:
        members = by_block.pop(b.block_id, [])
        if members:
            out.append(
                TextBlock(
                    b.kind,
                    (b.x, b.y, b.w, b.h),
                    (b.rect_x, b.rect_y, b.rect_w, b.rect_h, float(b.rotation)),
                    tuple(line_of(r) for r in members),
                )
            )
    loose = [r for rows in by_block.values() for r in rows]
    if loose:
        loose.sort(key=lambda r: r.line_no)
        x0, y0 = min(r.x for r in loose), min(r.y for r in loose)
        x1, y1 = max(r.x + r.w for r in loose), max(r.y + r.h for r in loose)
        out.append(
            TextBlock(
                "text", (x0, y0, x1 - x0, y1 - y0), (x0, y0, x1 - x0, y1 - y0, 0.0), tuple(line_of(r) for r in loose)
            )
        )
    return out


def load_documents(conn, documents: dict[int, str], model_id: int) -> dict[int, list | OutputError]:
    """Documents' pages as :class:`linerec.document.reader.PageResult` (blocks, lines, words) and rows.

    Three queries for all of ``documents`` (document id -> name), whatever their number.

    Returns
    -------
    dict
        Per document id: per page in page order, ``(PageResult, row)`` with its ``pages`` row
        (``s3_key``, ``sha256``, ``page_no``); or the :class:`OutputError` saying why the document
        cannot be written (a page that failed recognition, no pages).
    """
    from linerec.document.reader import PageResult

    params = {"docs": sorted(documents), "model": model_id}
    pages: dict[int, list] = {}  # document_id -> its page rows
    for p in conn.execute(query("document_output_pages"), params):
        pages.setdefault(p.document_id, []).append(p)
    blocks: dict[int, list] = {}  # page_id -> its block rows
    lines: dict[int, list] = {}  # page_id -> its line rows
    for b in conn.execute(query("document_output_blocks"), params):
        blocks.setdefault(b.page_id, []).append(b)
    for row in conn.execute(query("document_output_lines"), params):
        lines.setdefault(row.page_id, []).append(row)
    out: dict[int, list | OutputError] = {}
    for document_id, name in documents.items():
        rows = pages.get(document_id, [])
        failed = next((p for p in rows if p.error), None)
        if failed is not None:
            out[document_id] = OutputError(f"page {failed.page_no} could not be recognized ({failed.error})")
        elif not rows:
            out[document_id] = OutputError("the document has no pages")
        else:
            out[document_id] = [
                (
                    PageResult(
                        name,
                        p.page_no,
                        [],
                        p.width,
                        p.height,
                        _blocks_of_page(
                            p.page_id, p.width, p.height, blocks.get(p.page_id, []), lines.get(p.page_id, [])
                        ),
                    ),
                    p,
                )
                for p in rows
            ]
    return out


def render_document(name: str, pages: list, images: list, version: str, created) -> list[tuple[str, int | None, bytes]]:
    """Every output of one document: ``(format, page_no or None, bytes)``.

    Parameters
    ----------
    name : str
        The document's name (recorded in the outputs).
    pages : list of (PageResult, row)
        From :func:`load_documents`.
    images : list of linerec.formats.pdf.PdfImage
        The page images, one per page.
    version : str
        The model version (the outputs' producer version).
    created : datetime
        PAGE XML's ``Created``/``LastChange`` (the run's start, so a rerun renders the same bytes).
    """
    from linerec.formats.alto import to_alto
    from linerec.formats.hocr import to_hocr
    from linerec.formats.pagexml import to_page_xml
    from linerec.formats.pdf import to_pdf

    results = [p for p, _ in pages]
    out: list[tuple[str, int | None, bytes]] = [
        ("hocr", None, to_hocr(name, results, system=f"linerec {version}")),
        ("alto", None, to_alto(name, results, software="linerec", version=version)),
    ]
    for result, row in pages:
        out.append(
            ("page", row.page_no, to_page_xml(row.s3_key, result, creator=f"linerec {version}", created=created))
        )
    out.append(("pdf", None, to_pdf(results, images, title=name)))
    return out


def _jpeg_image(row, data: bytes):
    """The page as a PDF image from its document's original JPEG bytes (``DCTDecode``, as they
    came), or ``None`` when they do not make one of the page's size (then the canonical PNG is
    embedded)."""
    from linerec.formats.pdf import page_images
    from linerec.vision.images import PDF_DPI

    try:
        images = list(page_images(data, PDF_DPI))
    except Exception:  # noqa: BLE001 - the canonical page is embedded instead
        return None
    if len(images) == 1 and (images[0].width, images[0].height) == (row.width, row.height):
        return images[0]
    return None


def _original_jpeg(st, row, data: bytes | None = None):
    """The page as a PDF image from its document's original JPEG (:func:`_jpeg_image`), or
    ``None``: not a one-page JPEG, kept before intake kept originals, or not the page's size.

    ``data``: bytes the caller holds for the page (a recognition batch that read the page from
    its original); used when they are the original's, which is otherwise read from S3.
    """
    from botocore.exceptions import ClientError

    from linerec.infra.storage import sha256_bytes

    sha = getattr(row, "jpeg_sha256", None)
    if not sha:
        return None
    if data is not None and sha256_bytes(data) == sha:
        return _jpeg_image(row, data)
    try:
        data = st.get_bytes(original_key(sha))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        return None
    if sha256_bytes(data) != sha:
        raise OutputError(f"page {row.page_no}: {original_key(sha)}: bytes differ from the recorded sha256 {sha}")
    return _jpeg_image(row, data)


def _page_image(st, row, data: bytes | None = None):
    """The page's image as a PDF image: its original JPEG when intake kept one
    (:func:`_original_jpeg`), else the canonical page, checked against the recorded sha256.

    ``data``: the page's bytes when the caller holds them already (a recognition batch, which
    checked them when it read the page): the original JPEG's or the canonical page's; what is
    not in hand is read from S3.
    """
    from botocore.exceptions import ClientError

    from linerec.formats.pdf import page_images
    from linerec.infra.storage import sha256_bytes
    from linerec.vision.images import JPEG_MAGIC, PDF_DPI

    held_jpeg = data is not None and data[:3] == JPEG_MAGIC  # canonical pages are PNGs
    original = _original_jpeg(st, row, data if held_jpeg else None)
    if original is not None:
        return original
    if held_jpeg:
        data = None  # the original's bytes, which do not make the page: the canonical page is read
    if data is None:
        try:
            data = st.get_bytes(row.s3_key)
        except ValueError as exc:
            raise OutputError(str(exc)) from None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            raise OutputError(f"page {row.page_no}: {row.s3_key}: no such object") from None
        if sha256_bytes(data) != row.sha256:
            raise OutputError(f"page {row.page_no}: {row.s3_key}: bytes differ from the recorded sha256 {row.sha256}")
    try:
        images = list(page_images(data, PDF_DPI))
    except Exception as exc:  # noqa: BLE001 - an undecodable image is this document's fault
        raise OutputError(f"page {row.page_no}: {row.s3_key}: unreadable image ({type(exc).__name__}: {exc})") from None
    if len(images) != 1:
        raise OutputError(f"page {row.page_no}: {row.s3_key}: {len(images)} images where one page was expected")
    return images[0]


def upload_document(run: dict, document_id: int, name: str, pages: list, page_data: dict | None = None) -> list[dict]:
    """Render and upload one document's outputs; returns the ``document_outputs`` rows to record.

    ``pages``: the document as :func:`load_documents` gave it. ``page_data`` maps page ids to
    page bytes already in hand (checked against their sha256); the other pages' images are read
    from S3. The rows are recorded by the caller, all of a document's in one transaction
    (:func:`record_outputs`).

    Raises
    ------
    OutputError
        The document cannot be written (the reason); nothing of it is recorded.
    """
    from linerec.infra.storage import sha256_bytes

    st = store()
    images = [_page_image(st, row, (page_data or {}).get(row.page_id)) for _, row in pages]
    try:
        rendered = render_document(name, pages, images, run["model_version"], run["started_at"])
    except Exception as exc:  # noqa: BLE001 - one document's failure never stops the others
        log.exception("rendering the outputs of %s failed", name)
        raise OutputError(f"rendering failed ({type(exc).__name__}: {str(exc)[:300]})") from None
    rows = []
    for fmt, page_no, body in rendered:
        sha = sha256_bytes(body)
        key = output_key(sha, fmt)
        st.put_bytes(key, body, CONTENT_TYPES[fmt], sha256=sha)
        rows.append(
            {
                "doc": document_id,
                "run": run["run_id"],
                "format": fmt,
                "page_no": page_no,
                "key": key,
                "sha": sha,
                "bytes": len(body),
            }
        )
    return rows


def record_outputs(rows: list[dict], what: str) -> None:
    """Record uploaded outputs in ``document_outputs``, in one transaction (so each document whose
    rows are among them is recorded whole or not at all)."""
    if not rows:
        return

    def record(conn):
        conn.execute(query("insert_document_output"), rows)

    run_transaction(engine(), record, f"recording the outputs of {what}")


def _run(conn, run_id: int) -> dict:
    """The run's id, model, start and model version (what every output of the run records)."""
    return conn.execute(query("recognition_run"), {"r": run_id}).one()._asdict()


#: Documents loaded from Postgres together (:func:`load_documents`) before they are written.
LOAD_CHUNK = 64


def _write_documents(run: dict, documents: list, threads: int, page_data: dict | None = None) -> list[dict]:
    """Write documents: :data:`LOAD_CHUNK` at a time, each chunk loaded in one go
    (:func:`load_documents`), its documents uploaded ``threads`` at a time
    (:func:`upload_document`) and then recorded together in one transaction
    (:func:`record_outputs`). Per document ``{"document", "objects", "bytes"}``, or
    ``{"document": name, "error": reason}`` for one that cannot be written."""
    store()  # one client, created before the threads share it
    eng = engine()

    def one(doc, loaded):
        try:
            if isinstance(loaded, OutputError):
                raise loaded
            rows = upload_document(run, doc.document_id, doc.name, loaded, page_data)
        except OutputError as exc:
            return {"document": doc.name, "error": str(exc)}, []
        return {"document": doc.name, "objects": len(rows), "bytes": sum(r["bytes"] for r in rows)}, rows

    done: list[dict] = []
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="outputs") if threads > 1 else None
    try:
        for start in range(0, len(documents), LOAD_CHUNK):
            chunk = documents[start : start + LOAD_CHUNK]
            with eng.connect() as conn:
                loaded = load_documents(conn, {d.document_id: d.name for d in chunk}, run["model_id"])
            args = [(d, loaded[d.document_id]) for d in chunk]
            if pool is not None and len(chunk) > 1:
                results = list(pool.map(lambda a: one(*a), args))
            else:
                results = [one(*a) for a in args]
            record_outputs([row for _, rows in results for row in rows], f"{len(results)} documents")
            done += [stats for stats, _ in results]
    finally:
        if pool is not None:
            pool.shutdown()
    return done


def write_batch_outputs(run_id: int, document_ids, page_data: dict, threads: int = BATCH_OUTPUT_THREADS) -> dict:
    """Write, after a recognition batch, the outputs of its documents that the run has now read in full.

    Called once the batch's predictions are committed, with the batch's documents and the page
    bytes it read (:func:`tasks.nightly_recognition.recognize_batch` hands them over), so those
    pages are not read from S3 again; with ``LINEREC_BATCH_OUTPUTS=0`` (``Settings.batch_outputs``)
    the callers leave every document to the ``write_outputs`` step instead. A document that other
    batches have still to read waits for the batch that completes it, or for the run's
    ``write_outputs`` step, which writes whatever the batches did not (a document spread over
    batches running at the same time, a batch rerun, a document that failed here). A document that
    cannot be written is left to that step, which quarantines it with the reason; an S3 or
    Postgres outage raises.

    Returns
    -------
    dict
        ``documents_complete`` (documents of the batch the run has read in full),
        ``documents_written``, ``documents_deferred`` (names left to the step) and ``outputs_s``
        (seconds).
    """
    t0 = time.perf_counter()
    eng = engine()
    with eng.connect() as conn:
        run = _run(conn, run_id)
        documents = conn.execute(
            query("batch_output_documents"), {"run": run_id, "docs": sorted({int(d) for d in document_ids})}
        ).all()
    done = _write_documents(run, [d for d in documents if not d.written], threads, page_data)
    for d in done:
        if "error" in d:
            log.warning("outputs of %s left to the run's write_outputs step: %s", d["document"], d["error"])
    return {
        "documents_complete": len(documents),
        "documents_written": sum(1 for d in done if "error" not in d),
        "documents_deferred": [d["document"] for d in done if "error" in d],
        "outputs_s": round(time.perf_counter() - t0, 3),
    }


def write_run_outputs(run_id: int, threads: int | None = None) -> dict:
    """Write the outputs of every document the run completed (see the module docstring).

    Parameters
    ----------
    run_id
        The recognition run.
    threads
        Documents rendered and uploaded at the same time (default ``LINEREC_OUTPUT_THREADS``:
        :attr:`linerec.infra.config.Settings.output_threads`).

    Returns
    -------
    dict
        ``run_id``, ``documents`` (complete documents of the run), ``written`` (documents written
        now), ``skipped`` (already recorded for the run), ``objects``, ``bytes``, ``failed``
        (``"NAME: reason"`` per document not written) and ``seconds``.
    """
    t0 = time.perf_counter()
    eng = engine()
    with eng.connect() as conn:
        run = _run(conn, run_id)
        documents = conn.execute(query("run_output_documents"), {"run": run_id}).all()
    todo = [d for d in documents if not d.written]
    done = _write_documents(run, todo, threads or get_settings().output_threads)
    failed = [d for d in done if "error" in d]
    if failed:

        def record(conn):
            for d in failed:
                quarantine(conn, STAGE, f"document:{d['document']}", d["error"], {"recognition_run_id": run_id})

        run_transaction(eng, record, f"quarantining {len(failed)} documents of run {run_id}")
    written = [d for d in done if "error" not in d]
    stats = {
        "run_id": run_id,
        "documents": len(documents),
        "written": len(written),
        "skipped": len(documents) - len(todo),
        "objects": sum(d["objects"] for d in written),
        "bytes": sum(d["bytes"] for d in written),
        "failed": [f"{d['document']}: {d['error']}" for d in failed],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    for message in stats["failed"]:
        log.error("outputs not written: %s", message)
    log.info("document outputs of run %s: %s", run_id, {k: v for k, v in stats.items() if k != "failed"})
    return stats
