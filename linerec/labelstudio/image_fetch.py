"""What a task's image reference may point at, and reading it within limits.

An annotation export is written by whoever can annotate or import tasks, so its ``data.image``
references are untrusted. They may name only:

* a file inside the export's own folder (relative or ``/data/local-files/?d=`` references) or
  inside a configured import root (absolute and ``file://`` references; ``LINEREC_IMAGE_ROOTS``),
  and only a regular file no larger than the byte cap (never ``/dev/zero``, a FIFO, ``/etc/...``);
* the configured S3 bucket (``s3://<bucket>/<key>``);
* over http(s): Label Studio's own server, the S3 endpoint (paths in the bucket), or a host the
  operator listed (``LINEREC_IMAGE_HOSTS``). A listed host must resolve to public addresses only
  (no private, loopback, link-local, multicast or reserved address; ``LINEREC_IMAGE_PRIVATE_NETS``
  lets some in), and the connection goes to the address that was checked.

A fetch follows redirects only within the same scheme, host and port, or from one configured
service to the other (Label Studio resolving a storage reference to the S3 endpoint; the token is
not sent on); it reads at most ``LINEREC_IMAGE_MAX_BYTES`` bytes and ends after
``LINEREC_IMAGE_FETCH_SECONDS`` in all (retries included). Proxies from the environment are not
used (the connection must go to the address that was checked). The Label Studio token is sent to
Label Studio's own server only. Every refusal raises :class:`ImageRefused` (a ``ValueError``)
naming the reference and the rule.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import pathlib
import socket
import stat
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ImageRefused(ValueError):
    """An image reference or fetch that the allow-lists or limits refuse."""


@dataclass(frozen=True)
class ImagePolicy:
    """Where image references may point and what one fetch may cost.

    Attributes
    ----------
    roots
        Folders absolute and ``file://`` references may point into.
    label_studio_url
        Label Studio's base URL (trusted host, receives the token), or ``None``.
    s3_endpoint_url
        The S3 endpoint's URL (trusted host, paths under ``/<s3_bucket>/``), or ``None``.
    s3_bucket
        The only bucket ``s3://`` references may name.
    hosts
        Other ``host`` or ``host:port`` entries http(s) references may name.
    private_nets
        Networks the addresses of ``hosts`` may be in although not public.
    max_bytes, seconds
        Byte cap and total time budget of one image.
    """

    roots: tuple[pathlib.Path, ...] = ()
    label_studio_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_bucket: str = "linerec"
    hosts: tuple[str, ...] = ()
    private_nets: tuple[str, ...] = ()
    max_bytes: int = 64 << 20
    seconds: float = 60.0


def image_policy(server_url: str | None = None) -> ImagePolicy:
    """The policy configured in :class:`linerec.infra.config.Settings` (see the module docstring).

    Parameters
    ----------
    server_url
        Label Studio's URL when it is not (only) ``LABEL_STUDIO_URL``.
    """
    from linerec.infra.config import get_settings

    s = get_settings()
    s3_url = s.s3_endpoint_url or (None if s.s3_use_aws else f"http://127.0.0.1:{s.s3_port}")
    return ImagePolicy(
        roots=s.image_roots,
        label_studio_url=server_url or s.label_studio_url,
        s3_endpoint_url=s3_url,
        s3_bucket=s.s3_bucket,
        hosts=s.image_hosts,
        private_nets=s.image_private_nets,
        max_bytes=s.image_max_bytes,
        seconds=s.image_fetch_seconds,
    )


def _origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, lower-cased, with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port


def _listed(host: str, port: int, entries: tuple[str, ...]) -> bool:
    for entry in entries:
        name, _, entry_port = entry.lower().rstrip(".").partition(":")
        if name == host and (not entry_port or entry_port == str(port)):
            return True
    return False


def check_local(path: str, policy: ImagePolicy, base_dir: str | os.PathLike | None = None) -> str:
    """Return ``path`` (normalised, absolute) if a reference may read it, else raise :class:`ImageRefused`.

    Parameters
    ----------
    path
        The file (absolute, or already resolved inside ``base_dir``).
    base_dir
        The export's folder, which relative references were resolved into; ``None`` for absolute
        and ``file://`` references, which must be inside one of ``policy.roots``.
    """
    target = os.path.normpath(os.path.abspath(path))
    roots = [os.path.abspath(base_dir)] if base_dir is not None else [os.path.abspath(r) for r in policy.roots]
    if not any(os.path.commonpath([root, target]) == root for root in roots):
        where = (
            "the export's folder"
            if base_dir is not None
            else (
                "an import root (LINEREC_IMAGE_ROOTS: " + ", ".join(map(str, policy.roots)) + ")"
                if policy.roots
                else "an import root (LINEREC_IMAGE_ROOTS is empty)"
            )
        )
        raise ImageRefused(f"image path {target} is outside {where}")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return target  # reading it reports the missing file
    except OSError as exc:
        raise ImageRefused(f"image path {target}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageRefused(f"image path {target} is not a regular file")
    if info.st_size > policy.max_bytes:
        raise ImageRefused(
            f"image file {target}: {info.st_size} bytes exceed the limit of {policy.max_bytes} "
            "bytes (LINEREC_IMAGE_MAX_BYTES)"
        )
    return target


def read_image_file(path: str, policy: ImagePolicy, base_dir: str | os.PathLike | None = None) -> bytes:
    """Read an image file allowed by :func:`check_local`, at most ``policy.max_bytes`` bytes.

    The open file itself is checked (a regular file), so a path swapped after the check for a
    device or a FIFO is not read.
    """
    target = check_local(path, policy, base_dir)
    fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ImageRefused(f"image path {target} is not a regular file")
        data = fh.read(policy.max_bytes + 1)
    if len(data) > policy.max_bytes:
        raise ImageRefused(f"image file {target}: more than {policy.max_bytes} bytes (LINEREC_IMAGE_MAX_BYTES)")
    return data


def check_s3(bucket: str, key: str, policy: ImagePolicy) -> None:
    """Refuse an ``s3://`` reference outside the configured bucket."""
    if bucket != policy.s3_bucket:
        raise ImageRefused(f"image reference s3://{bucket}/{key} is outside bucket {policy.s3_bucket}")


