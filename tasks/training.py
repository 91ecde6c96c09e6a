"""Training (the training DAG's ``train``): data-parallel training under ``horovodrun`` and registration of
the candidate model."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa

from linerec.infra.config import Settings, get_settings
from linerec.infra.db import query
from tasks.context import engine, store
from tasks.registry import download_model, fetch_dataset, production_model

log = logging.getLogger(__name__)

MODEL_FILES = ("model.weights.h5", "model.keras", "config.json", "metrics.json")


def horovod_command(
    num_processes: int,
    hosts: str | None,
    python: str,
    args: list[str],
    ssh_port: int | None = None,
    ssh_identity: Path | str | None = None,
    network_interfaces: tuple[str, ...] = (),
) -> list[str]:
    """The ``horovodrun`` command line (Gloo) that runs ``python -m linerec.training.train args``.

    ``hosts`` is Horovod's ``host1:slots,host2:slots``; the default runs every process here.
    The caller checks ``hosts`` against the allow-list first (:func:`check_hosts`); a value
    starting with ``-`` is refused here too, so it can never be read as an option.
    ``ssh_port`` and ``ssh_identity`` (settings ``train_ssh_port``, ``train_ssh_identity``)
    become ``-p``/``-i``: how ``horovodrun`` reaches remote hosts over ssh. Horovod writes them
    unquoted into a shell command, so the key's path may hold only letters, digits and ``._/+-``.
    ``network_interfaces`` (setting ``train_network_interfaces``) become
    ``--network-interfaces``: the interfaces Horovod uses instead of those it finds in common.
    Found ones may include loopback when a single remote host is named (each host probes
    itself), and the ranks then look for the launcher on their own loopback.
    """
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if hosts is not None and hosts.lstrip().startswith("-"):
        raise ValueError(f"hosts {hosts!r} starts with '-'")
    horovodrun = str(Path(python).parent / "horovodrun")
    options = []
    if ssh_port is not None:
        if not 1 <= int(ssh_port) <= 65535:
            raise ValueError(f"ssh port must be 1 to 65535 (LINEREC_TRAIN_SSH_PORT), got {ssh_port}")
        options += ["-p", str(int(ssh_port))]
    if ssh_identity is not None:
        if not _SSH_IDENTITY.match(str(ssh_identity)):
            raise ValueError(
                f"ssh identity {str(ssh_identity)!r} (LINEREC_TRAIN_SSH_IDENTITY): an absolute path "
                "of letters, digits and ._/+- only"
            )
        options += ["-i", str(ssh_identity)]
    for nic in network_interfaces:
        if not _INTERFACE.match(nic):
            raise ValueError(f"network interface {nic!r} (LINEREC_TRAIN_NETWORK_INTERFACES): not an interface name")
    if network_interfaces:
        options += ["--network-interfaces", ",".join(network_interfaces)]
    return [
        horovodrun,
        "--gloo",
        "-np",
        str(num_processes),
        "-H",
        hosts or f"localhost:{num_processes}",
        *options,
        python,
        "-m",
        "linerec.training.train",
        *args,
    ]


_SSH_IDENTITY = re.compile(r"^/[A-Za-z0-9._/+-]+$")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


_HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def check_num_processes(num_processes: int, settings: Settings | None = None) -> int:
    """``num_processes`` if it lies in 1 .. ``settings.train_max_processes``, else ValueError."""
    limit = (settings or get_settings()).train_max_processes
    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or not 1 <= num_processes <= limit:
        raise ValueError(
            f"num_processes must be an integer from 1 to {limit} (LINEREC_TRAIN_MAX_PROCESSES), got {num_processes!r}"
        )
    return num_processes


def check_hosts(hosts: str | None, num_processes: int, settings: Settings | None = None) -> str:
    """The ``-H`` value for a run: ``hosts`` checked against the configured allow-list.

    Parameters
    ----------
    hosts
        Horovod's ``name:slots,name:slots`` (``:slots`` defaults to 1), or ``None``/empty for
        every process on this machine (``localhost:<num_processes>``).
    num_processes
        The run's process count; the hosts' slots must hold it.
    settings
        Where the allow-list (``train_hosts``, env ``LINEREC_TRAIN_HOSTS``) comes from.

    Raises
    ------
    ValueError
        A name that is not in the allow-list (``localhost`` always is), not a plain host name (a
        leading ``-``, spaces, ``user@``, ...), a slot count that is not a positive integer, or
        fewer slots than processes. The message names the offending entry.
    """
    settings = settings or get_settings()
    if hosts is None or not hosts.strip():
        return f"localhost:{num_processes}"
    allowed = {"localhost", *settings.train_hosts}
    slots_total = 0
    entries = []
    for entry in hosts.split(","):
        name, sep, slots = entry.strip().partition(":")
        if name.startswith("-") or not _HOST_NAME.match(name):
            raise ValueError(
                f"hosts: {entry.strip()!r} is not a host name (letters, digits, '.', '-'; not starting with '-')"
            )
        if name not in allowed:
            raise ValueError(
                f"hosts: {name!r} is not an allowed training host; the allowed ones are "
                f"{sorted(allowed)} (set LINEREC_TRAIN_HOSTS on the worker to change them)"
            )
        if sep and not (slots.isdigit() and 1 <= int(slots) <= settings.train_max_processes):
            raise ValueError(f"hosts: {entry.strip()!r} has no valid slot count (1 to {settings.train_max_processes})")
        slots_total += int(slots) if sep else 1
        entries.append(f"{name}:{int(slots) if sep else 1}")
    if slots_total < num_processes:
        raise ValueError(f"hosts {','.join(entries)} have {slots_total} slots for {num_processes} processes")
    return ",".join(entries)


def check_hosts_connection(conn_id: str, settings: Settings | None = None) -> str:
    """``conn_id`` if it is one of the connections allowed to give the host list, else ValueError."""
    allowed = (settings or get_settings()).train_hosts_connections
    if conn_id not in allowed:
        raise ValueError(
            f"hosts_conn_id {conn_id!r} is not an allowed host-list connection; the allowed ones "
            f"are {sorted(allowed)} (LINEREC_TRAIN_HOSTS_CONNECTIONS)"
        )
    return conn_id


# What the training processes get of the worker's environment. They read a dataset from a local
# folder and write a local one (the step itself talks to Postgres and S3): no credential is needed.
_TRAIN_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TERM",
        "PYTHONPATH",
        "PYTHONHASHSEED",
        "PYTHONDONTWRITEBYTECODE",
        "VIRTUAL_ENV",
        "LD_LIBRARY_PATH",
        "SSH_AUTH_SOCK",  # horovodrun's ssh to remote hosts
    }
)
_TRAIN_ENV_PREFIXES = (
    "LC_",
    "HOROVOD_",
    "GLOO_",
    "NCCL_",
    "OMP_",
    "KMP_",
    "MKL_",
    "OPENBLAS_",
    "TF_",
    "XLA_",
    "CUDA_",
    "NVIDIA_",
    "LINEREC_",
)
# Never passed unless one of the names above (SSH_AUTH_SOCK is a socket's path): names that hold
# credentials by convention.
_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE|CREDENTIAL|AUTH|"
    r"DATABASE_URL|DSN|_CONN|SESSION|COOKIE|FERNET",
    re.IGNORECASE,
)


def _secret_values(settings: Settings) -> list[str]:
    values = [settings.aws_secret_access_key, settings.label_studio_api_key]
    if settings.database_url:
        values.append(sa.engine.make_url(settings.database_url).password)
    return [v for v in values if v and len(v) >= 6]


def training_env(settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of ``horovodrun`` and the training processes: an allow-list, no secrets.

    ``horovodrun`` writes every variable it is given as ``KEY=value`` into the command line of
    each process it starts (and into the ssh command for a remote host), so nothing that is not
    needed may reach it. Kept from ``environ``: the names of ``_TRAIN_ENV_NAMES``, the prefixes of
    ``_TRAIN_ENV_PREFIXES`` (Horovod, Gloo/NCCL, OpenMP/BLAS, TensorFlow, CUDA, linerec
    settings) and the extra names of ``settings.train_env`` (env ``LINEREC_TRAIN_ENV``). Dropped
    from those: any name that looks like a credential (password, secret, token, key, DSN, ...)
    and any value holding the database password, the S3 secret key or the Label Studio token.

    Returns
    -------
    dict
        The variables, with the training Python's folder first on ``PATH``,
        ``TF_CPP_MIN_LOG_LEVEL=2`` (unless set) and ``PYTHONUNBUFFERED=1``.
    """
    settings = settings or get_settings()
    environ = os.environ if environ is None else environ
    secrets_ = _secret_values(settings)
    extra = set(settings.train_env)
    env, dropped = {}, []
    for name, value in environ.items():
        if not (name in _TRAIN_ENV_NAMES or name.startswith(_TRAIN_ENV_PREFIXES) or name in extra):
            continue
        if (_SECRET_NAME.search(name) and name not in _TRAIN_ENV_NAMES) or any(s in value for s in secrets_):
            dropped.append(name)
            continue
        env[name] = value
    if dropped:
        log.warning("not passed to the training processes (they look like credentials): %s", ", ".join(sorted(dropped)))
    env["PATH"] = f"{Path(settings.python).parent}{os.pathsep}{env.get('PATH', os.defpath)}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def train_model(
    dataset_version_id: int,
    num_processes: int = 2,
    hosts: str | None = None,
    epochs: int = 1,
    steps_per_epoch: int | None = None,
    batch_size: int = 32,
    init_model_id: int | None = None,
    warm_start: bool = False,
) -> int:
    """Train on a dataset version with Horovod and register the result as a candidate.

    With ``warm_start`` (and no ``init_model_id``) training starts from the production
    model's weights, when there is one: fine-tuning on new annotations instead of learning from
    scratch. A run with the same inputs that was cut short (the task killed and retried) is
    resumed from its last checkpoint instead of starting over. The model's files are uploaded to
    S3 before its row is written, so a registered model is always complete.

    Returns
    -------
    int
        ``model_id`` of the new candidate.
    """
    settings = get_settings()
    check_num_processes(num_processes, settings)
    hosts = check_hosts(hosts, num_processes, settings) if hosts else None
    eng = engine()
    if warm_start and init_model_id is None:
        with eng.connect() as conn:
            production = production_model(conn)
        init_model_id = production.model_id if production is not None else None
    params = {
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": batch_size,
        "init_model_id": init_model_id,
    }
    lock = eng.connect()  # holds the run's advisory lock until training is over
    try:
        run_id = _claim_run(lock, dataset_version_id, params, num_processes, hosts or f"localhost:{num_processes}")
        return _train_run(
            run_id, dataset_version_id, num_processes, hosts, epochs, steps_per_epoch, batch_size, init_model_id
        )
    finally:
        try:  # session-level locks outlive the connection's return to the pool: release them
            lock.execute(query("advisory_unlock_all"))
            lock.commit()
        except sa.exc.DBAPIError:
            lock.invalidate()
        lock.close()


