"""One typed settings object, read from the environment.

Every component asks :func:`get_settings` when it needs a value, instead of reading ``os.environ``
itself, so the configuration surface is documented in one place (here and in the README's table)
and a changed environment is seen by the next call (nothing is read at import time). A value that
cannot be used (``LINEREC_IO_THREADS=two``) raises :class:`SettingsError` naming the variable.

``LINEREC_HOME`` is the one root of what linerec reads from its installation: the SQL folder
(:attr:`Settings.sql_dir`), the shipped model (:attr:`Settings.model_dir`) and, unless set
otherwise, the state folder; it defaults to the checkout this code is in (:data:`REPO_ROOT`).

Environment variables deliberately read elsewhere:

* variables linerec *sets* for child processes (``TF_CPP_MIN_LOG_LEVEL``, ``OMP_THREAD_LIMIT``, the
  allow-listed environment of the training processes in ``tasks/training.py``, the settings
  the benchmark and demo scripts give the pipeline they start);
* Airflow's own configuration (``AIRFLOW_HOME``, ``AIRFLOW__*``, ``AIRFLOW_CONN_*``), read by Airflow;
* the DAG files' parse-time values (``LINEREC_RECOGNITION_PARALLELISM``, ``LINEREC_TRAIN_QUEUE``, and
  ``LINEREC_TRAIN_MAX_PROCESSES`` and the inbox budgets for the form and the timeout), read through
  ``dags/linerec_env.py`` because a DAG file imports no linerec while it is parsed; the steps
  check the same variables through :class:`Settings`;
* knobs of the benchmark, demo and chaos scripts in ``scripts/`` (``LINEREC_DEMO_*``,
  ``CHAOS_RUNS``), read through :func:`script_knob`;
* the tests' own variables (``LINEREC_TEST_*``, ``LINEREC_CHAOS_REPORT``).
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, overload

#: The checkout this code is in: the default of ``LINEREC_HOME``.
REPO_ROOT = Path(__file__).resolve().parents[2]

K = TypeVar("K", int, float, str, bool)
N = TypeVar("N", int, float)

_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """An environment variable holds a value linerec cannot use (the message names the variable)."""


@overload
def _env(name: str) -> str | None: ...


@overload
def _env(name: str, default: str) -> str: ...


def _env(name: str, default: str | None = None) -> str | None:
    """The variable ``name``; unset and empty are both ``default``."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _names(name: str, default: str) -> tuple[str, ...]:
    """A comma-separated environment variable (or ``default``) as a tuple of its non-empty items."""
    return tuple(item.strip() for item in _env(name, default).split(",") if item.strip())


