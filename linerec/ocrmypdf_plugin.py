"""OCRmyPDF plugin: linerec as the OCR engine.

``ocrmypdf --plugin linerec.ocrmypdf_plugin in.pdf out.pdf`` rasterizes each page as usual and
hands the image to :class:`LinerecEngine`, which reads it with linerec (blocks, lines and word
boxes, :func:`linerec.document.reader.recognize_pages`) and returns hOCR (:mod:`linerec.formats.hocr`);
OCRmyPDF lays that text layer under the page and writes its PDF or PDF/A as with Tesseract.
The model is the one ``linerec recognize`` uses by default (``LINEREC_SHIPPED_MODEL``), loaded once
per OCRmyPDF worker process. Orientation and deskew are left to linerec's own skew handling.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

from ocrmypdf import hookimpl
from ocrmypdf.pluginspec import OcrEngine, OrientationConfidence

logger = logging.getLogger(__name__)

#: ``--ocr-engine`` values this plugin answers to (``auto``: whenever the plugin is loaded).
ENGINE_NAMES = ("auto", "linerec")


def _model_dir() -> Path:
    from linerec.infra.config import get_settings

    return Path(get_settings().model_dir)


@functools.lru_cache(maxsize=1)
def _recognizer():
    """The default model, loaded once per process."""
    from linerec.model.recognizer import Recognizer

    return Recognizer.load(_model_dir())


@functools.lru_cache(maxsize=1)
def _model_version() -> str:
    try:
        return str(json.loads((_model_dir() / "config.json").read_text()).get("model_version", "unversioned"))
    except (OSError, ValueError):
        return "unversioned"


class LinerecEngine(OcrEngine):
    """linerec's recognizer behind OCRmyPDF's OCR engine interface (hOCR output)."""

    @staticmethod
    def version() -> str:
        """The model version."""
        return _model_version()

    @staticmethod
    def creator_tag(options) -> str:
        """Recorded in the output's metadata."""
        return f"linerec {_model_version()}"

    def __str__(self) -> str:
        return f"linerec {_model_version()}"

    @staticmethod
    def languages(options) -> set[str]:
        """The shipped models read English (Latin script)."""
        return {"eng"}

    @staticmethod
    def get_orientation(input_file: Path, options) -> OrientationConfidence:
        """No orientation detection: upright pages are assumed."""
        return OrientationConfidence(angle=0, confidence=0.0)

    @staticmethod
    def get_deskew(input_file: Path, options) -> float:
        """No deskew request: linerec cuts lines along the page's own skew."""
        return 0.0

    @staticmethod
    def generate_hocr(input_file: Path, output_hocr: Path, output_text: Path, options) -> None:
        """Recognize one page image and write its hOCR and its plain text.

        Parameters
        ----------
        input_file : Path
            The page image OCRmyPDF rasterized.
        output_hocr, output_text : Path
            Where the hOCR and the page text go.
        options
            OCRmyPDF's options (unused).
        """
        from linerec.document.reader import recognize_pages
        from linerec.formats.hocr import to_hocr

        pages = list(recognize_pages(input_file, _recognizer(), words=True))
        Path(output_hocr).write_bytes(to_hocr(Path(input_file).name, pages, system=f"linerec {_model_version()}"))
        Path(output_text).write_text("\n".join(page.text for page in pages) + "\n", encoding="utf-8")
        logger.debug("%s: %d lines", input_file, sum(len(page.records) for page in pages))

    @staticmethod
    def generate_pdf(input_file: Path, output_pdf: Path, output_text: Path, options) -> None:
        """Not supported: OCRmyPDF renders the text layer from :meth:`generate_hocr`."""
        raise NotImplementedError("linerec gives hOCR; use OCRmyPDF's default (hOCR) PDF renderer")


@hookimpl
def get_ocr_engine(options):
    """The linerec engine, unless another one was asked for with ``--ocr-engine``."""
    if getattr(options, "ocr_engine", "auto") not in ENGINE_NAMES:
        return None
    return LinerecEngine()
