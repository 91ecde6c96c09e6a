"""The evaluation report reads page metadata from ``pages.meta`` in the real database (tasks.report.line_page_meta)."""

from __future__ import annotations

import sqlalchemy as sa

from tasks.report import line_page_meta


def test_line_page_meta_reads_pages_meta_only_when_the_column_exists(services):
    with services.connect() as conn, conn.begin() as trans:
        conn.execute(sa.text("ALTER TABLE pages DROP COLUMN IF EXISTS meta CASCADE"))
        assert line_page_meta(conn, [1, 2]) == {}
        conn.execute(sa.text("ALTER TABLE pages ADD COLUMN meta jsonb"))
        ids = conn.execute(
            sa.text(
                "WITH e AS (INSERT INTO annotation_exports (source, source_ref, sha256, s3_key) "
                "           VALUES ('file', 'x', 'report-meta', 'k') RETURNING export_id), "
                "d AS (INSERT INTO documents (name, source) VALUES ('report-meta-doc', 'test') RETURNING document_id), "
                "p AS (INSERT INTO pages (document_id, page_no, s3_key, sha256, width, height, meta) "
                "      SELECT document_id, n, 'k', 's', 10, 10, CASE n WHEN 1 THEN "
                '      \'{"font": "P052-Roman", "degradation": "skew"}\'::jsonb END '
                "      FROM d, generate_series(1, 2) AS n RETURNING page_id, page_no) "
                "INSERT INTO line_annotations (page_id, export_id, ls_task_id, ls_annotation_id, ls_region_id, line_no, "
                "x, y, w, h, text) SELECT page_id, export_id, 900000 + page_no, 1, 'r', 1, 0, 0, 5, 5, 't' FROM p, e "
                "RETURNING line_annotation_id, ls_task_id"
            )
        ).all()
        first = next(line_id for line_id, task in ids if task == 900001)
        assert line_page_meta(conn, [line_id for line_id, _ in ids]) == {
            str(first): {"font": "P052-Roman", "degradation": "skew"}
        }
        trans.rollback()
