"""Pipeline steps against the real services: bad input, clear service errors, Luigi skipping."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from linerec.infra.endpoints import S3Endpoint, ServiceUnavailable


def test_unreachable_postgres_is_one_clear_line():
    env = dict(os.environ, DATABASE_URL="postgresql+psycopg2://u:secretpw@127.0.0.1:1/none")
    proc = subprocess.run(
        [sys.executable, "-m", "linerec.cli", "db", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: Postgres: cannot connect to postgresql+psycopg2://u:***@127.0.0.1:1/none")
    assert "secretpw" not in proc.stderr


def test_unreachable_s3_names_the_endpoint():
    from linerec.infra.storage import ObjectStore

    store = ObjectStore(S3Endpoint("http://127.0.0.1:1", "k", "s", "us-east-1", "linerec"))
    with pytest.raises(ServiceUnavailable, match=r"S3: cannot reach http://127.0.0.1:1"):
        store.ensure_bucket()


def test_s3_server_checks_signatures(services):
    from linerec.infra.storage import ObjectStore
    from tasks.context import store

    good = store().endpoint
    forged = ObjectStore(S3Endpoint(good.endpoint_url, good.access_key, "not-the-secret", good.region, good.bucket))
    with pytest.raises(ServiceUnavailable, match="refused access"):
        forged.ensure_bucket()


def test_unreadable_page_is_quarantined_and_the_rest_ingested(services, tmp_path):
    from linerec.synth.pages import generate_corpus
    from tasks.annotation_sync import export_annotations, ingest_export

    export = generate_corpus(tmp_path / "c", n_documents=2, seed=31, pages_per_document=(1, 1))
    tasks = json.loads(export.read_text())
    broken = tmp_path / "c" / "images" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG header and nothing else
    tasks[1]["data"]["image"] = "/data/local-files/?d=images/broken.png"
    export.write_text(json.dumps(tasks))
    stats = ingest_export(export_annotations(str(export)))
    assert stats["pages"] == 1 and stats["rejected"] == len(tasks[1]["annotations"][0]["result"]) // 2
    with services.connect() as conn:
        reason = conn.execute(
            sa.text("SELECT reason FROM quarantine WHERE item_ref = :r"), {"r": f"task:{tasks[1]['id']}"}
        ).scalar_one()
    assert "broken.png" in reason and "unreadable image" in reason


def test_luigi_skips_a_step_whose_target_exists(services, tmp_path):
    from linerec.synth.pages import generate_corpus
    from tasks import luigi_graph as g

    export = generate_corpus(tmp_path / "l", n_documents=1, seed=32, pages_per_document=(1, 1))
    task = g.AnnotationSync(export_file=str(export))
    assert not task.complete()
    assert g.run(task) and task.complete()
    first = task.result()
    assert first["pages"] == 1 and first["lines"] > 0
    mtime = os.path.getmtime(task.output().path)
    assert g.run(g.AnnotationSync(export_file=str(export)))
    assert os.path.getmtime(task.output().path) == mtime  # not run again
