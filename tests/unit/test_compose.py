"""docker-compose.yml: valid for a real Compose parser, and everything it builds or mounts exists.

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

from linerec.config import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SPEC_SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer"}


@pytest.fixture(scope="module")
def resolved() -> dict:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose (Debian package) is not installed; `make setup` installs it")
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}  # no secrets of this shell leak into the result
    proc = subprocess.run([exe, "-f", str(COMPOSE_FILE), "config"], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


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
    executors = {s["environment"].get("AIRFLOW__CORE__EXECUTOR") for s in services.values()
                 if str(s.get("command", [""])[0]) == "airflow"}
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
        patterns = [p.strip() for p in ignore_file.read_text().splitlines()
                    if p.strip() and not p.startswith("#")] if ignore_file.exists() else []
        for src in _copy_sources(dockerfile):
            assert (context / src).exists(), f"{name}: {dockerfile.name} copies {src}, which does not exist"
            assert not _ignored(src, patterns), f"{name}: {src} is excluded by {ignore_file.name}"


def test_bind_mounts_exist(resolved):
    for name, svc in resolved["services"].items():
        for kind, source in _volumes(svc):
            if kind == "bind":
                assert (REPO_ROOT / source).exists(), f"{name}: bind mount {source} missing"
