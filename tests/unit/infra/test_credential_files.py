"""Credential files are written owner-only (0600) by :func:`linerec.infra.services.write_private`.

The embedded S3 server's own credential files, made by a real start of the server, are checked in
``tests/integration/test_credential_files_s3.py``.
"""

from __future__ import annotations

import os
import stat

import pytest

from linerec.infra.services import write_private


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_private_replaces_a_readable_file_with_an_owner_only_one(tmp_path, umask_022):
    target = tmp_path / "token.env"
    target.write_text("OLD=1\n")
    os.chmod(target, 0o644)
    write_private(target, "TOKEN=secret\n")
    assert _mode(target) == 0o600 and target.read_text() == "TOKEN=secret\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.env"]  # no temporary file left
