"""Secrets never reach a log (issue 6 §5): the three DAGs run with ``dag.test()`` with a database
password, the S3 secret key and a Label Studio token that are each distinctive and set only
through the environment, then every log is searched for them.

The runs use the credentials for real: Postgres through a role with that password, the test S3
server (which checks signatures) with its secret key, and a real Label Studio server, to which
``nightly_recognition`` pushes its pages and predictions and from which a second
``annotation_sync`` exports. Searched: everything logged in this process (all loggers at DEBUG),
the process' stdout and stderr (file-descriptor level, so also what child processes print), every
file under ``$AIRFLOW_HOME/logs`` and every ``*.log`` under ``$AIRFLOW_HOME``, every file of the
training runs' local folders (the ``horovodrun`` log), and the logs and reports the runs stored in
S3. The S3 and Label Studio servers' own logs are out of scope.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

import local_runner

pytestmark = [pytest.mark.e2e, pytest.mark.horovod, pytest.mark.labelstudio, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    from linerec.synth.pages import generate_corpus

    root = tmp_path_factory.mktemp("secrets")
    export = generate_corpus(root / "annotated", n_documents=5, seed=91, pages_per_document=(1, 1))
    scans = generate_corpus(root / "scans", n_documents=2, seed=92, pages_per_document=(1, 1))
    return {"export": export, "scans": sorted((scans.parent / "images").glob("*.png"))}


@pytest.fixture
def secret_env(isolated_pipeline, labelstudio, monkeypatch) -> dict:
    """DATABASE_URL with a role whose password is distinctive, S3 and Label Studio from the environment."""
    from linerec.infra.services import database_url
    from tasks import context

    ep = context.store().endpoint
    password = "pgpw-" + secrets.token_hex(12)
    role = "linerec_logs_" + secrets.token_hex(4)
    with isolated_pipeline.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # DDL takes no bound parameters; role and password are generated hex here.
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'")
    url = sa.engine.make_url(database_url()).set(username=role, password=password)
    for key, value in {
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "S3_ENDPOINT_URL": ep.endpoint_url,
        "AWS_ACCESS_KEY_ID": ep.access_key,
        "AWS_SECRET_ACCESS_KEY": ep.secret_key,
        "LABEL_STUDIO_URL": labelstudio.url,
        "LABEL_STUDIO_API_KEY": labelstudio.api_key,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LABEL_STUDIO_PROJECT_ID", raising=False)
    context.engine.cache_clear()
    context.store.cache_clear()
    yield {"Postgres password": password, "S3 secret key": ep.secret_key, "Label Studio API key": labelstudio.api_key}
    context.engine.cache_clear()
    context.store.cache_clear()


@pytest.fixture(scope="module")
def airflow_logging(airflow_db):
    """Import Airflow (it configures logging when first imported) before the test's log capture
    starts, so the capture handler is not replaced halfway."""
    local_runner.load_dags()


def _run(dag_id: str, conf: dict) -> dict:
    run = local_runner.run_dag(dag_id, conf)
    assert str(getattr(run.state, "value", run.state)) == "success", f"{dag_id} failed"
    return local_runner.task_results(run)


def _log_files() -> list[Path]:
    from linerec.infra.config import get_settings

    home = Path(os.environ["AIRFLOW_HOME"])
    files = set((home / "logs").rglob("*")) | set(home.rglob("*.log"))
    files |= set((get_settings().state_dir / "runs").rglob("*"))
    return sorted(p for p in files if p.is_file())


def test_no_secret_in_any_log(secret_env, airflow_logging, corpus, caplog, capfd):
    from tasks.context import engine, store
    from tasks.intake import ingest_files

    caplog.set_level(logging.DEBUG)
    for name in ("linerec", "tasks"):  # everything of ours, whatever Airflow's level is
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).disabled = False
    with engine().connect() as conn:  # the steps really connect as the role with the password
        assert conn.execute(sa.text("SELECT current_user")).scalar().startswith("linerec_logs_")

    synced = _run("annotation_sync", {"export_file": str(corpus["export"])})
    assert synced["ingest_export"]["pages"] == 5
    trained = _run("training", {"num_processes": 2, "epochs": 1, "steps_per_epoch": 2, "batch_size": 8})
    assert trained["evaluate_and_promote"]["promoted"]
    ingest_files([str(p) for p in corpus["scans"]])
    nightly = _run("nightly_recognition", {"batch_size": 4, "date": "2026-08-01"})
    pushed = nightly["to_labelstudio"]
    assert pushed["predictions"]["pages"] > 0  # the token was used for real
    from_ls = _run("annotation_sync", {})  # an export snapshot from Label Studio
    assert from_ls["ingest_export"]["tasks"] >= pushed["predictions"]["pages"]

    out, err = capfd.readouterr()
    st = store()
    stored = {
        k: st.get_bytes(k).decode(errors="replace")
        for k in st.list_keys()
        if k.startswith(("training-runs/", "reports/")) and k.endswith((".log", ".md", ".json"))
    }
    files = _log_files()
    sources = {
        "logging": caplog.text,
        "stdout": out,
        "stderr": err,
        **{str(p): p.read_bytes().decode(errors="replace") for p in files},
        **{f"s3://{st.bucket}/{k}": v for k, v in stored.items()},
    }
    everything = "\n".join(sources.values())
    # The capture really holds the runs' logs.
    for expected in ("ingested export", "registered candidate model", "recognized batch", "sent "):
        assert expected in everything, expected
    assert any(k.endswith("train.log") for k in stored) and any(p.name == "train.log" for p in files)

    leaks = {
        f"{what} in {where}": [ln[:200] for ln in text.splitlines() if value in ln][:3]
        for what, value in secret_env.items()
        for where, text in sources.items()
        if value in text
    }
    assert leaks == {}, json.dumps(leaks, indent=1)
