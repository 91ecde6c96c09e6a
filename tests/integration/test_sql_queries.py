"""The named queries of sql/queries: every one is valid SQL against the migrated schema, and the example
queries (shown in README's "Example SQL") give the expected rows on known predictions.

Predictions are written through the same COPY path the nightly run uses (``write_batch``).
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from linerec.infra.config import REPO_ROOT
from linerec.infra.db import query, query_names

EXAMPLES = [
    "document_text_sample",
    "document_lines",
    "search_documents",
    "low_confidence_lines",
    "recognition_run_stats",
]

DOCS = {
    "sqltest-invoice": [["Invoice number 4471", "Amount due: 310 dollars"], ["Payment by bank transfer"]],
    "sqltest-minutes": [["Minutes of the committee meeting"], ["The committee approved the budget"]],
}
LOW = 0.42  # the confidence given to the budget line


@pytest.fixture(scope="module")
def db(isolated_pipeline):
    """This module registers its own production model: keep it out of the session's database."""
    return isolated_pipeline


@pytest.fixture(scope="module")
def known(db):
    """Two documents with known lines from the production model, written with COPY in one run."""
    from tasks.nightly_recognition import write_batch
    from tasks.registry import production_model

    with db.begin() as conn:
        production = production_model(conn)
        model_id = production.model_id if production is not None else None
        if model_id is None:
            export = conn.execute(
                sa.text(
                    "INSERT INTO annotation_exports (source, source_ref, sha256, s3_key) "
                    "VALUES ('file', 'sql-test', :sha, 'exports/sql-test') RETURNING export_id"
                ),
                {"sha": "5" * 64},
            ).scalar_one()
            dv = conn.execute(
                sa.text(
                    "INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test) "
                    "VALUES ('ds-sql-test', :e, 'm', '{}', 0, 0, 0) RETURNING dataset_version_id"
                ),
                {"e": export},
            ).scalar_one()
            model_id = conn.execute(
                sa.text(
                    "INSERT INTO models (version, dataset_version_id, s3_prefix, status) "
                    "VALUES ('crnn-sql-test', :dv, 'models/none/', 'production') RETURNING model_id"
                ),
                {"dv": dv},
            ).scalar_one()
        run_id = conn.execute(query("open_nightly_run"), {"model": model_id, "d": "1999-12-31"}).scalar_one()
        rows, results = [], []
        for name, pages in DOCS.items():
            doc = conn.execute(query("upsert_document"), {"name": name, "source": "scan"}).scalar_one()
            for page_no, lines in enumerate(pages, start=1):
                page = conn.execute(
                    query("upsert_page"),
                    {
                        "doc": doc,
                        "page_no": page_no,
                        "key": f"pages/{name}",
                        "meta": "{}",
                        "sha": name,
                        "w": 800,
                        "h": 600,
                        "original": None,
                        "crc": None,
                    },
                ).scalar_one()
                for line_no, text in reversed(list(enumerate(lines, start=1))):  # written out of order
                    conf = LOW if "budget" in text else 0.97
                    rows.append((run_id, model_id, doc, page, line_no, 10, 40 * line_no, 500, 30, text, conf))
                results.append({"page": page, "lines": len(lines), "error": None})
        assert write_batch(conn, run_id, model_id, rows, results) == len(rows)
        # Written again (a rerun of the batch): nothing is added.
        assert write_batch(conn, run_id, model_id, rows, results) == 0
        conn.execute(query("finish_recognition_run"), {"r": run_id})
    return {"run_id": run_id, "model_id": model_id, "rows": len(rows)}


def _run(conn, name, **params):
    return conn.execute(query(name), params).mappings().all()


# Statements PREPARE cannot take: COPY (run through the driver's copy) and DDL.
NOT_PREPARABLE = re.compile(r"^\s*(COPY|CREATE|ALTER|DROP)\b", re.IGNORECASE)


def _prepared_form(sql: str) -> tuple[str, list[str]]:
    """``sql`` with its ``:name`` parameters as ``$1, $2, ...`` (the same name, the same number) and their names."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<![:\w]):(\w+)(?!:)", number, sql).strip().rstrip(";"), names


def _statement(name: str) -> str:
    """The query's statement without its header comment."""
    return "\n".join(line for line in query(name).text.splitlines() if not line.startswith("--")).strip()


@pytest.mark.parametrize("name", query_names())
def test_every_named_query_is_valid_sql_for_the_schema(services, name):
    """Postgres parses and plans each statement against the migrated schema (PREPARE infers the
    parameters' types), so a misspelt table or column fails here, not in the step that runs it.
    The nightly batch's staging table exists, as it does when its statements run."""
    statement = _statement(name)
    if NOT_PREPARABLE.match(statement):
        assert statement.upper().startswith(("COPY", "CREATE TEMP")), statement[:80]
        return
    sql, _ = _prepared_form(statement)
    with services.connect() as conn:
        conn.execute(query("stage_predictions"))  # the batch's staging table (dropped at the rollback)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(f"PREPARE linerec_check AS {sql}")
            cursor.execute("DEALLOCATE linerec_check")
        finally:
            cursor.close()
        conn.rollback()


