"""Talking to a Label Studio server through label-studio-sdk: retries, exports, images.

Every call goes through :func:`with_retries`: connection errors, timeouts and the server's
transient answers (408, 425, 429, 5xx) are retried under :func:`linerec.infra.retry.retrying`
(exponential backoff with jitter, a number of attempts); any other HTTP error, or the last
failure, raises :class:`LabelStudioError` with one line saying what failed, where, and what to
do. The SDK's own retries are switched off so that there is one policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from linerec.infra.config import get_settings
from linerec.infra.endpoints import ServiceUnavailable
from linerec.infra.retry import Exhausted, retrying

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
HINT = "start it (`make labelstudio`) or check LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY"


class LabelStudioError(ServiceUnavailable):
    """A Label Studio call failed for good (message: what, where, why; never the token)."""


def make_labelstudio_client(url: str, api_key: str, timeout: float = 60):
    """An SDK client for ``url`` with its built-in retries off (see :func:`with_retries`)."""
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=url.rstrip("/"), api_key=api_key, timeout=timeout, max_retries=0)


def _classify(exc: BaseException) -> tuple[bool, str] | None:
    """``(retryable, detail)`` for errors of the HTTP layer, ``None`` for anything else."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    if isinstance(exc, httpx.TimeoutException):
        return True, f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return True, f"{type(exc).__name__}: {exc}"
    status = None
    if isinstance(exc, ApiError):
        status = exc.status_code
    elif isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
    if status is None:
        return None
    body = getattr(exc, "body", None)
    detail = f"HTTP {status}" + (f": {str(body)[:200]}" if body else "")
    if status in (401, 403):
        detail += " (token rejected: check LABEL_STUDIO_API_KEY)"
    return status in RETRY_STATUS, detail


def _transient(exc: BaseException) -> bool:
    kind = _classify(exc)
    return kind is not None and kind[0]


def _detail(exc: BaseException) -> str:
    kind = _classify(exc)
    return kind[1] if kind is not None else type(exc).__name__


