"""Integration fixtures: a real Label Studio server for the session.

The server is started by ``scripts/labelstudio.sh`` (which installs it into its own virtualenv,
``~/.cache/linerec/labelstudio-venv``, when missing) on a free port, with its data under the
session's state folder and the test S3 server as the place page images are read from.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from dataclasses import dataclass

import pytest

from linerec.infra.config import REPO_ROOT, get_settings

SCRIPT = REPO_ROOT / "scripts" / "labelstudio.sh"


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    api_key: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def labelstudio(services):
    """A running Label Studio 1.23.2 (admin token generated here), stopped at the end of the session.

    Skips only when the server cannot be installed (no package registry); any other failure fails.
    """
    from tasks.context import store

    ep = store().endpoint
    env = dict(os.environ)
    env.update(
        {
            "LINEREC_STATE_DIR": str(get_settings().state_dir),
            "LABEL_STUDIO_PORT": str(_free_port()),
            "LABEL_STUDIO_USERNAME": "admin@linerec.test",
            "LABEL_STUDIO_PASSWORD": secrets.token_hex(12),
            "LABEL_STUDIO_API_KEY": secrets.token_hex(20),
            "S3_ENDPOINT_URL": ep.endpoint_url or "",
            "AWS_ACCESS_KEY_ID": ep.access_key or "",
            "AWS_SECRET_ACCESS_KEY": ep.secret_key or "",
            "AWS_DEFAULT_REGION": ep.region,
        }
    )
    install = subprocess.run([str(SCRIPT), "install"], env=env, capture_output=True, text=True, timeout=1800)
    if install.returncode != 0:
        pytest.skip(f"Label Studio cannot be installed here: {install.stderr.strip()[-500:]}")
    start = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=900)
    try:
        assert start.returncode == 0, f"scripts/labelstudio.sh start failed:\n{start.stdout}\n{start.stderr}"
        yield LabelStudioServer(f"http://127.0.0.1:{env['LABEL_STUDIO_PORT']}", env["LABEL_STUDIO_API_KEY"])
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
