"""Intake (TIFF, PDF, S3 inbox, once by sha256) and nightly_recognition against real db."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

pytestmark = [pytest.mark.slow]


def _page_image(seed: int, size=(300, 200)) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.full(size[::-1], 235, np.uint8)
    for row in range(3):  # three dark "lines" of blobs
        y = 30 + 50 * row
        pixels[y : y + 14, 20:280] = np.where(rng.random((14, 260)) < 0.5, 30, 235)
    return Image.fromarray(pixels)


def _tiff(n: int, seed: int) -> bytes:
    frames = [_page_image(seed + i) for i in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def _pdf(n: int, seed: int) -> bytes:
    frames = [_page_image(seed + i).convert("RGB") for i in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, format="PDF", save_all=True, append_images=frames[1:], resolution=72)
    return buf.getvalue()


@pytest.fixture(scope="module")
def db(isolated_pipeline):
    """This module registers a production model: keep it out of the session's database."""
    return isolated_pipeline


@pytest.fixture(scope="module")
def production_model(db, tmp_path_factory):
    """The production model: the registered one, else a small untrained CRNN registered as production."""
    from tasks.registry import register_bundled_model

    with db.connect() as conn:
        row = conn.execute(sa.text("SELECT model_id, version FROM models WHERE status = 'production'")).first()
    if row:
        return {"model_id": row.model_id, "version": row.version}
    import keras

    from linerec.model.crnn import build_crnn, resolve_hparams
    from linerec.model.preprocessing import LineConfig
    from linerec.model.recognizer import save_model_dir

    keras.utils.set_random_seed(5)
    cfg = LineConfig()
    hp = resolve_hparams(filters=(8, 16, 16, 16), lstm_units=16, lstm_layers=1)
    folder = tmp_path_factory.mktemp("model")
    save_model_dir(build_crnn(cfg, **hp), cfg, hp, folder, "crnn-test-untrained")
    (folder / "lineage.json").write_text(
        json.dumps(
            {
                "model_version": "crnn-test-untrained",
                "export": {"source_ref": "tests", "sha256": "0" * 64, "tasks": 0, "lines": 0},
                "dataset": {"version": "ds-test-none", "config": {}, "n_train": 0, "n_val": 0, "n_test": 0},
                "metrics": {},
            }
        )
    )
    return register_bundled_model(folder)


def test_intake_tiff_pdf_once_by_sha_and_quarantine(db, tmp_path, table_counts):
    from tasks.context import store
    from tasks.intake import ingest_files

    tiff, pdf, bad = tmp_path / "scan.tiff", tmp_path / "letter.pdf", tmp_path / "broken.pdf"
    tiff.write_bytes(_tiff(3, seed=1))
    pdf.write_bytes(_pdf(2, seed=10))
    bad.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    result = ingest_files([str(tiff), str(pdf), str(bad)])
    assert len(result["pages"]) == 5 and result["rejected"] == 1
    assert [f["pages"] for f in result["files"]] == [3, 2, 0]

    with db.connect() as conn:
        files = conn.execute(
            sa.text(
                "SELECT f.source_ref, f.media_type, f.status, f.pages, f.reason, d.name FROM intake_files f "
                "LEFT JOIN documents d USING (document_id) ORDER BY intake_file_id"
            )
        ).all()
        pages = conn.execute(
            sa.text("SELECT page_no, s3_key, width, height FROM pages WHERE page_id = ANY(:ids) ORDER BY page_id"),
            {"ids": result["pages"]},
        ).all()
        quarantined = conn.execute(sa.text("SELECT reason, raw FROM quarantine WHERE stage = 'intake'")).all()
    by_ref = {f.source_ref: f for f in files}
    assert by_ref[str(tiff)].media_type == "tiff" and by_ref[str(tiff)].pages == 3
    assert by_ref[str(pdf)].media_type == "pdf" and by_ref[str(pdf)].status == "registered"
    assert by_ref[str(bad)].status == "quarantined" and "unreadable PDF" in by_ref[str(bad)].reason
    assert any("broken.pdf" in q.reason and q.raw["name"] == "broken.pdf" for q in quarantined)
    assert [p.page_no for p in pages] == [1, 2, 3, 1, 2]
    # Pages are canonical grayscale PNGs in S3; a 72-dpi PDF page is rendered at 200 dpi.
    png = Image.open(io.BytesIO(store().get_bytes(pages[0].s3_key)))
    assert png.format == "PNG" and png.mode == "L" and png.size == (300, 200)
    assert abs(pages[3].width - 300 * 200 / 72) <= 1 and abs(pages[3].height - 200 * 200 / 72) <= 1

    # The same bytes again, under another name too: nothing new, the same page ids.
    before = table_counts()
    copy = tmp_path / "copy-of-scan.tif"
    copy.write_bytes(tiff.read_bytes())
    again = ingest_files([str(tiff), str(pdf), str(copy), str(bad)])
    assert again["pages"] == result["pages"] + result["pages"][:3]
    assert again["rejected"] == 1
    assert table_counts() == before


