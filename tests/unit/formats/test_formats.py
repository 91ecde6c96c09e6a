"""hOCR, ALTO, PAGE XML and searchable PDF from recognized pages, each validated (shipped model)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from lxml import etree
from PIL import Image

from linerec.cli import main
from linerec.document.model import TextBlock, TextLine, Word
from linerec.document.reader import PageResult
from linerec.eval.metrics import corpus_cer
from linerec.formats import export_file, render
from linerec.infra.config import get_settings

from helpers.columns import two_column_page

pytestmark = pytest.mark.skipif(not (get_settings().model_dir / "model.weights.h5").exists(), reason="no shipped model")
SCHEMAS = Path(__file__).parents[2] / "resources" / "schemas"
XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="module")
def schemas():
    return {
        "alto": etree.XMLSchema(etree.parse(str(SCHEMAS / "alto-4-3.xsd"))),
        "page": etree.XMLSchema(etree.parse(str(SCHEMAS / "pagecontent.xsd"))),
    }


@pytest.fixture(scope="module")
def recognizer():
    from linerec.model.recognizer import Recognizer

    return Recognizer.load(get_settings().model_dir)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    d = tmp_path_factory.mktemp("scans")
    page, truth = two_column_page(size=22, seed=5, shape=(1400, 1100))
    Image.fromarray(page).save(d / "two.png", dpi=(200, 200))
    Image.fromarray(page).save(d / "two.jpg", quality=90, dpi=(200, 200))
    Image.fromarray(page).save(
        d / "two.tif", save_all=True, append_images=[Image.new("L", (900, 700), 245)], dpi=(200, 200)
    )
    Image.new("L", (900, 700), 245).save(d / "blank.png")
    Image.fromarray(page).save(d / "two.pdf", resolution=200.0)
    return d, page, truth


@pytest.fixture(scope="module")
def pages(scans, recognizer):
    from linerec.document.reader import recognize_pages

    return list(recognize_pages(scans[0] / "two.tif", recognizer, words=True))


def _xyxy(box):
    x, y, w, h = box
    return x, y, x + w, y + h


def test_document_model_words_and_reading_order(pages, scans):
    _, _, truth = scans
    page = pages[0]
    assert corpus_cer([page.text], ["\n".join(t["text"] for t in truth)]) < 0.02
    assert pages[1].blocks == [] and pages[1].records == []
    for block in page.blocks:
        for line in block.lines:
            assert " ".join(w.text for w in line.words) == " ".join(line.text.split())
            lx0, ly0, lx1, ly1 = _xyxy(line.bbox)
            right = lx0
            for word in line.words:
                x0, y0, x1, y1 = _xyxy(word.bbox)
                assert lx0 - 2 <= x0 < x1 <= lx1 + 2 and ly0 - 2 <= y0 < y1 <= ly1 + 2
                assert x0 >= right - 2  # left to right, not overlapping
                right = x1
                assert 0.0 <= word.confidence <= 1.0
            # the line's confidence is the words' product times its spaces' peaks
            assert line.confidence - 1e-3 <= np.prod([w.confidence for w in line.words]) <= 1.0


def test_word_boxes_frame_the_printed_words(pages, scans):
    """The title's word boxes hold all of its ink, and the gaps between them hold none."""
    _, image, truth = scans
    title = pages[0].blocks[0].lines[0]
    assert title.text == truth[0]["text"]
    lx0, ly0, lx1, ly1 = _xyxy(title.bbox)
    ink = image[ly0:ly1] < 128  # (h, W): the title's rows
    covered = np.zeros_like(ink)
    for word in title.words:
        x0, _, x1, _ = _xyxy(word.bbox)
        covered[:, x0:x1] = True
    assert (ink & covered).sum() >= 0.98 * ink.sum()
    for left, right in zip(title.words, title.words[1:]):
        gap = ink[:, left.bbox[0] + left.bbox[2] : right.bbox[0]]
        assert gap.shape[1] >= 5 and gap.sum() <= 0.01 * ink.sum(), (left, right)


