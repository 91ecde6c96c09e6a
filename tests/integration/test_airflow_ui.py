"""Airflow standalone as an operator meets it: the UI in headless Chromium, and the REST API.

One Airflow (``scripts/airflow.sh``: standalone, Postgres metadata database, the project's DAGs,
task logs at INFO) is started for the session on a free port with its own ``AIRFLOW_HOME``,
against the tests' Postgres and S3 server. The shipped model is registered as production.

* REST: a bearer token, a ``nightly_recognition`` run triggered with ``conf`` and polled to success.
* UI, nightly: scans are dropped under the S3 ``inbox/`` prefix (as scanners deliver them), the
  run is triggered from the Trigger dialog with ``batch_size`` and ``date`` set in the form; every
  page of those scans gets predictions of the production model in Postgres, and the run's
  ``recognize`` task lists its mapped instances, one a batch, all successful.
* UI, training: annotations of a small synthetic corpus are synced (in process); ``training`` is
  triggered from its form with 1 epoch of 2 steps, one Horovod process and no warm start; the
  promotion decision returned by ``evaluate_and_promote`` is read in that task's log in the UI.

Screenshots (trigger forms filled, the succeeded run and its mapped batches, the training
promotion log) are saved in pytest's temporary folder, ``<basetemp>/ui-screenshots0/``
(``/tmp/pytest-of-$USER/pytest-<n>/ui-screenshots0/`` unless ``--basetemp`` is given); the
folder and the tests' durations are printed even when output is captured.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import time
from datetime import date, timedelta
from urllib.parse import quote, unquote

import pytest

from linerec.infra.config import REPO_ROOT

pytestmark = [pytest.mark.airflow_ui, pytest.mark.slow]

DAG_ID = "nightly_recognition"
START_TIMEOUT = 600  # s; ~20 s on an idle machine, 100-140 s on 2 busy cores
RUN_TIMEOUT = 300
NIGHTLY_TIMEOUT = 1200  # s; 3 pages in 2 mapped batches: ~3 min on 2 busy cores
TRAINING_TIMEOUT = 2400  # s; dataset, horovodrun (1 epoch of 2 steps), two evaluations, report
UI_TIMEOUT = 120_000  # ms a UI element may take to appear on 2 busy cores
REQUEST_TIMEOUT = 90  # s one REST call may take
REQUEST_ATTEMPTS = 3  # of a GET that timed out
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _say(config, message: str) -> None:
    """Show ``message`` in the pytest output even when output is captured (figures, file paths)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(message)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """A small REST client for Airflow's public API with a bearer token from ``/auth/token``."""

    def __init__(self, base: str, password: str):
        import requests

        self.base = base
        self.password = password
        self.http = requests.Session()
        resp = self.http.post(
            f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=REQUEST_TIMEOUT
        )
        assert resp.status_code in (200, 201), resp.text
        self.http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def __call__(self, method: str, path: str, **kwargs) -> dict:
        """One API call; a GET that times out is asked again (the one API worker can be slow to
        answer while tasks load TensorFlow on 2 busy cores)."""
        import requests

        for attempt in range(1, REQUEST_ATTEMPTS + 1):
            try:
                resp = self.http.request(method, f"{self.base}/api/v2{path}", timeout=REQUEST_TIMEOUT, **kwargs)
                break
            except (requests.Timeout, requests.ConnectionError):
                if method != "GET" or attempt == REQUEST_ATTEMPTS:
                    raise
        assert resp.ok, f"{method} {path}: {resp.status_code} {resp.text[:500]}"
        return resp.json()

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")["task_instances"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> dict:
        """Poll a DAG run until it finishes; returns the run (with its tasks' states on failure)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}")
            if run["state"] in ("success", "failed") or time.monotonic() > deadline:
                break
            time.sleep(2)
        if run["state"] != "success":
            run["tasks"] = {
                f"{t['task_id']}[{t['map_index']}]": t["state"] for t in self.task_instances(dag_id, run_id)
            }
        return run

    def wait_idle(self, dag_id: str, timeout: float = RUN_TIMEOUT) -> None:
        """Wait until no run of ``dag_id`` is queued or running (e.g. the one scheduled at unpause)."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self("GET", f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]})["dag_runs"]
            if not runs:
                return
            assert time.monotonic() < deadline, f"{dag_id} still has active runs after {timeout}s: {runs}"
            time.sleep(2)

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> object:
        """The return value of a task (not mapped) of a run, deserialized."""
        entry = self(
            "GET",
            f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"deserialize": "true"},
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="session")
def production_model(services):
    from linerec.infra.config import get_settings
    from tasks.registry import register_bundled_model

    model_dir = get_settings().model_dir
    if not (model_dir / "lineage.json").exists():
        pytest.skip(f"no shipped model at {model_dir} (its lineage.json is missing)")
    return register_bundled_model(model_dir)


