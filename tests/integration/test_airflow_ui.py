"""Airflow standalone as an operator meets it: the UI in headless Chromium, and the REST API.

One Airflow (``scripts/airflow.sh``: standalone, Postgres metadata database, the project's DAGs)
is started for the session on a free port with its own ``AIRFLOW_HOME``, against the tests'
Postgres and S3 server. The shipped model is registered as production so ``nightly_recognition``
can run; with no pending pages a run succeeds with zero mapped batches.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from linerec.config import REPO_ROOT

pytestmark = [pytest.mark.airflow_ui, pytest.mark.slow]

DAG_ID = "nightly_recognition"
START_TIMEOUT = 300  # s; ~35-80 s on 2 busy cores
RUN_TIMEOUT = 300
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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
        resp = self.http.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        assert resp.status_code in (200, 201), resp.text
        self.http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def __call__(self, method: str, path: str, **kwargs) -> dict:
        resp = self.http.request(method, f"{self.base}/api/v2{path}", timeout=30, **kwargs)
        assert resp.ok, f"{method} {path}: {resp.status_code} {resp.text[:500]}"
        return resp.json()

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> dict:
        """Poll a DAG run until it finishes; returns the run (with its tasks' states on failure)."""
        from urllib.parse import quote

        deadline = time.monotonic() + timeout
        while True:
            run = self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}")
            if run["state"] in ("success", "failed") or time.monotonic() > deadline:
                break
            time.sleep(2)
        if run["state"] != "success":
            tis = self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")["task_instances"]
            run["tasks"] = {f"{t['task_id']}[{t['map_index']}]": t["state"] for t in tis}
        return run


@pytest.fixture(scope="session")
def production_model(services):
    from linerec.config import get_settings
    from tasks.models import register_bundled_model

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
    env = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW_PORT=str(port), LINEREC_AIRFLOW_DB=db_name,
               AIRFLOW__CORE__PARALLELISM="2", AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="2",
               AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
               AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30", DATABASE_URL=url.render_as_string(hide_password=False))
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    log_path = home / "standalone.log"
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    with open(log_path, "w") as logfh:
        proc = subprocess.Popen([str(REPO_ROOT / "scripts" / "airflow.sh")], env=env, stdout=logfh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        api = None
        while time.monotonic() - t0 < START_TIMEOUT:
            if proc.poll() is not None:
                pytest.fail(f"scripts/airflow.sh exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                health = requests.get(f"{base}/api/v2/monitor/health", timeout=5).json()
                if all(health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor")):
                    api = api or Api(base, json.loads(
                        (home / "simple_auth_manager_passwords.json.generated").read_text())["admin"])
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


def test_ui_login_trigger_with_param_and_screenshot(unpaused, tmp_path, pytestconfig):
    from playwright.sync_api import sync_playwright

    base, api = unpaused
    password = api.password
    t0 = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900})
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{base}/")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda u: "/auth/login" not in u)

            page.goto(f"{base}/dags/{DAG_ID}")
            page.get_by_role("button", name="Trigger").first.click()
            dialog = page.get_by_role("dialog")
            batch = dialog.locator('input[name="element_batch_size"]')
            batch.fill("7")
            batch.press("Tab")
            dialog.get_by_test_id("trigger-dag-submit").click()
            dialog.wait_for(state="hidden")

            deadline = time.monotonic() + 60
            while True:
                runs = api("GET", f"/dags/{DAG_ID}/dagRuns", params={"order_by": "-run_after"})["dag_runs"]
                mine = [r for r in runs if r["run_type"] == "manual" and r["conf"].get("batch_size") == 7]
                if mine or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert mine, f"no manual run with batch_size=7 after triggering from the UI: {runs}"
            done = api.wait_for_run(DAG_ID, mine[0]["dag_run_id"])
            assert done["state"] == "success", done

            from urllib.parse import quote

            page.goto(f"{base}/dags/{DAG_ID}/runs/{quote(done['dag_run_id'])}")
            page.get_by_text("finish").first.wait_for()
            page.get_by_text("Success").first.wait_for()
            page.wait_for_timeout(1500)  # let the grid settle
            shot = tmp_path / "nightly_recognition_run.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    _say(pytestconfig, f"\nscreenshot of the UI-triggered run: {shot} (browser test {time.monotonic() - t0:.0f}s)")
