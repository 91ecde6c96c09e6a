"""Named queries are names: ``linerec query`` and :func:`linerec.infra.db.query` load ``sql/queries/<name>.sql``
and nothing else (no ``../``, no absolute path, no other folder's SQL)."""

from __future__ import annotations

import pytest

from linerec.cli import main
from linerec.infra.db import migrations_dir, queries_dir, query, query_names

OUTSIDE = [
    "../migrations/0001_core",
    "../../sql/migrations/0001_core",
    str(migrations_dir() / "0001_core"),
    "/etc/passwd",
    "..",
    "",
    "intake_file_by_sha.sql",
    "Intake_File_By_Sha",
    "intake_file_by_sha/",
    "queries/intake_file_by_sha",
    "intake_file_by_sha\x00",
]


def test_every_query_file_is_a_name_and_loads():
    names = query_names()
    assert "intake_file_by_sha" in names and len(names) == len(list(queries_dir().glob("*.sql")))
    assert all(query(name).text for name in names)


@pytest.mark.parametrize("name", OUTSIDE)
def test_a_path_or_unknown_name_is_no_query(name):
    with pytest.raises(KeyError, match="no named query"):
        query(name)


@pytest.mark.parametrize("name", ["../migrations/0001_core", "/etc/passwd"])
def test_cli_refuses_a_path_before_touching_the_database(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["query", name])
    assert exit_.value.code == 2
    assert "is not a named query" in capsys.readouterr().err


def test_cli_refuses_a_parameter_without_a_value(capsys):
    with pytest.raises(SystemExit):
        main(["query", "intake_file_by_sha", "sha"])
    assert "is not NAME=VALUE" in capsys.readouterr().err
