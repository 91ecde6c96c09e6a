"""References of predictions, checked once per statement (migration 0006), and their write path."""

from __future__ import annotations

import uuid

import psycopg2.errors
import pytest
import sqlalchemy as sa

from tasks.nightly_recognition import write_batch


@pytest.fixture
def world(services):
    """A committed document with two pages, a model and a recognition run; removed afterwards."""
    tag = uuid.uuid4().hex[:12]
    with services.begin() as conn:
        export = conn.execute(
            sa.text(
                "INSERT INTO annotation_exports (source, source_ref, sha256, s3_key) "
                "VALUES ('file', :t, :t, 'k') RETURNING export_id"
            ),
            {"t": f"refs-{tag}"},
        ).scalar_one()
        dv = conn.execute(
            sa.text(
                "INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test) "
                "VALUES (:t, :e, 'k', '{}', 0, 0, 0) RETURNING dataset_version_id"
            ),
            {"t": f"refs-{tag}", "e": export},
        ).scalar_one()
        model = conn.execute(
            sa.text(
                "INSERT INTO models (version, dataset_version_id, s3_prefix) VALUES (:t, :dv, 'p') RETURNING model_id"
            ),
            {"t": f"refs-{tag}", "dv": dv},
        ).scalar_one()
        run = conn.execute(
            sa.text(
                "INSERT INTO recognition_runs (model_id, logical_date) VALUES (:m, '2001-01-01') "
                "RETURNING recognition_run_id"
            ),
            {"m": model},
        ).scalar_one()
        doc = conn.execute(
            sa.text("INSERT INTO documents (name, source) VALUES (:t, 'test') RETURNING document_id"),
            {"t": f"refs-{tag}"},
        ).scalar_one()
        pages = (
            conn.execute(
                sa.text(
                    "INSERT INTO pages (document_id, page_no, s3_key, sha256, width, height) "
                    "SELECT :d, n, 'k', 's', 100, 100 FROM generate_series(1, 2) n RETURNING page_id"
                ),
                {"d": doc},
            )
            .scalars()
            .all()
        )
        other_doc = conn.execute(
            sa.text("INSERT INTO documents (name, source) VALUES (:t, 'test') RETURNING document_id"),
            {"t": f"refs-other-{tag}"},
        ).scalar_one()
    yield {"model": model, "run": run, "doc": doc, "pages": sorted(pages), "other_doc": other_doc}
    with services.begin() as conn:
        conn.execute(sa.text("DELETE FROM predictions WHERE model_id = :m"), {"m": model})
        conn.execute(sa.text("DELETE FROM recognition_runs WHERE model_id = :m"), {"m": model})
        conn.execute(sa.text("DELETE FROM models WHERE model_id = :m"), {"m": model})
        conn.execute(sa.text("DELETE FROM documents WHERE document_id IN (:a, :b)"), {"a": doc, "b": other_doc})
        conn.execute(sa.text("DELETE FROM dataset_versions WHERE dataset_version_id = :dv"), {"dv": dv})
        conn.execute(sa.text("DELETE FROM annotation_exports WHERE export_id = :e"), {"e": export})


def rows(w, page=None, doc=None, run=None, model=None, lines=(1, 2, 3)):
    page = w["pages"][0] if page is None else page
    return [
        (run or w["run"], model or w["model"], doc or w["doc"], page, k, 1, 2, 3, 4, f"line {k}", 0.5) for k in lines
    ]


def count(services, w) -> int:
    with services.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM predictions WHERE model_id = :m"), {"m": w["model"]}).scalar()


def test_a_batch_is_copied_in_and_a_rewrite_inserts_only_new_lines(services, world):
    with services.begin() as conn:
        assert write_batch(conn, world["run"], world["model"], rows(world), []) == 3
    with services.begin() as conn:  # the same lines again: the copy fails on the unique key, nothing is added
        assert write_batch(conn, world["run"], world["model"], rows(world), []) == 0
    with services.begin() as conn:  # lines 3-5: only 4 and 5 are new
        assert write_batch(conn, world["run"], world["model"], rows(world, lines=(3, 4, 5)), []) == 2
    with services.connect() as conn:
        got = conn.execute(
            sa.text("SELECT line_no, text FROM predictions WHERE model_id = :m ORDER BY 1"), {"m": world["model"]}
        ).all()
    assert got == [(k, f"line {k}") for k in range(1, 6)]


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda w: {"page": 2**40}, "references page 1099511627776 of document"),
        (lambda w: {"doc": w["other_doc"]}, "references page [0-9]+ of document"),
        (lambda w: {"run": 2**40}, "references recognition run 1099511627776 of model"),
        (lambda w: {"model": w["model"] + 10**9}, "references recognition run [0-9]+ of model"),
    ],
    ids=["no such page", "page of another document", "no such run", "run of another model"],
)
def test_a_reference_that_does_not_exist_fails_the_whole_batch(services, world, bad, message):
    batch = rows(world) + rows(world, page=world["pages"][1], lines=(1,))
    batch += rows(world, lines=(7,), **bad(world))  # one bad row among good ones
    with pytest.raises(psycopg2.errors.ForeignKeyViolation, match=message):
        with services.begin() as conn:
            write_batch(conn, world["run"], world["model"], batch, [])
    assert count(services, world) == 0


def test_parents_cannot_go_while_predictions_reference_them(services, world):
    with services.begin() as conn:
        write_batch(conn, world["run"], world["model"], rows(world), [])
    page = world["pages"][0]
    statements = [
        ("DELETE FROM pages WHERE page_id = :p", f"page {page} of document {world['doc']} is still referenced"),
        ("UPDATE pages SET page_id = page_id + 1000000000 WHERE page_id = :p", "is still referenced"),
        ("DELETE FROM documents WHERE document_id = :d", "is still referenced"),  # cascades to its pages
        ("UPDATE recognition_runs SET model_id = model_id WHERE recognition_run_id = :r", None),  # no key change
        ("TRUNCATE pages CASCADE", "cannot truncate pages"),
    ]
    for sql, message in statements:
        with services.connect() as conn, conn.begin():
            if message is None:
                conn.execute(sa.text(sql), {"p": page, "d": world["doc"], "r": world["run"]})
                continue
            with pytest.raises(sa.exc.DBAPIError, match=message):
                conn.execute(sa.text(sql), {"p": page, "d": world["doc"], "r": world["run"]})
    assert count(services, world) == 3
    with services.connect() as conn, conn.begin():  # outside READ COMMITTED a delete is refused
        conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        with pytest.raises(sa.exc.DBAPIError, match="must run in READ COMMITTED"):
            conn.execute(sa.text("DELETE FROM recognition_runs WHERE recognition_run_id = :r"), {"r": world["run"]})
    with services.begin() as conn:  # deleting the run deletes its predictions
        conn.execute(sa.text("DELETE FROM recognition_runs WHERE recognition_run_id = :r"), {"r": world["run"]})
    assert count(services, world) == 0


def test_a_writer_holds_its_pages_until_it_commits(services, world):
    """As with a foreign key, the referenced page is locked: a delete waits for the writer."""
    page = world["pages"][0]
    with services.connect() as writer, services.connect() as deleter:
        with writer.begin():
            write_batch(writer, world["run"], world["model"], rows(world), [])
            with deleter.begin():
                deleter.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
                with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                    deleter.execute(sa.text("DELETE FROM pages WHERE page_id = :p"), {"p": page})
    assert count(services, world) == 3
