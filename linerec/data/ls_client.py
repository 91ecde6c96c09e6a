"""Fetching exports and images from a Label Studio server through label-studio-sdk."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from linerec.services import ServiceUnavailable

log = logging.getLogger(__name__)


def _client(url: str, api_key: str):
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=url, api_key=api_key, timeout=60)


def fetch_export(url: str, api_key: str, project_id: int, dest: Path, timeout: float = 600) -> Path:
    """Create an export snapshot of ``project_id``, wait for it, and stream it to ``dest``.

    Raises
    ------
    ServiceUnavailable
        The server cannot be reached or the snapshot fails or times out.
    """
    import httpx

    client = _client(url, api_key)
    try:
        snap = client.projects.exports.create(id=project_id, title=f"linerec-{int(time.time())}")
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            f"Label Studio: cannot reach {url} ({exc}); start it (`make labelstudio`) or unset LABEL_STUDIO_URL "
            "and set LINEREC_EXPORT_FILE"
        ) from None
    deadline = time.monotonic() + timeout
    while True:
        status = str(client.projects.exports.get(id=project_id, export_pk=snap.id).status or "")
        if status.endswith("completed"):
            break
        if status.endswith("failed"):
            raise ServiceUnavailable(f"Label Studio: export {snap.id} of project {project_id} at {url} failed")
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"Label Studio: export {snap.id} at {url} not ready after {timeout:.0f}s")
        time.sleep(1.0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    with open(tmp, "wb") as fh:
        for chunk in client.projects.exports.download(id=project_id, export_pk=snap.id, export_type="JSON"):
            fh.write(chunk)
    tmp.replace(dest)
    log.info("downloaded Label Studio export %s of project %s (%d bytes)", snap.id, project_id, dest.stat().st_size)
    return dest


def fetch_url(url: str, api_key: str | None = None, timeout: float = 60) -> bytes:
    """GET ``url`` (a task's image); sends the Label Studio token when given."""
    import httpx

    headers = {"Authorization": f"Token {api_key}"} if api_key else {}
    resp = httpx.get(url, headers=headers, timeout=timeout, follow_redirects=True)
    resp.raise_for_status()
    return resp.content
