"""Stored text blocks and each document's hOCR, ALTO, PAGE XML and PDF from the nightly run (real db + S3).

The nightly DAG runs once over a few small scans (a two-column page, a two-page TIFF, a blank
page, a page whose stored image is broken) with the shipped model; the tests then check the
blocks and predictions in Postgres, the objects in S3 and the rows of ``document_outputs``, a
rerun, and a document whose page image goes bad after recognition.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from lxml import etree
from PIL import Image

from linerec.infra.config import get_settings

from helpers.columns import two_column_page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (get_settings().model_dir / "model.weights.h5").exists(), reason="no shipped model"),
]
SCHEMAS = Path(__file__).parents[1] / "resources" / "schemas"
XHTML = "{http://www.w3.org/1999/xhtml}"
DATE = "2026-06-01"


@pytest.fixture(scope="module")
def db(isolated_pipeline):
    return isolated_pipeline


@pytest.fixture(scope="module")
def schemas():
    return {
        "alto": etree.XMLSchema(etree.parse(str(SCHEMAS / "alto-4-3.xsd"))),
        "page": etree.XMLSchema(etree.parse(str(SCHEMAS / "pagecontent.xsd"))),
    }


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def nightly(db, airflow_db, tmp_path_factory):
    """The scans ingested and the nightly DAG run once; returns the run's id, its task results and names."""
    from linerec.synth.pages import generate_corpus
    from tasks.context import store
    from tasks.intake import ingest_files
    from tasks.registry import register_bundled_model

    import local_runner

    register_bundled_model()
    folder = tmp_path_factory.mktemp("scans")
    columns, _ = two_column_page(size=22, shape=(1100, 1000), seed=3)
    (folder / "columns.png").write_bytes(_png(columns))
    export = generate_corpus(folder / "synth", n_documents=2, seed=31, pages_per_document=(1, 1))
    frames = [Image.open(p).convert("L") for p in sorted((export.parent / "images").glob("*.png"))]
    frames[0].save(folder / "letter.tiff", save_all=True, append_images=frames[1:2], compression="tiff_deflate")
    (folder / "blank.png").write_bytes(_png(np.full((700, 500), 250, np.uint8)))
    photo, _ = two_column_page(size=20, shape=(900, 800), seed=5)
    Image.fromarray(photo).convert("RGB").save(folder / "photo.jpg", quality=85)  # a colour JPEG scan
    ingested = ingest_files([str(folder / n) for n in ("columns.png", "letter.tiff", "blank.png", "photo.jpg")])
    assert ingested["rejected"] == 0 and len(ingested["pages"]) == 5
    # A page whose stored image went bad before the run: recognition quarantines it, and its
    # document gets no outputs (reported), while the others are written.
    sha = store().put_bytes("pages/broken-for-outputs", b"\x89PNG\r\n\x1a\n not an image")
    with db.begin() as conn:
        doc = conn.execute(
            sa.text("INSERT INTO documents (name, source) VALUES ('broken-doc', 'scan') RETURNING document_id")
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO pages (document_id, page_no, s3_key, sha256, width, height) "
                "VALUES (:d, 1, 'pages/broken-for-outputs', :sha, 100, 100)"
            ),
            {"d": doc, "sha": sha},
        )
    run = local_runner.run_dag("nightly_recognition", {"batch_size": 2, "date": DATE})
    assert str(getattr(run.state, "value", run.state)) == "success"
    results = local_runner.task_results(run)
    with db.connect() as conn:
        names = dict(
            conn.execute(
                sa.text("SELECT f.source_ref, d.name FROM intake_files f JOIN documents d USING (document_id)")
            ).all()
        )
    names = {Path(ref).name: name for ref, name in names.items()}
    return {
        "run_id": results["open_run"],
        "results": results,
        "names": names,
        "photo": (folder / "photo.jpg").read_bytes(),
    }


def _layout_of(st, s3_key: str):
    from linerec.vision.images import decode_page
    from linerec.vision.layout import analyze_page

    return analyze_page(decode_page(st.get_bytes(s3_key), s3_key))


