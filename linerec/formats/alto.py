"""ALTO 4.3: ``Page`` → ``PrintSpace`` → ``TextBlock`` → ``TextLine`` → ``String`` / ``SP``.

Positions in pixels (``MeasurementUnit`` pixel); ``WC`` is a word's confidence in [0, 1]. Valid
against the official ``alto-4-3.xsd``.
"""

from __future__ import annotations

from linerec.formats.xmltext import DECLARATION, Cleaner, attr, text

ALTO = "http://www.loc.gov/standards/alto/ns-v4#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LOCATION = f"{ALTO} http://www.loc.gov/standards/alto/v4/alto-4-3.xsd"
_ROOT = f'{DECLARATION}<alto xmlns="{ALTO}" xmlns:xsi="{XSI}" xsi:schemaLocation="{LOCATION}" SCHEMAVERSION="4.3">\n'


def _pos(box) -> str:
    x, y, w, h = box
    return f'HPOS="{x}" VPOS="{y}" WIDTH="{w}" HEIGHT="{h}"'


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
    out = [
        _ROOT,
        "  <Description>\n    <MeasurementUnit>pixel</MeasurementUnit>\n",
        "    <sourceImageInformation>\n",
        f"      <fileName>{text(clean(name))}</fileName>\n    </sourceImageInformation>\n",
        '    <Processing ID="processing_1">\n      <processingSoftware>\n',
        f"        <softwareName>{text(clean(software))}</softwareName>\n",
    ]
    if version:
        out.append(f"        <softwareVersion>{text(clean(version))}</softwareVersion>\n")
    out.append("      </processingSoftware>\n    </Processing>\n  </Description>\n")
    out.append("  <Layout>\n" if pages else "  <Layout/>\n")
    for page in pages:
        p = page.page
        box = (0, 0, page.width, page.height)
        out.append(f'    <Page ID="page_{p}" PHYSICAL_IMG_NR="{p}" WIDTH="{page.width}" HEIGHT="{page.height}">\n')
        out.append(f"      <PrintSpace {_pos(box)}" + (">\n" if page.blocks else "/>\n"))
        for b, block in enumerate(page.blocks, start=1):
            head = f'        <TextBlock ID="block_{p}_{b}" {_pos(block.bbox)}'
            lines = []
            for n, line in enumerate(block.lines, start=1):
                words = [(cleaned, w.confidence, w.bbox) for w in line.words if (cleaned := clean(w.text))]
                if not words:
                    cleaned = clean(line.text)
                    words = [(cleaned, line.confidence, line.bbox)] if cleaned.strip() else []
                if not words:  # a TextLine needs a String
                    continue
                lines.append(f'          <TextLine ID="line_{p}_{b}_{n}" {_pos(line.bbox)}>\n')
                for k, (content, conf, wbox) in enumerate(words, start=1):
                    if k > 1:
                        lines.append("            <SP/>\n")
                    lines.append(
                        f'            <String ID="word_{p}_{b}_{n}_{k}" CONTENT="{attr(content)}" {_pos(wbox)} '
                        f'WC="{min(max(conf, 0.0), 1.0):.4f}"/>\n'
                    )
                lines.append("          </TextLine>\n")
            if lines:
                out += [head, ">\n", *lines, "        </TextBlock>\n"]
            else:
                out += [head, "/>\n"]
        if page.blocks:
            out.append("      </PrintSpace>\n")
        out.append("    </Page>\n")
    if pages:
        out.append("  </Layout>\n")
    out.append("</alto>\n")
    clean.report(name)
    return "".join(out).encode()
