"""hOCR 1.2 (XHTML): ``ocr_page`` → ``ocr_carea`` → ``ocr_par`` → ``ocr_line`` → ``ocrx_word``.

Every element has a ``bbox x0 y0 x1 y1`` title (page pixels, corners inclusive-exclusive);
words carry ``x_wconf`` (confidence in percent) and pages ``image`` and ``ppageno`` (0-based).
"""

from __future__ import annotations

from lxml import etree

from linerec.formats.xmltext import Cleaner

XHTML = "http://www.w3.org/1999/xhtml"
DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
)
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"


def _bbox(box) -> str:
    x, y, w, h = box
    return f"bbox {x} {y} {x + w} {y + h}"


def _el(parent, tag: str, cls: str, ident: str, title: str):
    return etree.SubElement(parent, f"{{{XHTML}}}{tag}", {"class": cls, "id": ident, "title": title})


def to_hocr(name: str, pages, system: str = "linerec") -> bytes:
    """hOCR of recognized pages.

    Parameters
    ----------
    name : str
        The source file (the pages' ``image``).
    pages : list of linerec.document.reader.PageResult
        Pages with their blocks (words from ``recognize_pages(..., words=True)``).
    system : str
        The ``ocr-system`` meta value.

    Returns
    -------
    bytes
        UTF-8 XHTML.
    """
    clean = Cleaner()
    html = etree.Element(f"{{{XHTML}}}html", nsmap={None: XHTML})
    head = etree.SubElement(html, f"{{{XHTML}}}head")
    etree.SubElement(head, f"{{{XHTML}}}title").text = clean(name)
    etree.SubElement(head, f"{{{XHTML}}}meta", {"http-equiv": "Content-Type", "content": "text/html;charset=utf-8"})
    etree.SubElement(head, f"{{{XHTML}}}meta", {"name": "ocr-system", "content": clean(system)})
    etree.SubElement(head, f"{{{XHTML}}}meta", {"name": "ocr-capabilities", "content": CAPABILITIES})
    body = etree.SubElement(html, f"{{{XHTML}}}body")
    image = clean(name).replace('"', "")
    for page in pages:
        p = page.page
        div = _el(
            body,
            "div",
            "ocr_page",
            f"page_{p}",
            f'image "{image}"; {_bbox((0, 0, page.width, page.height))}; ppageno {p - 1}',
        )
        for b, block in enumerate(page.blocks, start=1):
            area = _el(div, "div", "ocr_carea", f"block_{p}_{b}", _bbox(block.bbox))
            par = _el(area, "p", "ocr_par", f"par_{p}_{b}", _bbox(block.bbox))
            for n, line in enumerate(block.lines, start=1):
                span = _el(par, "span", "ocr_line", f"line_{p}_{b}_{n}", f"{_bbox(line.bbox)}; x_size {line.rect[3]}")
                words = line.words or ()
                if not words and line.text:
                    span.text = clean(line.text)
                for k, word in enumerate(words, start=1):
                    w = _el(
                        span,
                        "span",
                        "ocrx_word",
                        f"word_{p}_{b}_{n}_{k}",
                        f"{_bbox(word.bbox)}; x_wconf {int(round(100 * word.confidence))}",
                    )
                    w.text = clean(word.text)
                    w.tail = " " if k < len(words) else None
    clean.report(name)
    return etree.tostring(html, xml_declaration=True, encoding="UTF-8", doctype=DOCTYPE, pretty_print=True)
