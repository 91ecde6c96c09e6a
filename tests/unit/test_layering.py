"""The import graph keeps its layers: DAGs → tasks → library, and inside the library by role.

Every ``import`` statement of every module is read with :mod:`ast` (imports inside functions
count too), so a lazy import cannot hide a dependency that breaks the layering.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Which of the library's parts each part may import (besides itself). Mirrors the docstrings of
# the subpackages' __init__ modules.
LIBRARY = {
    "infra": set(),
    "vision": {"infra"},
    "model": {"infra", "vision"},
    "datasets": {"infra", "vision", "model", "labelstudio"},
    "eval": {"infra", "vision", "model", "datasets"},
    "training": {"infra", "vision", "model", "datasets", "eval"},
    "synth": {"infra", "vision", "model", "labelstudio"},
    "labelstudio": {"infra"},
    "document": {"infra", "vision", "model"},
    "formats": {"infra", "vision", "model", "document"},
}
# Modules at the library's top: its entry points, which may use any part of it.
LIBRARY_ENTRY = {"cli", "__main__", "ocrmypdf_plugin", "__init__"}
# Modules of tasks/ that steps share; a step imports no other step.
TASKS_SHARED = {"context", "registry", "pages"}
# Modules of tasks/ that wire steps together (entry points like the DAGs).
TASKS_ENTRY = {"luigi_graph", "commands"}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts)


def _imports(path: Path) -> list[tuple[str, int, str | None]]:
    """(module imported, line, name imported from it or None) for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out += [(base, node.lineno, alias.name) for alias in node.names]
    return out


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _part(module: str) -> str:
    """``linerec.vision.segment`` → ``vision``; a top-level module of the library → its name."""
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def test_library_imports_nothing_above_it():
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {mod}"
        for p in _files("linerec")
        for mod, line, _ in _imports(p)
        if mod.split(".")[0] in {"tasks", "dags", "airflow", "scripts", "tests"}
    ]
    assert not bad, "the library must not import the pipeline, the DAGs or Airflow:\n" + "\n".join(bad)


def test_library_parts_import_only_the_parts_below_them():
    assert {p.name for p in (ROOT / "linerec").iterdir() if (p / "__init__.py").exists()} == set(LIBRARY)
    bad = []
    for path in _files("linerec"):
        here = _module(path)
        part = _part(here)
        if part in LIBRARY_ENTRY:
            continue
        allowed = LIBRARY[part] | {part}
        for mod, line, name in _imports(path):
            if not mod.startswith("linerec"):
                continue
            target = _part(f"{mod}.{name}" if mod == "linerec" and name else mod)
            if target not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({part}) imports {mod} ({target})")
    assert not bad, "\n".join(bad)


def test_library_parts_document_their_role_and_imports():
    for part in LIBRARY:
        doc = ast.get_docstring(ast.parse((ROOT / "linerec" / part / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 20, f"linerec/{part}/__init__.py needs a docstring saying what it holds"
        assert "import" in doc, f"linerec/{part}/__init__.py should say what it may import"


def test_tasks_import_no_dags_and_steps_import_no_other_step():
    bad = []
    for path in _files("tasks"):
        here = _module(path).split(".")[-1]
        for mod, line, name in _imports(path):
            top = mod.split(".")[0]
            if top in {"dags", "airflow", "scripts", "tests"}:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
            if top != "tasks" or here in TASKS_ENTRY:
                continue
            target = mod.split(".")[1] if "." in mod else name
            if target not in TASKS_SHARED and target != here:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports the step tasks.{target}")
    assert not bad, (
        "tasks/ must not import Airflow or the DAGs, and a step may import only "
        f"{sorted(TASKS_SHARED)}:\n" + "\n".join(bad)
    )


@pytest.mark.parametrize("folder", ["linerec", "tasks", "dags", "scripts"])
def test_no_module_imports_private_names_of_another(folder):
    bad = []
    for path in _files(folder):
        here = _module(path)
        for mod, line, name in _imports(path):
            if name and name.startswith("_") and not name.startswith("__") and mod != here:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name} from {mod}")
    assert not bad, "\n".join(bad)


def test_the_graph_reader_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    pkg = ROOT / "linerec" / "formats" / "hocr.py"
    found = {mod for mod, _, _ in _imports(pkg)}
    assert "linerec.formats.xmltext" in found  # a relative or absolute import of a sibling is resolved
    reader = ROOT / "linerec" / "document" / "reader.py"
    assert any(mod == "linerec.vision.layout" for mod, _, _ in _imports(reader))  # imported inside a function
