"""Reading stored pages and recognizing their lines: the path the nightly run and the monitor share.

:func:`read_page` downloads one page from S3, checks its bytes against the sha256 recorded for it,
decodes it and cuts it into text blocks and line crops; :func:`iter_read_pages` does so for many
pages with threads that read ahead; :func:`read_and_recognize_pages` recognizes the lines of the
pages read in pooled forward passes while the threads go on reading. :func:`model_recognizer`
loads a registered model once per process. Nothing here writes to the database.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from linerec.infra.config import get_settings
from tasks.context import original_key, store
from tasks.registry import download_model

log = logging.getLogger(__name__)


def model_recognizer(model_id: int):
    """The :class:`linerec.model.recognizer.Recognizer` of registered model ``model_id``, loaded once per
    process, from files checked against their recorded sha256 (:func:`tasks.registry.download_model`)."""
    return _load_recognizer(str(download_model(model_id)))


@lru_cache(maxsize=2)
def _load_recognizer(model_dir: str):
    """One loaded model per process, keyed by its files' folder (named by model version)."""
    from linerec.model.recognizer import Recognizer

    return Recognizer.load(model_dir, batch_size=get_settings().inference_batch)


def read_page(st, page, keep_data: bool = False) -> dict:
    """Download, check, decode and segment one page; returns its blocks, line boxes and crops (or its error).

    ``boxes`` are axis-aligned in page pixels, ``rects`` the lines' rotated rectangles
    ``(x, y, w, h, rotation)``; crops are cut upright along the page's skew. ``blocks`` holds
    ``(kind, bbox, rect, number of lines)`` per text block in reading order; the lines are those
    of the blocks in turn. A page that cannot be read (its object missing or unsafe, its bytes not
    those recorded in ``pages.sha256``, undecodable, or failing segmentation) returns no box and
    the reason in ``error``; only a service outage (:class:`~linerec.infra.endpoints.ServiceUnavailable`)
    or a refused credential raises, as it is no fault of the page. With ``keep_data``, a page read
    keeps its checked bytes in ``data`` (a nightly batch hands them on, for its documents'
    searchable PDFs): the canonical PNG's, or the original JPEG's when the page was read from
    those (:func:`_read_original`).
    """
    from botocore.exceptions import ClientError

    from linerec.infra.storage import sha256_bytes
    from linerec.vision.images import BadImage, decode_canonical_png
    from linerec.vision.layout import analyze_page

    def failed(reason: str) -> dict:
        return {"page": page, "boxes": [], "crops": [], "rects": [], "blocks": [], "error": reason}

    image, data = _read_original(st, page)
    if image is None:
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
            image = decode_canonical_png(data, page.s3_key)  # (H, W) uint8
        except BadImage as exc:
            return failed(str(exc))
    kept = data if keep_data else None
    del data
    try:
        layout = analyze_page(image)  # blocks, then lines block by block in reading order
        return {
            "page": page,
            "boxes": [line.bbox for line in layout.lines],
            "crops": layout.crops(image),
            "rects": [line.rect for line in layout.lines],
            "blocks": [(block.kind, block.bbox, block.rect, len(block.lines)) for block in layout.blocks],
            "data": kept,
            "error": None,
        }
    except Exception as exc:  # noqa: BLE001 - one page's failure must not fail its batch
        log.exception("segmentation of page %s failed", page.page_id)
        return failed(f"{page.s3_key}: segmentation failed ({type(exc).__name__}: {str(exc)[:300]})")


