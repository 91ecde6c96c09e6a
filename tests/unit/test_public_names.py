"""Every public name of the library and the pipeline steps is defined once.

Two modules that each define a public ``recognize_pages`` (or ``Box``) for different jobs make a
reader guess which one an import means. Every module of ``linerec/`` and ``tasks/`` is read with
:mod:`ast` (nothing is imported), and each public top-level function, class and type alias must be
defined in one module only. Entry points (``main``) and plug-in hooks (``register``) are the
exceptions: every command-line module has its own.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("linerec", "tasks")
#: Names each module may define for itself: command-line entry points and plug-in hooks.
ALLOWED = {"main", "register"}


def _is_type_alias(node: ast.stmt) -> str | None:
    """The name a module-level type alias defines (``Box = tuple[int, ...]``, ``X: TypeAlias = ...``,
    ``type X = ...``), else None. Constants (``ALL_CAPS``) and plain values are not aliases."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        name = node.targets[0].id
        if name[:1].isupper() and not name.isupper() and isinstance(node.value, (ast.Subscript, ast.BinOp)):
            return name
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        annotation = node.annotation
        if isinstance(annotation, ast.Attribute):
            annotation = ast.Name(annotation.attr)
        if isinstance(annotation, ast.Name) and annotation.id == "TypeAlias":
            return node.target.id
    if type(node).__name__ == "TypeAlias":  # ``type X = ...`` (Python 3.12+)
        return node.name.id  # type: ignore[attr-defined]
    return None


def _top_level(body: list[ast.stmt]):
    """Statements of a module body, looking into top-level ``if`` / ``try`` blocks (conditional definitions)."""
    for node in body:
        if isinstance(node, ast.If):
            yield from _top_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])
        else:
            yield node


def public_names(path: Path) -> set[str]:
    """Public top-level functions, classes and type aliases defined in the module at ``path``."""
    names = set()
    for node in _top_level(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name
        else:
            name = _is_type_alias(node)
        if name and not name.startswith("_"):
            names.add(name)
    return names


def clashes(root: Path, folders=FOLDERS, allowed=ALLOWED) -> dict[str, list[str]]:
    """Public names defined in more than one module under ``root/folder`` → those modules."""
    where = defaultdict(list)
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            for name in public_names(path):
                where[name].append(str(path.relative_to(root)))
    return {name: paths for name, paths in sorted(where.items()) if len(paths) > 1 and name not in allowed}


def test_no_two_modules_define_the_same_public_name():
    found = clashes(ROOT)
    assert not found, (
        "public names defined in more than one module (rename one so it says what it does):\n"
        + "\n".join(f"  {name}: {', '.join(paths)}" for name, paths in found.items())
    )


def test_the_check_sees_functions_classes_and_aliases_but_not_private_or_allowed_names(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text(
        "Box = tuple[int, int, int, int]\nLIMIT = 3\nShape = dict\n"
        "def encode(x):\n    return x\n"
        "class Block:\n    def method(self):\n        pass\n"
        "def _helper():\n    pass\n"
        "def main():\n    pass\n"
        "try:\n    def optional():\n        pass\nexcept ImportError:\n    pass\n"
    )
    (tmp_path / "pkg" / "sub" / "b.py").write_text(
        "from typing import TypeAlias\nBox: TypeAlias = tuple[float, float, float, float]\nLIMIT = 4\n"
        "async def encode(x):\n    return x\n"
        "Shape = dict\n"
        "def Block():\n    pass\n"
        "def _helper():\n    pass\n"
        "def main():\n    pass\n"
        "def method():\n    pass\n"
        "if True:\n    def optional():\n        pass\n"
    )
    found = clashes(tmp_path, folders=("pkg",))
    # A class and a function, a function and an async one, aliases both ways, conditional definitions.
    # Not: constants, private names, methods, ``main``, or ``Shape = dict`` (a plain value).
    assert set(found) == {"Block", "Box", "encode", "optional"}
    assert found["Box"] == ["pkg/a.py", "pkg/sub/b.py"]
