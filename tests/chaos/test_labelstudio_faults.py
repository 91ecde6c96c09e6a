"""Label Studio answering 500 and timing out during an export (issue 6 §3).

A real Label Studio cannot be made to fail on demand, so this is a stub HTTP server speaking the
part of its API that ``annotation_sync`` uses (export snapshot create / status / download /
delete, and ``/data/local-files/`` images), with a script of faults per endpoint. Everything
after the export (S3, Postgres, ingestion) is real. The export client retries with backoff and
succeeds, or fails with one clear line; either way no partial export or row becomes visible.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

API_KEY = "stub-token-0123456789"
HANG = 4.0  # seconds a "hang" fault keeps the client waiting (its request timeout is shorter)


class StubLabelStudio:
    """A Label Studio stand-in serving ``export`` with scripted faults.

    Parameters
    ----------
    export : Path
        The JSON export to serve; its ``/data/local-files/?d=REL`` images are served from its folder.
    faults : dict
        Per operation (``create``, ``status``, ``download``, ``delete``, ``image``), the faults of
        its next requests in order: ``"500"`` or ``"hang"``; ``"500*"`` / ``"hang*"`` repeat forever.
    """

    def __init__(self, export: Path, faults: dict[str, list[str]]):
        self.export, self.faults, self.calls = export, {k: list(v) for k, v in faults.items()}, []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _route(self) -> tuple[str, bytes, str]:
                parts = urlsplit(self.path)
                if parts.path == "/data/local-files/":
                    rel = parse_qs(parts.query)["d"][0]
                    return "image", (stub.export.parent / rel).read_bytes(), "image/png"
                m = re.fullmatch(r"/api/projects/1/exports/?(\d+)?(/download)?/?", parts.path)
                if not m:
                    return "unknown", b"{}", "application/json"
                if self.command == "POST":
                    return (
                        "create",
                        json.dumps({"id": 7, "title": "t", "status": "created"}).encode(),
                        "application/json",
                    )
                if self.command == "DELETE":
                    return "delete", b"", "application/json"
                if m.group(2):
                    return "download", stub.export.read_bytes(), "application/json"
                return "status", json.dumps({"id": 7, "status": "completed"}).encode(), "application/json"

            def _handle(self):
                if self.headers.get("Content-Length"):
                    self.rfile.read(int(self.headers["Content-Length"]))
                op, body, ctype = self._route()
                queue = stub.faults.get(op, [])
                fault = (queue[0] if queue[0].endswith("*") else queue.pop(0)) if queue else None
                stub.calls.append((op, fault))
                status = 200
                if self.headers.get("Authorization") != f"Token {API_KEY}":
                    status, body = 401, b'{"detail": "bad token"}'
                elif fault and fault.startswith("500"):
                    status, body = 500, b'{"detail": "internal error (injected)"}'
                elif fault and fault.startswith("hang"):
                    time.sleep(HANG)
                elif op == "unknown":
                    status = 404
                elif op == "delete":
                    status = 204
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting
                    pass

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def count(self, op: str) -> int:
        return sum(1 for o, _ in self.calls if o == op)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    from linerec.synth.pages import generate_corpus

    return generate_corpus(
        tmp_path_factory.mktemp("ls-chaos") / "c", n_documents=2, seed=501, pages_per_document=(1, 1)
    )


def _expected_lines(export: Path) -> int:
    return sum(
        1
        for t in json.loads(export.read_text())
        for r in t["annotations"][0]["result"]
        if r["type"] == "textarea" and "".join(r["value"]["text"]).strip()
    )


def _figures(engine) -> dict:
    from tasks.context import store

    with engine.connect() as conn:
        exports = conn.execute(sa.text("SELECT count(*) FROM annotation_exports")).scalar()
        lines, regions = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT ls_region_id) FROM line_annotations")
        ).one()
    objects = list(store().list_keys("exports/"))
    return {"exports": exports, "lines": lines, "duplicates": lines - regions, "export_objects": len(objects)}


@pytest.fixture
def stub_env(monkeypatch):
    def use(stub: StubLabelStudio) -> None:
        monkeypatch.setenv("LABEL_STUDIO_URL", stub.url)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", API_KEY)
        monkeypatch.setenv("LABEL_STUDIO_PROJECT_ID", "1")
        monkeypatch.setenv("LINEREC_LS_REQUEST_TIMEOUT", "1.5")

    return use


@pytest.mark.parametrize(
    "name, faults",
    [
        ("failing", {"create": ["500*"]}),
        ("hanging", {"download": ["hang*"]}),
    ],
)
def test_export_fails_with_a_clear_error_and_leaves_nothing(isolated_pipeline, export, stub_env, record, name, faults):
    from linerec.labelstudio.client import LabelStudioError
    from tasks.annotation_sync import export_annotations

    record.start(f"Label Studio {'answering 500' if name == 'failing' else 'timing out'} (always)")
    before = _figures(isolated_pipeline)
    with StubLabelStudio(export, faults) as stub:
        stub_env(stub)
        with pytest.raises(LabelStudioError) as info:
            export_annotations()
    message = str(info.value)
    op = "create export of project 1" if name == "failing" else "download of export 7"
    assert message.startswith(f"Label Studio: {op} at {stub.url} failed after 5 attempts (")
    assert ("HTTP 500" if name == "failing" else "timed out") in message
    assert "\n" not in message and API_KEY not in message
    assert stub.count("create" if name == "failing" else "download") == 5
    assert _figures(isolated_pipeline) == before  # no export row, no export object, no lines
    record(survived=True, rows_lost=0, duplicates=0, outcome="clear error after 5 attempts, nothing written")


def test_export_rides_out_500s_and_timeouts(isolated_pipeline, export, stub_env, record):
    from tasks.annotation_sync import export_annotations, ingest_export

    record.start("Label Studio answering 500 / timing out (transient)")
    faults = {"create": ["500", "500"], "status": ["hang"], "download": ["500", "hang"], "image": ["500"]}
    with StubLabelStudio(export, faults) as stub:
        stub_env(stub)
        export_id = export_annotations()
        stats = ingest_export(export_id)
        assert all(not queue for queue in stub.faults.values()), stub.faults  # every fault was met
        assert stub.count("create") == 3 and stub.count("download") == 3 and stub.count("delete") == 1
        again = ingest_export(export_annotations())  # unchanged annotations: nothing new
    expected = _expected_lines(export)
    figures = _figures(isolated_pipeline)
    assert stats["pages"] == 2 and again["export_id"] == export_id
    assert figures["exports"] == 1 and figures["export_objects"] == 1
    assert figures["lines"] == expected and figures["duplicates"] == 0
    record(
        survived=True,
        rows_lost=expected - figures["lines"],
        duplicates=figures["duplicates"],
        outcome="retried with backoff, succeeded",
    )