def with_retries(
    call: Callable[[], T],
    what: str,
    url: str,
    *,
    attempts: int = 5,
    backoff: float = 1.0,
    max_backoff: float = 30.0,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Run ``call`` and retry transient failures with exponential backoff.

    Parameters
    ----------
    call : callable
        The request, without arguments.
    what : str
        What the call does, for messages ("create export of project 3").
    url : str
        The server, for messages.
    attempts : int
        Tries in all (>= 1).
    backoff, max_backoff : float
        The n-th retry waits ``min(max_backoff, backoff * 2**(n-1))`` seconds, times a jitter
        factor in [0.5, 1].
    sleep : callable, optional
        Waits (default :func:`time.sleep`); tests pass a recorder.

    Returns
    -------
    The result of ``call``.

    Raises
    ------
    LabelStudioError
        A non-transient HTTP error, or a transient one still failing after ``attempts`` tries.
        Other exceptions (bugs, bad arguments) propagate unchanged.
    """

    def give_up(failed: Exhausted) -> LabelStudioError:
        return LabelStudioError(
            f"Label Studio: {failed.what} failed after {failed.attempts} attempts ({_detail(failed.error)}); {HINT}"
        )

    policy = retrying(
        "Label Studio",
        f"{what} at {url}",
        transient=_transient,
        give_up=give_up,
        attempts=attempts,
        first_delay=backoff,
        max_delay=max_backoff,
        describe=_detail,
        sleep=sleep,
        logger=log,
    )
    try:
        return policy(call)
    except Exception as exc:  # noqa: BLE001 - a permanent HTTP error becomes one line, the rest propagates
        kind = _classify(exc)
        if kind is None:
            raise
        raise LabelStudioError(f"Label Studio: {what} at {url} failed: {kind[1]}") from None


def _status(snapshot) -> str:
    status = getattr(snapshot, "status", None)
    return str(getattr(status, "value", status) or "")


def fetch_export(
    url: str, api_key: str, project_id: int, dest: Path, timeout: float = 900, attempts: int = 5, poll: float = 1.0
) -> Path:
    """Create an export snapshot of ``project_id``, wait for it, and stream it to ``dest``.

    The snapshot is a JSON export of all tasks with their annotations (predictions and drafts as
    ids only, which keeps it small); the file is written to ``dest`` chunk by chunk and renamed
    into place when complete. The snapshot is deleted from the server afterwards.

    Parameters
    ----------
    url, api_key : str
        The server and its token.
    project_id : int
        The project.
    dest : Path
        Where the export goes.
    timeout : float
        Seconds from the start until the snapshot must be ready (also the longest single
        request: Label Studio Community builds the snapshot inside the create request). Every
        other request times out after ``LINEREC_LS_REQUEST_TIMEOUT`` seconds (default 120) without
        an answer (for the download: between two chunks) and is retried.
    attempts : int
        Tries per request (see :func:`with_retries`); a failed download restarts from zero.
    poll : float
        First wait between status checks; it doubles up to 10 s.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    LabelStudioError
        The server cannot be reached, refuses, the snapshot fails or is not ready in ``timeout``.
    """
    per_request = min(timeout, get_settings().ls_request_timeout)
    client = make_labelstudio_client(url, api_key, timeout=per_request)
    deadline = time.monotonic() + timeout
    options = {"timeout": timeout, "max_retries": 0}
    snap = with_retries(
        lambda: client.projects.exports.create(
            id=project_id,
            title=f"linerec-{int(time.time())}",
            serialization_options={
                "predictions": {"only_id": True},
                "drafts": {"only_id": True},
                "annotations__completed_by": {"only_id": True},
            },
            request_options=options,
        ),
        f"create export of project {project_id}",
        url,
        attempts=attempts,
    )
    wait = poll
    while not _status(snap).endswith("completed"):
        if _status(snap).endswith("failed"):
            raise LabelStudioError(f"Label Studio: export {snap.id} of project {project_id} at {url} failed")
        if time.monotonic() > deadline:
            raise LabelStudioError(
                f"Label Studio: export {snap.id} of project {project_id} at {url} not ready after {timeout:.0f}s "
                f"(status {_status(snap) or 'unknown'})"
            )
        time.sleep(wait)
        wait = min(wait * 2, 10.0)
        snap = with_retries(
            partial(client.projects.exports.get, id=project_id, export_pk=snap.id),
            f"status of export {snap.id}",
            url,
            attempts=attempts,
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")

    def download() -> int:
        size = 0
        with open(tmp, "wb") as fh:
            for chunk in client.projects.exports.download(
                id=project_id,
                export_pk=snap.id,
                export_type="JSON",
                request_options={"timeout": per_request, "chunk_size": 1 << 20},
            ):
                fh.write(chunk)
                size += len(chunk)
        return size

    try:
        size = with_retries(download, f"download of export {snap.id}", url, attempts=attempts)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    try:  # the server keeps every snapshot file otherwise
        with_retries(
            lambda: client.projects.exports.delete(id=project_id, export_pk=snap.id),
            f"delete export {snap.id}",
            url,
            attempts=2,
        )
    except LabelStudioError as exc:
        log.warning("%s (the export was downloaded; it stays on the server)", exc)
    log.info("downloaded Label Studio export %s of project %s (%d bytes)", snap.id, project_id, size)
    return dest


def fetch_url(url: str, api_key: str | None = None, timeout: float | None = None, attempts: int = 4) -> bytes:
    """GET ``url`` (a task's image) with retries, within the image allow-lists and limits.

    The Label Studio token, when given, is sent to Label Studio's own server only; the host, the
    redirects, the size and the time (``timeout`` seconds for all attempts together, default
    ``LINEREC_IMAGE_FETCH_SECONDS``) are checked by :func:`linerec.labelstudio.image_fetch.fetch_http`,
    which raises :class:`~linerec.labelstudio.image_fetch.ImageRefused` (a ``ValueError``, not retried).
    """
    from linerec.labelstudio.image_fetch import fetch_http, image_policy

    policy = image_policy()
    deadline = time.monotonic() + (timeout if timeout is not None else policy.seconds)
    where = url.split("?", 1)[0]  # a presigned query string is a credential
    return with_retries(lambda: fetch_http(url, policy, api_key, deadline), f"GET {where}", where, attempts=attempts)
