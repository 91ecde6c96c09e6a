"""Horovod training across two hosts made of network namespaces (``scripts/netns_hosts.sh``).

The script makes hosts ``a`` and ``b``: each a network namespace with its own address, hostname
and sshd (a key made for the purpose, host keys in a known_hosts file the script writes, every
command a client sends recorded by the sshd's ForceCommand). The training step is pointed at
them the way a worker is configured (``LINEREC_TRAIN_HOSTS``, ``LINEREC_TRAIN_SSH_PORT``,
``LINEREC_TRAIN_SSH_IDENTITY``, ``LINEREC_TRAIN_NETWORK_INTERFACES`` and the script's ``ssh`` first
on ``PATH``: what the script prints to export) and trains for real:
``horovodrun -H a:1`` (one process) and ``-H a:1,b:1`` (two), on the same registered dataset,
with credentials planted in the step's environment. Checked: rank 0 ran on ``a`` and wrote the
checkpoint, the model is registered, a training process ran inside each namespace, and no planted
secret is in any process's command line or environment on either host nor in any command sent
over ssh. The scaling efficiency of the two runs is printed.

Postgres and S3 stay on 127.0.0.1 of the root namespace: only the step (here, in the root
namespace) talks to them; the ranks read the dataset from and write the model to the shared
filesystem, and the test checks that S3 is not even reachable from inside a host.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import sqlalchemy as sa

from helpers.line_shards import WORDS, text_image

pytestmark = [
    pytest.mark.horovod,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("horovod") is None,
        reason="horovod is not installed (build it with scripts/build_horovod.sh)",
    ),
]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "netns_hosts.sh"
# The test's own hosts: a prefix and subnet of their own, so a `scripts/netns_hosts.sh up` made by
# hand (prefix lrh, 10.213.77.0/24) is left alone.
PREFIX, SUBNET, SSH_PORT = "lrtest", "10.213.78", 2222
HOSTS = ("a", "b")
BATCH, STEPS = 16, 12


def _why_hosts_cannot_be_made() -> str | None:
    if os.geteuid() != 0:
        return "network-namespace hosts need root (ip netns, sshd); run the tests as root"
    for tool, package in (("ip", "iproute2"), ("unshare", "util-linux"), ("ssh", "openssh-client")):
        if shutil.which(tool) is None:
            return f"'{tool}' not found (apt-get install {package})"
    if not os.access("/usr/sbin/sshd", os.X_OK):
        return "no sshd (apt-get install openssh-server; scripts/setup.sh installs it)"
    probe = f"{PREFIX}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"network namespaces cannot be made here: ip netns add: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _script(action: str, env: dict[str, str]) -> str:
    proc = subprocess.run([str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"netns_hosts.sh {action} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def netns_hosts(tmp_path_factory):
    """Hosts a and b made by the script; removed at the end, also when the test fails."""
    reason = _why_hosts_cannot_be_made()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("netns") / "hosts"
    # A clean environment: the script and the sshd it starts hold nothing of this process's.
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "NETNS_PREFIX": PREFIX,
        "NETNS_SUBNET": SUBNET,
        "NETNS_SSH_PORT": str(SSH_PORT),
        "NETNS_HOSTS": " ".join(HOSTS),
        "NETNS_HOSTS_DIR": str(folder),
    }
    with open(Path(tempfile.gettempdir()) / f"linerec-netns-{PREFIX}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one test session at a time uses these names
        try:
            _script("down", env)  # what a killed earlier run may have left
            out = _script("up", env)
            exports = dict(re.findall(r'^export (\w+)="?([^"\n]*)"?$', out, re.M))
            yield {
                "dir": folder,
                "exports": exports,
                "env": env,
                "sshd": {h: int((folder / h / "sshd.pid").read_text()) for h in HOSTS},
                "netns": {h: os.stat(f"/run/netns/{PREFIX}-{h}").st_ino for h in HOSTS},
            }
        finally:
            _script("down", env)
            left = [h for h in HOSTS if Path(f"/run/netns/{PREFIX}-{h}").exists()]
            assert not left, f"namespaces left after down: {left}"


def _register_dataset(engine, root: Path) -> int:
    """A small dataset version: shards and manifest in S3, its row in the database."""
    from linerec.datasets.shards import write_shards
    from linerec.model.preprocessing import LineConfig
    from tasks.context import store

    rng = np.random.default_rng(1)
    version = f"ds-{uuid.uuid4().hex}"
    counts = {"train": 64, "val": 8, "test": 8}
    splits = {}
    for split, n in counts.items():
        examples = [
            (text_image(text), text, f"{split}-{i}")
            for i, text in enumerate(" ".join(rng.choice(WORDS, size=2)) for _ in range(n))
        ]
        splits[split] = write_shards(examples, root, split, shard_size=16)
    manifest = {
        "dataset_version": version,
        "config": LineConfig(max_width=256, max_label_len=32).to_dict(),
        "splits": splits,
    }
    st = store()
    for files in splits.values():
        for f in files:
            st.put_file(f"datasets/{version}/{f['file']}", root / f["file"])
    st.put_bytes(f"datasets/{version}/manifest.json", json.dumps(manifest).encode())
    with engine.begin() as conn:
        export = conn.execute(
            sa.text(
                "INSERT INTO annotation_exports (source, source_ref, sha256, s3_key) "
                "VALUES ('file', 'horovod-hosts', :s, 'exports/x.json') RETURNING export_id"
            ),
            {"s": uuid.uuid4().hex},
        ).scalar_one()
        return conn.execute(
            sa.text(
                "INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test) "
                "VALUES (:v, :e, :k, CAST(:c AS jsonb), :tr, :va, :te) RETURNING dataset_version_id"
            ),
            {
                "v": version,
                "e": export,
                "k": f"datasets/{version}/manifest.json",
                "c": json.dumps(manifest["config"]),
                "tr": counts["train"],
                "va": counts["val"],
                "te": counts["test"],
            },
        ).scalar_one()


@pytest.fixture
def planted(isolated_pipeline, netns_hosts, monkeypatch) -> dict[str, str]:
    """The worker's configuration for the hosts, and credentials in its environment (distinct values)."""
    from tasks import context

    ep = context.store().endpoint
    password = "pgpw-" + secrets.token_hex(12)
    role = "linerec_hosts_" + secrets.token_hex(4)
    with isolated_pipeline.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # DDL takes no bound parameters; role and password are generated hex here.
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'")
    url = sa.engine.make_url(os.environ["DATABASE_URL"]).set(username=role, password=password)
    key_body = "".join((netns_hosts["dir"] / "id_ed25519").read_text().splitlines()[1:-1])
    values = {
        "Postgres password": password,
        "S3 secret key": ep.secret_key,
        "Label Studio API key": "ls-" + secrets.token_hex(16),
        "Airflow connection password": "connpw-" + secrets.token_hex(10),
        "Fernet key": "fernet-" + secrets.token_hex(16),
        "ssh private key": key_body[20:60],
    }
    exports = netns_hosts["exports"]
    env = {
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "S3_ENDPOINT_URL": ep.endpoint_url,
        "AWS_ACCESS_KEY_ID": ep.access_key,
        "AWS_SECRET_ACCESS_KEY": ep.secret_key,
        "LABEL_STUDIO_URL": "http://127.0.0.1:9",
        "LABEL_STUDIO_API_KEY": values["Label Studio API key"],
        "AIRFLOW_CONN_LINEREC_POSTGRES": f"postgres://linerec:{values['Airflow connection password']}@db/linerec",
        "AIRFLOW__CORE__FERNET_KEY": values["Fernet key"],
        # what `scripts/netns_hosts.sh up` prints to export
        "PATH": exports["PATH"].replace("$PATH", os.environ["PATH"]),
        "LINEREC_TRAIN_HOSTS": exports["LINEREC_TRAIN_HOSTS"],
        "LINEREC_TRAIN_SSH_PORT": exports["LINEREC_TRAIN_SSH_PORT"],
        "LINEREC_TRAIN_SSH_IDENTITY": exports["LINEREC_TRAIN_SSH_IDENTITY"],
        "LINEREC_TRAIN_NETWORK_INTERFACES": exports["LINEREC_TRAIN_NETWORK_INTERFACES"],
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    context.engine.cache_clear()
    context.store.cache_clear()
    yield values
    context.engine.cache_clear()
    context.store.cache_clear()


class _Sampler(threading.Thread):
    """Reads ``cmdline``, ``environ`` and the network namespace of the processes of the run.

    Those are the descendants of this process started after the sampler (``horovodrun`` and its
    ssh clients, on the worker) and the hosts' sshd listeners with every session they start (the
    task servers and the ranks, inside the namespaces).
    """

    def __init__(self, sshd_pids: list[int]):
        super().__init__(daemon=True)
        self.sshd_pids = set(sshd_pids)
        self.before = self._descendants({os.getpid()}, skip=set())
        self.stop = threading.Event()
        self.texts: dict[tuple[int, str], set[str]] = {}  # (pid, "cmdline"|"environ") -> every read
        self.netns: dict[int, int] = {}  # pid -> inode of its network namespace

    @staticmethod
    def _descendants(roots: set[int], skip: set[int]) -> set[int]:
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        found, frontier = set(), set(roots)
        while frontier:
            frontier = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in found | skip}
            found |= frontier
        return found

    def run(self):
        while not self.stop.is_set():
            pids = self._descendants({os.getpid()}, skip=self.before) | self._descendants(self.sshd_pids, set())
            for pid in pids | self.sshd_pids:
                for what in ("cmdline", "environ"):
                    try:
                        text = Path(f"/proc/{pid}/{what}").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    except OSError:
                        continue
                    if text:
                        self.texts.setdefault((pid, what), set()).add(text)
                try:
                    self.netns[pid] = int(os.readlink(f"/proc/{pid}/ns/net").split("[")[1].rstrip("]"))
                except (OSError, IndexError, ValueError):
                    pass
            time.sleep(0.02)

    def training_pids(self) -> set[int]:
        """The ranks: Python processes running ``-m linerec.training.train``."""
        return {
            pid
            for (pid, what), texts in self.texts.items()
            if what == "cmdline"
            and any(
                t.split(" ", 1)[0].rsplit("/", 1)[-1].startswith("python") and " -m linerec.training.train " in t
                for t in texts
            )
        }