_RUN_LOCK = 72110010  # advisory lock class of training runs: held by the process training it


def _claim_run(conn, dataset_version_id: int, params: dict, num_processes: int, hosts: str) -> int:
    """The training run to train in: an abandoned one with the same inputs, else a new one.

    A run still ``running`` whose advisory lock nobody holds was cut short (worker killed, task
    retried): training resumes in its folder from its last checkpoint. The lock is taken on
    ``conn`` (session level) and released when it closes, or when the process dies.
    """
    inputs = {"dv": dataset_version_id, "p": json.dumps(params), "n": num_processes, "h": hosts}
    abandoned = conn.execute(query("abandoned_training_runs"), inputs).scalars().all()
    conn.commit()
    for run_id in abandoned:
        if conn.execute(query("training_run_try_lock"), {"k": _RUN_LOCK, "r": run_id}).scalar():
            conn.commit()
            log.info("training run %s was cut short: resuming it", run_id)
            return run_id
    conn.commit()
    with conn.begin():
        run_id = conn.execute(query("insert_training_run"), inputs).scalar_one()
        conn.execute(query("training_run_lock"), {"k": _RUN_LOCK, "r": run_id})
    return run_id


def _train_run(
    run_id: int,
    dataset_version_id: int,
    num_processes: int,
    hosts: str | None,
    epochs: int,
    steps_per_epoch: int | None,
    batch_size: int,
    init_model_id: int | None,
) -> int:
    settings = get_settings()
    st = store()
    eng = engine()
    data_dir = fetch_dataset(dataset_version_id, settings.cache_dir / "datasets")
    out_dir = _run_dir(settings.state_dir / "runs" / f"training-{run_id}", run_id)
    args = [
        "--data-dir",
        str(data_dir),
        "--out-dir",
        str(out_dir),
        "--epochs",
        str(epochs),
        "--batch-size",
        str(batch_size),
    ]
    if steps_per_epoch:
        args += ["--steps-per-epoch", str(steps_per_epoch)]
    if init_model_id:
        args += ["--init-model", str(download_model(init_model_id))]
    cmd = horovod_command(
        num_processes,
        hosts,
        settings.python,
        args,
        ssh_port=settings.train_ssh_port,
        ssh_identity=settings.train_ssh_identity,
        network_interfaces=settings.train_network_interfaces,
    )
    env = training_env(settings)
    log.info("training run %s: %s", run_id, " ".join(cmd))
    log_path = out_dir / "train.log"
    with open(log_path, "a") as logfh:  # a resumed run's log follows the cut-short attempt's
        proc = subprocess.run(cmd, stdout=logfh, stderr=subprocess.STDOUT, env=env, cwd=str(settings.state_dir))
    log_key = f"training-runs/{run_id}/train.log"
    st.put_file(log_key, log_path)
    for event_file in sorted((out_dir / "tensorboard").rglob("*")):
        if event_file.is_file():
            st.put_file(
                f"training-runs/{run_id}/tensorboard/{event_file.relative_to(out_dir / 'tensorboard')}", event_file
            )
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        with eng.begin() as conn:
            conn.execute(query("fail_training_run"), {"k": log_key, "id": run_id})
        raise RuntimeError(f"horovodrun exited with {proc.returncode} (log {st.uri(log_key)}):\n{tail}")
    metrics = json.loads((out_dir / "metrics.json").read_text())
    with eng.connect() as conn:
        ds_version = conn.execute(query("dataset_version"), {"id": dataset_version_id}).one().version
    version = f"crnn-r{run_id}-{ds_version[3:11]}"
    prefix = f"models/{version}/"
    for name in MODEL_FILES:
        if (out_dir / name).exists():
            st.put_file(prefix + name, out_dir / name)
    with eng.begin() as conn:
        conn.execute(query("finish_training_run"), {"k": log_key, "m": json.dumps(metrics), "id": run_id})
        model_id = conn.execute(
            query("register_model"),
            {
                "v": version,
                "dv": dataset_version_id,
                "run": run_id,
                "p": prefix,
                "m": json.dumps(metrics),
                "s": "candidate",
            },
        ).scalar_one()
    log.info("registered candidate model %s (id %s)", version, model_id)
    return model_id


