"""The XML writers' escaping: whatever the text, each document parses back to exactly the cleaned
text, in element content and in attributes, and ALTO and PAGE XML stay valid (no model needed)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from lxml import etree

from linerec.document.model import TextBlock, TextLine, Word
from linerec.document.reader import PageResult
from linerec.formats.alto import to_alto
from linerec.formats.hocr import to_hocr
from linerec.formats.pagexml import to_page_xml
from linerec.formats.xmltext import Cleaner, attr, text

SCHEMAS = Path(__file__).parents[2] / "resources" / "schemas"
ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"
PAGE = "{http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15}"
XHTML = "{http://www.w3.org/1999/xhtml}"
# Markup, quotes, whitespace XML parsers normalize, characters XML cannot hold, non-BMP text.
ALPHABET = "aZ09 .,;:'\"&<>/\\\t\n\r\x00\x01\x0b\x1f\x7f\ud800\ufffe\uffffé€漢\U0001f600#&amp;]]>"


def _clean(value: str) -> str:
    return Cleaner()(value)


@pytest.fixture(scope="module")
def schemas():
    return {
        "alto": etree.XMLSchema(etree.parse(str(SCHEMAS / "alto-4-3.xsd"))),
        "page": etree.XMLSchema(etree.parse(str(SCHEMAS / "pagecontent.xsd"))),
    }


def _pages(seed: int) -> tuple[str, list[PageResult]]:
    rng = random.Random(seed)

    def s(n: int) -> str:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, n)))

    def box():
        return rng.randint(0, 300), rng.randint(0, 300), rng.randint(1, 100), rng.randint(1, 40)

    def polygon():
        return tuple((rng.randint(-5, 420), rng.randint(-5, 420)) for _ in range(4))

    pages = []
    for p in range(1, rng.randint(1, 3) + 1):
        blocks = []
        for _ in range(rng.randint(0, 3)):
            lines = tuple(
                TextLine(
                    s(30),
                    rng.random(),
                    box(),
                    (*box(), rng.uniform(-2, 2)),
                    tuple(Word(s(8), rng.random(), box(), polygon()) for _ in range(rng.randint(0, 4))),
                )
                for _ in range(rng.randint(1, 4))
            )
            blocks.append(TextBlock(rng.choice(["text", "table"]), box(), (*box(), 0.5), lines))
        pages.append(PageResult(s(10), p, [], 400, 400, blocks))
    return s(12), pages


@pytest.mark.parametrize("value", ["", "plain", 'a"b', "<&>", "\t\n\r", "]]>", "&amp;", "é€漢\U0001f600"])
def test_escaped_text_and_attributes_parse_back_as_given(value):
    doc = etree.fromstring(f'<r a="{attr(value)}">{text(value)}</r>'.encode())
    assert doc.get("a") == value and (doc.text or "") == value


@pytest.mark.parametrize("seed", range(40))
def test_documents_parse_back_to_the_cleaned_text(seed, schemas):
    name, pages = _pages(seed)
    alto = etree.fromstring(to_alto(name, pages, software=name, version=name))
    assert schemas["alto"].validate(alto), schemas["alto"].error_log
    assert (alto.find(f".//{ALTO}fileName").text or "") == _clean(name)
    assert (alto.find(f".//{ALTO}softwareVersion").text or "") == _clean(name)
    expected = []
    for page in pages:
        for block in page.blocks:
            for line in block.lines:
                words = [_clean(w.text) for w in line.words if _clean(w.text)]
                expected += words or ([_clean(line.text)] if _clean(line.text).strip() else [])
    assert [s.get("CONTENT") for s in alto.iter(f"{ALTO}String")] == expected

    hocr = etree.fromstring(to_hocr(name, pages, system=name))
    assert (hocr.find(f"{XHTML}head/{XHTML}title").text or "") == _clean(name)
    page_divs = hocr.findall(f"{XHTML}body/{XHTML}div")
    assert [d.get("class") for d in page_divs] == ["ocr_page"] * len(pages)
    for div in page_divs:
        assert div.get("title").startswith(f'image "{_clean(name).replace(chr(34), "")}"; bbox 0 0 400 400')
    spans = [s for s in hocr.iter(f"{XHTML}span") if s.get("class") == "ocr_line"]
    lines = [line for page in pages for block in page.blocks for line in block.lines]
    assert len(spans) == len(lines)
    for span, line in zip(spans, lines):
        if line.words:
            assert [w.text or "" for w in span] == [_clean(w.text) for w in line.words]
            assert "".join(w.tail or "" for w in span) == " " * (len(line.words) - 1)
        else:
            assert (span.text or "") == _clean(line.text)

    for page in pages:
        doc = etree.fromstring(to_page_xml(name, page, creator=name))
        assert schemas["page"].validate(doc), schemas["page"].error_log
        assert doc.find(f"{PAGE}Page").get("imageFilename") == _clean(name)
        assert (doc.find(f"{PAGE}Metadata/{PAGE}Creator").text or "") == _clean(name)
        page_lines = [line for block in page.blocks for line in block.lines]
        found = [tl.find(f"{PAGE}TextEquiv/{PAGE}Unicode").text or "" for tl in doc.iter(f"{PAGE}TextLine")]
        assert found == [_clean(line.text) for line in page_lines]
        words = [w.find(f"{PAGE}TextEquiv/{PAGE}Unicode").text or "" for w in doc.iter(f"{PAGE}Word")]
        assert words == [_clean(w.text) for line in page_lines for w in line.words]
