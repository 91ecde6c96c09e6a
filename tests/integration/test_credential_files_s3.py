"""The embedded S3 server's credential files are created owner-only (0600), not chmod-ed after writing.

Its ``credentials.json`` (its generated keys) and ``s3.json`` (its identity config) are made by a
real start of the server in a fresh state folder. ``os.chmod`` is disabled meanwhile: that stands
for a process killed between writing a file and changing its mode, a crash no real service produces
on demand. A file whose mode came from a later chmod is then left with the umask's 0644.
"""

from __future__ import annotations

import dataclasses
import os
import stat

import pytest

from linerec.infra.config import get_settings
from linerec.infra.services import s3_endpoint, stop_embedded_s3

from helpers.ports import free_base


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_embedded_s3_credential_files_are_private_from_creation(tmp_path, umask_022, monkeypatch):
    def killed_before_chmod(*args, **kwargs):
        pass

    settings = dataclasses.replace(
        get_settings(),
        state_dir=tmp_path / "state",
        s3_endpoint_url=None,
        s3_use_aws=False,
        s3_port=free_base((0,)),
        s3_aux_port=free_base((0, 1, 2, 10000, 10001, 10002, 10003)),
    )
    monkeypatch.setattr(os, "chmod", killed_before_chmod)
    try:
        endpoint = s3_endpoint(settings)
    finally:
        monkeypatch.undo()
        stop_embedded_s3(settings)
    root = settings.state_dir / "s3"
    assert endpoint.secret_key and endpoint.secret_key in (root / "credentials.json").read_text()
    for name in ("credentials.json", "s3.json"):
        assert _mode(root / name) == 0o600, f"{name} is {oct(_mode(root / name))}"
    assert not list(root.glob(".*.tmp"))