def test_blocks_are_stored_in_reading_order_and_lines_point_at_them(db, nightly):
    from tasks.context import store

    with db.connect() as conn:
        pages = conn.execute(
            sa.text(
                "SELECT p.page_id, p.s3_key, d.name FROM pages p JOIN documents d USING (document_id) "
                "JOIN page_results r ON r.page_id = p.page_id WHERE r.error IS NULL ORDER BY p.page_id"
            )
        ).all()
        assert len(pages) == 5
        for page in pages:
            blocks = conn.execute(
                sa.text(
                    "SELECT block_id, block_no, kind, x, y, w, h, recognition_run_id FROM blocks WHERE page_id = :p "
                    "ORDER BY block_no"
                ),
                {"p": page.page_id},
            ).all()
            lines = conn.execute(
                sa.text(
                    "SELECT pr.line_no, pr.x, pr.y, pr.w, pr.h, pr.text, b.block_no, b.page_id AS block_page, "
                    "pr.geometry FROM predictions pr LEFT JOIN blocks b USING (block_id) WHERE pr.page_id = :p "
                    "ORDER BY pr.line_no"
                ),
                {"p": page.page_id},
            ).all()
            layout = _layout_of(store(), page.s3_key)
            # The stored blocks are the page's layout, in its reading order, made by this run.
            assert [(b.block_no, b.kind, (b.x, b.y, b.w, b.h)) for b in blocks] == [
                (n, blk.kind, tuple(int(v) for v in blk.bbox)) for n, blk in enumerate(layout.blocks, start=1)
            ]
            assert {b.recognition_run_id for b in blocks} <= {nightly["run_id"]}
            # Every line names a block of its own page; lines run block by block in reading order.
            assert all(ln.block_page == page.page_id for ln in lines)
            assert [ln.block_no for ln in lines] == [
                n for n, blk in enumerate(layout.blocks, start=1) for _ in blk.lines
            ]
            assert all(ln.geometry["rect"][2] > 0 and isinstance(ln.geometry["words"], list) for ln in lines)
            if page.name.startswith("blank"):
                assert not blocks and not lines
    columns = next(p for p in pages if p.name.startswith("columns"))
    with db.connect() as conn:
        view = conn.execute(
            sa.text(
                "SELECT reading_order, block_no, kind, x, lines, text FROM document_blocks "
                "WHERE page_id = :p ORDER BY reading_order"
            ),
            {"p": columns.page_id},
        ).all()
    # A title over two columns: the title first, then the left column, then the right one.
    assert len(view) == 3 and [v.reading_order for v in view] == [1, 2, 3]
    assert "Harbour Commission" in view[0].text.replace("\n", " ") or view[0].lines == 1
    assert view[1].x < view[2].x and view[1].lines > 3 and view[2].lines > 3


def _objects(db, run_id: int) -> dict:
    with db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT d.name, o.format, o.page_no, o.s3_key, o.sha256, o.bytes FROM document_outputs o "
                "JOIN documents d USING (document_id) WHERE o.recognition_run_id = :r"
            ),
            {"r": run_id},
        ).all()
    return {(r.name, r.format, r.page_no): r for r in rows}


