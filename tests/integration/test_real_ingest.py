"""Real scans enter the pipeline as an annotator's export: convert, export_annotations, ingest_export.

A few SROIE and FUNSD pages from the real data folder (skipped with the reason when it is absent)
are written by :func:`linerec.datasets.realdata.write_export` and ingested into a database and bucket
of this module's own, on the real Postgres and S3 servers.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from linerec.datasets import realdata as rd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_pages() -> list:
    picked = []
    for source, count in (("sroie", 3), ("funsd", 2)):
        reason = rd.available(source)
        if reason is not None:
            pytest.skip(reason)
        pages = rd.load_pages(source)
        # Small pages (SROIE has 5000x7000 scans too), from both splits, with flagged lines where there are.
        pages = sorted(pages, key=lambda p: (p.width * p.height, p.document))[:40]
        training, held_out = rd.split_pages(pages)
        chosen = held_out[:1] + sorted(training, key=lambda p: -sum(ln.flag is not None for ln in p.lines))
        picked += chosen[:count]
    return picked


def test_real_pages_are_ingested_like_an_annotators_export(isolated_pipeline, real_pages, tmp_path, table_counts):
    from tasks.annotation_sync import export_annotations, ingest_export

    export = rd.write_export(real_pages, tmp_path / "real")
    regions = {p.document: sum(ln.flag is None for ln in p.lines) for p in real_pages}
    flagged = sum(ln.flag is not None for p in real_pages for ln in p.lines)
    assert flagged > 0, "the chosen pages should include lines that are left out"
    rejected_rows = (tmp_path / "real" / "rejected.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rejected_rows) == flagged + sum(len(p.rejected) for p in real_pages)

    export_id = export_annotations(str(export))
    stats = ingest_export(export_id)
    assert stats["tasks"] == stats["tasks_changed"] == stats["pages"] == len(real_pages) == 5
    assert stats["lines"] == sum(regions.values()) and stats["rejected"] == 0

    with isolated_pipeline.connect() as conn:
        per_doc = dict(
            conn.execute(
                sa.text(
                    "SELECT d.name, count(la.line_annotation_id) FROM documents d JOIN pages p USING (document_id) "
                    "LEFT JOIN line_annotations la USING (page_id) GROUP BY d.name"
                )
            ).all()
        )
        meta = dict(
            conn.execute(sa.text("SELECT d.name, p.meta FROM pages p JOIN documents d USING (document_id)")).all()
        )
        sizes = dict(
            conn.execute(
                sa.text("SELECT d.name, ARRAY[p.width, p.height] FROM pages p JOIN documents d USING (document_id)")
            ).all()
        )
        quarantined = conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar()
        texts = {r.text for r in conn.execute(sa.text("SELECT text FROM line_annotations"))}
    assert per_doc == regions
    assert quarantined == 0
    for page in real_pages:
        m = meta[page.document] if isinstance(meta[page.document], dict) else json.loads(meta[page.document])
        assert m["transcription_case"] == ("upper" if page.source == "sroie" else "as_printed")
        assert m["source"] == page.source
        assert m["split"] == ("heldout" if rd.is_held_out(page.document) else "train")
        assert list(sizes[page.document]) == [page.width, page.height]
    assert texts == {ln.text for p in real_pages for ln in p.lines if ln.flag is None}

    # The same pages converted again give the same export: nothing changes.
    before = table_counts()
    again = rd.write_export(real_pages, tmp_path / "again")
    assert again.read_bytes() == export.read_bytes()
    assert export_annotations(str(again)) == export_id
    assert ingest_export(export_id)["already_ingested"]
    assert table_counts() == before