def test_prepared_form_numbers_each_parameter_once():
    """Parameters as SQLAlchemy reads them: ``::type`` casts are not parameters."""
    statement = "SELECT :a, x::text, CAST(:b AS int) FROM t WHERE x = ANY(:ids) OR y = :a;"
    sql, names = _prepared_form(statement)
    assert sql == "SELECT $1, x::text, CAST($2 AS int) FROM t WHERE x = ANY($3) OR y = $1"
    assert names == ["a", "b", "ids"] == list(sa.text(statement).compile().binds)


def test_document_lines_in_reading_order(db, known):
    with db.connect() as conn:
        lines = _run(conn, "document_lines", document="sqltest-invoice")
    assert [(r["page_no"], r["line_no"]) for r in lines] == [(1, 1), (1, 2), (2, 1)]
    assert [r["text"] for r in lines] == DOCS["sqltest-invoice"][0] + DOCS["sqltest-invoice"][1]


@pytest.mark.parametrize(
    "q,expected",
    [
        ("invoice dollars", ["sqltest-invoice"]),  # words on different lines of one document
        ('"approved the budget"', ["sqltest-minutes"]),  # phrase, stemmed
        ("committee -invoice", ["sqltest-minutes"]),
        ("payments OR meetings", ["sqltest-invoice", "sqltest-minutes"]),
        ("nonexistentword", []),
    ],
)
def test_search_documents_full_text(db, known, q, expected):
    with db.connect() as conn:
        found = [
            r["document"] for r in _run(conn, "search_documents", q=q, limit=10) if r["document"].startswith("sqltest-")
        ]
    assert sorted(found) == expected


def test_search_uses_the_gin_index(db, known):
    with db.begin() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            r[0]
            for r in conn.execute(sa.text("EXPLAIN " + query("search_documents").text), {"q": "invoice", "limit": 5})
        )
    assert "document_text_tsv" in plan


def test_low_confidence_lines(db, known):
    with db.connect() as conn:
        low = [r for r in _run(conn, "low_confidence_lines", limit=1000) if r["document"].startswith("sqltest-")]
    assert [(r["document"], r["text"], float(r["confidence"])) for r in low] == [
        ("sqltest-minutes", "The committee approved the budget", LOW)
    ]


def test_recognition_run_stats(db, known):
    with db.connect() as conn:
        stats = {r["recognition_run_id"]: r for r in _run(conn, "recognition_run_stats", limit=100)}
    run = stats[known["run_id"]]
    assert run["status"] == "succeeded" and run["lines"] == known["rows"] == 5
    assert run["pages"] == 4 and run["failed_pages"] == 0
    assert float(run["low_confidence_share"]) == pytest.approx(1 / 5)
    assert float(run["mean_confidence"]) == pytest.approx((4 * 0.97 + LOW) / 5, abs=1e-4)


def test_document_text_sample_keeps_lineage(db, known):
    with db.connect() as conn:
        rows = _run(conn, "document_text_sample", limit=20)
    assert rows and all(r["export_id"] is not None and r["dataset_version"] for r in rows)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_queries_documented_and_in_readme(name):
    """Each example query starts with a header comment and its SQL is shown in README.md."""
    text = (REPO_ROOT / "sql" / "queries" / f"{name}.sql").read_text()
    assert text.startswith("-- ")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--")).strip()
    readme = (REPO_ROOT / "README.md").read_text()
    squash = lambda s: re.sub(r"\s+", " ", s.replace(":limit", "").replace(";", "")).strip()  # noqa: E731
    assert squash(body).split(" LIMIT")[0] in squash(readme), f"{name}.sql is not shown in README.md"


def test_copy_keeps_any_text_exactly(db, known):
    """Empty lines (an unquoted empty CSV field is NULL by default), quotes, commas, newlines."""
    from tasks.nightly_recognition import write_batch

    texts = ["", "a,b", 'say "hi"', "two\nlines", "back\\slash", "tab\there", "  spaced  ", "ünïcode €"]
    with db.begin() as conn:
        page, doc = conn.execute(
            sa.text(
                "SELECT page_id, document_id FROM pages p JOIN documents d USING (document_id) "
                "WHERE d.name = 'sqltest-minutes' AND p.page_no = 1"
            )
        ).one()
        rows = [
            (known["run_id"], known["model_id"], doc, page, 100 + i, 0, 0, 1, 1, t, 0.5) for i, t in enumerate(texts)
        ]
        assert write_batch(conn, known["run_id"], known["model_id"], rows, []) == len(texts)
        back = (
            conn.execute(
                sa.text("SELECT text FROM predictions WHERE page_id = :p AND line_no >= 100 ORDER BY line_no"),
                {"p": page},
            )
            .scalars()
            .all()
        )
        conn.execute(sa.text("DELETE FROM predictions WHERE page_id = :p AND line_no >= 100"), {"p": page})
        conn.execute(query("refresh_document_text"), {"docs": [doc]})
    assert back == texts