def test_each_document_gets_all_four_formats_in_s3_and_the_table(db, nightly, schemas):
    import pypdfium2 as pdfium

    from tasks.context import store

    st = store()
    names, photo_bytes = nightly["names"], nightly["photo"]
    outputs = _objects(db, nightly["run_id"])
    expected = set()
    for file, pages in (("columns.png", 1), ("letter.tiff", 2), ("blank.png", 1), ("photo.jpg", 1)):
        name = names[file]
        expected |= {(name, f, None) for f in ("hocr", "alto", "pdf")} | {
            (name, "page", n) for n in range(1, pages + 1)
        }
    assert set(outputs) == expected
    # The batch that completes a document writes it; the write_outputs step writes the rest.
    summary = nightly["results"]["write_outputs"]
    in_batches = sum(b["documents_written"] for b in nightly["results"]["recognize"])
    assert in_batches >= 1 and in_batches + summary["written"] == 4

    with db.connect() as conn:
        latest = conn.execute(
            sa.text(
                "SELECT document, format, page_no, s3_key, sha256, bytes, model_version FROM document_latest_outputs"
            )
        ).all()
        lines = conn.execute(
            sa.text(
                "SELECT d.name, p.page_no, pr.text, pr.geometry FROM predictions pr JOIN pages p USING (page_id) "
                "JOIN documents d ON d.document_id = p.document_id ORDER BY d.name, p.page_no, pr.line_no"
            )
        ).all()
        page_keys = dict(
            conn.execute(
                sa.text("SELECT d.name || '/' || p.page_no, p.s3_key FROM pages p JOIN documents d USING (document_id)")
            ).all()
        )
    assert {(r.document, r.format, r.page_no): (r.s3_key, r.sha256, r.bytes) for r in latest} == {
        k: (r.s3_key, r.sha256, r.bytes) for k, r in outputs.items()
    }
    shipped = json.loads((get_settings().model_dir / "lineage.json").read_text())["model_version"]
    assert {r.model_version for r in latest} == {shipped}

    for (name, fmt, page_no), row in outputs.items():
        body = st.get_bytes(row.s3_key)
        assert hashlib.sha256(body).hexdigest() == row.sha256 and len(body) == row.bytes
        assert (
            row.s3_key
            == f"outputs/{row.sha256[:2]}/{row.sha256}"
            + {"hocr": ".hocr", "alto": ".alto.xml", "page": ".page.xml", "pdf": ".pdf"}[fmt]
        )
        doc_lines = [ln for ln in lines if ln.name == name]
        words = [w[0] for ln in doc_lines for w in ln.geometry["words"]]
        if fmt == "hocr":
            root = etree.fromstring(body)
            assert len(root.findall(f".//{XHTML}div[@class='ocr_page']")) == (2 if "letter" in name else 1)
            assert [w.text for w in root.iter(f"{XHTML}span") if w.get("class") == "ocrx_word"] == words
        elif fmt == "alto":
            doc = etree.fromstring(body)
            assert schemas["alto"].validate(doc), schemas["alto"].error_log
            assert [s.get("CONTENT") for s in doc.iter("{*}String")] == words
        elif fmt == "page":
            doc = etree.fromstring(body)
            assert schemas["page"].validate(doc), schemas["page"].error_log
            ns = "{http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15}"
            assert doc.find(f"{ns}Page").get("imageFilename") == page_keys[f"{name}/{page_no}"]
            assert [tl.find(f"{ns}TextEquiv/{ns}Unicode").text or "" for tl in doc.iter(f"{ns}TextLine")] == [
                ln.text for ln in doc_lines if ln.page_no == page_no
            ]
        else:
            pdf = pdfium.PdfDocument(body)
            assert len(pdf) == (2 if "letter" in name else 1)
            text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
            assert text.split() == words
            image = next(o for o in pdf[0].get_objects() if o.type == pdfium.raw.FPDF_PAGEOBJ_IMAGE)
            if name == names["photo.jpg"]:
                # A JPEG scan's own bytes, as they came (intake kept them), not the canonical page.
                assert image.get_filters() == ["DCTDecode"]
                assert bytes(image.get_data(decode_simple=False)) == photo_bytes
            else:
                # The page image is the stored PNG's pixels, embedded without re-encoding.
                stored = np.asarray(Image.open(io.BytesIO(st.get_bytes(page_keys[f"{name}/1"]))))
                assert np.array_equal(np.asarray(image.get_bitmap(render=False).to_pil().convert("L")), stored)
    assert sum(len(ln.geometry["words"]) for ln in lines) > 100  # the shipped model read real words


def test_a_blank_page_gives_valid_empty_documents(db, nightly, schemas):
    import pypdfium2 as pdfium

    from tasks.context import store

    name = nightly["names"]["blank.png"]
    outputs = {k[1]: r for k, r in _objects(db, nightly["run_id"]).items() if k[0] == name}
    assert set(outputs) == {"hocr", "alto", "page", "pdf"}
    get = lambda fmt: store().get_bytes(outputs[fmt].s3_key)  # noqa: E731
    hocr = etree.fromstring(get("hocr"))
    assert hocr.find(f"{XHTML}body/{XHTML}div").get("class") == "ocr_page"
    assert not [s for s in hocr.iter(f"{XHTML}span")]
    for fmt in ("alto", "page"):
        doc = etree.fromstring(get(fmt))
        assert schemas[fmt].validate(doc), schemas[fmt].error_log
        assert not list(doc.iter("{*}TextLine"))
    pdf = pdfium.PdfDocument(get("pdf"))
    assert len(pdf) == 1 and pdf[0].get_textpage().count_chars() == 0


