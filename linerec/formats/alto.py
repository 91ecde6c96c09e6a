"""ALTO 4.3: ``Page`` → ``PrintSpace`` → ``TextBlock`` → ``TextLine`` → ``String`` / ``SP``.

Positions in pixels (``MeasurementUnit`` pixel); ``WC`` is a word's confidence in [0, 1]. Valid
against the official ``alto-4-3.xsd``.
"""

from __future__ import annotations

from lxml import etree

from linerec.formats.xmltext import Cleaner

ALTO = "http://www.loc.gov/standards/alto/ns-v4#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LOCATION = f"{ALTO} http://www.loc.gov/standards/alto/v4/alto-4-3.xsd"


def _pos(box) -> dict[str, str]:
    x, y, w, h = box
    return {"HPOS": str(x), "VPOS": str(y), "WIDTH": str(w), "HEIGHT": str(h)}


def _sub(parent, tag: str, attrs: dict | None = None, text: str | None = None):
    el = etree.SubElement(parent, f"{{{ALTO}}}{tag}", attrs or {})
    el.text = text
    return el


def to_alto(name: str, pages, software: str = "linerec", version: str = "") -> bytes:
    """ALTO XML of recognized pages (one ``Page`` each).

    Parameters
    ----------
    name : str
        The source file (``sourceImageInformation/fileName``).
    pages : list of linerec.document.reader.PageResult
        Pages with their blocks.
    software, version : str
        ``processingSoftware`` name and version (the model's).

    Returns
    -------
    bytes
        UTF-8 XML.
    """
    clean = Cleaner()
    root = etree.Element(
        f"{{{ALTO}}}alto",
        {f"{{{XSI}}}schemaLocation": LOCATION, "SCHEMAVERSION": "4.3"},
        nsmap={None: ALTO, "xsi": XSI},
    )
    desc = _sub(root, "Description")
    _sub(desc, "MeasurementUnit", text="pixel")
    _sub(_sub(desc, "sourceImageInformation"), "fileName", text=clean(name))
    sw = _sub(_sub(desc, "Processing", {"ID": "processing_1"}), "processingSoftware")
    _sub(sw, "softwareName", text=clean(software))
    if version:
        _sub(sw, "softwareVersion", text=clean(version))
    layout = _sub(root, "Layout")
    for page in pages:
        p = page.page
        el = _sub(
            layout,
            "Page",
            {"ID": f"page_{p}", "PHYSICAL_IMG_NR": str(p), "WIDTH": str(page.width), "HEIGHT": str(page.height)},
        )
        space = _sub(el, "PrintSpace", _pos((0, 0, page.width, page.height)))
        for b, block in enumerate(page.blocks, start=1):
            tb = _sub(space, "TextBlock", {"ID": f"block_{p}_{b}", **_pos(block.bbox)})
            for n, line in enumerate(block.lines, start=1):
                words = [(w.text, w.confidence, w.bbox) for w in line.words if clean(w.text)] or (
                    [(line.text, line.confidence, line.bbox)] if clean(line.text).strip() else []
                )
                if not words:  # a TextLine needs a String
                    continue
                tl = _sub(tb, "TextLine", {"ID": f"line_{p}_{b}_{n}", **_pos(line.bbox)})
                for k, (text, conf, box) in enumerate(words, start=1):
                    if k > 1:
                        _sub(tl, "SP")
                    _sub(
                        tl,
                        "String",
                        {
                            "ID": f"word_{p}_{b}_{n}_{k}",
                            "CONTENT": clean(text),
                            **_pos(box),
                            "WC": f"{min(max(conf, 0.0), 1.0):.4f}",
                        },
                    )
    clean.report(name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
