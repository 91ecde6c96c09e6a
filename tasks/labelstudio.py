"""Steps toward Label Studio: set up the OCR project, import new pages, push pre-annotations.

Each step is idempotent: the project is found before it is created, a page is imported into a
project once (``labelstudio_tasks``), and a task receives a model's predictions once.
"""

from __future__ import annotations

import logging
from functools import partial
from itertools import groupby

from linerec.infra.config import get_settings
from linerec.infra.db import query
from linerec.infra.endpoints import ServiceUnavailable
from tasks.context import engine, store
from tasks.registry import production_model

log = logging.getLogger(__name__)

IMPORT_BATCH = 250  # tasks per import request
PREDICT_BATCH = 100  # predictions per request


def _server() -> tuple[str, str]:
    settings = get_settings()
    if not settings.label_studio_url or not settings.label_studio_api_key:
        raise ServiceUnavailable(
            "Label Studio: LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY must be set (start a server with "
            "`make labelstudio`; its credentials are in $LINEREC_STATE_DIR/labelstudio/credentials.env)"
        )
    return settings.label_studio_url.rstrip("/"), settings.label_studio_api_key


def setup_labelstudio(
    title: str | None = None, s3_endpoint: str | None = None, send_s3_credentials: bool = False
) -> dict:
    """Create (or find) the OCR project and its S3 storage, then import new pages as tasks.

    Parameters
    ----------
    title : str, optional
        Project title (default :data:`linerec.labelstudio.project.DEFAULT_TITLE`); ignored when
        ``LABEL_STUDIO_PROJECT_ID`` names an existing project.
    s3_endpoint : str, optional
        The S3 endpoint as Label Studio reaches it; default: the server's own ``S3_ENDPOINT``
        setting (a local endpoint sent here is refused while its SSRF protection is on).
    send_s3_credentials : bool
        Store linerec's S3 keys in the storage instead of relying on the server's ``AWS_*``.

    Returns
    -------
    dict
        ``project_id``, ``project_key``, ``storage_id``, ``imported`` (new tasks) and ``tasks``
        (pages of the project known to linerec).
    """
    from linerec.labelstudio.client import make_labelstudio_client
    from linerec.labelstudio.project import DEFAULT_TITLE, find_or_create_project, find_or_create_storage

    url, key = _server()
    settings = get_settings()
    client = make_labelstudio_client(url, key)
    project = find_or_create_project(client, url, title or DEFAULT_TITLE, settings.label_studio_project_id)
    st = store()
    creds = {}
    if send_s3_credentials:
        ep = st.endpoint
        creds = {"access_key": ep.access_key, "secret_key": ep.secret_key, "region": ep.region}
    storage_id = find_or_create_storage(client, url, project.id, st.bucket, endpoint=s3_endpoint, **creds)
    with engine().begin() as conn:
        project_key = conn.execute(
            query("labelstudio_upsert_project"),
            {"url": url, "project": project.id, "title": project.title, "storage": storage_id},
        ).scalar_one()
    imported = import_new_pages(client, url, project.id, project_key, st.bucket)
    with engine().connect() as conn:
        total = conn.execute(query("labelstudio_task_count"), {"k": project_key}).scalar_one()
    out = {
        "url": url,
        "project_id": project.id,
        "project_key": project_key,
        "storage_id": storage_id,
        "imported": imported,
        "tasks": total,
    }
    log.info("Label Studio project %s at %s: %d new tasks, %d pages in all", project.id, url, imported, total)
    return out


def _reconcile(client, url: str, project_id: int, project_key: int) -> int:
    """Record tasks that exist in the project but not in ``labelstudio_tasks`` (an import whose
    answer was lost); returns how many were recorded. Cheap when the counts agree."""
    from linerec.labelstudio.client import with_retries

    project = with_retries(lambda: client.projects.get(id=project_id), f"get project {project_id}", url)
    with engine().connect() as conn:
        known = conn.execute(query("labelstudio_task_count"), {"k": project_key}).scalar_one()
    if (project.task_number or 0) <= known:
        return 0
    found = {}
    pager = with_retries(
        lambda: client.tasks.list(project=project_id, fields="task_only", page_size=500),
        f"list tasks of project {project_id}",
        url,
    )
    for task in pager:
        page_id = (task.data or {}).get("page_id")
        if isinstance(page_id, int) and page_id not in found:
            found[page_id] = task.id
    recorded = 0
    with engine().begin() as conn:
        existing = set(conn.execute(query("existing_page_ids"), {"ids": list(found)}).scalars())
        for page_id, task_id in found.items():
            if page_id in existing:
                recorded += conn.execute(
                    query("labelstudio_insert_task"), {"project": project_key, "page": page_id, "task": task_id}
                ).rowcount
    if recorded:
        log.warning(
            "Label Studio project %s: recorded %d tasks imported earlier but not recorded", project_id, recorded
        )
    return recorded