def check_url(url: str, policy: ImagePolicy) -> bool:
    """Refuse an http(s) URL whose host is not allowed; returns whether the host is a configured
    service (Label Studio, the S3 endpoint), whose addresses are not checked."""
    where = url.split("?", 1)[0]
    origin = _origin(url)
    if origin is None:
        raise ImageRefused(f"image URL {where!r}: only http(s) URLs with a host are allowed")
    if policy.label_studio_url and origin == _origin(policy.label_studio_url):
        return True
    if policy.s3_endpoint_url and origin == _origin(policy.s3_endpoint_url):
        if not urlsplit(url).path.startswith(f"/{policy.s3_bucket}/"):
            raise ImageRefused(f"image URL {where!r} is outside bucket {policy.s3_bucket}")
        return True
    if _listed(origin[1], origin[2], policy.hosts):
        return False
    raise ImageRefused(
        f"image URL {where!r}: host {origin[1]}:{origin[2]} is not Label Studio's, the S3 "
        "endpoint's or one of LINEREC_IMAGE_HOSTS"
    )


def public_addresses(host: str, port: int, policy: ImagePolicy) -> list[str]:
    """Resolve ``host`` and return its addresses if every one may be connected to.

    Raises
    ------
    ImageRefused
        The name does not resolve, or one of its addresses is private, loopback, link-local,
        multicast, reserved or unspecified and not in ``policy.private_nets``.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ImageRefused(f"image host {host}: cannot resolve ({exc.strerror})") from None
    nets = [ipaddress.ip_network(n, strict=False) for n in policy.private_nets]
    addresses = []
    for info in infos:
        address = info[4][0]
        assert isinstance(address, str), "AF_INET and AF_INET6 socket addresses start with the host string"
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            if not any(ip in net for net in nets):
                raise ImageRefused(
                    f"image host {host} resolves to {ip}, which is not a public address "
                    "(LINEREC_IMAGE_PRIVATE_NETS lets networks in)"
                )
        addresses.append(str(ip))
    return list(dict.fromkeys(addresses))


def _configured_service(url: str, policy: ImagePolicy) -> bool:
    """Whether ``url`` is on Label Studio's server or in the bucket on the S3 endpoint (the
    services the operator configured: a redirect between them is followed, without the token)."""
    try:
        return check_url(url, policy)
    except ImageRefused:
        return False


def _pinned(url: str, trusted: bool, policy: ImagePolicy) -> tuple[str, dict, dict]:
    """The URL to request (the checked address in place of the host name), headers and httpx
    extensions (the TLS server name) for ``url``."""
    if trusted:
        return url, {}, {}
    parts = urlsplit(url)
    origin = _origin(url)
    assert origin is not None, f"{url!r} was checked by check_url, so it is http(s) with a host"
    scheme, host, port = origin
    ip = public_addresses(host, port, policy)[0]
    netloc = f"[{ip}]" if ":" in ip else ip
    if parts.port:
        netloc += f":{parts.port}"
    target = parts._replace(netloc=netloc).geturl()
    ext = {"sni_hostname": host} if scheme == "https" else {}
    return target, {"Host": parts.netloc.rpartition("@")[2]}, ext


def fetch_http(url: str, policy: ImagePolicy, api_key: str | None = None, deadline: float | None = None) -> bytes:
    """GET an image URL allowed by :func:`check_url`, within the byte cap and the time budget.

    Parameters
    ----------
    url
        The image's URL.
    policy
        Allow-lists and limits.
    api_key
        Label Studio's token: sent only when ``url`` is on Label Studio's own server.
    deadline
        ``time.monotonic()`` value by which the image must be read (default: now + ``policy.seconds``);
        retries of one image share it.

    Raises
    ------
    ImageRefused
        A host, address or redirect that is not allowed, a body over the cap, or the budget spent.
    httpx.HTTPError
        Transport errors and error statuses (retried by the caller where transient).
    """
    import httpx

    deadline = deadline if deadline is not None else time.monotonic() + policy.seconds
    where = url.split("?", 1)[0]  # a presigned query string is a credential
    trusted = check_url(url, policy)
    ls_origin = _origin(policy.label_studio_url) if policy.label_studio_url else None
    if api_key and _origin(url) != ls_origin:
        raise ImageRefused(f"image URL {where!r}: the Label Studio token goes to Label Studio's server only")
    origin = _origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ImageRefused(f"image {where}: not read within {policy.seconds:g} s (LINEREC_IMAGE_FETCH_SECONDS)")
        target, headers, ext = _pinned(url, trusted, policy)
        headers["Accept-Encoding"] = "identity"
        if api_key:
            headers["Authorization"] = f"Token {api_key}"
        with httpx.Client(timeout=httpx.Timeout(remaining), follow_redirects=False, trust_env=False) as client:
            with client.stream("GET", target, headers=headers, extensions=ext) as resp:
                if resp.is_redirect:
                    nxt = urljoin(url, resp.headers.get("location", ""))
                    if _origin(nxt) != origin:
                        if not (trusted and _configured_service(nxt, policy)):
                            raise ImageRefused(
                                f"image {where}: redirect to another host ({nxt.split('?', 1)[0]}) refused"
                            )
                        # Label Studio resolving a storage reference to the S3 endpoint (presigned)
                        origin, trusted, api_key = _origin(nxt), True, None
                    url, where = nxt, nxt.split("?", 1)[0]
                    continue
                resp.raise_for_status()
                length = resp.headers.get("content-length", "")
                if length.isdigit() and int(length) > policy.max_bytes:
                    raise ImageRefused(
                        f"image {where}: {length} bytes exceed the limit of {policy.max_bytes} "
                        "bytes (LINEREC_IMAGE_MAX_BYTES)"
                    )
                body = bytearray()
                for chunk in resp.iter_bytes():  # as the bytes arrive (a chunk size would wait for it)
                    body += chunk
                    if len(body) > policy.max_bytes:
                        raise ImageRefused(
                            f"image {where}: more than {policy.max_bytes} bytes (LINEREC_IMAGE_MAX_BYTES)"
                        )
                    if time.monotonic() > deadline:
                        raise ImageRefused(
                            f"image {where}: not read within {policy.seconds:g} s (LINEREC_IMAGE_FETCH_SECONDS)"
                        )
                return bytes(body)
    raise ImageRefused(f"image {where}: more than {MAX_REDIRECTS} redirects")
