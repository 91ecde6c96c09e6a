"""``Settings``: the environment read when asked (not at import), its defaults, ``LINEREC_HOME`` as the one
root of the SQL and the shipped model, and a clear error naming a variable whose value cannot be used."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

from linerec.infra.config import REPO_ROOT, SettingsError, get_settings, script_knob

# Variables whose defaults are checked below; the session's own (tests/conftest.py) are removed per test.
DEFAULTED = [
    "LINEREC_HOME",
    "LINEREC_STATE_DIR",
    "LINEREC_SHIPPED_MODEL",
    "LINEREC_REAL_DATA",
    "LINEREC_IMPORT_DIR",
    "LINEREC_IMAGE_ROOTS",
    "LINEREC_S3_RETRY_SECONDS",
    "LINEREC_S3_RETRY_MODE",
    "LINEREC_S3_MAX_ATTEMPTS",
    "LINEREC_DB_RETRY_SECONDS",
    "LINEREC_LS_REQUEST_TIMEOUT",
    "LINEREC_INFERENCE_RUNTIME",
    "LINEREC_INFERENCE_THREADS",
    "LINEREC_INFERENCE_BATCH",
    "LINEREC_INFERENCE_POOL",
    "LINEREC_IO_THREADS",
    "LINEREC_OUTPUT_THREADS",
    "LINEREC_BATCH_OUTPUTS",
    "LINEREC_S3_USE_AWS",
    "LINEREC_S3_PORT",
]


@pytest.fixture
def clean_env(monkeypatch):
    for name in DEFAULTED:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(clean_env):
    s = get_settings()
    assert s.home == REPO_ROOT and s.sql_dir == REPO_ROOT / "sql"
    assert s.state_dir == REPO_ROOT / ".state" and s.import_dir == REPO_ROOT / ".state" / "imports"
    assert s.model_dir == REPO_ROOT / "models" / "crnn-v8"
    assert s.real_data_dir == REPO_ROOT.parent / "shared" / "datasets"
    assert (s.s3_retry_seconds, s.s3_retry_mode, s.s3_max_attempts, s.db_retry_seconds) == (60.0, "standard", 5, 60.0)
    assert (s.ls_request_timeout, s.inference_runtime, s.inference_threads) == (120.0, None, 0)
    assert (s.inference_batch, s.inference_pool, s.io_threads, s.output_threads) == (128, 1024, 2, 8)
    assert s.batch_outputs is True and s.s3_use_aws is False and s.s3_port == 8333


def test_the_environment_is_read_at_each_call(clean_env):
    assert get_settings().io_threads == 2
    clean_env.setenv("LINEREC_IO_THREADS", "5")
    clean_env.setenv("LINEREC_BATCH_OUTPUTS", "0")
    clean_env.setenv("LINEREC_DB_RETRY_SECONDS", "2.5")
    s = get_settings()
    assert (s.io_threads, s.batch_outputs, s.db_retry_seconds) == (5, False, 2.5)
    clean_env.setenv("LINEREC_IO_THREADS", "")  # empty is unset
    assert get_settings().io_threads == 2


def test_home_is_the_root_of_sql_model_and_state(clean_env, tmp_path):
    clean_env.setenv("LINEREC_HOME", str(tmp_path))
    s = get_settings()
    assert s.home == tmp_path.resolve() and s.sql_dir == tmp_path.resolve() / "sql"
    assert s.model_dir == tmp_path.resolve() / "models" / "crnn-v8" and s.state_dir == tmp_path.resolve() / ".state"
    clean_env.setenv("LINEREC_SHIPPED_MODEL", "/srv/models/m1")  # an explicit value wins
    assert get_settings().model_dir == Path("/srv/models/m1")


def test_named_queries_and_migrations_come_from_home(clean_env, tmp_path):
    from linerec.infra.db import migration_files, queries_dir, query, query_names

    (tmp_path / "sql" / "queries").mkdir(parents=True)
    (tmp_path / "sql" / "migrations").mkdir()
    (tmp_path / "sql" / "queries" / "only_here.sql").write_text("SELECT :x AS x")
    shutil.copy(REPO_ROOT / "sql" / "migrations" / "0001_core.sql", tmp_path / "sql" / "migrations")
    assert "only_here" not in query_names()
    clean_env.setenv("LINEREC_HOME", str(tmp_path))
    assert queries_dir() == tmp_path.resolve() / "sql" / "queries"
    assert query_names() == ["only_here"] and query("only_here").text == "SELECT :x AS x"
    assert [v for v, _ in migration_files()] == ["0001"]
    with pytest.raises(KeyError, match="no named query 'intake_file_by_sha' in " + str(tmp_path.resolve())):
        query("intake_file_by_sha")
    clean_env.delenv("LINEREC_HOME")
    assert "intake_file_by_sha" in query_names() and query("intake_file_by_sha").text


def test_a_home_without_sql_is_a_clear_error(clean_env, tmp_path):
    from linerec.infra.db import query

    clean_env.setenv("LINEREC_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"no SQL folder .*LINEREC_HOME"):
        query("intake_file_by_sha")


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("LINEREC_IO_THREADS", "two", "LINEREC_IO_THREADS='two' is not an integer"),
        ("LINEREC_IO_THREADS", "0", "LINEREC_IO_THREADS='0' is out of range: it must be at least 1"),
        ("LINEREC_S3_RETRY_SECONDS", "soon", "LINEREC_S3_RETRY_SECONDS='soon' is not a number"),
        ("LINEREC_DB_RETRY_SECONDS", "-1", "LINEREC_DB_RETRY_SECONDS='-1' is out of range"),
        ("LINEREC_S3_PORT", "70000", "LINEREC_S3_PORT='70000' is out of range: it must be from 1 to 65535"),
        ("LINEREC_BATCH_OUTPUTS", "maybe", "LINEREC_BATCH_OUTPUTS='maybe' is not a yes/no value"),
        ("LINEREC_S3_RETRY_MODE", "eager", "LINEREC_S3_RETRY_MODE='eager' is not one of standard, adaptive, legacy"),
        ("LABEL_STUDIO_PROJECT_ID", "3a", "LABEL_STUDIO_PROJECT_ID='3a' is not an integer"),
    ],
)
def test_a_bad_value_names_the_variable(clean_env, name, value, message):
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert str(info.value).startswith(message) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("Yes", True), ("0", False), ("off", False)])
def test_yes_no_values(clean_env, value, expected):
    clean_env.setenv("LINEREC_S3_USE_AWS", value)
    assert get_settings().s3_use_aws is expected


def test_script_knobs_take_the_default_type(monkeypatch):
    monkeypatch.delenv("LINEREC_DEMO_SCANS", raising=False)
    assert script_knob("LINEREC_DEMO_SCANS", 8) == 8
    monkeypatch.setenv("LINEREC_DEMO_SCANS", "3")
    assert script_knob("LINEREC_DEMO_SCANS", 8) == 3
    monkeypatch.setenv("LINEREC_DEMO_SCANS", "3.5")
    with pytest.raises(SettingsError, match="LINEREC_DEMO_SCANS='3.5' is not an integer"):
        script_knob("LINEREC_DEMO_SCANS", 8)


def test_dag_files_read_their_parse_time_values_through_one_helper(monkeypatch):
    spec = importlib.util.spec_from_file_location("dag_env", REPO_ROOT / "dags" / "linerec_env.py")
    dag_env = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dag_env)
    monkeypatch.delenv("LINEREC_RECOGNITION_PARALLELISM", raising=False)
    assert dag_env.env_number("LINEREC_RECOGNITION_PARALLELISM", 2) == 2
    monkeypatch.setenv("LINEREC_RECOGNITION_PARALLELISM", "6")
    assert dag_env.env_number("LINEREC_RECOGNITION_PARALLELISM", 2) == 6
    monkeypatch.setenv("LINEREC_RECOGNITION_PARALLELISM", "0")
    with pytest.raises(ValueError, match="LINEREC_RECOGNITION_PARALLELISM='0' is not an integer of at least 1"):
        dag_env.env_number("LINEREC_RECOGNITION_PARALLELISM", 2)
    monkeypatch.setenv("LINEREC_INBOX_FILE_SECONDS", "0.5")
    assert dag_env.env_number("LINEREC_INBOX_FILE_SECONDS", 600.0, float, minimum=0) == 0.5


def test_no_module_reads_the_environment_at_import():
    """Only config.py and the DAG files' helper read ``os.environ`` (see config.py's docstring); writing it
    for child processes is no read. The source is read as text: nothing is imported."""
    reads = re.compile(r"os\.environ(\.get)?[\[(]|os\.getenv")
    allowed = {"linerec/infra/config.py", "dags/linerec_env.py"}
    found = []
    for folder in ("linerec", "tasks", "dags", "scripts"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            rel = str(path.relative_to(REPO_ROOT))
            if rel in allowed:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if reads.search(line) and not re.search(r"os\.environ\[[^]]+\]\s*=(?!=)", line):
                    found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, "read the environment through linerec.infra.config.get_settings:\n" + "\n".join(found)