def import_new_pages(client, url: str, project_id: int, project_key: int, bucket: str) -> int:
    """Import pages that are not tasks of the project yet (see ``labelstudio_pages_to_import``).

    Each batch is one import request; its task ids are recorded in the same step, so a page is
    imported once. An import whose answer is lost is recorded by the next run (:func:`_reconcile`)
    from the tasks' ``data.page_id``. Returns the number of tasks created.
    """
    from linerec.labelstudio.client import with_retries
    from linerec.labelstudio.project import page_task

    _reconcile(client, url, project_id, project_key)
    eng = engine()
    imported = 0
    while True:
        with eng.connect() as conn:
            pages = conn.execute(
                query("labelstudio_pages_to_import"), {"project": project_key, "limit": IMPORT_BATCH}
            ).all()
        if not pages:
            return imported
        payload = [page_task(p.page_id, p.document, p.page_no, f"s3://{bucket}/{p.s3_key}") for p in pages]
        resp = with_retries(
            partial(
                client.projects.import_tasks,
                id=project_id,
                request=payload,
                return_task_ids=True,
                commit_to_project=True,
            ),
            f"import {len(payload)} tasks into project {project_id}",
            url,
            attempts=1,
        )
        task_ids = getattr(resp, "task_ids", None) or (resp.model_extra or {}).get("task_ids") or []
        if len(task_ids) != len(pages):
            raise ServiceUnavailable(
                f"Label Studio: importing {len(pages)} tasks into project {project_id} at {url} returned "
                f"{len(task_ids)} task ids; the next run records them from the tasks' data.page_id"
            )
        with eng.begin() as conn:
            conn.execute(
                query("labelstudio_insert_task"),
                [{"project": project_key, "page": p.page_id, "task": t} for p, t in zip(pages, task_ids)],
            )
        imported += len(pages)
        log.info("imported %d pages into Label Studio project %s", len(pages), project_id)


def push_predictions(client, url: str, project_id: int, project_key: int, model_id: int | None = None) -> dict:
    """Send a model's lines of imported, unannotated pages as predictions (default: production's).

    Pages go least confident first; each prediction carries the model version and the page's
    confidence as its score, and the project's ``model_version`` is set to the model's, so its
    uncertainty sampling hands annotators the least confident pages first.

    Returns
    -------
    dict
        ``model_version``, ``pages`` (tasks that received predictions), ``lines``.
    """
    from linerec.labelstudio.client import with_retries
    from linerec.labelstudio.project import PredictedLine, page_score, prediction_result

    eng = engine()
    with eng.connect() as conn:
        if model_id is None:
            model = production_model(conn)
        else:
            model = conn.execute(query("registered_model"), {"model": model_id}).one()
    if model is None:
        log.info("no production model: no predictions sent to Label Studio")
        return {"model_version": None, "pages": 0, "lines": 0}
    pages_sent = lines_sent = 0
    while True:
        with eng.connect() as conn:
            todo = conn.execute(
                query("labelstudio_pages_to_predict"),
                {"project": project_key, "model": model.model_id, "limit": PREDICT_BATCH},
            ).all()
            rows = conn.execute(
                query("labelstudio_predicted_lines"), {"model": model.model_id, "pages": [t.page_id for t in todo]}
            ).all()
        if not todo:
            break
        lines_of = {
            pid: [PredictedLine(r.line_no, r.x, r.y, r.w, r.h, r.text, r.confidence) for r in grp]
            for pid, grp in groupby(rows, key=lambda r: r.page_id)
        }
        payload, marks = [], []
        for t in todo:
            lines = lines_of.get(t.page_id, [])
            score = page_score([ln.confidence for ln in lines])
            payload.append(
                {
                    "task": t.ls_task_id,
                    "model_version": model.version,
                    "score": round(score, 4),
                    "result": prediction_result(lines, t.width, t.height, t.page_id),
                }
            )
            marks.append({"project": project_key, "page": t.page_id, "model": model.model_id, "score": score})
            lines_sent += len(lines)
        with_retries(
            partial(client.projects.import_predictions, id=project_id, request=payload),
            f"import {len(payload)} predictions into project {project_id}",
            url,
            attempts=1,
        )
        with eng.begin() as conn:
            conn.execute(query("labelstudio_mark_predicted"), marks)
        pages_sent += len(payload)
    if pages_sent:
        with_retries(
            lambda: client.projects.update(id=project_id, model_version=model.version),
            f"set model_version of project {project_id}",
            url,
        )
    log.info(
        "sent %s predictions for %d pages (%d lines) to Label Studio project %s",
        model.version,
        pages_sent,
        lines_sent,
        project_id,
    )
    return {"model_version": model.version, "pages": pages_sent, "lines": lines_sent}


def push_production_predictions() -> dict:
    """:func:`push_predictions` for the configured project (set up first when needed)."""
    from linerec.labelstudio.client import make_labelstudio_client

    setup = setup_labelstudio()
    url, key = _server()
    pushed = push_predictions(make_labelstudio_client(url, key), url, setup["project_id"], setup["project_key"])
    return {**setup, "predictions": pushed}


def publish_to_labelstudio() -> dict:
    """The nightly step: import new pages and push the production model's predictions.

    Returns ``{"skipped": True}`` (and logs why) when ``LABEL_STUDIO_URL`` is unset.
    """
    if not get_settings().label_studio_url:
        log.info("LABEL_STUDIO_URL is unset: nothing sent to Label Studio")
        return {"skipped": True}
    return push_production_predictions()