def test_hocr(pages):
    doc = etree.fromstring(render("hocr", "two.tif", pages)[0])
    body = doc.find(f"{XHTML}body")
    divs = body.findall(f"{XHTML}div")
    assert [d.get("class") for d in divs] == ["ocr_page", "ocr_page"]
    assert divs[0].get("title").startswith('image "two.tif"; bbox 0 0 1100 1400; ppageno 0')
    areas = divs[0].findall(f"{XHTML}div")
    assert [a.get("class") for a in areas] == ["ocr_carea"] * len(pages[0].blocks)
    lines = [s for a in areas for s in a.iter(f"{XHTML}span") if s.get("class") == "ocr_line"]
    assert len(lines) == len(pages[0].records)
    for span, record in zip(lines, pages[0].records):
        words = [w for w in span if w.get("class") == "ocrx_word"]
        assert " ".join(w.text for w in words) == " ".join(record["text"].split())
        for w in words:
            box, conf = w.get("title").split("; ")
            assert box.startswith("bbox ") and conf.startswith("x_wconf ") and 0 <= int(conf.split()[1]) <= 100
    assert [d.get("class") for d in divs[1]] == []  # the blank page


def test_alto_is_valid(pages, schemas):
    doc = etree.fromstring(render("alto", "two.tif", pages, version="crnn")[0])
    assert schemas["alto"].validate(doc), schemas["alto"].error_log
    ns = "{http://www.loc.gov/standards/alto/ns-v4#}"
    strings = [s.get("CONTENT") for s in doc.iter(f"{ns}String")]
    assert strings == [w for r in pages[0].records for w in r["text"].split()]
    assert len(doc.findall(f".//{ns}Page")) == 2


def test_page_xml_is_valid(pages, schemas):
    docs = render("page", "two.tif", pages)
    assert len(docs) == 2
    ns = "{http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15}"
    for doc in map(etree.fromstring, docs):
        assert schemas["page"].validate(doc), schemas["page"].error_log
    doc = etree.fromstring(docs[0])
    regions = [r.get("id") for r in doc.iter(f"{ns}TextRegion")]
    assert [r.get("regionRef") for r in doc.iter(f"{ns}RegionRefIndexed")] == regions
    lines = [tl.find(f"{ns}TextEquiv/{ns}Unicode").text for tl in doc.iter(f"{ns}TextLine")]
    assert lines == [r["text"] for r in pages[0].records]


def _pdf_words(page) -> list[tuple[str, tuple]]:
    """Words of a PDF page's text layer with their character boxes (points, y up)."""
    text = page.get_textpage()
    words, current = [], None
    for i in range(text.count_chars()):
        ch = text.get_text_range(i, 1)
        if ch.isspace():
            current = None
            continue
        if current is None:
            current = [ch, []]
            words.append(current)
        else:
            current[0] += ch
        current[1].append(text.get_charbox(i, loose=True))
    return [(w, boxes) for w, boxes in words]


@pytest.mark.parametrize("name", ["two.png", "two.jpg", "two.tif", "two.pdf"])
def test_searchable_pdf_words_land_in_their_boxes(name, scans, recognizer, tmp_path):
    from linerec.document.reader import recognize_pages

    folder, image, _ = scans
    target = tmp_path / "out.pdf"
    assert export_file(str(folder / name), recognizer, "pdf", target) == [target]
    data = target.read_bytes()
    pdf = pdfium.PdfDocument(data)
    predicted = list(recognize_pages(folder / name, recognizer, words=True))
    assert len(pdf) == len(predicted) == (2 if name.endswith(".tif") else 1)
    if name.endswith(".jpg"):
        assert (folder / name).read_bytes() in data  # the original JPEG, not re-encoded
    else:  # lossless: the page image's pixels are the file's (a PDF page's: as rendered for recognition)
        from linerec.vision.images import decode_page

        images = [o for o in pdf[0].get_objects() if o.type == pdfium.raw.FPDF_PAGEOBJ_IMAGE]
        assert len(images) == 1
        pixels = np.asarray(images[0].get_bitmap(render=False).to_pil().convert("L"))
        assert np.array_equal(pixels, decode_page((folder / name).read_bytes()) if name.endswith(".pdf") else image)
    from linerec.formats.pdf import page_images, to_pdf

    bare = pdfium.PdfDocument(
        to_pdf(
            [PageResult(r.path, r.page, [], r.width, r.height, []) for r in predicted],
            list(page_images((folder / name).read_bytes(), 200)),
        )
    )
    for page, without in zip(pdf, bare):  # the text is invisible: the page looks as without it
        assert np.array_equal(*(np.asarray(p.render(scale=0.5).to_pil()) for p in (page, without)))
    k = 72.0 / 200.0  # the scans state 200 dpi
    for page, result in zip(pdf, predicted):
        assert page.get_size() == pytest.approx((result.width * k, result.height * k), abs=0.01)
        words = [w for b in result.blocks for line in b.lines for w in line.words]
        found = _pdf_words(page)
        assert [w for w, _ in found] == [w.text for w in words]
        assert " ".join(w for w, _ in found) == " ".join(" ".join(r["text"].split()) for r in result.records)
        height = page.get_size()[1]
        for (text, boxes), word in zip(found, words):
            x0, y0, x1, y1 = _xyxy(word.bbox)
            for left, bottom, right, top in boxes:
                cx, cy = (left + right) / 2 / k, height / k - (bottom + top) / 2 / k  # page pixels, y down
                assert x0 - 1 <= cx <= x1 + 1 and y0 - 1 <= cy <= y1 + 1, (text, word)