def _decoded(text: str) -> str:
    """``text`` and every base64 token in it decoded (Horovod sends its task servers' arguments so)."""
    parts = [text]
    for token in re.findall(r"[A-Za-z0-9+/=]{12,}", text):
        try:
            parts.append(base64.b64decode(token, validate=True).decode("utf-8", errors="replace"))
        except (binascii.Error, ValueError):
            continue
    return "\n".join(parts)


def _run(engine, model_id: int) -> dict:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT m.metrics, r.training_run_id, r.hosts, r.num_processes, r.status FROM models m "
                "JOIN training_runs r USING (training_run_id) WHERE m.model_id = :m"
            ),
            {"m": model_id},
        ).one()
    return row._asdict()


def test_hosts_enforce_their_known_host_keys(netns_hosts):
    """The script's ssh checks host keys even when told not to (horovodrun passes StrictHostKeyChecking=no)."""
    folder, exports = netns_hosts["dir"], netns_hosts["exports"]
    ssh = [
        str(folder / "bin" / "ssh"),
        "-p",
        exports["LINEREC_TRAIN_SSH_PORT"],
        "-i",
        exports["LINEREC_TRAIN_SSH_IDENTITY"],
    ]
    ok = subprocess.run(
        [*ssh, "-o", "StrictHostKeyChecking=no", "b", "hostname"], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0 and ok.stdout.strip() == "b", ok.stderr
    unknown = subprocess.run(
        [*ssh, "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "a", "true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode != 0 and "Host key verification failed" in unknown.stderr, unknown.stderr


def test_training_on_two_namespace_hosts(isolated_pipeline, netns_hosts, planted, tmp_path, capsys):
    from linerec.infra.config import get_settings
    from tasks.context import engine, store
    from tasks.training import train_model

    # The servers listen on the root namespace's loopback only: not reachable from a host.
    s3 = urlparse(store().endpoint.endpoint_url)
    probe = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            f"{PREFIX}-a",
            sys.executable,
            "-c",
            f"import socket; socket.create_connection(('{s3.hostname}', {s3.port}), timeout=3)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode != 0 and "Connection refused" in probe.stderr, probe.stderr[-500:]

    dv = _register_dataset(engine(), tmp_path / "shards")
    sampler = _Sampler(list(netns_hosts["sshd"].values()))
    sampler.start()
    try:
        one = train_model(
            dv, num_processes=1, hosts="a:1", epochs=1, steps_per_epoch=STEPS, batch_size=BATCH, warm_start=False
        )
        two = train_model(
            dv, num_processes=2, hosts="a:1,b:1", epochs=1, steps_per_epoch=STEPS, batch_size=BATCH, warm_start=False
        )
    finally:
        sampler.stop.set()
        sampler.join(10)

    # Both runs registered their model; rank 0 of the two-host run wrote the checkpoint.
    run1, run2 = _run(engine(), one), _run(engine(), two)
    assert (run1["hosts"], run1["num_processes"], run1["status"]) == ("a:1", 1, "succeeded")
    assert (run2["hosts"], run2["num_processes"], run2["status"]) == ("a:1,b:1", 2, "succeeded")
    assert run2["metrics"]["world_size"] == 2 and run2["metrics"]["steps"] == STEPS
    out_dir = get_settings().state_dir / "runs" / f"training-{run2['training_run_id']}"
    state = json.loads((out_dir / "checkpoints" / "ckpt-00001" / "state.json").read_text())
    assert (state["epoch"], state["steps"]) == (1, STEPS)
    log = (out_dir / "train.log").read_text()
    assert "[rank 0] linerec.training.train INFO: epoch 1/1" in log and "identical on all 2 ranks" in log

    # The ranks ran inside the namespaces, rank 0 on a and rank 1 on b (the commands sent over ssh).
    sent = {h: [p.read_text() for p in sorted((netns_hosts["dir"] / "commands" / h).glob("*.cmd"))] for h in HOSTS}
    rank_cmds = {
        h: [c for c in cmds if "linerec.training.train" in c and "HOROVOD_SIZE=2" in c] for h, cmds in sent.items()
    }
    assert len(rank_cmds["a"]) == 1 and "HOROVOD_RANK=0" in rank_cmds["a"][0], rank_cmds
    assert len(rank_cmds["b"]) == 1 and "HOROVOD_RANK=1" in rank_cmds["b"][0], rank_cmds
    namespaces = {sampler.netns.get(pid) for pid in sampler.training_pids()}
    for h in HOSTS:
        assert netns_hosts["netns"][h] in namespaces, f"no training process was seen inside host {h}"
    ranks_read = {
        tuple(int(v) for v in m)
        for pid in sampler.training_pids()
        for text in sampler.texts.get((pid, "environ"), ())
        for m in re.findall(r"\bHOROVOD_RANK=(\d+) HOROVOD_SIZE=(\d+)\b", text)
    }
    assert ranks_read == {(0, 1), (0, 2), (1, 2)}, f"environments read of (rank, size): {sorted(ranks_read)}"

    # No credential in any process of either host, nor in anything sent over ssh.
    leaks = [
        f"{label} in /proc/{pid}/{what} ({next(iter(sampler.texts.get((pid, 'cmdline'), {''})))[:120]}...)"
        for (pid, what), texts in sampler.texts.items()
        for text in texts
        for label, value in planted.items()
        if value in text
    ]
    leaks += [
        f"{label} in a command sent to host {h}: {cmd[:160]}..."
        for h, cmds in sent.items()
        for cmd in cmds
        for label, value in planted.items()
        if value in _decoded(cmd)
    ]
    assert not leaks, "\n".join(sorted(set(leaks)))

    per_rank_1 = run1["metrics"]["lines_per_sec"]
    per_rank_2 = run2["metrics"]["lines_per_sec"] / 2
    efficiency = run2["metrics"]["lines_per_sec"] / (2 * per_rank_1)
    with capsys.disabled():
        print(
            f"\n[horovod hosts] one 2-core machine, CRNN at 32x256, batch {BATCH}/rank, {STEPS} steps "
            f"(first left out): 1 process on a: {per_rank_1:.1f} lines/s; 2 processes on a+b: "
            f"{per_rank_2:.1f} lines/s per rank ({2 * per_rank_2:.1f} in all); scaling efficiency "
            f"{efficiency:.2f}"
        )
    assert per_rank_1 > 0 and per_rank_2 > 0
