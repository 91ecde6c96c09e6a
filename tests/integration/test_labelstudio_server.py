"""The Label Studio round trip against a real server (scripts/labelstudio.sh) and the real S3 server.

Pages in S3 become tasks of a project set up by linerec, get a model's predictions, are annotated
through the API as an annotator's browser would, and come back through the annotation_sync step:
exported, stored in S3, ingested into Postgres, then ingested incrementally after one edit.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict

import httpx
import pytest
import sqlalchemy as sa

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus(services, tmp_path_factory):
    """Three synthetic pages stored in S3 and registered as pages (no annotation yet), with their
    ground-truth regions (what the annotator will draw and type)."""
    from linerec.infra.db import query
    from linerec.synth.pages import generate_corpus
    from tasks.context import store

    root = tmp_path_factory.mktemp("ls-corpus")
    export = generate_corpus(root, n_documents=3, seed=41, pages_per_document=(1, 1))
    pages = []
    with services.begin() as conn:
        for task in json.loads(export.read_text()):
            rel = task["data"]["image"].split("?d=", 1)[1]
            data = (root / rel).read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            store().put_bytes(f"pages/{sha}", data, "image/png")
            result = task["annotations"][0]["result"]
            width, height = result[0]["original_width"], result[0]["original_height"]
            name = "ls-" + task["data"]["document"]
            doc = conn.execute(query("upsert_document"), {"name": name, "source": "scan"}).scalar_one()
            page_id = conn.execute(
                query("upsert_page"),
                {
                    "doc": doc,
                    "page_no": 1,
                    "key": f"pages/{sha}",
                    "meta": "{}",
                    "sha": sha,
                    "w": width,
                    "h": height,
                    "original": None,
                    "crc": None,
                },
            ).scalar_one()
            pages.append(
                {
                    "page_id": page_id,
                    "document": name,
                    "key": f"pages/{sha}",
                    "sha": sha,
                    "result": result,
                    "width": width,
                    "height": height,
                }
            )
    return pages


@pytest.fixture(scope="module")
def model(services, corpus):
    """A candidate model (the production one is left alone) with predictions for the pages: one
    line per page, with a confidence that differs per page."""
    with services.begin() as conn:
        export = conn.execute(
            sa.text(
                "INSERT INTO annotation_exports (source, source_ref, sha256, s3_key) "
                "VALUES ('file', 'ls-test', :sha, 'exports/ls-test') RETURNING export_id"
            ),
            {"sha": "4" * 64},
        ).scalar_one()
        dv = conn.execute(
            sa.text(
                "INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test) "
                "VALUES ('ds-ls-test', :e, 'm', '{}', 0, 0, 0) RETURNING dataset_version_id"
            ),
            {"e": export},
        ).scalar_one()
        model_id = conn.execute(
            sa.text(
                "INSERT INTO models (version, dataset_version_id, s3_prefix) VALUES ('crnn-ls-test', :dv, 'models/none') "
                "RETURNING model_id"
            ),
            {"dv": dv},
        ).scalar_one()
        run = conn.execute(
            sa.text(
                "INSERT INTO recognition_runs (model_id, logical_date, status) VALUES (:m, '2031-01-01', 'succeeded') "
                "RETURNING recognition_run_id"
            ),
            {"m": model_id},
        ).scalar_one()
        confidences = {}
        for i, page in enumerate(corpus):
            conf = [0.9, 0.3, 0.6][i]
            confidences[page["page_id"]] = conf
            doc = conn.execute(
                sa.text("SELECT document_id FROM pages WHERE page_id = :p"), {"p": page["page_id"]}
            ).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO predictions (recognition_run_id, model_id, document_id, page_id, line_no, x, y, w, h, "
                    "text, confidence) VALUES (:r, :m, :d, :p, 1, 50, 60, 400, 30, 'predicted text', :c)"
                ),
                {"r": run, "m": model_id, "d": doc, "p": page["page_id"], "c": conf},
            )
    return {"model_id": model_id, "version": "crnn-ls-test", "confidence": confidences}


@pytest.fixture
def ls_env(labelstudio, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", labelstudio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", labelstudio.api_key)
    monkeypatch.delenv("LABEL_STUDIO_PROJECT_ID", raising=False)
    return labelstudio


def _client(server):
    from linerec.labelstudio.client import make_labelstudio_client

    return make_labelstudio_client(server.url, server.api_key)


def _lines(services, task_of):
    """The lines of the test's tasks on the test's pages (export files in the same database may
    reuse Label Studio task ids for other pages)."""
    with services.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT line_annotation_id, page_id, export_id, ls_task_id, ls_annotation_id, ls_region_id, line_no, "
                "x, y, w, h, text, updated_at FROM line_annotations WHERE ls_task_id = ANY(:t) AND page_id = ANY(:p) "
                "ORDER BY ls_task_id, line_no"
            ),
            {"t": list(task_of.values()), "p": list(task_of)},
        ).all()


def test_round_trip(services, corpus, model, ls_env, table_counts):
    from linerec.labelstudio.export import parse_tasks
    from linerec.labelstudio.project import UNCERTAINTY_SAMPLING
    from tasks.annotation_sync import export_annotations, ingest_export
    from tasks.context import store
    from tasks.labelstudio import push_predictions, setup_labelstudio

    server = ls_env
    headers = {"Authorization": f"Token {server.api_key}"}
    client = _client(server)
    page_ids = {p["page_id"] for p in corpus}

    # 1. Setup: the project, its S3 storage, and every new page imported once.
    first = setup_labelstudio()
    assert first["imported"] >= len(corpus)
    again = setup_labelstudio()
    assert (again["project_id"], again["imported"], again["tasks"]) == (first["project_id"], 0, first["tasks"])
    project_id = first["project_id"]
    project = client.projects.get(id=project_id)
    assert project.sampling == UNCERTAINTY_SAMPLING and project.task_number == first["tasks"]
    with services.connect() as conn:
        task_of = dict(
            conn.execute(
                sa.text("SELECT page_id, ls_task_id FROM labelstudio_tasks WHERE page_id = ANY(:p)"),
                {"p": list(page_ids)},
            ).all()
        )
    assert set(task_of) == page_ids

    # The annotator's browser gets each page image through Label Studio, read from the S3 server.
    page = corpus[0]
    task = httpx.get(
        f"{server.url}/api/tasks/{task_of[page['page_id']]}",
        params={"resolve_uri": "true"},
        headers=headers,
        timeout=30,
    ).json()
    assert task["data"]["page_id"] == page["page_id"]
    assert task["data"]["image"] != f"s3://{store().bucket}/{page['key']}"  # resolved to a Label Studio URL
    fileuri = base64.urlsafe_b64encode(f"s3://{store().bucket}/{page['key']}".encode()).decode()
    image = httpx.get(
        f"{server.url}/tasks/{task_of[page['page_id']]}/resolve/",
        params={"fileuri": fileuri},
        headers=headers,
        timeout=30,
        follow_redirects=True,
    )
    assert image.status_code == 200 and hashlib.sha256(image.content).hexdigest() == page["sha"]

    # 2. Pre-annotations: the model's lines, least confident page first.
    pushed = push_predictions(client, server.url, project_id, first["project_key"], model_id=model["model_id"])
    assert pushed == {"model_version": model["version"], "pages": len(corpus), "lines": len(corpus)}
    assert (
        push_predictions(client, server.url, project_id, first["project_key"], model_id=model["model_id"])["pages"] == 0
    )  # once per task and model
    for page in corpus:
        (pred,) = client.predictions.list(task=task_of[page["page_id"]])
        assert pred.model_version == model["version"]
        assert pred.score == pytest.approx(model["confidence"][page["page_id"]], abs=1e-3)
        rect, text = pred.result
        assert (rect["type"], text["type"], rect["id"]) == ("rectangle", "textarea", text["id"])
        assert text["value"]["text"] == ["predicted text"]
        assert rect["value"]["x"] == pytest.approx(100 * 50 / page["width"])
        assert rect["value"]["width"] == pytest.approx(100 * 400 / page["width"])
    assert client.projects.get(id=project_id).model_version == model["version"]
    nxt = httpx.get(f"{server.url}/api/projects/{project_id}/next", headers=headers, timeout=30).json()
    least = min(model["confidence"], key=model["confidence"].get)
    assert nxt["id"] == task_of[least], "the least confident page is not served first"

    # 3. An annotator submits two pages (drawing the true boxes, typing the text) and skips the third.
    annotated = corpus[:2]
    for page in annotated:
        client.annotations.create(id=task_of[page["page_id"]], result=page["result"], lead_time=12.5)
    client.annotations.create(id=task_of[corpus[2]["page_id"]], result=[], was_cancelled=True)

    # 4. annotation_sync: export (create -> poll -> download), raw export in S3, ingest.
    before = table_counts()
    export_id = export_annotations()
    stats = ingest_export(export_id)
    truth = parse_tasks(
        [
            {
                "id": task_of[p["page_id"]],
                "data": {"image": p["key"], "document": p["document"]},
                "annotations": [{"id": 1, "result": p["result"]}],
            }
            for p in annotated
        ]
    ).lines
    assert stats["tasks"] == first["tasks"] and stats["tasks_changed"] == 2 and stats["pages"] == 2
    assert stats["lines"] == len(truth) and stats["rejected"] == 0
    with services.connect() as conn:
        exp = conn.execute(
            sa.text(
                "SELECT source, source_ref, sha256, s3_key, tasks_seen, lines_ingested "
                "FROM annotation_exports WHERE export_id = :e"
            ),
            {"e": export_id},
        ).one()
    assert exp.source == "labelstudio" and exp.source_ref == f"{server.url}#project={project_id}"
    raw = store().get_bytes(exp.s3_key)
    assert exp.s3_key == f"exports/{exp.sha256}.json" and hashlib.sha256(raw).hexdigest() == exp.sha256
    exported = json.loads(raw)
    assert {t["id"] for t in exported} >= set(task_of.values())
    assert all(isinstance(p, int) for t in exported for p in t["predictions"])  # ids only: a small export
    rows = _lines(services, task_of)
    by_task = defaultdict(list)
    for r in rows:
        by_task[r.ls_task_id].append(r)
    for page in annotated:  # the lines land on the page that was imported, not on a new one
        assert {r.page_id for r in by_task[task_of[page["page_id"]]]} == {page["page_id"]}
    assert [(r.ls_task_id, r.ls_region_id, r.text, r.x, r.y, r.w, r.h) for r in rows] == [
        (t.task_id, t.region_id, t.text, t.x, t.y, t.w, t.h)
        for t in sorted(truth, key=lambda t: (t.task_id, t.line_no))
    ]
    assert all(r.export_id == export_id for r in rows)
    after = table_counts()
    assert after["pages"] == before["pages"] and after["line_annotations"] == before["line_annotations"] + len(truth)

    # Ingesting the same export again, or a new export of unchanged annotations, changes nothing.
    assert ingest_export(export_id)["lines"] == 0
    second = ingest_export(export_annotations())
    assert (second["tasks_changed"], second["lines"], second["lines_removed"]) == (0, 0, 0)
    assert table_counts() == after
    assert _lines(services, task_of) == rows

    # 5. The annotator corrects one line; the next sync updates exactly that line.
    page = annotated[0]
    (ann,) = [a for a in client.annotations.list(id=task_of[page["page_id"]]) if not a.was_cancelled]
    result = json.loads(json.dumps(page["result"]))
    edited = next(item for item in result if item["type"] == "textarea")
    edited["value"]["text"] = ["corrected by the annotator"]
    client.annotations.update(id=ann.id, result=result)
    third_id = export_annotations()
    third = ingest_export(third_id)
    assert (third["tasks_changed"], third["tasks_unchanged"], third["lines"], third["lines_removed"]) == (1, 1, 1, 0)
    now = _lines(services, task_of)
    changed = [(b, a) for b, a in zip(rows, now) if b != a]
    assert len(now) == len(rows) and len(changed) == 1
    old, new = changed[0]
    assert new.ls_region_id == edited["id"] and new.text == "corrected by the annotator"
    assert new.export_id == third_id and new.line_annotation_id == old.line_annotation_id
    assert table_counts()["line_annotations"] == after["line_annotations"]

    # 6. The annotator deletes a region: its line goes, the others stay as they are.
    gone = next(item["id"] for item in result if item["id"] != edited["id"])
    client.annotations.update(id=ann.id, result=[item for item in result if item["id"] != gone])
    fourth = ingest_export(export_annotations())
    assert (fourth["tasks_changed"], fourth["lines_removed"]) == (1, 1)
    remaining = _lines(services, task_of)
    edited_task = task_of[page["page_id"]]
    assert [r for r in remaining if r.ls_task_id != edited_task] == [r for r in now if r.ls_task_id != edited_task]
    kept = [r for r in remaining if r.ls_task_id == edited_task]
    assert [r.line_annotation_id for r in kept] == [
        r.line_annotation_id for r in now if r.ls_task_id == edited_task and r.ls_region_id != gone
    ]
    assert [r.line_no for r in kept] == list(range(1, len(kept) + 1))  # renumbered in reading order

    # 7. An annotation is deleted: its page's lines go with it.
    other = task_of[annotated[1]["page_id"]]
    for a in client.annotations.list(id=other):
        client.annotations.delete(id=a.id)
    fifth = ingest_export(export_annotations())
    n_other = sum(r.ls_task_id == other for r in remaining)
    assert (fifth["tasks_changed"], fifth["lines"], fifth["lines_removed"]) == (1, 0, n_other)
    assert [r for r in _lines(services, task_of) if r.ls_task_id == other] == []


def test_missing_page_image_is_quarantined_and_retried(services, tmp_path):
    from tasks.annotation_sync import export_annotations, ingest_export

    items = [
        {
            "id": "r1",
            "type": "rectangle",
            "from_name": "bbox",
            "to_name": "image",
            "original_width": 100,
            "original_height": 50,
            "value": {"x": 10, "y": 10, "width": 50, "height": 20, "rotation": 0},
        },
        {
            "id": "r1",
            "type": "textarea",
            "from_name": "transcription",
            "to_name": "image",
            "original_width": 100,
            "original_height": 50,
            "value": {"text": ["hello"]},
        },
    ]
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": 777001,
                    "data": {"image": "s3://linerec/pages/not-there", "document": "gone"},
                    "annotations": [{"id": 1, "result": items}],
                }
            ]
        )
    )
    stats = ingest_export(export_annotations(str(path)))
    assert (stats["tasks_changed"], stats["rejected"], stats["lines"]) == (0, 1, 0)
    with services.connect() as conn:
        reason = conn.execute(sa.text("SELECT reason FROM quarantine WHERE item_ref = 'task:777001'")).scalar_one()
        state = conn.execute(sa.text("SELECT count(*) FROM annotation_task_state WHERE ls_task_id = 777001")).scalar()
    assert "not-there" in reason and state == 0  # no state: the next export tries the task again


def test_export_from_an_unreachable_server_names_it(services, monkeypatch):
    from linerec.infra.endpoints import ServiceUnavailable
    from tasks.annotation_sync import export_annotations

    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "x" * 40)
    monkeypatch.setenv("LABEL_STUDIO_PROJECT_ID", "1")
    monkeypatch.setattr("linerec.labelstudio.client.time.sleep", lambda s: None)
    with pytest.raises(
        ServiceUnavailable,
        match=r"Label Studio: create export of project 1 at http://127.0.0.1:9 "
        r"failed after \d+ attempts",
    ):
        export_annotations()
