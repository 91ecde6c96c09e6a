"""PAGE XML 2019-07-15: one ``PcGts`` a page; ``TextRegion`` → ``TextLine`` → ``Word``, polygons as
``Coords points``, ``TextEquiv`` with ``conf``, and a ``ReadingOrder`` of the regions. Valid against
the official ``pagecontent.xsd``.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from linerec.formats.xmltext import Cleaner

PAGE = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LOCATION = f"{PAGE} {PAGE}/pagecontent.xsd"


def _sub(parent, tag: str, attrs: dict | None = None, text: str | None = None):
    el = etree.SubElement(parent, f"{{{PAGE}}}{tag}", attrs or {})
    el.text = text
    return el


def _points(polygon, width: int, height: int) -> str:
    return " ".join(f"{min(max(x, 0), width - 1)},{min(max(y, 0), height - 1)}" for x, y in polygon)


def _equiv(parent, text: str, conf: float | None = None) -> None:
    attrs = {} if conf is None else {"conf": f"{min(max(conf, 0.0), 1.0):.4f}"}
    _sub(_sub(parent, "TextEquiv", attrs), "Unicode", text=text)


def to_page_xml(name: str, page, creator: str = "linerec", created: dt.datetime | None = None) -> bytes:
    """PAGE XML of one recognized page.

    Parameters
    ----------
    name : str
        The page image (``imageFilename``).
    page : linerec.document.reader.PageResult
        The page with its blocks.
    creator : str
        ``Metadata/Creator``.
    created : datetime, optional
        ``Created`` and ``LastChange``; now (UTC) by default.

    Returns
    -------
    bytes
        UTF-8 XML.
    """
    clean = Cleaner()
    stamp = (created or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    root = etree.Element(f"{{{PAGE}}}PcGts", {f"{{{XSI}}}schemaLocation": LOCATION}, nsmap={None: PAGE, "xsi": XSI})
    meta = _sub(root, "Metadata")
    _sub(meta, "Creator", text=clean(creator))
    _sub(meta, "Created", text=stamp)
    _sub(meta, "LastChange", text=stamp)
    w, h, p = page.width, page.height, page.page
    el = _sub(root, "Page", {"imageFilename": clean(name), "imageWidth": str(w), "imageHeight": str(h)})
    if page.blocks:
        group = _sub(_sub(el, "ReadingOrder"), "OrderedGroup", {"id": f"ro_{p}"})
        for b in range(1, len(page.blocks) + 1):
            _sub(group, "RegionRefIndexed", {"index": str(b - 1), "regionRef": f"r_{p}_{b}"})
    for b, block in enumerate(page.blocks, start=1):
        attrs = {"id": f"r_{p}_{b}", "type": "paragraph"}
        if block.kind == "table":
            attrs = {"id": f"r_{p}_{b}", "type": "other", "custom": "structure {type:table;}"}
        region = _sub(el, "TextRegion", attrs)
        _sub(region, "Coords", {"points": _points(block.polygon, w, h)})
        for n, line in enumerate(block.lines, start=1):
            tl = _sub(region, "TextLine", {"id": f"l_{p}_{b}_{n}"})
            _sub(tl, "Coords", {"points": _points(line.polygon, w, h)})
            for k, word in enumerate(line.words, start=1):
                we = _sub(tl, "Word", {"id": f"w_{p}_{b}_{n}_{k}"})
                _sub(we, "Coords", {"points": _points(word.polygon, w, h)})
                _equiv(we, clean(word.text), word.confidence)
            _equiv(tl, clean(line.text), line.confidence)
        _equiv(region, "\n".join(clean(line.text) for line in block.lines))
    clean.report(name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