def _run_dir(out_dir: Path, run_id: int) -> Path:
    """The run's folder, holding only this run's files.

    Run ids are per database: a folder of the same name left by another database's run (a second
    deployment or a reset schema on the same state folder) must not be resumed from. ``run.json``
    names the database and the run's start. A folder with another owner, or without ``run.json``
    and holding files older than the run, is moved aside (``<folder>.orphan-<time>``, nothing
    deleted) and the run starts in an empty one.
    """
    with engine().connect() as conn:
        row = conn.execute(query("training_run_owner"), {"r": run_id}).one()
    owner = {"database": row.db, "training_run_id": run_id, "started_at": row.started_at.isoformat()}
    marker = out_dir / "run.json"
    if out_dir.exists():
        try:
            mine = json.loads(marker.read_text()) == owner
        except FileNotFoundError:  # written before run.json existed: the run's when nothing predates it
            mine = all(f.stat().st_mtime >= row.started_at.timestamp() for f in out_dir.rglob("*"))
        except (OSError, ValueError):
            mine = False
        if not mine:
            aside = out_dir.with_name(f"{out_dir.name}.orphan-{time.strftime('%Y%m%dT%H%M%S')}")
            log.warning(
                "%s holds files of another training run: moved to %s; run %s starts afresh", out_dir, aside, run_id
            )
            out_dir.rename(aside)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(owner) + "\n")
    return out_dir