@pytest.fixture(scope="session")
def airflow_server(services, production_model, tmp_path_factory, pytestconfig):
    """``scripts/airflow.sh`` on a free port; yields ``(base_url, Api)``; stopped at the end."""
    import requests
    import sqlalchemy as sa

    home = tmp_path_factory.mktemp("airflow-ui")
    port = _free_port()
    db_name = "linerec_test_airflow"
    # A metadata database of this session's own on the tests' server (fresh each session).
    url = services.url
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
    # Task logs at INFO as scripts/airflow.sh has them (the tests' in-process Airflow runs at WARNING):
    # the operator reads the steps' INFO lines (e.g. the promotion decision) in the UI.
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW_PORT=str(port),
        LINEREC_AIRFLOW_DB=db_name,
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="2",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30",
        DATABASE_URL=url.render_as_string(hide_password=False),
    )
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    log_path = home / "standalone.log"
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    with open(log_path, "w") as logfh:
        proc = subprocess.Popen(
            [str(REPO_ROOT / "scripts" / "airflow.sh")],
            env=env,
            stdout=logfh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        api = None
        while time.monotonic() - t0 < START_TIMEOUT:
            if proc.poll() is not None:
                pytest.fail(f"scripts/airflow.sh exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                health = requests.get(f"{base}/api/v2/monitor/health", timeout=30).json()
                if all(health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor")):
                    api = api or Api(
                        base, json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
                    )
                    if DAG_ID in {d["dag_id"] for d in api("GET", "/dags")["dags"]}:
                        break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(2)
        else:
            pytest.fail(f"Airflow not ready after {START_TIMEOUT}s:\n{log_path.read_text()[-3000:]}")
        _say(pytestconfig, f"\nAirflow standalone ready at {base} after {time.monotonic() - t0:.0f}s (log {log_path})")
        assert api("GET", "/importErrors")["total_entries"] == 0
        yield base, api
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        admin.dispose()


@pytest.fixture(scope="session")
def unpaused(airflow_server):
    _, api = airflow_server
    assert api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})["is_paused"] is False
    return airflow_server


def test_rest_token_trigger_and_poll(unpaused):
    _, api = unpaused
    run = api("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"batch_size": 3}})
    assert run["conf"] == {"batch_size": 3}
    done = api.wait_for_run(DAG_ID, run["dag_run_id"])
    assert done["state"] == "success", done


# ---------------------------------------------------------------- the UI, as an operator drives it


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory, pytestconfig):
    folder = tmp_path_factory.mktemp("ui-screenshots")
    yield folder
    _say(pytestconfig, f"\nUI screenshots: {folder} ({', '.join(sorted(p.name for p in folder.glob('*.png')))})")


@pytest.fixture(scope="module")
def ui(unpaused, tmp_path_factory):
    """A logged-in page of headless Chromium on the session's Airflow."""
    from playwright.sync_api import sync_playwright

    base, api = unpaused
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(UI_TIMEOUT)
            page.goto(f"{base}/")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(api.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda u: "/auth/login" not in u)
            yield page
        finally:
            browser.close()


def _trigger_form(page, base: str, dag_id: str, params: dict):
    """Open the DAG's Trigger dialog and fill its Params (number and text fields); returns the dialog."""
    from playwright.sync_api import expect

    page.goto(f"{base}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    for name, value in params.items():
        field = dialog.locator(f'input[name="element_{name}"]')
        field.fill(str(value))
        field.press("Tab")
        expect(field).to_have_value(str(value), timeout=UI_TIMEOUT)
    return dialog


def _form_screenshot(page, dialog, path) -> None:
    """The whole filled-in Trigger dialog (taller than the window: the window grows for the shot)."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2400})
    try:
        dialog.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)


def _submit(page, dialog, dag_id: str) -> str:
    """Submit the Trigger dialog; returns the new run's id (the UI opens the run's page)."""
    dialog.get_by_test_id("trigger-dag-submit").click()
    dialog.wait_for(state="hidden")
    page.wait_for_url(re.compile(rf"/dags/{dag_id}/runs/[^/?#]+$"))
    return unquote(page.url.rsplit("/runs/", 1)[1])


def _free_run_date(conn, model_id: int) -> date:
    """A date the model has no recognition run for (a run's page set is fixed when first opened)."""
    import sqlalchemy as sa

    used = {
        r[0]
        for r in conn.execute(sa.text("SELECT logical_date FROM recognition_runs WHERE model_id = :m"), {"m": model_id})
    }
    return next(d for d in (date(2026, 6, 1) + timedelta(days=i) for i in range(len(used) + 1)) if d not in used)


def test_ui_nightly_recognizes_inbox_scans_in_mapped_batches(
    ui, unpaused, services, production_model, screenshots, tmp_path, pytestconfig
):
    import sqlalchemy as sa
    from playwright.sync_api import expect

    from linerec.synth.pages import generate_corpus
    from tasks.context import store

    base, api = unpaused
    t0 = time.monotonic()
    # The run scheduled when the DAG was unpaused (and earlier tests' runs) must not take the scans.
    api.wait_idle(DAG_ID)

    # 1. Three one-page scans arrive in the S3 inbox, as a scanner delivers them.
    scans = generate_corpus(tmp_path / "scans", n_documents=3, seed=731, pages_per_document=(1, 1))
    files = sorted((scans.parent / "images").glob("*.png"))
    assert len(files) == 3
    st = store()
    keys = {}
    for path in files:
        key = f"inbox/ui-test/{path.name}"
        st.client.put_object(Bucket=st.bucket, Key=key, Body=path.read_bytes(), ContentType="image/png")
        keys[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    prod_id = production_model["model_id"]
    with services.connect() as conn:
        run_date = _free_run_date(conn, prod_id)

    # 2. Trigger from the UI's form: batch_size 2 (3 pages -> 2 mapped batches) and the run's date.
    batch_size = 2
    dialog = _trigger_form(ui, base, DAG_ID, {"batch_size": batch_size, "date": run_date.isoformat()})
    _form_screenshot(ui, dialog, screenshots / "1-nightly-trigger-form.png")
    run_id = _submit(ui, dialog, DAG_ID)
    run = api("GET", f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}")
    assert run["run_type"] == "manual"
    assert run["conf"]["batch_size"] == batch_size and run["conf"]["date"] == run_date.isoformat(), run["conf"]
    done = api.wait_for_run(DAG_ID, run_id, timeout=NIGHTLY_TIMEOUT)
    assert done["state"] == "success", done
    t_run = time.monotonic() - t0

    # 3. Postgres: each scan's object was taken in, each page read by this run with the production model.
    with services.connect() as conn:
        inbox = dict(
            conn.execute(
                sa.text("SELECT s3_key, status FROM inbox_objects WHERE s3_key = ANY(:k)"), {"k": list(keys)}
            ).all()
        )
        assert inbox == {k: "registered" for k in keys}, inbox
        assert conn.execute(sa.text("SELECT model_id FROM models WHERE status = 'production'")).scalar() == prod_id
        rr = conn.execute(
            sa.text(
                "SELECT recognition_run_id, status, pages FROM recognition_runs WHERE model_id = :m AND logical_date = :d"
            ),
            {"m": prod_id, "d": run_date},
        ).one()
        assert rr.status == "succeeded", rr
        pages = conn.execute(
            sa.text(
                "SELECT p.page_id, f.source_ref, r.recognition_run_id, r.lines, r.error, "
                "       (SELECT count(*) FROM predictions pr WHERE pr.page_id = p.page_id) AS predictions, "
                "       (SELECT array_agg(DISTINCT pr.model_id) FROM predictions pr WHERE pr.page_id = p.page_id) "
                "       AS models "
                "FROM intake_files f JOIN pages p USING (document_id) "
                "LEFT JOIN page_results r ON r.page_id = p.page_id AND r.model_id = :m "
                "WHERE f.sha256 = ANY(:shas) ORDER BY p.page_id"
            ),
            {"m": prod_id, "shas": list(keys.values())},
        ).all()
        run_pages = conn.execute(
            sa.text("SELECT count(*) FROM page_results WHERE recognition_run_id = :r"), {"r": rr.recognition_run_id}
        ).scalar()
    assert sorted(p.source_ref for p in pages) == sorted(keys), pages
    for p in pages:
        assert p.recognition_run_id == rr.recognition_run_id, f"{p.source_ref}: not read by the UI-triggered run: {p}"
        assert p.error is None and p.lines > 0 and p.predictions == p.lines, p
        assert p.models == [prod_id], f"{p.source_ref}: predictions of models {p.models}, production is {prod_id}"
    n_lines = sum(p.predictions for p in pages)
    assert n_lines > 0

    # 4. One mapped `recognize` instance a batch, all successful (REST, then the UI shows the same).
    n_batches = math.ceil(run_pages / batch_size)
    assert n_batches >= 2
    mapped = sorted(
        t["map_index"]
        for t in api.task_instances(DAG_ID, run_id)
        if t["task_id"] == "recognize" and t["state"] == "success"
    )
    assert mapped == list(range(n_batches)), mapped

    ui.goto(f"{base}/dags/{DAG_ID}/runs/{quote(run_id)}")
    recognize_rows = ui.get_by_test_id("table-list").locator("tbody tr").filter(has_text="recognize")
    expect(recognize_rows.filter(has_text="Success")).to_have_count(n_batches, timeout=UI_TIMEOUT)
    ui.screenshot(path=str(screenshots / "2-nightly-run-succeeded.png"), full_page=True)

    ui.goto(f"{base}/dags/{DAG_ID}/runs/{quote(run_id)}/tasks/recognize/mapped")
    rows = ui.get_by_test_id("table-list").locator("tbody tr")
    expect(rows).to_have_count(n_batches, timeout=UI_TIMEOUT)
    expect(ui.get_by_text(f"recognize [{n_batches}]").first).to_be_visible(timeout=UI_TIMEOUT)
    listed = sorted((t.split() for t in rows.all_inner_texts()), key=lambda cells: int(cells[0]))
    assert [int(cells[0]) for cells in listed] == list(range(n_batches)), listed
    assert all(cells[1] == "Success" for cells in listed), listed
    ui.screenshot(path=str(screenshots / "3-nightly-recognize-mapped-batches.png"), full_page=True)
    _say(
        pytestconfig,
        f"\nnightly from the UI: {len(pages)} pages, {n_lines} lines, {n_batches} mapped batches; "
        f"run {t_run:.0f}s, test {time.monotonic() - t0:.0f}s",
    )


def test_ui_training_run_shows_promotion_decision_in_task_log(
    ui, unpaused, services, production_model, screenshots, tmp_path, pytestconfig
):
    import sqlalchemy as sa
    from playwright.sync_api import expect

    from linerec.synth.pages import generate_corpus
    from tasks.annotation_sync import export_annotations, ingest_export

    base, api = unpaused
    t0 = time.monotonic()
    # A tiny annotated corpus (6 documents, ~120 lines), synced in this process: through Airflow,
    # annotation_sync would update the annotations asset and start a training run of its own.
    export = generate_corpus(tmp_path / "annotated", n_documents=6, seed=733)
    synced = ingest_export(export_annotations(str(export)))
    assert synced["lines"] > 0, synced

    # From the form: one Horovod process, 1 epoch of 2 steps of 8 lines, from scratch (no warm
    # start: the candidate cannot beat the shipped model, so production stays as the other tests
    # expect it). For a paused DAG the dialog offers to unpause it, on by default: left on.
    params = {"num_processes": 1, "epochs": 1, "steps_per_epoch": 2, "batch_size": 8}
    paused = api("GET", "/dags/training")["is_paused"]
    dialog = _trigger_form(ui, base, "training", params)
    if paused:
        expect(dialog.get_by_role("checkbox", name=re.compile("Unpause"))).to_be_checked(timeout=UI_TIMEOUT)
    warm_start = dialog.locator('input[name="element_warm_start"]')
    dialog.locator('label:has(input[name="element_warm_start"])').click()
    expect(warm_start).not_to_be_checked(timeout=UI_TIMEOUT)
    _form_screenshot(ui, dialog, screenshots / "4-training-trigger-form.png")
    run_id = _submit(ui, dialog, "training")
    conf = api("GET", f"/dags/training/dagRuns/{quote(run_id)}")["conf"]
    assert {k: conf[k] for k in params} == params and conf["warm_start"] is False, conf
    done = api.wait_for_run("training", run_id, timeout=TRAINING_TIMEOUT)
    assert done["state"] == "success", done
    t_run = time.monotonic() - t0

    decision = api.xcom("training", run_id, "evaluate_and_promote")
    assert decision["promoted"] is False, decision
    assert decision["production_model_id"] == production_model["model_id"], decision
    assert decision["reason"] == (
        f"CER {decision['candidate_cer']:.4f} >= production {decision['production_cer']:.4f}"
    ), decision
    with services.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM models WHERE model_id = :m"), {"m": decision["model_id"]}
        ).scalar_one()
        production = conn.execute(sa.text("SELECT model_id FROM models WHERE status = 'production'")).scalar()
    assert status == "candidate" and production == production_model["model_id"], (status, production)

    # The operator opens evaluate_and_promote's log in the UI and finds the decision.
    ui.goto(f"{base}/dags/training/runs/{quote(run_id)}/tasks/evaluate_and_promote")
    line = ui.get_by_text("promotion decision:").filter(has_text=decision["reason"]).last
    expect(line).to_be_visible(timeout=UI_TIMEOUT)
    ui.get_by_role("button", name="Log Settings").click()  # long lines run past the panel unless wrapped
    ui.get_by_role("menuitem", name=re.compile("^Wrap")).click()
    line.scroll_into_view_if_needed()
    box = line.bounding_box()
    assert box is not None and box["x"] + box["width"] <= ui.viewport_size["width"], f"decision line off screen: {box}"
    ui.screenshot(path=str(screenshots / "5-training-promotion-log.png"), full_page=True)
    _say(
        pytestconfig,
        f"\ntraining from the UI: {synced['lines']} annotated lines, decision {decision['reason']!r}; "
        f"run {t_run:.0f}s, test {time.monotonic() - t0:.0f}s",
    )
