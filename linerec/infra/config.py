"""One typed settings object, read from the environment.

Every component asks :func:`get_settings` instead of reading ``os.environ`` itself, so the
configuration surface is documented in one place (and in the README).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _names(name: str, default: str) -> tuple[str, ...]:
    """A comma-separated environment variable (or ``default``) as a tuple of its non-empty items."""
    return tuple(item.strip() for item in _env(name, default).split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of linerec.

    Attributes
    ----------
    state_dir
        Folder for the embedded services' data, caches and run outputs.
    database_url
        SQLAlchemy URL of Postgres; ``None`` means "start the embedded server".
    s3_endpoint_url
        Endpoint of an S3-compatible server; ``None`` means "start the embedded server"
        unless ``s3_use_aws`` is set.
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

    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"


def get_settings() -> Settings:
    """Read :class:`Settings` from the environment (cheap; call it where needed)."""
    state = Path(_env("LINEREC_STATE_DIR", str(REPO_ROOT / ".state"))).resolve()
    export_file = _env("LINEREC_EXPORT_FILE")
    project = _env("LABEL_STUDIO_PROJECT_ID")
    return Settings(
        state_dir=state,
        database_url=_env("DATABASE_URL"),
        s3_endpoint_url=_env("S3_ENDPOINT_URL"),
        s3_use_aws=_env("LINEREC_S3_USE_AWS", "0") == "1",
        s3_bucket=_env("LINEREC_S3_BUCKET", "linerec"),
        s3_region=_env("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=_env("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=_env("AWS_SECRET_ACCESS_KEY"),
        s3_port=int(_env("LINEREC_S3_PORT", "8333")),
        s3_aux_port=int(_env("LINEREC_S3_AUX_PORT", "18330")),
        label_studio_url=_env("LABEL_STUDIO_URL"),
        label_studio_api_key=_env("LABEL_STUDIO_API_KEY"),
        label_studio_project_id=int(project) if project else None,
        export_file=Path(export_file).resolve() if export_file else None,
        python=_env("LINEREC_PYTHON", os.sys.executable),
        model_dir=Path(_env("LINEREC_SHIPPED_MODEL", str(REPO_ROOT / "models" / "crnn-v8"))),
        real_data_dir=Path(_env("LINEREC_REAL_DATA", str(REPO_ROOT.parent / "shared" / "datasets"))),
        train_hosts=_names("LINEREC_TRAIN_HOSTS", ""),
        train_hosts_connections=_names("LINEREC_TRAIN_HOSTS_CONNECTIONS", "linerec_gpu_hosts"),
        train_max_processes=int(_env("LINEREC_TRAIN_MAX_PROCESSES", "8")),
        train_env=_names("LINEREC_TRAIN_ENV", ""),
        train_ssh_port=int(_env("LINEREC_TRAIN_SSH_PORT")) if _env("LINEREC_TRAIN_SSH_PORT") else None,
        train_ssh_identity=Path(_env("LINEREC_TRAIN_SSH_IDENTITY")) if _env("LINEREC_TRAIN_SSH_IDENTITY") else None,
        train_network_interfaces=_names("LINEREC_TRAIN_NETWORK_INTERFACES", ""),
        import_dir=Path(_env("LINEREC_IMPORT_DIR", str(state / "imports"))).resolve(),
        image_roots=tuple(Path(p).resolve() for p in _env("LINEREC_IMAGE_ROOTS", _env("LINEREC_IMPORT_DIR", str(
            state / "imports"))).split(":") if p.strip()),
        image_hosts=_names("LINEREC_IMAGE_HOSTS", ""),
        image_private_nets=_names("LINEREC_IMAGE_PRIVATE_NETS", ""),
        image_max_bytes=int(_env("LINEREC_IMAGE_MAX_BYTES", str(64 << 20))),
        image_fetch_seconds=float(_env("LINEREC_IMAGE_FETCH_SECONDS", "60")),
        inbox_max_bytes=int(_env("LINEREC_INBOX_MAX_BYTES", str(256 << 20))),
        inbox_file_seconds=float(_env("LINEREC_INBOX_FILE_SECONDS", "600")),
        inbox_file_pages=int(_env("LINEREC_INBOX_FILE_PAGES", "500")),
        inbox_run_seconds=float(_env("LINEREC_INBOX_RUN_SECONDS", "3600")),
        inbox_run_pages=int(_env("LINEREC_INBOX_RUN_PAGES", "20000")),
    )
