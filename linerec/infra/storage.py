"""Object storage through boto3 against any S3 endpoint (AWS, MinIO, SeaweedFS).

Objects are written content-addressed (``pages/<sha256>.png``) or under a versioned prefix that
is published only after all its files are written, so a rerun overwrites with equal bytes.

Every call rides out a server that is briefly gone (restarted, overloaded): botocore retries each
request (``LINEREC_S3_RETRY_MODE``, default ``standard``; ``LINEREC_S3_MAX_ATTEMPTS``, default 5),
and :class:`ObjectStore` retries transient failures (connection refused or reset, timeouts, 5xx)
under :func:`linerec.infra.retry.retrying` (backoff from 0.5 s doubling to 8 s, jittered) for up to
``LINEREC_S3_RETRY_SECONDS`` (default 60) before it raises
:class:`~linerec.infra.endpoints.ServiceUnavailable`. Every write is idempotent, so a retry is safe.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from linerec.infra.config import get_settings
from linerec.infra.endpoints import S3Endpoint, ServiceUnavailable
from linerec.infra.retry import Exhausted, retrying

log = logging.getLogger(__name__)

T = TypeVar("T")
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/=]*$")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise ``ValueError`` naming it.

    Rejects empty keys, absolute keys, ``..`` segments and characters outside a conservative set,
    so a file name or record can never address an object outside its prefix.
    """
    if not key or len(key) > 1024 or not _KEY_RE.match(key) or any(p in ("", ".", "..") for p in key.split("/")):
        raise ValueError(f"unsafe object key {key!r}")
    return key


def validate_listed_key(key: str) -> str:
    """Return ``key``, a key that a listing returned, if it is safe to read back, else raise ``ValueError``.

    Objects put by other tools (the S3 inbox) may have spaces, quotes or non-ASCII in their keys,
    which :func:`validate_key` refuses for keys linerec builds; reading them is safe as long as no
    segment is ``.`` or ``..`` (a server could resolve them) and there is no control character.
    """
    if (
        not key
        or len(key) > 1024
        or key.startswith("/")
        or any(ord(c) < 32 or ord(c) == 127 for c in key)
        or any(p in (".", "..") for p in key.split("/"))
    ):
        raise ValueError(f"unsafe object key {key!r}")
    return key


class ObjectTooLarge(ValueError):
    """An object is larger than the caller allows (see :meth:`ObjectStore.get_bytes`)."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _transfer_config():
    """Multipart transfers in 8 MiB parts with 2 threads: memory stays small whatever the size."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(max_concurrency=2, multipart_chunksize=8 << 20, io_chunksize=1 << 20)


_RETRY_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalFailure",
        "Throttling",
    }
)


