"""The tests' own layout: unit tests mirror the package, no test module imports another, unit tests start no servers.

``tests/unit/<part>/test_*.py`` for a part of the library (a package or module of ``linerec/``), of
``tasks/`` or of ``scripts/``; tests that need servers in ``tests/integration/``, DAG tests in
``tests/dags/``, fault injection in ``tests/chaos/``. Code shared by test modules lives in
``tests/helpers/`` (on ``sys.path`` through ``tests/conftest.py``), fixtures shared by a folder in its
``conftest.py``. Every file is read with :mod:`ast`, so imports inside functions count too.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers.servers import SERVER_FIXTURES

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
UNIT = TESTS / "unit"
#: Files directly in tests/unit: tests of the project as a whole (import graph, public names, this layout),
#: and the folder's conftest.
UNIT_TOP_LEVEL = {"conftest.py", "test_layering.py", "test_public_names.py", "test_test_layout.py"}
#: Where server fixtures are defined (the ones unit tests could reach, and Label Studio's).
SERVER_CONFTESTS = (TESTS / "conftest.py", TESTS / "integration" / "conftest.py")


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported_modules(tree: ast.Module) -> list[str]:
    """Every module an import statement names (``from x import y``: ``x`` and ``x.y``); relative ones as dots."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def _is_test_module(name: str) -> bool:
    return any(part.startswith("test_") or part == "conftest" for part in name.split(".") if part)


def _library_parts() -> set[str]:
    lib = ROOT / "linerec"
    packages = {p.name for p in lib.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in lib.glob("*.py") if not p.name.startswith("_")}
    return packages | modules | {"tasks", "scripts"}


def test_no_test_module_imports_another():
    offenders = [
        f"{_rel(path)} imports {name}"
        for path in _python_files()
        for name in _imported_modules(_parse(path))
        if _is_test_module(name) or name.startswith(".")
    ]
    assert offenders == [], "shared code goes to tests/helpers/, shared fixtures to a conftest.py:\n" + "\n".join(
        offenders
    )


def test_only_the_root_conftest_changes_sys_path():
    offenders = [
        _rel(path)
        for path in _python_files()
        if path != TESTS / "conftest.py"
        for node in ast.walk(_parse(path))
        if isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    ]
    assert offenders == [], f"import shared code from tests/helpers/ instead of changing sys.path: {offenders}"


def test_unit_tests_are_in_a_folder_of_the_part_they_test():
    parts = _library_parts()
    misplaced = []
    for path in sorted(UNIT.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(UNIT).parts
        if len(rel) == 1:
            ok = rel[0] in UNIT_TOP_LEVEL
        else:
            ok = (
                len(rel) == 2
                and rel[0] in parts
                and (rel[1] == "conftest.py" or (rel[1].startswith("test_") and rel[1].endswith(".py")))
            )
        if not ok:
            misplaced.append(_rel(path))
    assert misplaced == [], f"unit tests go to tests/unit/<part>/test_*.py, part one of {sorted(parts)}: {misplaced}"


def test_test_file_names_are_unique_and_folders_are_no_packages():
    names = Counter(p.name for p in _python_files() if p.name.startswith("test_"))
    assert [n for n, k in names.items() if k > 1] == [], "pytest imports test modules by their file name"
    inits = [_rel(p) for p in _python_files() if p.name == "__init__.py" and p.parent != TESTS / "helpers"]
    assert inits == []


def _fixtures(tree: ast.Module) -> dict[str, set[str]]:
    """Fixture functions of a conftest: name to the names of the fixtures it requests."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
            out[node.name] = {a.arg for a in node.args.args + node.args.kwonlyargs}
    return out


def test_server_fixtures_are_the_ones_built_on_services():
    fixtures = {}
    for conftest in SERVER_CONFTESTS:
        fixtures.update(_fixtures(_parse(conftest)))
    built_on = {"services"}
    while True:
        more = {name for name, needs in fixtures.items() if needs & built_on} - built_on
        if not more:
            break
        built_on |= more
    assert built_on == SERVER_FIXTURES, "helpers.servers.SERVER_FIXTURES is out of date"


def test_no_unit_test_requests_a_server_fixture_by_name():
    offenders = [
        f"{_rel(path)}::{node.name}"
        for path in sorted(UNIT.rglob("*.py"))
        for node in ast.walk(_parse(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and {a.arg for a in node.args.args + node.args.kwonlyargs} & SERVER_FIXTURES
    ]
    assert offenders == [], f"tests that need servers go to tests/integration/: {offenders}"


def test_unit_conftest_fails_a_test_on_a_server_fixture(request):
    unit_conftest = [
        p
        for p in request.config.pluginmanager.get_plugins()
        if Path(getattr(p, "__file__", "") or "").resolve() == UNIT / "conftest.py"
    ]
    assert len(unit_conftest) == 1
    setup = unit_conftest[0].pytest_runtest_setup
    setup(SimpleNamespace(nodeid="tests/unit/x/test_x.py::test_ok", fixturenames=["tmp_path", "monkeypatch"]))
    with pytest.raises(pytest.fail.Exception, match=r"isolated_pipeline, services .*move it to tests/integration/"):
        setup(
            SimpleNamespace(
                nodeid="tests/unit/x/test_x.py::test_db", fixturenames=["tmp_path", "isolated_pipeline", "services"]
            )
        )


def test_embedded_servers_refuse_to_start_in_a_unit_test(tmp_path):
    from linerec.infra import services
    from linerec.infra.config import get_settings

    # the guard is in place before anything is called (else the calls below would start real servers)
    assert "no_embedded_servers" in services._embedded_postgres.__qualname__
    assert "no_embedded_servers" in services._embedded_s3.__qualname__
    settings = dataclasses.replace(
        get_settings(), state_dir=tmp_path, database_url=None, s3_endpoint_url=None, s3_use_aws=False
    )
    with pytest.raises(AssertionError, match="embedded Postgres: unit tests start no servers"):
        services.database_url(settings)
    with pytest.raises(AssertionError, match="embedded S3 server: unit tests start no servers"):
        services.s3_endpoint(settings)
