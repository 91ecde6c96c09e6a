"""The Label Studio side of linerec: the OCR project, its S3 storage, tasks and pre-annotations.

The labeling interface is one image with rectangles, each with its own transcription:
``<Image name="image">``, ``<Rectangle name="bbox">`` and a per-region
``<TextArea name="transcription">``, the names :mod:`linerec.labelstudio.export` parses.

Page images stay in linerec's bucket: a task's ``data.image`` is the page's ``s3://bucket/key``,
and an S3 import storage on the project (never synced, ``presign=False``) lets Label Studio
resolve those URIs and stream the bytes to annotators through its own origin. This module only
builds payloads and talks to the server; the bookkeeping in Postgres is in :mod:`tasks.labelstudio`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from linerec.labelstudio.client import LabelStudioError, with_retries
from linerec.labelstudio.fields import BOX, IMAGE, TEXT

log = logging.getLogger(__name__)

DEFAULT_TITLE = "linerec text lines"
UNCERTAINTY_SAMPLING = "Uncertainty sampling"  # next task = lowest prediction score of project.model_version

LABEL_CONFIG = f"""<View>
  <Header value="Draw a box around each text line and type its text exactly as written"/>
  <Image name="{IMAGE}" value="${IMAGE}" zoom="true" zoomControl="true" rotateControl="false"/>
  <Rectangle name="{BOX}" toName="{IMAGE}" strokeWidth="2"/>
  <TextArea name="{TEXT}" toName="{IMAGE}" perRegion="true" editable="true" required="true"
            maxSubmissions="1" rows="1" displayMode="region-list" placeholder="Text of this line"/>
</View>
"""


@dataclass(frozen=True)
class PredictedLine:
    """One line the model read on a page, box in pixels."""

    line_no: int
    x: int
    y: int
    w: int
    h: int
    text: str
    confidence: float


def check_label_config(parsed: dict | None, project_id: int) -> None:
    """Raise :class:`LabelStudioError` unless the project's interface has the tags linerec parses.

    Parameters
    ----------
    parsed : dict
        The project's ``parsed_label_config`` (control tag name to its description).
    project_id : int
        For the message.
    """
    parsed = parsed or {}
    want = {BOX: "rectangle", TEXT: "textarea"}
    for name, kind in want.items():
        tag = parsed.get(name) or {}
        if str(tag.get("type", "")).lower() != kind or IMAGE not in (tag.get("to_name") or []):
            raise LabelStudioError(
                f"Label Studio: project {project_id} has no {kind} tag named {name!r} on {IMAGE!r}; "
                f"linerec needs its OCR interface (create a project with `linerec labelstudio setup` "
                "without LABEL_STUDIO_PROJECT_ID)"
            )


def page_task(page_id: int, document: str, page_no: int, image_uri: str) -> dict:
    """Task payload for one page: ``data.image`` is the page's ``s3://`` URI."""
    return {"data": {IMAGE: image_uri, "document": document, "page": page_no, "page_id": page_id}}


def page_score(confidences: Sequence[float]) -> float:
    """A page's confidence: the mean of its lines' (0 for a page without lines)."""
    return float(sum(confidences) / len(confidences)) if confidences else 0.0


def prediction_result(lines: Iterable[PredictedLine], width: int, height: int, page_id: int) -> list[dict]:
    """Label Studio result items for predicted lines: a rectangle and a textarea per region.

    Boxes are converted from pixels to percent of the image (what Label Studio stores) and
    clipped to it; both items of a region share its id, as in an annotator's result.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"page {page_id}: image size must be positive, got {width}x{height}")
    items = []
    for ln in lines:
        x0, y0 = max(ln.x, 0), max(ln.y, 0)
        x1, y1 = min(ln.x + ln.w, width), min(ln.y + ln.h, height)
        if x1 <= x0 or y1 <= y0:
            log.warning("page %s line %s: box outside the %dx%d image, not sent", page_id, ln.line_no, width, height)
            continue
        geom = {
            "x": 100.0 * x0 / width,
            "y": 100.0 * y0 / height,
            "width": 100.0 * (x1 - x0) / width,
            "height": 100.0 * (y1 - y0) / height,
            "rotation": 0,
        }
        common = {
            "id": f"p{page_id}-l{ln.line_no}",
            "to_name": IMAGE,
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "origin": "prediction",
            "score": round(float(ln.confidence), 4),
        }
        items.append({**common, "from_name": BOX, "type": "rectangle", "value": dict(geom)})
        items.append({**common, "from_name": TEXT, "type": "textarea", "value": {**geom, "text": [ln.text]}})
    return items


def find_or_create_project(client, url: str, title: str = DEFAULT_TITLE, project_id: int | None = None):
    """The OCR project: ``project_id`` if given (its interface is checked), else the one titled
    ``title``, created with :data:`LABEL_CONFIG` and uncertainty sampling when missing.

    Returns
    -------
    The SDK's project object.
    """
    if project_id is not None:
        project = with_retries(lambda: client.projects.get(id=project_id), f"get project {project_id}", url)
        check_label_config(project.parsed_label_config, project.id)
        return project
    matches = [
        p
        for p in with_retries(lambda: list(client.projects.list(title=title, page_size=100)), "list projects", url)
        if p.title == title
    ]
    if len(matches) > 1:
        ids = ", ".join(str(p.id) for p in matches)
        raise LabelStudioError(
            f"Label Studio: several projects at {url} are titled {title!r} ({ids}); "
            "set LABEL_STUDIO_PROJECT_ID to the one to use"
        )
    if matches:
        project = with_retries(lambda: client.projects.get(id=matches[0].id), f"get project {matches[0].id}", url)
        check_label_config(project.parsed_label_config, project.id)
        return project
    project = with_retries(
        lambda: client.projects.create(
            title=title,
            label_config=LABEL_CONFIG,
            sampling=UNCERTAINTY_SAMPLING,
            show_skip_button=True,
            description="Text lines of scanned pages. Correct the model's boxes and text, or draw and type them.",
        ),
        f"create project {title!r}",
        url,
        attempts=1,
    )  # a retried create could make two projects
    log.info("created Label Studio project %s (%r) at %s", project.id, title, url)
    return project


def find_or_create_storage(
    client,
    url: str,
    project_id: int,
    bucket: str,
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
) -> int:
    """The project's S3 import storage for ``bucket`` (created when missing); returns its id.

    With ``endpoint`` and keys unset, Label Studio uses its own ``S3_ENDPOINT`` and ``AWS_*``
    settings (what ``scripts/labelstudio.sh`` passes). The storage is never synced: it only lets
    Label Studio resolve ``s3://bucket/...`` in task data, and with ``presign=False`` it streams
    the images itself, so annotators' browsers need to reach Label Studio only.
    """
    for storage in with_retries(
        lambda: client.import_storage.s3.list(project=project_id), f"list S3 storages of project {project_id}", url
    ):
        if storage.bucket == bucket:
            return storage.id
    kwargs = {
        k: v
        for k, v in {
            "s3endpoint": endpoint,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
            "region_name": region,
        }.items()
        if v
    }
    storage = with_retries(
        lambda: client.import_storage.s3.create(
            project=project_id,
            bucket=bucket,
            title=f"linerec pages ({bucket})",
            presign=False,
            use_blob_urls=False,
            recursive_scan=False,
            **kwargs,
        ),
        f"connect bucket {bucket!r} to project {project_id}",
        url,
        attempts=1,
    )
    log.info("connected S3 bucket %s to Label Studio project %s (storage %s)", bucket, project_id, storage.id)
    return storage.id
