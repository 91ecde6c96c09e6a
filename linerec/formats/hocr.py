"""hOCR 1.2 (XHTML): ``ocr_page`` → ``ocr_carea`` → ``ocr_par`` → ``ocr_line`` → ``ocrx_word``.

Every element has a ``bbox x0 y0 x1 y1`` title (page pixels, corners inclusive-exclusive);
words carry ``x_wconf`` (confidence in percent) and pages ``image`` and ``ppageno`` (0-based).
A line's words are separated by a space inside the line's ``span``; a line without words holds
its text.
"""

from __future__ import annotations

from linerec.formats.xmltext import DECLARATION, Cleaner, attr, text

XHTML = "http://www.w3.org/1999/xhtml"
DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
)
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"


def _bbox(box) -> str:
    x, y, w, h = box
    return f"bbox {x} {y} {x + w} {y + h}"


def _word(clean: Cleaner, p: int, b: int, n: int, k: int, word) -> str:
    title = f"{_bbox(word.bbox)}; x_wconf {int(round(100 * word.confidence))}"
    return f'<span class="ocrx_word" id="word_{p}_{b}_{n}_{k}" title="{title}">{text(clean(word.text))}</span>'


def _line(clean: Cleaner, p: int, b: int, n: int, line) -> str:
    """One ``ocr_line`` span on one line of the document: its words separated by single spaces and
    no other whitespace, so the line's text content is its words'."""
    head = f'          <span class="ocr_line" id="line_{p}_{b}_{n}" title="{_bbox(line.bbox)}; x_size {line.rect[3]}"'
    words = line.words or ()
    if not words:
        return f"{head}>{text(clean(line.text))}</span>\n" if line.text else f"{head}/>\n"
    return f"{head}>{' '.join(_word(clean, p, b, n, k, w) for k, w in enumerate(words, start=1))}</span>\n"


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
    source = clean(name)
    out = [
        f'{DECLARATION}{DOCTYPE}\n<html xmlns="{XHTML}">\n  <head>\n    <title>{text(source)}</title>\n',
        '    <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n',
        f'    <meta name="ocr-system" content="{attr(clean(system))}"/>\n',
        f'    <meta name="ocr-capabilities" content="{CAPABILITIES}"/>\n  </head>\n',
        "  <body>\n" if pages else "  <body/>\n",
    ]
    image = source.replace('"', "")
    for page in pages:
        p = page.page
        title = f'image "{image}"; {_bbox((0, 0, page.width, page.height))}; ppageno {p - 1}'
        close = ">\n" if page.blocks else "/>\n"
        out.append(f'    <div class="ocr_page" id="page_{p}" title="{attr(title)}"{close}')
        for b, block in enumerate(page.blocks, start=1):
            box = _bbox(block.bbox)
            out.append(f'      <div class="ocr_carea" id="block_{p}_{b}" title="{box}">\n')
            close = ">\n" if block.lines else "/>\n"
            out.append(f'        <p class="ocr_par" id="par_{p}_{b}" title="{box}"{close}')
            out += [_line(clean, p, b, n, line) for n, line in enumerate(block.lines, start=1)]
            out.append("        </p>\n      </div>\n" if block.lines else "      </div>\n")
        if page.blocks:
            out.append("    </div>\n")
    if pages:
        out.append("  </body>\n")
    out.append("</html>\n")
    clean.report(name)
    return "".join(out).encode()
