"""Image references of annotation exports (issue 14 item 2): allow-lists of paths, buckets and
hosts, addresses checked after DNS resolution, no redirect to another host, a byte cap and a time
budget per image, the Label Studio token for Label Studio only.

A real HTTP server on 127.0.0.1 (``http.server`` in a thread) stands for Label Studio and for
other hosts; its handlers redirect, send oversize or slow bodies, and record what they received.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from linerec.labelstudio.export import resolve_image_ref
from linerec.labelstudio.image_fetch import ImageRefused, fetch_http, image_policy, read_image_file

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
CAP = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    received: list[dict] = []

    def log_message(self, *args):  # keep the test output quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}) and "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's name
        port = self.server.server_address[1]
        self.received.append(
            {"path": self.path, "host": self.headers.get("Host"), "authorization": self.headers.get("Authorization")}
        )
        path = self.path.split("?", 1)[0]
        if path == "/ok.png":
            self._send(200, PNG, {"Content-Type": "image/png"})
        elif path == "/redirect-same":
            self._send(302, headers={"Location": "/ok.png"})
        elif path == "/redirect-other":  # same machine, another host name
            self._send(302, headers={"Location": f"http://localhost:{port}/ok.png"})
        elif path == "/redirect-metadata":
            self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/redirect-s3":  # Label Studio resolving a storage reference: to the S3 endpoint
            self._send(302, headers={"Location": f"{self.server.s3_url}/{self.server.bucket}/ok.png?X-Amz-Signature=1"})
        elif path.endswith("/ok.png") and path.startswith("/"):
            self._send(200, PNG, {"Content-Type": "image/png"})
        elif path == "/redirect-loop":
            self._send(302, headers={"Location": "/redirect-loop"})
        elif path == "/big-declared":  # says how large it is: refused before the body is read
            self._send(200, headers={"Content-Length": str(CAP * 100)})
            try:
                self.wfile.write(b"\0" * CAP * 2)
            except OSError:
                pass
        elif path == "/big-chunked":  # does not say: refused once the cap is passed
            self._send(200, headers={"Transfer-Encoding": "chunked"})
            try:
                for _ in range(200):
                    self.wfile.write(b"%x\r\n%s\r\n" % (CAP // 4, b"\0" * (CAP // 4)))
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
        elif path == "/slow":  # a byte at a time, forever (never times out a single read)
            self._send(200, headers={"Content-Length": str(CAP // 2)})
            try:
                for _ in range(CAP // 2):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass
        else:
            self._send(404)


@pytest.fixture(scope="module")
def http_server():
    _Handler.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.s3_url, server.bucket = f"http://localhost:{server.server_address[1]}", "linerec-test-bucket"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ls_env(monkeypatch, http_server):
    """The local server is Label Studio (on 127.0.0.1, as in the tests and the demo)."""
    monkeypatch.setenv("LABEL_STUDIO_URL", http_server)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "ls-token-for-tests")
    monkeypatch.setenv("LINEREC_IMAGE_MAX_BYTES", str(CAP))
    monkeypatch.setenv("LINEREC_IMAGE_FETCH_SECONDS", "2")
    monkeypatch.delenv("LINEREC_IMAGE_HOSTS", raising=False)
    monkeypatch.delenv("LINEREC_IMAGE_PRIVATE_NETS", raising=False)
    _Handler.received.clear()
    return http_server


# ------------------------------------------------------------------------------------- local files
@pytest.mark.parametrize(
    "ref", ["/dev/zero", "/etc/passwd", "file:///etc/passwd", "file:///dev/zero", "/proc/self/environ", "/tmp/x.png"]
)
def test_absolute_paths_outside_the_import_root_are_refused(tmp_path, monkeypatch, ref):
    monkeypatch.setenv("LINEREC_IMAGE_ROOTS", str(tmp_path / "imports"))
    with pytest.raises(ImageRefused, match="outside an import root"):
        resolve_image_ref(ref, tmp_path / "export")


def test_devices_fifos_and_oversize_files_are_refused_even_inside_a_root(tmp_path, monkeypatch):
    monkeypatch.setenv("LINEREC_IMAGE_ROOTS", f"{tmp_path / 'imports'}:/dev")
    monkeypatch.setenv("LINEREC_IMAGE_MAX_BYTES", "1000")
    export = tmp_path / "export"
    (export / "images").mkdir(parents=True)
    (tmp_path / "imports").mkdir()
    (tmp_path / "imports" / "ok.png").write_bytes(PNG[:900])
    (tmp_path / "imports" / "big.png").write_bytes(PNG * 2)
    os.mkfifo(export / "images" / "fifo.png")
    (export / "images" / "zero.png").symlink_to("/dev/zero")

    assert resolve_image_ref(str(tmp_path / "imports" / "ok.png"), export) == (
        "file",
        str(tmp_path / "imports" / "ok.png"),
    )
    assert read_image_file(str(tmp_path / "imports" / "ok.png"), image_policy()) == PNG[:900]
    refused = {
        "/dev/zero": "not a regular file",
        f"file://{tmp_path}/imports/big.png": "exceed the limit of 1000",
        "images/fifo.png": "not a regular file",
        "/data/local-files/?d=images/zero.png": "not a regular file",
    }
    for ref, reason in refused.items():
        with pytest.raises(ImageRefused, match=reason):
            resolve_image_ref(ref, export)


def test_relative_references_stay_in_the_exports_folder_outside_the_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("LINEREC_IMAGE_ROOTS", str(tmp_path / "imports"))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(PNG)
    assert resolve_image_ref("/data/local-files/?d=images/a.png", tmp_path) == ("file", str(tmp_path / "images/a.png"))
    with pytest.raises(ImageRefused, match="outside an import root"):
        resolve_image_ref(str(tmp_path / "images" / "a.png"), tmp_path)


# ---------------------------------------------------------------------------------- buckets, hosts
def test_only_the_configured_bucket_and_allowed_hosts_are_accepted(ls_env, monkeypatch):
    from linerec.infra.config import get_settings

    bucket = get_settings().s3_bucket
    assert resolve_image_ref(f"s3://{bucket}/pages/x.png", "/") == ("s3", f"s3://{bucket}/pages/x.png")
    assert resolve_image_ref(f"{ls_env}/data/upload/1/x.png", "/")[0] == "http"  # Label Studio on 127.0.0.1
    refused = {
        "s3://other-bucket/pages/x.png": "outside bucket",
        "http://169.254.169.254/latest/meta-data/iam/": "not Label Studio's",
        "http://metadata.google.internal/computeMetadata/v1/": "not Label Studio's",
        "http://10.0.0.7:5432/": "not Label Studio's",
        f"{ls_env.replace('127.0.0.1', 'localhost')}/ok.png": "not Label Studio's",
        "https://example.org/scan.png": "not Label Studio's",
    }
    for ref, reason in refused.items():
        with pytest.raises(ImageRefused, match=reason):
            resolve_image_ref(ref, "/")

    # A listed host must still resolve to public addresses, unless its network is let in.
    port = ls_env.rsplit(":", 1)[1]
    monkeypatch.setenv("LINEREC_IMAGE_HOSTS", f"169.254.169.254,localhost:{port}")
    with pytest.raises(ImageRefused, match="169.254.169.254, which is not a public address"):
        fetch_http("http://169.254.169.254/latest/meta-data/", image_policy())
    with pytest.raises(ImageRefused, match="127.0.0.1, which is not a public address"):
        fetch_http(f"http://localhost:{port}/ok.png", image_policy())
    monkeypatch.setenv("LINEREC_IMAGE_PRIVATE_NETS", "127.0.0.0/8")
    _Handler.received.clear()
    assert fetch_http(f"http://localhost:{port}/ok.png", image_policy()) == PNG
    assert _Handler.received[-1]["host"] == f"localhost:{port}"  # connected to the checked address


# ------------------------------------------------------------------------------- redirects, limits
def test_redirects_only_within_the_same_host(ls_env):
    from linerec.labelstudio.client import fetch_url

    assert fetch_url(f"{ls_env}/redirect-same") == PNG
    refused = {
        "/redirect-other": "redirect to another host",
        "/redirect-metadata": "redirect to another host",
        "/redirect-loop": "more than 3 redirects",
    }
    for path, reason in refused.items():
        _Handler.received.clear()
        with pytest.raises(ImageRefused, match=reason):
            fetch_url(f"{ls_env}{path}", "ls-token-for-tests")
        assert all(r["path"] != "/ok.png" for r in _Handler.received)  # the other host was never asked


def test_label_studio_may_redirect_to_the_s3_endpoint_without_the_token(ls_env, monkeypatch):
    from linerec.labelstudio.client import fetch_url

    port = ls_env.rsplit(":", 1)[1]  # the same server stands for the S3 endpoint, under another name
    monkeypatch.setenv("S3_ENDPOINT_URL", f"http://localhost:{port}")
    monkeypatch.setenv("LINEREC_S3_BUCKET", "linerec-test-bucket")
    assert fetch_url(f"{ls_env}/redirect-s3", "ls-token-for-tests") == PNG
    first, second = _Handler.received[-2:]
    assert first["authorization"] == "Token ls-token-for-tests" and second["authorization"] is None
    assert second["host"] == f"localhost:{port}" and second["path"].startswith("/linerec-test-bucket/")
    monkeypatch.setenv("LINEREC_S3_BUCKET", "another-bucket")  # the endpoint, but not the bucket
    with pytest.raises(ImageRefused, match="redirect to another host"):
        fetch_url(f"{ls_env}/redirect-s3", "ls-token-for-tests")


def test_oversize_bodies_are_refused_at_the_cap(ls_env):
    from linerec.labelstudio.client import fetch_url

    with pytest.raises(ImageRefused, match=f"{CAP * 100} bytes exceed the limit of {CAP}"):
        fetch_url(f"{ls_env}/big-declared")
    with pytest.raises(ImageRefused, match=f"more than {CAP} bytes"):
        fetch_url(f"{ls_env}/big-chunked")


def test_a_slow_body_is_cut_at_the_time_budget(ls_env):
    from linerec.labelstudio.client import fetch_url

    t0 = time.monotonic()
    with pytest.raises(ImageRefused, match="not read within 2 s"):
        fetch_url(f"{ls_env}/slow")
    assert time.monotonic() - t0 < 6


def test_the_label_studio_token_goes_to_label_studio_only(ls_env, monkeypatch):
    from linerec.labelstudio.client import fetch_url

    assert fetch_url(f"{ls_env}/ok.png", "ls-token-for-tests") == PNG
    assert _Handler.received[-1]["authorization"] == "Token ls-token-for-tests"
    port = ls_env.rsplit(":", 1)[1]
    monkeypatch.setenv("LINEREC_IMAGE_HOSTS", f"localhost:{port}")
    monkeypatch.setenv("LINEREC_IMAGE_PRIVATE_NETS", "127.0.0.0/8")
    _Handler.received.clear()
    with pytest.raises(ImageRefused, match="token goes to Label Studio's server only"):
        fetch_url(f"http://localhost:{port}/ok.png", "ls-token-for-tests")
    assert _Handler.received == []


# ----------------------------------------------------------------------------- through the pipeline
def test_hostile_references_in_an_export_are_quarantined_and_the_rest_ingested(
    isolated_pipeline, ls_env, tmp_path, monkeypatch
):
    """An export file whose tasks point at system files, the metadata service, another bucket and
    redirecting or oversize URLs: each task is quarantined with the rule, the good ones go in."""
    from linerec.synth.pages import generate_corpus
    from tasks.annotation_sync import export_annotations, ingest_export

    monkeypatch.delenv("LABEL_STUDIO_URL")  # the export is a file; the server is just a host here
    monkeypatch.setenv("LINEREC_IMAGE_HOSTS", ls_env.split("//", 1)[1])
    monkeypatch.setenv("LINEREC_IMAGE_PRIVATE_NETS", "127.0.0.0/8")
    monkeypatch.setenv("LINEREC_IMAGE_MAX_BYTES", str(CAP * 50))  # the scans are ~0.8 MB; /big-declared more
    export = generate_corpus(tmp_path / "corpus", n_documents=2, seed=141, pages_per_document=(1, 1))
    tasks = json.loads(export.read_text())
    refs = {
        "/etc/passwd": "outside an import root",
        "file:///dev/zero": "outside an import root",
        "http://169.254.169.254/latest/meta-data/": "not Label Studio's",
        "s3://other-bucket/pages/x.png": "outside bucket",
        f"{ls_env}/redirect-metadata": "redirect to another host",
        f"{ls_env}/big-declared": "exceed the limit",
    }
    hostile = []
    for n, ref in enumerate(refs):
        t = json.loads(json.dumps(tasks[0]))
        t["id"] = 14200 + n
        t["data"] = dict(t["data"], image=ref, document=f"hostile-ref-{n}")
        hostile.append(t)
    export.write_text(json.dumps(tasks + hostile))

    stats = ingest_export(export_annotations(str(export)))

    assert stats["pages"] == len(tasks)
    with isolated_pipeline.connect() as conn:
        reasons = dict(
            conn.execute(sa.text("SELECT item_ref, reason FROM quarantine WHERE item_ref LIKE 'task:142%'")).all()
        )
        documents = {r[0] for r in conn.execute(sa.text("SELECT name FROM documents"))}
    for n, (ref, reason) in enumerate(refs.items()):
        assert reason in reasons[f"task:{14200 + n}"], (ref, reasons.get(f"task:{14200 + n}"))
    assert not any(d.startswith("hostile-ref-") for d in documents)
