"""Pages read from their scan's own JPEG bytes (real Postgres + S3).

Intake records, for a one-page grayscale JPEG that decodes exactly to its canonical page, the
file's sha256 and the pixels' CRC-32; recognition then reads the JPEG instead of the canonical
PNG. These tests check what is recorded, that a page read either way is the same page (same
lines, same crops), that anything which does not hold falls back to the canonical PNG, and that
the searchable PDF written from the bytes a batch holds embeds the scan as it came.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def db(isolated_pipeline):
    return isolated_pipeline


@pytest.fixture(scope="module")
def scans(db, tmp_path_factory):
    """A grayscale and a colour JPEG scan of generated text, and a PNG, ingested; their page rows by file name."""
    from linerec.infra.storage import sha256_bytes
    from linerec.synth.pages import generate_corpus
    from tasks.intake import ingest_files

    folder = tmp_path_factory.mktemp("originals")
    export = generate_corpus(folder / "synth", n_documents=2, seed=57, pages_per_document=(1, 1))
    first, second = sorted((export.parent / "images").glob("*.png"))
    Image.open(first).convert("L").save(folder / "gray.jpg", quality=75)
    gray = np.asarray(Image.open(second).convert("L"), dtype=np.float32)
    sepia = np.stack([gray, gray * 0.9, gray * 0.7], axis=-1).astype(np.uint8)  # a tinted photo of the page
    Image.fromarray(sepia).save(folder / "colour.jpg", quality=75)
    (folder / "plain.png").write_bytes(first.read_bytes())
    result = ingest_files([str(folder / n) for n in ("gray.jpg", "colour.jpg", "plain.png")])
    assert result["rejected"] == 0 and len(result["pages"]) == 3
    with db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT f.source_ref, f.sha256 AS file_sha, p.* FROM intake_files f "
                "JOIN pages p USING (document_id) ORDER BY p.page_id"
            )
        ).all()
    by_name = {r.source_ref.rsplit("/", 1)[-1]: r for r in rows}
    assert sha256_bytes((folder / "gray.jpg").read_bytes()) == by_name["gray.jpg"].file_sha
    return {"rows": by_name, "folder": folder}


def _canonical_only(row):
    """The page row as a reader without the original's columns sees it."""
    fields = {k: getattr(row, k) for k in ("page_id", "document_id", "s3_key", "sha256")}
    return SimpleNamespace(**fields, original_sha256=None, pixels_crc32=None)


def test_intake_records_the_original_only_when_it_decodes_to_the_canonical_page(scans):
    from linerec.vision.images import decode_page, pixels_crc32
    from tasks.context import original_key, store

    gray, colour, plain = (scans["rows"][n] for n in ("gray.jpg", "colour.jpg", "plain.png"))
    assert gray.original_sha256 == gray.file_sha
    canonical = decode_page(store().get_bytes(gray.s3_key))
    assert gray.pixels_crc32 == pixels_crc32(canonical)
    assert store().get_bytes(original_key(gray.file_sha)) == (scans["folder"] / "gray.jpg").read_bytes()
    # Pillow's and OpenCV's gray of a tinted colour JPEG differ: read from the canonical PNG.
    assert colour.original_sha256 is None and colour.pixels_crc32 is None
    assert plain.original_sha256 is None and plain.pixels_crc32 is None


def test_a_page_read_from_its_original_is_the_canonical_page(scans):
    from tasks.context import store
    from tasks.pages import read_page

    st = store()
    row = scans["rows"]["gray.jpg"]
    fast = read_page(st, row, keep_data=True)
    slow = read_page(st, _canonical_only(row), keep_data=True)
    assert fast["error"] is None and slow["error"] is None
    assert fast["data"] == (scans["folder"] / "gray.jpg").read_bytes()  # the original's bytes were read
    assert slow["data"][:4] == b"\x89PNG"
    assert len(fast["boxes"]) > 5
    assert fast["boxes"] == slow["boxes"] and fast["rects"] == slow["rects"] and fast["blocks"] == slow["blocks"]
    assert all(np.array_equal(a, b) for a, b in zip(fast["crops"], slow["crops"], strict=True))


@pytest.mark.parametrize("fault", ["missing", "other_bytes", "other_pixels"])
def test_an_original_that_does_not_hold_falls_back_to_the_canonical_png(scans, fault, caplog):
    from linerec.infra.storage import sha256_bytes
    from tasks.context import store
    from tasks.pages import read_page

    st = store()
    row = scans["rows"]["gray.jpg"]
    page = SimpleNamespace(**{k: getattr(row, k) for k in ("page_id", "document_id", "s3_key", "sha256")})
    page.original_sha256, page.pixels_crc32 = row.original_sha256, row.pixels_crc32
    if fault == "missing":
        page.original_sha256 = "0" * 64  # no such object
    elif fault == "other_bytes":
        # The key of another file's sha256 holding this page's JPEG: the bytes do not match their name.
        other = sha256_bytes(b"another file")
        st.put_bytes(f"originals/{other}.jpg", (scans["folder"] / "gray.jpg").read_bytes(), "image/jpeg")
        page.original_sha256 = other
    else:
        page.pixels_crc32 = (row.pixels_crc32 + 1) % 2**32  # decoded here to other pixels than recorded
    with caplog.at_level(logging.WARNING, logger="tasks.pages"):
        read = read_page(st, page, keep_data=True)
    assert read["error"] is None and read["data"][:4] == b"\x89PNG"
    assert read["boxes"] == read_page(st, _canonical_only(row))["boxes"]
    assert f"page {row.page_id}" in caplog.text and "reading its canonical PNG" in caplog.text


def test_the_pdf_from_the_bytes_a_batch_holds_embeds_the_scan_as_it_came(db, scans):
    from linerec.infra.db import query
    from tasks.context import store
    from tasks.outputs import _page_image
    from tasks.pages import read_page

    st = store()
    row = scans["rows"]["gray.jpg"]
    held = read_page(st, row, keep_data=True)["data"]
    with db.connect() as conn:
        out_row = next(
            r for r in conn.execute(query("document_output_pages"), {"docs": [row.document_id], "model": -1}).all()
        )
    image = _page_image(st, out_row, held)
    assert image.filter == "DCTDecode" and image.data == held
    assert (image.width, image.height) == (row.width, row.height)
    # A canonical page in hand still gives the original JPEG when intake kept one.
    png = read_page(st, _canonical_only(row), keep_data=True)["data"]
    assert _page_image(st, out_row, png).data == held
