"""Label Studio exports as the project writes them: OCR regions (a rectangle and a textarea sharing
one id) and annotated tasks.

The synthetic generators (:mod:`linerec.synth`) and the real-scan converter
(:mod:`linerec.datasets.realdata`) write their annotations with these functions, so every export the
project makes has the shape an annotator's export has (the one parser, :mod:`linerec.labelstudio.export`,
reads them all).
"""

from __future__ import annotations

import numpy as np

REGION_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
"""The characters of the 10-character region ids Label Studio's editor generates."""

REGION_ID_LENGTH = 10


def random_region_id(rng: np.random.Generator) -> str:
    """A region id drawn from ``rng`` (seeded generators give the same ids run after run)."""
    return "".join(REGION_ID_CHARS[i] for i in rng.integers(0, len(REGION_ID_CHARS), REGION_ID_LENGTH))


def region_id_from_bytes(digest: bytes) -> str:
    """A region id made from the first bytes of ``digest`` (stable ids for converted data)."""
    return "".join(REGION_ID_CHARS[b % len(REGION_ID_CHARS)] for b in digest[:REGION_ID_LENGTH])


def ocr_region(
    region_id: str,
    box: tuple[float, float, float, float],
    text: str,
    width: int,
    height: int,
    rotation: float = 0,
) -> list[dict]:
    """The ``bbox`` rectangle and the ``transcription`` textarea of one line.

    Parameters
    ----------
    region_id
        The id both items share.
    box
        ``(x, y, w, h)`` in pixels of the page; with ``rotation``, the rectangle turned clockwise by
        that many degrees about its top-left corner (Label Studio's convention).
    text
        The line's transcription.
    width, height
        The page's size in pixels: coordinates are written as percentages of it, as Label Studio does.
    rotation
        Degrees, written as given.
    """
    x, y, w, h = box
    geom = {
        "x": 100.0 * x / width,
        "y": 100.0 * y / height,
        "width": 100.0 * w / width,
        "height": 100.0 * h / height,
        "rotation": rotation,
    }
    common = {"original_width": width, "original_height": height, "image_rotation": 0}
    return [
        {
            "id": region_id,
            "type": "rectangle",
            "from_name": "bbox",
            "to_name": "image",
            **common,
            "value": dict(geom),
            "origin": "manual",
        },
        {
            "id": region_id,
            "type": "textarea",
            "from_name": "transcription",
            "to_name": "image",
            **common,
            "value": {**geom, "text": [text]},
            "origin": "manual",
        },
    ]


def annotated_task(
    task_id: int,
    data: dict,
    results: list[dict],
    *,
    created_at: str,
    completed_at: str,
    lead_time: float,
    ground_truth: bool,
) -> dict:
    """One task of a Label Studio JSON export with a single completed annotation of ``results``.

    Parameters
    ----------
    task_id
        The task's id (also its annotation's and inner id).
    data
        The task's ``data`` (``image`` and any metadata).
    results
        The annotation's result items (pairs from :func:`ocr_region`).
    created_at, completed_at
        ISO 8601 times: when the task was created, and when its annotation was completed (also the
        task's last update).
    lead_time
        Seconds the annotator spent.
    ground_truth
        Whether the annotation is marked as ground truth.
    """
    annotation = {
        "id": task_id,
        "completed_by": 1,
        "result": results,
        "was_cancelled": False,
        "ground_truth": ground_truth,
        "created_at": completed_at,
        "updated_at": completed_at,
        "draft_created_at": None,
        "lead_time": lead_time,
        "prediction": {},
        "result_count": len(results) // 2,
        "task": task_id,
        "project": 1,
        "updated_by": 1,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_action": None,
    }
    return {
        "id": task_id,
        "annotations": [annotation],
        "file_upload": None,
        "drafts": [],
        "predictions": [],
        "data": data,
        "meta": {},
        "created_at": created_at,
        "updated_at": completed_at,
        "inner_id": task_id,
        "total_annotations": 1,
        "cancelled_annotations": 0,
        "total_predictions": 0,
        "project": 1,
        "updated_by": 1,
    }