def _parse(name: str, raw: str, kind: type[N], minimum: float | None, maximum: float | None) -> N:
    """``raw``, the value of ``name``, as a ``kind`` (int or float) within ``[minimum, maximum]``.

    Raises
    ------
    SettingsError
        The value is not a number of that kind, or outside the bounds; the message names the variable.
    """
    try:
        value = kind(raw.strip())
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise SettingsError(f"{name}={raw!r} is not {what}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise SettingsError(f"{name}={raw!r} is out of range: it must be {bounds}")
    return value


def _int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = _env(name)
    return default if raw is None else _parse(name, raw, int, minimum, maximum)


def _optional_int(name: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
    raw = _env(name)
    return None if raw is None else _parse(name, raw, int, minimum, maximum)


def _float(name: str, default: float, minimum: float | None = 0.0) -> float:
    raw = _env(name)
    return default if raw is None else _parse(name, raw, float, minimum, None)


def _flag(name: str, default: bool) -> bool:
    """A yes/no variable: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case)."""
    raw = _env(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise SettingsError(f"{name}={raw!r} is not a yes/no value (use 1 or 0)")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _env(name, default)
    if value not in choices:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def script_knob(name: str, default: K) -> K:
    """A knob of a benchmark, demo or chaos script in ``scripts/``: the variable as ``type(default)``.

    The scripts' own variables (``LINEREC_DEMO_DOCUMENTS``, ``CHAOS_RUNS``, ...) configure no part of
    linerec, so they are not :class:`Settings` fields; this is the one place the scripts read them.

    Raises
    ------
    SettingsError
        The value cannot be read as ``type(default)``.
    """
    raw = _env(name)
    if raw is None:
        return default
    if isinstance(default, bool):
        return type(default)(_flag(name, default))
    if isinstance(default, (int, float)):
        return type(default)(_parse(name, raw, type(default), None, None))
    return type(default)(raw)


def home() -> Path:
    """``LINEREC_HOME``: the folder holding ``sql/`` and ``models/`` (default :data:`REPO_ROOT`)."""
    return Path(_env("LINEREC_HOME", str(REPO_ROOT))).expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of linerec.

    Attributes
    ----------
    home
        The root of linerec's own files (env ``LINEREC_HOME``, default the checkout this code is
        in): :attr:`sql_dir` is ``<home>/sql``; the defaults of ``model_dir``
        (``<home>/models/crnn-v8``), ``state_dir`` (``<home>/.state``) and ``real_data_dir``
        (``<home>/../shared/datasets``) are derived from it.
    state_dir
        Folder for the embedded services' data, caches and run outputs (env ``LINEREC_STATE_DIR``).
    database_url
        SQLAlchemy URL of Postgres; ``None`` means "start the embedded server".
    s3_endpoint_url
        Endpoint of an S3-compatible server; ``None`` means "start the embedded server"
        unless ``s3_use_aws`` is set.
    model_dir
        The shipped model's folder, registered as the first production model (env
        ``LINEREC_SHIPPED_MODEL``).
    real_data_dir
        Folder holding the real scanned data sets (``sroie-train/``, ``funsd-train/``) read by
        :mod:`linerec.datasets.realdata`; env ``LINEREC_REAL_DATA``, default ``../shared/datasets``
        beside the repository. It may be absent (a user's clone has no such folder).
    train_hosts
        Host names a training run may use besides ``localhost`` (env ``LINEREC_TRAIN_HOSTS``,
        comma-separated; default none): the ``hosts`` param and the host-list connection may
        name only these.
    train_hosts_connections
        Airflow connection ids the training DAG's ``hosts_conn_id`` may name (env
        ``LINEREC_TRAIN_HOSTS_CONNECTIONS``, comma-separated; default ``linerec_gpu_hosts``).
    train_max_processes
        Most Horovod processes (and slots of one host) a training run may ask for (env
        ``LINEREC_TRAIN_MAX_PROCESSES``, default 8).
    train_ssh_port, train_ssh_identity
        Port of the remote training hosts' sshd and the private key ``horovodrun`` logs in with
        (env ``LINEREC_TRAIN_SSH_PORT``, ``LINEREC_TRAIN_SSH_IDENTITY``; default: ssh's own,
        from its configuration). Passed as ``horovodrun -p/-i``.
    train_network_interfaces
        Network interfaces the training hosts and the worker share, for Horovod's traffic (env
        ``LINEREC_TRAIN_NETWORK_INTERFACES``, comma-separated; default none: ``horovodrun``
        finds common ones itself). Passed as ``horovodrun --network-interfaces``.
    train_env
        Names of further environment variables passed to the training processes besides the
        built-in allow-list (env ``LINEREC_TRAIN_ENV``, comma-separated); names that look like
        credentials are never passed.
    import_dir
        The only folder an ``export_file`` given to annotation_sync (DAG param, Luigi param, CLI
        ``--export-file``) may be read from (env ``LINEREC_IMPORT_DIR``, default
        ``<state>/imports``); a relative ``export_file`` is taken inside it.
    image_roots
        Folders that absolute and ``file://`` image references of an annotation export may point
        into (env ``LINEREC_IMAGE_ROOTS``, paths separated by ``:``; default the import folder).
        Relative references resolve inside the export's own folder.
    image_hosts
        Extra ``host`` or ``host:port`` entries that http(s) image references may name, besides
        Label Studio's own and the S3 endpoint's (env ``LINEREC_IMAGE_HOSTS``, comma-separated);
        their addresses must be public unless listed in ``image_private_nets``.
    image_private_nets
        Networks (CIDR) that hosts of ``image_hosts`` may resolve into although private, loopback
        or link-local (env ``LINEREC_IMAGE_PRIVATE_NETS``, comma-separated; default none).
    image_max_bytes, image_fetch_seconds
        Byte cap and total time budget of one image fetch (env ``LINEREC_IMAGE_MAX_BYTES``,
        default 64 MiB; ``LINEREC_IMAGE_FETCH_SECONDS``, default 60, retries included).
    inbox_max_bytes
        Largest S3 inbox object read (env ``LINEREC_INBOX_MAX_BYTES``, default 256 MiB).
    inbox_file_seconds, inbox_file_pages
        Budget of one inbox file: seconds to decode its pages, and pages (env
        ``LINEREC_INBOX_FILE_SECONDS``, default 600; ``LINEREC_INBOX_FILE_PAGES``, default 500).
    inbox_run_seconds, inbox_run_pages
        Budget of one inbox scan; objects beyond it wait for the next scan (env
        ``LINEREC_INBOX_RUN_SECONDS``, default 3600; ``LINEREC_INBOX_RUN_PAGES``, default 20000).
    s3_retry_seconds
        How long an S3 call is retried after transient failures before it fails (env
        ``LINEREC_S3_RETRY_SECONDS``, default 60).
    s3_retry_mode, s3_max_attempts
        botocore's own retries of each S3 request (env ``LINEREC_S3_RETRY_MODE``, default
        ``standard``; ``LINEREC_S3_MAX_ATTEMPTS``, default 5).
    db_retry_seconds
        How long a database transaction is retried after a lost connection (env
        ``LINEREC_DB_RETRY_SECONDS``, default 60).
    ls_request_timeout
        Seconds one Label Studio request may wait for the server (env
        ``LINEREC_LS_REQUEST_TIMEOUT``, default 120).
    inference_runtime
        What runs a loaded model, ``onnx`` or ``tensorflow`` (env ``LINEREC_INFERENCE_RUNTIME``;
        default ``None``: the recognizer's default, ONNX Runtime).
    inference_threads
        ONNX Runtime's intra-op threads per session (env ``LINEREC_INFERENCE_THREADS``; default
        0: ONNX Runtime's choice, one per physical core).
    inference_batch, inference_pool
        Lines per forward pass, and lines pooled before they are sorted by width and recognized
        together, in a recognition batch (env ``LINEREC_INFERENCE_BATCH``, default 128;
        ``LINEREC_INFERENCE_POOL``, default 1024).
    io_threads
        Threads that download, decode and segment pages in a recognition batch (env
        ``LINEREC_IO_THREADS``, default 2).
    output_threads
        Documents whose outputs the ``write_outputs`` step renders and uploads at the same time
        (env ``LINEREC_OUTPUT_THREADS``, default 8).
    batch_outputs
        Whether a recognition batch writes the outputs of the documents it completes (env
        ``LINEREC_BATCH_OUTPUTS``, default 1; 0 leaves them all to ``write_outputs``).
    """

    state_dir: Path
    database_url: str | None = field(repr=False)  # may hold a password
    s3_endpoint_url: str | None
    s3_use_aws: bool
    s3_bucket: str
    s3_region: str
    aws_access_key_id: str | None = field(repr=False)
    aws_secret_access_key: str | None = field(repr=False)
    s3_port: int
    s3_aux_port: int
    label_studio_url: str | None
    label_studio_api_key: str | None = field(repr=False)
    label_studio_project_id: int | None
    export_file: Path | None
    python: str
    model_dir: Path
    real_data_dir: Path
    train_hosts: tuple[str, ...]
    train_hosts_connections: tuple[str, ...]
    train_max_processes: int
    train_env: tuple[str, ...]
    import_dir: Path
    home: Path = REPO_ROOT
    train_ssh_port: int | None = None
    train_ssh_identity: Path | None = None
    train_network_interfaces: tuple[str, ...] = ()
    image_roots: tuple[Path, ...] = ()
    image_hosts: tuple[str, ...] = ()
    image_private_nets: tuple[str, ...] = ()
    image_max_bytes: int = 64 << 20
    image_fetch_seconds: float = 60.0
    inbox_max_bytes: int = 256 << 20
    inbox_file_seconds: float = 600.0
    inbox_file_pages: int = 500
    inbox_run_seconds: float = 3600.0
    inbox_run_pages: int = 20000
    s3_retry_seconds: float = 60.0
    s3_retry_mode: str = "standard"
    s3_max_attempts: int = 5
    db_retry_seconds: float = 60.0
    ls_request_timeout: float = 120.0
    inference_runtime: str | None = None
    inference_threads: int = 0
    inference_batch: int = 128
    inference_pool: int = 1024
    io_threads: int = 2
    output_threads: int = 8
    batch_outputs: bool = True

    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"

    @property
    def sql_dir(self) -> Path:
        """``<home>/sql``: ``migrations/`` and ``queries/`` (see :mod:`linerec.infra.db`)."""
        return self.home / "sql"


def get_settings() -> Settings:
    """:class:`Settings` from the environment as it is now (cheap; call it where needed).

    Read once per environment and working folder (relative paths resolve against it) and kept:
    a changed variable is seen at the next call.

    Raises
    ------
    SettingsError
        A variable holds a value of the wrong kind or out of range; the message names it.
    """
    return _read_settings(frozenset(os.environ.items()), os.getcwd())


@functools.lru_cache(maxsize=16)
def _read_settings(environment: frozenset, cwd: str) -> Settings:
    """:class:`Settings` read from ``os.environ`` (the arguments are the cache key only)."""
    root = home()
    state = Path(_env("LINEREC_STATE_DIR", str(root / ".state"))).resolve()
    export_file = _env("LINEREC_EXPORT_FILE")
    identity = _env("LINEREC_TRAIN_SSH_IDENTITY")
    imports = _env("LINEREC_IMPORT_DIR", str(state / "imports"))
    return Settings(
        home=root,
        state_dir=state,
        database_url=_env("DATABASE_URL"),
        s3_endpoint_url=_env("S3_ENDPOINT_URL"),
        s3_use_aws=_flag("LINEREC_S3_USE_AWS", False),
        s3_bucket=_env("LINEREC_S3_BUCKET", "linerec"),
        s3_region=_env("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=_env("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=_env("AWS_SECRET_ACCESS_KEY"),
        s3_port=_int("LINEREC_S3_PORT", 8333, 1, 65535),
        s3_aux_port=_int("LINEREC_S3_AUX_PORT", 18330, 1, 65535 - 10003),
        label_studio_url=_env("LABEL_STUDIO_URL"),
        label_studio_api_key=_env("LABEL_STUDIO_API_KEY"),
        label_studio_project_id=_optional_int("LABEL_STUDIO_PROJECT_ID", 1),
        export_file=Path(export_file).resolve() if export_file else None,
        python=_env("LINEREC_PYTHON", sys.executable),
        model_dir=Path(_env("LINEREC_SHIPPED_MODEL", str(root / "models" / "crnn-v8"))),
        real_data_dir=Path(_env("LINEREC_REAL_DATA", str(root.parent / "shared" / "datasets"))),
        train_hosts=_names("LINEREC_TRAIN_HOSTS", ""),
        train_hosts_connections=_names("LINEREC_TRAIN_HOSTS_CONNECTIONS", "linerec_gpu_hosts"),
        train_max_processes=_int("LINEREC_TRAIN_MAX_PROCESSES", 8, 1),
        train_env=_names("LINEREC_TRAIN_ENV", ""),
        train_ssh_port=_optional_int("LINEREC_TRAIN_SSH_PORT", 1, 65535),
        train_ssh_identity=Path(identity) if identity else None,
        train_network_interfaces=_names("LINEREC_TRAIN_NETWORK_INTERFACES", ""),
        import_dir=Path(imports).resolve(),
        image_roots=tuple(Path(p).resolve() for p in _env("LINEREC_IMAGE_ROOTS", imports).split(":") if p.strip()),
        image_hosts=_names("LINEREC_IMAGE_HOSTS", ""),
        image_private_nets=_names("LINEREC_IMAGE_PRIVATE_NETS", ""),
        image_max_bytes=_int("LINEREC_IMAGE_MAX_BYTES", 64 << 20, 0),
        image_fetch_seconds=_float("LINEREC_IMAGE_FETCH_SECONDS", 60.0),
        inbox_max_bytes=_int("LINEREC_INBOX_MAX_BYTES", 256 << 20, 0),
        inbox_file_seconds=_float("LINEREC_INBOX_FILE_SECONDS", 600.0),
        inbox_file_pages=_int("LINEREC_INBOX_FILE_PAGES", 500, 0),
        inbox_run_seconds=_float("LINEREC_INBOX_RUN_SECONDS", 3600.0),
        inbox_run_pages=_int("LINEREC_INBOX_RUN_PAGES", 20000, 0),
        s3_retry_seconds=_float("LINEREC_S3_RETRY_SECONDS", 60.0),
        s3_retry_mode=_choice("LINEREC_S3_RETRY_MODE", "standard", ("standard", "adaptive", "legacy")),
        s3_max_attempts=_int("LINEREC_S3_MAX_ATTEMPTS", 5, 1),
        db_retry_seconds=_float("LINEREC_DB_RETRY_SECONDS", 60.0),
        ls_request_timeout=_float("LINEREC_LS_REQUEST_TIMEOUT", 120.0),
        inference_runtime=_env("LINEREC_INFERENCE_RUNTIME"),
        inference_threads=_int("LINEREC_INFERENCE_THREADS", 0, 0),
        inference_batch=_int("LINEREC_INFERENCE_BATCH", 128, 1),
        inference_pool=_int("LINEREC_INFERENCE_POOL", 1024, 1),
        io_threads=_int("LINEREC_IO_THREADS", 2, 1),
        output_threads=_int("LINEREC_OUTPUT_THREADS", 8, 1),
        batch_outputs=_flag("LINEREC_BATCH_OUTPUTS", True),
    )
