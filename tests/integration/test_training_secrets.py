"""No credential reaches the training processes (issue 14 §4).

``horovodrun`` writes every variable of its environment as ``KEY=value`` into the command of each
process it starts (``env K=V ... python -m linerec.training.train``; for a remote host, into the ssh
command). The training step runs here for real (``tasks.training.train_model``: a registered
dataset version in S3, two Horovod processes, a few steps) with the database password, the S3
secret key, a Label Studio token and other credentials in the worker's environment, each a
distinctive value. Meanwhile every process descending from this one is sampled: its
``/proc/<pid>/cmdline`` and ``/proc/<pid>/environ`` (readable: same user) must hold none of them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import threading
import time
import uuid
from pathlib import Path

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


def _register_dataset(engine, root: Path) -> int:
    """A small dataset version (shards + manifest in S3, its row in the database)."""
    from linerec.datasets.shards import write_shards
    from linerec.model.preprocessing import LineConfig
    from tasks.context import store

    rng = np.random.default_rng(0)
    version = f"ds-{uuid.uuid4().hex}"
    splits = {}
    for split, n in (("train", 16), ("val", 4), ("test", 4)):
        texts = [" ".join(rng.choice(WORDS, size=2)) for _ in range(n)]
        examples = [(text_image(text), text, f"{split}-{i}") for i, text in enumerate(texts)]
        splits[split] = write_shards(examples, root, split, shard_size=8)
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
                "VALUES ('file', 'training-secrets', :s, 'exports/x.json') RETURNING export_id"
            ),
            {"s": uuid.uuid4().hex},
        ).scalar_one()
        return conn.execute(
            sa.text(
                "INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test) "
                "VALUES (:v, :e, :k, CAST(:c AS jsonb), 16, 4, 4) RETURNING dataset_version_id"
            ),
            {"v": version, "e": export, "k": f"datasets/{version}/manifest.json", "c": json.dumps(manifest["config"])},
        ).scalar_one()


@pytest.fixture
def secret_env(isolated_pipeline, monkeypatch) -> dict[str, str]:
    """Credentials of the real services, and others, in the environment; each value distinctive."""
    from tasks import context

    ep = context.store().endpoint
    password = "pgpw-" + secrets.token_hex(12)
    role = "linerec_train_" + secrets.token_hex(4)
    with isolated_pipeline.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # DDL takes no bound parameters; role and password are generated hex here.
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'")
    url = sa.engine.make_url(os.environ["DATABASE_URL"]).set(username=role, password=password)
    planted = {
        "Postgres password": password,
        "S3 secret key": ep.secret_key,
        "Label Studio API key": "ls-" + secrets.token_hex(16),
        "Airflow connection password": "connpw-" + secrets.token_hex(10),
        "Fernet key": "fernet-" + secrets.token_hex(16),
        "LINEREC_-named DSN password": "dsnpw-" + secrets.token_hex(10),
    }
    env = {
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "S3_ENDPOINT_URL": ep.endpoint_url,
        "AWS_ACCESS_KEY_ID": ep.access_key,
        "AWS_SECRET_ACCESS_KEY": ep.secret_key,
        "LABEL_STUDIO_URL": "http://127.0.0.1:9",
        "LABEL_STUDIO_API_KEY": planted["Label Studio API key"],
        "AIRFLOW_CONN_LINEREC_POSTGRES": f"postgres://linerec:{planted['Airflow connection password']}@db/linerec",
        "AIRFLOW__CORE__FERNET_KEY": planted["Fernet key"],
        "LINEREC_REPLICA_DSN": f"postgresql://ro:{planted['LINEREC_-named DSN password']}@replica/linerec",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    context.engine.cache_clear()
    context.store.cache_clear()
    yield planted
    context.engine.cache_clear()
    context.store.cache_clear()


class _ProcessSampler(threading.Thread):
    """Reads ``cmdline`` and ``environ`` of every process the training step starts, every few ms.

    Those are the descendants of this process through processes started after the sampler. The
    servers this test session started earlier (such as the Airflow UI test's standalone Airflow,
    which holds the pipeline's own credentials by design) and whatever they spawn meanwhile (the
    DAG processor's parsing processes) are not the training step's and are left out.
    """

    def __init__(self):
        super().__init__(daemon=True)
        self.before = self._descendants()
        self.stop = threading.Event()
        self.seen: dict[tuple[int, str], str] = {}  # (pid, what) -> text, the last read of each
        self.train_environs: set[int] = set()  # pids of training processes whose environ was read

    def _descendants(self, through: set[int] | None = None) -> set[int]:
        """Descendants of this process, reached only through processes not in ``through``."""
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        skip = through or set()
        found, frontier = set(), {os.getpid()}
        while frontier:
            frontier = {
                pid for pid, ppid in parents.items() if ppid in frontier and pid not in found and pid not in skip
            }
            found |= frontier
        return found

    def run(self):
        while not self.stop.is_set():
            for pid in self._descendants(through=self.before):
                for what in ("cmdline", "environ"):
                    try:
                        text = Path(f"/proc/{pid}/{what}").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    except OSError:
                        continue
                    key = (pid, what)
                    if text and self.seen.get(key) != text:
                        self.seen[(pid, what + f"#{len(self.seen)}")] = text
                        self.seen[key] = text
                    cmdline = self.seen.get((pid, "cmdline"), "")
                    if what == "environ" and text and "linerec.training.train" in cmdline:
                        self.train_environs.add(pid)
            time.sleep(0.02)


def test_training_processes_see_no_credentials(isolated_pipeline, secret_env, tmp_path):
    from tasks.context import engine
    from tasks.training import train_model

    dv = _register_dataset(engine(), tmp_path / "shards")
    sampler = _ProcessSampler()
    sampler.start()
    try:
        model_id = train_model(dv, num_processes=2, epochs=1, steps_per_epoch=2, batch_size=4, warm_start=False)
    finally:
        sampler.stop.set()
        sampler.join(10)
    assert model_id > 0
    assert len(sampler.train_environs) >= 2, "the sampler never read the environment of both training processes"
    assert any("horovodrun" in text for (_, what), text in sampler.seen.items() if what.startswith("cmdline"))
    leaks = [
        f"{label} in /proc/{pid}/{what.split('#')[0]} ({sampler.seen[(pid, 'cmdline')][:120]}...)"
        for (pid, what), text in sampler.seen.items()
        for label, value in secret_env.items()
        if value in text
    ]
    assert not leaks, "\n".join(sorted(set(leaks)))
