"""Where a service is and the error raised when it cannot be reached.

The small types shared by :mod:`linerec.infra.services` (which finds or starts the servers) and
the clients that talk to them (:mod:`linerec.infra.storage`, :mod:`linerec.infra.db`, the Label
Studio client), so that neither side imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass


class ServiceUnavailable(RuntimeError):
    """A service linerec needs is missing or unreachable (message is one line: what, where, how)."""


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str | None
    access_key: str | None
    secret_key: str | None
    region: str
    bucket: str
