"""The pipeline's SQL lives in ``sql/queries``: the steps and DAGs write no statement inline, and every
query file has a user (code that loads it by name, or the README, which documents it for ``linerec query``).

Modules are read with :mod:`ast` (nothing is imported), so a statement inside a function counts too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
QUERIES = ROOT / "sql" / "queries"
# Where a query is loaded by name; tests count too (a query only a test uses is still exercised).
USERS = ("linerec", "tasks", "scripts", "dags", "tests")
SQL_CALLS = {"text", "exec_driver_sql", "copy_expert"}


def inline_sql(path: Path, root: Path = ROOT) -> list[str]:
    """``path:line: call`` for each ``sa.text(...)`` (or ``text(...)`` imported from SQLAlchemy),
    ``exec_driver_sql`` and ``copy_expert`` call whose statement is written in the module rather than
    loaded by name, in line order."""
    tree = ast.parse(path.read_text(), str(path))
    imported_text = any(
        isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("sqlalchemy")
        and any(alias.name == "text" for alias in node.names)
        for node in ast.walk(tree)
    )
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name not in SQL_CALLS:
            continue
        first = node.args[0] if node.args else None
        if name == "copy_expert" and isinstance(first, ast.Attribute) and first.attr == "text":
            continue  # query(name).text: a named COPY statement
        if name == "text" and (
            not imported_text
            if isinstance(func, ast.Name)
            else not (isinstance(func.value, ast.Name) and func.value.id in {"sa", "sqlalchemy"})
        ):
            continue  # some other text(): a local function, another object's method
        found.append((node.lineno, f"{path.relative_to(root)}:{node.lineno}: {name}(...)"))
    return [hit for _, hit in sorted(found)]


def call_strings(path: Path) -> set[str]:
    """The string literals a Python module passes to a call (``query("name")``, ``copy(conn, rows, "name")``)."""
    tree = ast.parse(path.read_text(), str(path))
    args = [
        a for node in ast.walk(tree) if isinstance(node, ast.Call) for a in node.args + [k.value for k in node.keywords]
    ]
    return {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)}


def query_users(names: list[str], root: Path = ROOT) -> dict[str, list[str]]:
    """For each query name, the files that name it: a string literal passed to a call in Python, or in
    README.md ``linerec query NAME`` / ``sql/queries/NAME.sql``."""
    users: dict[str, list[str]] = {name: [] for name in names}
    for folder in USERS:
        for path in sorted((root / folder).rglob("*.py")):
            strings = call_strings(path)
            for name in names:
                if name in strings:
                    users[name].append(str(path.relative_to(root)))
    readme = (root / "README.md").read_text()
    for name in names:
        if re.search(rf"linerec query {name}\b|sql/queries/{name}\.sql", readme):
            users[name].append("README.md")
    return users


@pytest.mark.parametrize("folder", ["tasks", "dags"])
def test_steps_and_dags_write_no_sql_inline(folder):
    found = [hit for path in sorted((ROOT / folder).rglob("*.py")) for hit in inline_sql(path)]
    assert not found, "SQL belongs in sql/queries (loaded with linerec.infra.db.query(name)):\n" + "\n".join(found)


def test_every_query_file_is_used():
    names = sorted(p.stem for p in QUERIES.glob("*.sql"))
    unused = [name for name, where in query_users(names).items() if not where]
    assert not unused, f"query files nothing loads and README does not document (delete them): {unused}"


def test_every_query_file_says_what_it_does():
    bare = [p.name for p in sorted(QUERIES.glob("*.sql")) if not p.read_text().startswith("-- ")]
    assert not bare, f"query files without a header comment: {bare}"


def test_the_checks_see_inline_sql_and_unused_files(tmp_path):
    (tmp_path / "tasks").mkdir()
    module = tmp_path / "tasks" / "step.py"
    module.write_text(
        "import sqlalchemy as sa\nfrom linerec.infra.db import query\n"
        "def f(conn, cur, doc):\n"
        "    conn.execute(sa.text('SELECT 1'))\n"
        "    conn.exec_driver_sql('SELECT 2')\n"
        "    cur.copy_expert('COPY t FROM STDIN', None)\n"
        "    cur.copy_expert(query('copy_predictions').text, None)\n"
        "    conn.execute(query('registered_model'), {})\n"
        "    names = ['dead']\n"
        "    def text(value):\n"
        "        return str(value)\n"
        "    return doc.text('not sql') + text(3)\n"
    )
    hits = inline_sql(module, tmp_path)
    assert hits == [
        "tasks/step.py:4: text(...)",
        "tasks/step.py:5: exec_driver_sql(...)",
        "tasks/step.py:6: copy_expert(...)",
    ]
    other = tmp_path / "tasks" / "other.py"
    other.write_text("from sqlalchemy import text\ndef g(conn):\n    conn.execute(text('SELECT 3'))\n")
    assert inline_sql(other, tmp_path) == ["tasks/other.py:3: text(...)"]
    (tmp_path / "README.md").write_text("Run `linerec query documented n=1`.\n")
    users = query_users(["copy_predictions", "registered_model", "documented", "dead"], tmp_path)
    assert users == {
        "copy_predictions": ["tasks/step.py"],
        "registered_model": ["tasks/step.py"],
        "documented": ["README.md"],
        "dead": [],
    }  # a literal that no call is given is no use