def test_a_document_that_cannot_be_written_is_reported_and_the_others_go_on(db, nightly):
    summary = nightly["results"]["write_outputs"]
    assert len(summary["failed"]) == 1
    assert summary["failed"][0].startswith("broken-doc: page 1 could not be recognized")
    with db.connect() as conn:
        reasons = conn.execute(sa.text("SELECT item_ref, reason FROM quarantine WHERE stage = 'outputs'")).all()
        none = conn.execute(
            sa.text(
                "SELECT count(*) FROM document_outputs o JOIN documents d USING (document_id) "
                "WHERE d.name = 'broken-doc'"
            )
        ).scalar()
    assert [(r.item_ref, r.reason.split(" (")[0]) for r in reasons] == [
        ("document:broken-doc", "page 1 could not be recognized")
    ]
    assert none == 0


def test_rerun_writes_nothing_new(db, nightly, table_counts):
    from tasks.context import store

    import local_runner

    def listing():
        return sorted(store().list_keys("outputs/"))

    before, keys, rows = table_counts(), listing(), _objects(db, nightly["run_id"])
    run = local_runner.run_dag("nightly_recognition", {"batch_size": 3, "date": DATE})
    assert str(getattr(run.state, "value", run.state)) == "success"
    results = local_runner.task_results(run)
    assert results["open_run"] == nightly["run_id"]
    assert results["write_outputs"]["written"] == 0 and results["write_outputs"]["skipped"] == 4
    assert table_counts() == before and listing() == keys and _objects(db, nightly["run_id"]) == rows


def test_rendering_again_gives_the_same_keys_and_a_bad_page_image_stops_only_its_document(db, nightly):
    """Outputs recomputed from scratch land on the same keys; a page image that no longer holds the
    recorded bytes fails its document alone, with the reason, and records nothing of it."""
    from tasks.context import store
    from tasks.outputs import write_run_outputs

    run_id, names = nightly["run_id"], nightly["names"]
    rows = _objects(db, run_id)
    with db.begin() as conn:
        conn.execute(sa.text("DELETE FROM document_outputs WHERE recognition_run_id = :r"), {"r": run_id})
        key = conn.execute(
            sa.text(
                "SELECT p.s3_key FROM pages p JOIN documents d USING (document_id) WHERE d.name = :n AND p.page_no = 2"
            ),
            {"n": names["letter.tiff"]},
        ).scalar_one()
    st = store()
    original = st.get_bytes(key)
    st.put_bytes(key, _png(np.full((50, 50), 7, np.uint8)))
    try:
        stats = write_run_outputs(run_id, threads=2)
    finally:
        st.put_bytes(key, original)
    assert stats["written"] == 3 and len(stats["failed"]) == 2
    letter = next(f for f in stats["failed"] if f.startswith(names["letter.tiff"]))
    assert f"page 2: {key}: bytes differ from the recorded sha256" in letter
    again = _objects(db, run_id)
    assert again == {k: v for k, v in rows.items() if k[0] != names["letter.tiff"]}
    # The page is good again: the next try writes the document, on the keys it had before.
    stats = write_run_outputs(run_id)
    assert stats["written"] == 1 and stats["skipped"] == 3
    assert {k: v[3:] for k, v in _objects(db, run_id).items()} == {k: v[3:] for k, v in rows.items()}


def test_readme_example_queries(db, nightly):
    """The README's output and block queries run and give the document's files and its blocks' lines."""
    import re

    from linerec.infra.config import REPO_ROOT
    from linerec.infra.db import query

    readme = (REPO_ROOT / "README.md").read_text()
    squash = lambda text: " ".join(re.sub(r"--[^\n]*", "", text).split())  # noqa: E731
    assert squash((REPO_ROOT / "sql" / "queries" / "document_outputs.sql").read_text()) in squash(readme)
    name = nightly["names"]["letter.tiff"]
    with db.connect() as conn:
        rows = conn.execute(query("document_outputs"), {"name": name[:12]}).all()
        example = re.search(r"(SELECT b\.page_no, b\.block_no.*?;)", readme, re.S).group(1)
        blocks = conn.execute(sa.text(example.replace("'invoice-0001-3f2a9c1d0e5b'", ":doc")), {"doc": name}).all()
        lines = (
            conn.execute(
                sa.text("SELECT text FROM document_current_text WHERE document = :d ORDER BY reading_order"),
                {"d": name},
            )
            .scalars()
            .all()
        )
    assert [(r.format, r.page_no) for r in rows] == [
        ("alto", None),
        ("hocr", None),
        ("page", 1),
        ("page", 2),
        ("pdf", None),
    ]
    assert [b.text for b in blocks] == lines and len({(b.page_no, b.block_no) for b in blocks}) >= 2