def test_scan_inbox_takes_each_object_once(db, table_counts):
    from tasks.context import store
    from tasks.intake import scan_inbox

    st = store()
    st.put_bytes("inbox/2026/batch-7/fax.tif", _tiff(2, seed=40))
    st.put_bytes("inbox/2026/batch-7/photo.png", _png_bytes(_page_image(50)))
    st.put_bytes("inbox/2026/batch-7/junk.jpg", b"\xff\xd8\xff truncated")
    first = scan_inbox()
    assert first["new_files"] == 3 and first["new_pages"] == 3 and first["rejected"] == 1
    before = table_counts()
    second = scan_inbox()
    assert second == {"seen": first["seen"], "new_files": 0, "new_pages": 0, "rejected": 0}
    assert table_counts() == before


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _prediction_rows(engine, run_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT prediction_id, model_id, document_id, page_id, line_no, x, y, w, h, text, confidence, "
                    "created_at FROM predictions WHERE recognition_run_id = :r ORDER BY prediction_id"
                ),
                {"r": run_id},
            )
        ]


def test_nightly_dag_rerun_gives_same_rows(db, airflow_db, production_model, tmp_path, table_counts):
    from linerec.synth.pages import generate_corpus
    from tasks.context import store
    from tasks.intake import ingest_files

    import local_runner

    export = generate_corpus(tmp_path / "scans", n_documents=3, seed=21, pages_per_document=(1, 1))
    ingest_files([str(p) for p in sorted((export.parent / "images").glob("*.png"))])
    # A page whose stored image went bad: quarantined at recognition, the batch goes on.
    corrupt_sha = store().put_bytes("pages/corrupt-for-test", b"\x89PNG\r\n\x1a\n broken")
    with db.begin() as conn:
        doc = conn.execute(
            sa.text("INSERT INTO documents (name, source) VALUES ('corrupt-doc', 'scan') RETURNING document_id")
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO pages (document_id, page_no, s3_key, sha256, width, height) "
                "VALUES (:d, 1, 'pages/corrupt-for-test', :sha, 100, 100)"
            ),
            {"d": doc, "sha": corrupt_sha},
        )

    run = local_runner.run_dag("nightly_recognition", {"batch_size": 3, "date": "2026-03-04"})
    assert str(getattr(run.state, "value", run.state)) == "success"
    results = local_runner.task_results(run)
    run_id = results["open_run"]
    assert all(set(b) == {"recognition_run_id", "page_ids"} for b in results["plan_batches"])  # ids only
    assert len(results["plan_batches"]) >= 2
    with db.connect() as conn:
        pending = conn.execute(
            sa.text(
                "SELECT count(*) FROM pages p WHERE NOT EXISTS (SELECT 1 FROM page_results r "
                "WHERE r.page_id = p.page_id AND r.model_id = :m)"
            ),
            {"m": production_model["model_id"]},
        ).scalar()
        error = conn.execute(
            sa.text(
                "SELECT error FROM page_results WHERE page_id = (SELECT page_id FROM pages "
                "WHERE s3_key = 'pages/corrupt-for-test')"
            )
        ).scalar_one()
        stats = conn.execute(
            sa.text("SELECT * FROM recognition_run_stats WHERE recognition_run_id = :r"), {"r": run_id}
        ).one()
    assert pending == 0
    assert "unreadable image" in error
    rows = _prediction_rows(db, run_id)
    assert rows and stats.lines == len(rows) and stats.failed_pages == 1 and stats.status == "succeeded"

    # New scans arrive after the run: a rerun of the same date reads the same pages, same rows.
    late = generate_corpus(tmp_path / "late", n_documents=1, seed=22, pages_per_document=(1, 1))
    late_pages = ingest_files([str(p) for p in (late.parent / "images").glob("*.png")])["pages"]
    before = table_counts()
    run = local_runner.run_dag("nightly_recognition", {"batch_size": 2, "date": "2026-03-04"})
    assert str(getattr(run.state, "value", run.state)) == "success"
    assert local_runner.task_results(run)["open_run"] == run_id
    assert _prediction_rows(db, run_id) == rows
    assert table_counts() == before

    # The next date's run picks the late page up.
    run = local_runner.run_dag("nightly_recognition", {"batch_size": 2, "date": "2026-03-05"})
    assert str(getattr(run.state, "value", run.state)) == "success"
    with db.connect() as conn:
        done = (
            conn.execute(
                sa.text("SELECT page_id FROM page_results WHERE recognition_run_id = :r"),
                {"r": local_runner.task_results(run)["open_run"]},
            )
            .scalars()
            .all()
        )
    assert sorted(done) == sorted(late_pages)


def test_recognize_batch_rerun_and_recompute_give_same_rows(db, production_model):
    """A batch rerun inserts nothing; recomputed from scratch, it writes the same lines again."""
    from tasks import nightly_recognition as rec

    with db.connect() as conn:
        run_id, page_ids = conn.execute(
            sa.text(
                "SELECT recognition_run_id, array_agg(page_id ORDER BY page_id) FROM page_results "
                "WHERE error IS NULL AND lines > 0 GROUP BY recognition_run_id ORDER BY 1 LIMIT 1"
            )
        ).one()
    assert rec.recognize_batch(run_id, page_ids)["inserted"] == 0

    def lines():
        with db.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT page_id, line_no, x, y, w, h, text, confidence FROM predictions "
                    "WHERE recognition_run_id = :r AND page_id = ANY(:p) ORDER BY page_id, line_no"
                ),
                {"r": run_id, "p": page_ids},
            ).all()

    before = lines()
    with db.begin() as conn:
        for table in ("predictions", "page_results"):
            conn.execute(
                sa.text(f"DELETE FROM {table} WHERE recognition_run_id = :r AND page_id = ANY(:p)"),
                {"r": run_id, "p": page_ids},
            )
    stats = rec.recognize_batch(run_id, page_ids)
    assert stats["inserted"] == len(before) > 0
    assert lines() == before
