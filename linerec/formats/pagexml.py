"""PAGE XML 2019-07-15: one ``PcGts`` a page; ``TextRegion`` → ``TextLine`` → ``Word``, polygons as
``Coords points``, ``TextEquiv`` with ``conf``, and a ``ReadingOrder`` of the regions. Valid against
the official ``pagecontent.xsd``.
"""

from __future__ import annotations

import datetime as dt

from linerec.formats.xmltext import DECLARATION, Cleaner, attr, text

PAGE = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LOCATION = f"{PAGE} {PAGE}/pagecontent.xsd"
_ROOT = f'{DECLARATION}<PcGts xmlns="{PAGE}" xmlns:xsi="{XSI}" xsi:schemaLocation="{LOCATION}">\n'


def _points(polygon, width: int, height: int) -> str:
    """``x,y`` pairs clipped to the page (``Coords`` cannot point outside the image)."""
    w, h = width - 1, height - 1
    return " ".join([f"{0 if x < 0 else w if x > w else x},{0 if y < 0 else h if y > h else y}" for x, y in polygon])


def _equiv(out: list[str], indent: str, cleaned: str, conf: float | None = None) -> None:
    attrs = "" if conf is None else f' conf="{min(max(conf, 0.0), 1.0):.4f}"'
    out.append(f"{indent}<TextEquiv{attrs}>\n{indent}  <Unicode>{text(cleaned)}</Unicode>\n{indent}</TextEquiv>\n")


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
    w, h, p = page.width, page.height, page.page
    out = [
        _ROOT,
        f"  <Metadata>\n    <Creator>{text(clean(creator))}</Creator>\n",
        f"    <Created>{stamp}</Created>\n    <LastChange>{stamp}</LastChange>\n  </Metadata>\n",
        f'  <Page imageFilename="{attr(clean(name))}" imageWidth="{w}" imageHeight="{h}"',
    ]
    if not page.blocks:
        out.append("/>\n</PcGts>\n")
        clean.report(name)
        return "".join(out).encode()
    out.append(f'>\n    <ReadingOrder>\n      <OrderedGroup id="ro_{p}">\n')
    out += [f'        <RegionRefIndexed index="{b}" regionRef="r_{p}_{b + 1}"/>\n' for b in range(len(page.blocks))]
    out.append("      </OrderedGroup>\n    </ReadingOrder>\n")
    for b, block in enumerate(page.blocks, start=1):
        kind = 'type="other" custom="structure {type:table;}"' if block.kind == "table" else 'type="paragraph"'
        out.append(f'    <TextRegion id="r_{p}_{b}" {kind}>\n      <Coords points="{_points(block.polygon, w, h)}"/>\n')
        texts = []
        for n, line in enumerate(block.lines, start=1):
            points = _points(line.polygon, w, h)
            out.append(f'      <TextLine id="l_{p}_{b}_{n}">\n        <Coords points="{points}"/>\n')
            for k, word in enumerate(line.words, start=1):
                out.append(
                    f'        <Word id="w_{p}_{b}_{n}_{k}">\n'
                    f'          <Coords points="{_points(word.polygon, w, h)}"/>\n'
                )
                _equiv(out, "          ", clean(word.text), word.confidence)
                out.append("        </Word>\n")
            texts.append(clean(line.text))
            _equiv(out, "        ", texts[-1], line.confidence)
            out.append("      </TextLine>\n")
        _equiv(out, "      ", "\n".join(texts))
        out.append("    </TextRegion>\n")
    out.append("  </Page>\n</PcGts>\n")
    clean.report(name)
    return "".join(out).encode()