def _read_original(st, page):
    """The page decoded from its file's original JPEG, and those bytes, or ``(None, None)``.

    Intake records, for a page whose one-page JPEG file decodes exactly to the canonical page, the
    file's sha256 and the pixels' CRC-32 (``pages.original_sha256``, ``pages.pixels_crc32``).
    Reading those bytes costs a third of the canonical PNG's and decoding them less than half; the
    pixels are checked against the CRC, so the page read is the canonical page. Whatever does not
    hold (no original recorded, the object missing or changed, another decoder on this machine)
    falls back to the canonical PNG, with a warning when something recorded did not hold.
    """
    from botocore.exceptions import ClientError

    from linerec.infra.storage import sha256_bytes
    from linerec.vision.images import decode_jpeg_gray, pixels_crc32

    sha, crc = getattr(page, "original_sha256", None), getattr(page, "pixels_crc32", None)
    if not sha or crc is None:
        return None, None
    key = original_key(sha)
    try:
        data = st.get_bytes(key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        log.warning("page %s: %s: no such object; reading its canonical PNG", page.page_id, key)
        return None, None
    if sha256_bytes(data) != sha:
        log.warning("page %s: %s: bytes differ from the recorded sha256; reading its canonical PNG", page.page_id, key)
        return None, None
    image = decode_jpeg_gray(data)
    if image is None or pixels_crc32(image) != crc:
        log.warning(
            "page %s: %s does not decode to the recorded pixels here; reading its canonical PNG", page.page_id, key
        )
        return None, None
    return image, data


def iter_read_pages(pages, threads: int | None = None, keep_data: bool = False):
    """Yield :func:`read_page` results in input order while ``threads`` threads read ahead.

    The threads download, decode and segment (PIL, OpenCV and numpy release the GIL), so the
    caller can run inference on the pages already read meanwhile. ``threads`` defaults to
    ``LINEREC_IO_THREADS`` (:attr:`linerec.infra.config.Settings.io_threads`).
    """
    threads = threads or get_settings().io_threads
    st = store()
    _ = st.client  # create the (thread-safe) client once, before the threads share it
    if len(pages) <= 1 or threads <= 1:
        yield from (read_page(st, p, keep_data) for p in pages)
        return
    with ThreadPoolExecutor(max_workers=min(threads, len(pages)), thread_name_prefix="read-page") as pool:
        futures = [pool.submit(read_page, st, p, keep_data) for p in pages]
        for future in futures:
            yield future.result()


def read_pages(pages, threads: int | None = None) -> list[dict]:
    """:func:`read_page` for every page, ``threads`` at a time, in input order."""
    return list(iter_read_pages(pages, threads))


def read_and_recognize_pages(
    recognizer, pages, pool: int | None = None, keep_data: bool = False
) -> tuple[list[dict], dict]:
    """Read ``pages`` concurrently and recognize their lines once about ``pool`` lines are read
    (default ``LINEREC_INFERENCE_POOL``: :attr:`linerec.infra.config.Settings.inference_pool`).

    The recognizer sorts the pooled lines by width before it cuts them into forward passes, so
    each pass holds lines of similar width and a large pool pads little. The reading threads go
    on while a pool is recognized. With ``keep_data``, each page read keeps its checked bytes in
    ``data`` (see :func:`read_page`).

    Returns
    -------
    (list of dict, dict)
        Per page (input order): ``page``, ``boxes``, ``rects``, ``blocks``, ``texts``
        (``(text, confidence, words)`` per box: see :func:`read_lines`), ``error`` (and ``data``
        with ``keep_data``); and the seconds spent waiting for pages (``read_wait_s``) and in
        inference (``recognize_s``).
    """
    pool = pool or get_settings().inference_pool
    done: list[dict] = []
    waiting: list[dict] = []
    timing = {"read_wait_s": 0.0, "recognize_s": 0.0}

    def flush():
        crops = [c for r in waiting for c in r["crops"]]
        t0 = time.perf_counter()
        try:
            outputs = iter(read_lines(recognizer, crops) if crops else [])
        except Exception:  # noqa: BLE001 - find the page at fault: recognize page by page
            log.exception(
                "recognizing %d lines of %d pages failed; recognizing them page by page", len(crops), len(waiting)
            )
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
    outputs: list = []
    failed: list[dict] = []
    last: Exception | None = None
    for r in pages:
        if not r["crops"]:
            continue
        try:
            outputs += list(read_lines(recognizer, r["crops"]))
        except Exception as exc:  # noqa: BLE001 - quarantined with the reason
            failed.append(r)
            last = exc
            r["error"] = f"{r['page'].s3_key}: recognition failed ({type(exc).__name__}: {str(exc)[:300]})"
    if last is not None and len(failed) == sum(1 for r in pages if r["crops"]):
        raise last
    for r in failed:
        r.update(boxes=[], crops=[], rects=[], blocks=[])
    return outputs
