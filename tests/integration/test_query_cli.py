"""``linerec query`` runs a named query against the real database with its parameters bound.

What it refuses before touching the database is checked in ``tests/unit/infra/test_query_names.py``.
"""

from __future__ import annotations

from linerec.cli import main


def test_cli_runs_a_named_query_with_bound_parameters(services, capsys):
    assert main(["query", "intake_file_by_sha", "sha=' OR 1=1 --"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["intake_file_id\tstatus\treason\tdocument_id\tpage_ids"]  # header only: no file has it