def is_transient_s3_error(exc: BaseException) -> bool:
    """Whether an S3 failure may go away by itself: unreachable server, timeout, 5xx, throttling."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
    from s3transfer.exceptions import RetriesExceededError

    if isinstance(exc, (ConnectionError, HTTPClientError, RetriesExceededError)):
        return True
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or err.get("Code") in _RETRY_CODES
    if isinstance(exc, S3UploadFailedError):  # s3transfer flattens the cause into its message
        return not re.search(r"AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|NoSuchBucket|\(4\d\d\)", str(exc))
    return False


def make_s3_client(endpoint: S3Endpoint):
    """A boto3 S3 client for ``endpoint`` with botocore's own retries as configured (see the module docstring)."""
    import boto3
    from botocore.config import Config

    settings = get_settings()

    return boto3.client(
        "s3",
        endpoint_url=endpoint.endpoint_url,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name=endpoint.region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": settings.s3_max_attempts, "mode": settings.s3_retry_mode},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


class ObjectStore:
    """A bucket on an S3 endpoint.

    Parameters
    ----------
    endpoint
        Endpoint and credentials (:func:`linerec.infra.services.s3_endpoint` finds or starts one).
    """

    def __init__(self, endpoint: S3Endpoint):
        self.endpoint = endpoint
        self.bucket = self.endpoint.bucket

    @cached_property
    def client(self):
        return make_s3_client(self.endpoint)

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError, EndpointConnectionError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except EndpointConnectionError as exc:
            raise ServiceUnavailable(
                f"S3: cannot reach {self.endpoint.endpoint_url or 'AWS'}; start the server or set "
                "S3_ENDPOINT_URL / AWS credentials (unset S3_ENDPOINT_URL for the embedded server)"
            ) from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchBucket", "NotFound"):
                log.info("creating bucket %s", self.bucket)
                self.client.create_bucket(Bucket=self.bucket)
            else:
                raise ServiceUnavailable(
                    f"S3: bucket {self.bucket!r} at {self.endpoint.endpoint_url or 'AWS'} refused access ({code}); "
                    "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
                ) from exc

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        """Run ``call``; retry transient failures (:func:`is_transient_s3_error`) with backoff.

        Raises
        ------
        ServiceUnavailable
            Still failing after ``LINEREC_S3_RETRY_SECONDS``; the message names the call and the
            endpoint (never a credential).
        """
        where = self.endpoint.endpoint_url or "AWS"

        def give_up(failed: Exhausted) -> ServiceUnavailable:
            return ServiceUnavailable(
                f"S3: {failed.what} at {where} failed after {failed.attempts} attempts over {failed.seconds:.0f}s "
                f"({type(failed.error).__name__}); check that the S3 server is up "
                "(LINEREC_S3_RETRY_SECONDS sets how long to wait)"
            )

        policy = retrying(
            "S3",
            what,
            transient=is_transient_s3_error,
            give_up=give_up,
            seconds=get_settings().s3_retry_seconds,
            logger=log,
            chain=True,
        )
        return policy(call)

    def put_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream", sha256: str | None = None
    ) -> str:
        """Write ``data`` at ``key``; returns the sha256 of the bytes (also stored as metadata).

        Pass ``sha256`` when the caller already hashed the bytes, so they are not hashed twice.
        """
        digest = sha256 or sha256_bytes(data)
        checked = validate_key(key)
        self._retry(
            f"put {self.uri(checked)}",
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=checked, Body=data, ContentType=content_type, Metadata={"sha256": digest}
            ),
        )
        return digest

    def put_file(
        self, key: str, path: Path, content_type: str = "application/octet-stream", sha256: str | None = None
    ) -> str:
        """Stream a file to ``key`` (multipart, bounded memory); returns its sha256 (also metadata).

        Pass ``sha256`` when the caller already hashed the file, so it is not read twice.
        """
        digest = sha256 or sha256_file(path)
        checked = validate_key(key)
        self._retry(
            f"upload {self.uri(checked)}",
            lambda: self.client.upload_file(
                str(path),
                self.bucket,
                checked,
                Config=_transfer_config(),
                ExtraArgs={"ContentType": content_type, "Metadata": {"sha256": digest}},
            ),
        )
        return digest

    def get_bytes(self, key: str, listed: bool = False, max_bytes: int | None = None) -> bytes:
        """The object's bytes; ``listed=True`` for a key taken from a listing (see :func:`validate_listed_key`).

        Parameters
        ----------
        max_bytes
            Read at most this many bytes: the request asks for that range only, and an object
            that turns out larger raises :class:`ObjectTooLarge` (whatever its listing said).
        """
        checked = validate_listed_key(key) if listed else validate_key(key)
        if max_bytes is None:
            return self._retry(
                f"get {self.uri(checked)}",
                lambda: self.client.get_object(Bucket=self.bucket, Key=checked)["Body"].read(),
            )

        def capped() -> bytes:
            from botocore.exceptions import ClientError

            try:
                resp = self.client.get_object(Bucket=self.bucket, Key=checked, Range=f"bytes=0-{max_bytes}")
            except ClientError as exc:  # a range of an empty object is not satisfiable
                if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                    return b""
                raise
            total = resp.get("ContentRange", "").rpartition("/")[2]
            body = resp["Body"]
            try:
                data = body.read(max_bytes + 1)
            finally:
                body.close()
            if len(data) > max_bytes or (total.isdigit() and int(total) > max_bytes):
                size = total if total.isdigit() else f"more than {max_bytes}"
                raise ObjectTooLarge(f"{self.uri(checked)}: {size} bytes exceed the limit of {max_bytes} bytes")
            return data

        return self._retry(f"get {self.uri(checked)}", capped)

    def head(self, key: str, listed: bool = False) -> dict:
        """Size, ETag (unquoted) and user metadata of an object, without reading it.

        Raises ``botocore.exceptions.ClientError`` (code ``404``) when there is no such object.
        """
        checked = validate_listed_key(key) if listed else validate_key(key)
        resp = self._retry(
            f"head {self.uri(checked)}", lambda: self.client.head_object(Bucket=self.bucket, Key=checked)
        )
        return {
            "size": int(resp.get("ContentLength", 0)),
            "etag": resp.get("ETag", "").strip('"'),
            "metadata": dict(resp.get("Metadata") or {}),
        }

    def download(self, key: str, path: Path, sha256: str | None = None) -> Path:
        """Stream ``key`` to ``path`` (skipped if present with the expected checksum), verified.

        The object is written to ``path.part`` and renamed only when complete and checked.
        """
        path = Path(path)
        if sha256 and path.exists() and sha256_file(path) == sha256:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        checked = validate_key(key)
        try:
            self._retry(
                f"download {self.uri(checked)}",
                lambda: self.client.download_file(self.bucket, checked, str(tmp), Config=_transfer_config()),
            )
            if sha256 and sha256_file(tmp) != sha256:
                raise ValueError(f"checksum mismatch for {self.uri(key)}: expected {sha256}")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        checked = validate_key(key)
        try:
            self._retry(f"head {self.uri(checked)}", lambda: self.client.head_object(Bucket=self.bucket, Key=checked))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, page by page (each page request retried on its own)."""
        args = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self._retry(f"list {self.uri(prefix)}", lambda: self.client.list_objects_v2(**args))
            for obj in page.get("Contents", []):
                yield obj["Key"]
            if not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]
