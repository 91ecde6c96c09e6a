"""docker-compose.yml: valid for a real Compose parser, everything it builds or mounts exists, and
it refuses to start while any secret is unset (no defaults, one S3 identity per role).

There is no Docker engine here: ``docker-compose config`` (Debian's docker-compose, installed by
``make setup``) parses, interpolates and validates the file against the Compose Specification
schema it ships; the checks below then walk the resolved configuration.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from linerec.infra.config import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SPEC_SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer"}


# Every secret the stack needs: compose must refuse to start without any one of them.
SECRETS = (
    "POSTGRES_PASSWORD",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "S3_INBOX_ACCESS_KEY",
    "S3_INBOX_SECRET_KEY",
    "S3_LABELSTUDIO_ACCESS_KEY",
    "S3_LABELSTUDIO_SECRET_KEY",
    "LABEL_STUDIO_PASSWORD",
    "LABEL_STUDIO_API_KEY",
    "AIRFLOW_SECRET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_FERNET_KEY",
)


def _compose_config(env_file: Path) -> subprocess.CompletedProcess:
    """``docker-compose config`` with only ``env_file``'s variables (none of this shell's)."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose (Debian package) is not installed; `make setup` installs it")
    return subprocess.run(
        [exe, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        timeout=60,
    )


@pytest.fixture(scope="module")
def secrets_env(tmp_path_factory) -> dict[str, str]:
    """The secrets ``deploy/generate-env.sh`` generates (what an operator puts in .env)."""
    proc = subprocess.run(
        ["sh", str(REPO_ROOT / "deploy" / "generate-env.sh")], capture_output=True, text=True, check=True, timeout=60
    )
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if line and not line.startswith("#"))
    assert set(values) == set(SECRETS) and all(values.values())
    assert len(set(values.values())) == len(values)  # each distinct, so each can be traced below
    return values


def _env_file(tmp_path: Path, values: dict[str, str]) -> Path:
    path = tmp_path / f"env-{len(list(tmp_path.iterdir()))}"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


@pytest.fixture(scope="module")
def resolved(secrets_env, tmp_path_factory) -> dict:
    proc = _compose_config(_env_file(tmp_path_factory.mktemp("compose"), secrets_env))
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


@pytest.mark.parametrize("missing", SECRETS)
def test_compose_refuses_to_start_without_each_secret(missing, secrets_env, tmp_path):
    for values in ({k: v for k, v in secrets_env.items() if k != missing}, {**secrets_env, missing: ""}):
        proc = _compose_config(_env_file(tmp_path, values))
        assert proc.returncode != 0, f"compose accepted a stack without {missing}"
        assert f"set {missing}" in proc.stderr, proc.stderr


def test_no_secret_has_a_default_or_a_known_value():
    raw = COMPOSE_FILE.read_text()
    assert "change-me" not in raw and "linerec-secret" not in raw
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", raw)
        assert uses, f"{name} is never used"
        assert all(use.startswith(":?") for use in uses), f"{name} has a use without :? ({uses})"
    assert not (REPO_ROOT / "deploy" / "seaweedfs-s3.json").exists(), "a fixed S3 identity file is back"


def test_each_role_gets_its_own_s3_identity(resolved, secrets_env):
    services = resolved["services"]
    s3_env = services["s3"]["environment"]
    for name in (
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
        "S3_INBOX_ACCESS_KEY",
        "S3_INBOX_SECRET_KEY",
        "S3_LABELSTUDIO_ACCESS_KEY",
        "S3_LABELSTUDIO_SECRET_KEY",
    ):
        assert s3_env[name] == secrets_env[name]
    assert any("deploy/seaweedfs-s3.sh" in str(v) for v in services["s3"]["volumes"])
    assert services["s3"]["entrypoint"] == ["/bin/sh", "/etc/seaweedfs/linerec-s3.sh"]
    ls_env = services["labelstudio"]["environment"]
    assert ls_env["AWS_ACCESS_KEY_ID"] == secrets_env["S3_LABELSTUDIO_ACCESS_KEY"]
    assert ls_env["AWS_SECRET_ACCESS_KEY"] == secrets_env["S3_LABELSTUDIO_SECRET_KEY"]
    for name, svc in services.items():
        env = svc.get("environment") or {}
        if str((svc.get("command") or [""])[0]) == "airflow" or name == "trainer":
            assert env["AWS_ACCESS_KEY_ID"] == secrets_env["S3_ACCESS_KEY"]
            assert env["AIRFLOW__CORE__FERNET_KEY"] == secrets_env["AIRFLOW_FERNET_KEY"]
        text = json.dumps(env)  # the inbox writer's keys are for the uploaders, no service holds them
        assert secrets_env["S3_INBOX_SECRET_KEY"] not in text or name == "s3", name


