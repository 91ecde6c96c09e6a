"""``ocrmypdf --plugin linerec.ocrmypdf_plugin``: a scanned PDF in, a PDF/A with linerec's text layer out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image

from linerec.eval.metrics import cer
from linerec.infra.config import get_settings

from helpers.columns import two_column_page

pytestmark = pytest.mark.skipif(not (get_settings().model_dir / "model.weights.h5").exists(), reason="no shipped model")


def test_scanned_pdf_becomes_pdfa_with_linerec_text(tmp_path):
    first, truth1 = two_column_page(size=22, seed=7, shape=(1400, 1100), angle=0.8)
    second, truth2 = two_column_page(
        size=22, seed=8, shape=(1400, 1100), angle=-1.2, columns=1, title="Minutes of the Board Meeting"
    )
    scan = tmp_path / "scan.pdf"
    Image.fromarray(first).save(scan, resolution=200.0, save_all=True, append_images=[Image.fromarray(second)])
    out = tmp_path / "out.pdf"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("ocrmypdf")),
            "--plugin",
            "linerec.ocrmypdf_plugin",
            "-j",
            "1",
            str(scan),
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with pikepdf.open(out) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "2" and "linerec" in str(meta.get("xmp:CreatorTool"))
    pages = pdfium.PdfDocument(str(out))
    assert len(pages) == 2
    for page, truth in zip(pages, (truth1, truth2)):
        text = " ".join(page.get_textpage().get_text_range().split())
        assert cer(text, " ".join(t["text"] for t in truth)) < 0.01, text[:500]  # right words, reading order