def test_blank_page_gives_valid_empty_documents(scans, recognizer, schemas, tmp_path):
    blank = str(scans[0] / "blank.png")
    for fmt in ("hocr", "alto", "page", "pdf"):
        (out,) = export_file(blank, recognizer, fmt, tmp_path / f"blank.{fmt}")
        if fmt in schemas:
            assert schemas[fmt].validate(etree.parse(str(out))), schemas[fmt].error_log
        elif fmt == "hocr":
            assert etree.parse(str(out)).getroot().find(f"{XHTML}body/{XHTML}div").get("class") == "ocr_page"
        else:
            pdf = pdfium.PdfDocument(str(out))
            assert len(pdf) == 1 and pdf[0].get_textpage().count_chars() == 0


def test_text_xml_cannot_hold_is_dropped_and_counted(schemas, caplog):
    word = Word("a\x01<b>&\ufffe", 0.9, (10, 10, 40, 20), ((10, 10), (50, 10), (50, 30), (10, 30)))
    line = TextLine(
        "a\x01<b>&\ufffe \x0bc",
        0.8,
        (10, 10, 80, 20),
        (10, 10, 80, 20, 0.0),
        (word, Word("\x0bc", 0.9, (60, 10, 20, 20), ((60, 10), (80, 10), (80, 30), (60, 30)))),
    )
    page = PageResult(
        "bad\x02name.png", 1, [], 200, 100, [TextBlock("text", (10, 10, 80, 20), (10, 10, 80, 20, 0.0), (line,))]
    )
    with caplog.at_level(logging.WARNING, logger="linerec.formats.xmltext"):
        hocr, alto, pagexml = (render(f, "bad\x02name.png", [page])[0] for f in ("hocr", "alto", "page"))
    assert b"a&lt;b&gt;&amp;" in hocr and b"\x01" not in hocr + alto + pagexml
    assert schemas["alto"].validate(etree.fromstring(alto)), schemas["alto"].error_log
    assert schemas["page"].validate(etree.fromstring(pagexml)), schemas["page"].error_log
    assert any("dropped" in r.getMessage() for r in caplog.records)


def test_command_line(scans, tmp_path, capsys, schemas):
    folder = scans[0]
    out = tmp_path / "one.alto.xml"
    assert main(["recognize", "--format", "alto", "--output", str(out), str(folder / "two.png")]) == 0
    assert schemas["alto"].validate(etree.parse(str(out)))
    many = tmp_path / "many"
    code = main(
        [
            "recognize",
            "--format",
            "page",
            "--output",
            str(many),
            str(folder / "two.tif"),
            str(folder / "missing.png"),
            str(folder / "blank.png"),
        ]
    )
    assert code == 1 and "missing.png: no such file" in capsys.readouterr().err
    assert sorted(p.name for p in many.iterdir()) == [
        "blank.png.page.xml",
        "two.tif_0001.page.xml",
        "two.tif_0002.page.xml",
    ]
    assert main(["recognize", "--format", "pdf", str(folder / "two.png")]) == 2  # no --output


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_recognize_words_reads_as_recognize(scans, recognizer, decoder):
    from linerec.vision.layout import analyze_page

    page = scans[1]
    crops = analyze_page(page).crops(page)[:10]
    words = recognizer.recognize_words(crops + [np.zeros((0, 5), np.uint8)], decoder=decoder)
    assert [(t, c) for t, c, _ in words] == recognizer.recognize(crops + [np.zeros((0, 5), np.uint8)], decoder=decoder)
    assert words[-1] == ("", 0.0, [])
    for (text, _, spans), crop in zip(words, crops):
        assert [s.text for s in spans] == text.split()
        edges = [v for s in spans for v in (s.x0, s.x1)]
        assert edges == sorted(edges) and 0 <= edges[0] and edges[-1] <= crop.shape[1]