def test_raw_file_matches_compose_spec_schema():
    import jsonschema

    if not SPEC_SCHEMA.exists():
        pytest.skip(f"Compose Specification schema not found at {SPEC_SCHEMA} (Debian's docker-compose)")
    schema = json.loads(SPEC_SCHEMA.read_text())
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_services_of_the_stack(resolved):
    services = resolved["services"]
    for name in ("postgres", "s3", "labelstudio", "redis", "trainer"):
        assert name in services, f"service {name} missing"
    commands = {" ".join(map(str, s.get("command") or [])) for s in services.values()}
    for sub in AIRFLOW_COMMANDS:
        assert any(c.startswith(f"airflow {sub}") for c in commands), f"no Airflow {sub}"
    assert any(c.startswith("airflow celery worker") for c in commands)
    executors = {
        s["environment"].get("AIRFLOW__CORE__EXECUTOR")
        for s in services.values()
        if str(s.get("command", [""])[0]) == "airflow"
    }
    assert executors == {"CeleryExecutor"}


def _volumes(svc: dict) -> list[tuple[str, str]]:
    """``(type, source)`` of a service's volumes, from the short (``src:dst[:mode]``) or long syntax."""
    out = []
    for vol in svc.get("volumes", []):
        if isinstance(vol, str):
            source = vol.split(":", 1)[0]
            out.append(("bind" if source.startswith(("/", ".", "~")) else "volume", source))
        else:
            out.append((vol.get("type", "volume"), vol.get("source", "")))
    return out


def test_long_running_services_have_healthchecks_and_data_has_volumes(resolved):
    services = resolved["services"]
    for name, svc in services.items():
        if svc.get("restart") == "no":  # one-shot init
            continue
        assert "healthcheck" in svc, f"{name} has no healthcheck"
    for name in ("postgres", "s3", "labelstudio"):
        named = [source for kind, source in _volumes(services[name]) if kind == "volume"]
        assert named, f"{name} keeps its data in no named volume"
        assert set(named) <= set(resolved["volumes"])


def test_gpu_trainer_reserves_gpus_and_builds_horovod_with_nccl(resolved):
    trainer = resolved["services"]["trainer"]
    devices = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in d["capabilities"] and d.get("driver") == "nvidia" for d in devices)
    dockerfile = Path(trainer["build"]["context"]) / trainer["build"]["dockerfile"]
    script = (REPO_ROOT / "deploy" / "build_horovod_gpu.sh").read_text()
    assert "build_horovod_gpu.sh" in dockerfile.read_text()
    assert "HOROVOD_GPU_OPERATIONS=NCCL" in script and "xla_mpi_ops.cc" in script
    assert "--queues gpu" in " ".join(trainer["command"])


def _copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        m = re.match(r"^\s*(COPY|ADD)\s+(?!--from)(.+)$", line)
        if m:
            parts = [p for p in m.group(2).split() if not p.startswith("--")]
            sources += parts[:-1]
    return sources


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins (``!`` re-includes); ``*`` only, enough here."""
    import fnmatch

    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/"):
            ignored = not negate
    return ignored


def test_build_contexts_dockerfiles_and_copied_files_exist(resolved):
    builds = {name: svc["build"] for name, svc in resolved["services"].items() if "build" in svc}
    assert builds, "nothing is built from this repository"
    for name, build in builds.items():
        context = Path(build["context"])
        assert context.is_dir(), f"{name}: build context {context} missing"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        ignore_file = dockerfile.with_name(dockerfile.name + ".dockerignore")
        patterns = (
            [p.strip() for p in ignore_file.read_text().splitlines() if p.strip() and not p.startswith("#")]
            if ignore_file.exists()
            else []
        )
        for src in _copy_sources(dockerfile):
            assert (context / src).exists(), f"{name}: {dockerfile.name} copies {src}, which does not exist"
            assert not _ignored(src, patterns), f"{name}: {src} is excluded by {ignore_file.name}"


def test_bind_mounts_exist(resolved):
    for name, svc in resolved["services"].items():
        for kind, source in _volumes(svc):
            if kind == "bind":
                assert (REPO_ROOT / source).exists(), f"{name}: bind mount {source} missing"
