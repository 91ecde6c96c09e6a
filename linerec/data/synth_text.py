"""Text content and single-line rendering for the synthetic page generator.

Content mixes English prose from ``corpus_en.txt`` with seeded ``faker`` names,
addresses, dates, amounts and reference numbers, restricted to printable ASCII.
"""

from __future__ import annotations

import datetime as dt
import logging
import pathlib

import numpy as np
from faker import Faker
from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

CORPUS_PATH = pathlib.Path(__file__).with_name("corpus_en.txt")
INK_LEVEL = 200  # clean pixels darker than this count as ink
_TALL, _DEEP = "Hdbfhklt", "gjpqy"  # glyphs whose extents define a line's vertical span
_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")
_HEADINGS = ("Notice", "Statement of Account", "Invoice", "Minutes of the Meeting", "Receipt",
             "Order Confirmation", "Annual Report", "Memorandum", "Delivery Note", "Payment Reminder")


def load_sentences(path: pathlib.Path = CORPUS_PATH) -> list[str]:
    """Read the prose corpus: one sentence per line, ``#`` lines are comments.

    Parameters
    ----------
    path : pathlib.Path, optional
        Corpus file, by default the ``corpus_en.txt`` shipped next to this module.

    Returns
    -------
    list of str
        The sentences in file order.
    """
    lines = path.read_text(encoding="ascii").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ascii(text: str) -> str:
    return " ".join("".join(c for c in text if " " <= c <= "~").split())


class TextSource:
    """Seeded generator of text blocks (lists of strings to be wrapped into lines).

    Parameters
    ----------
    seed : int
        Seed for ``faker``.
    rng : numpy.random.Generator
        Generator for every other random choice (shared with the caller).
    """

    def __init__(self, seed: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.sentences = load_sentences()
        self.words = sorted({w.strip('.,;:"?!()').lower() for s in self.sentences for w in s.split()} - {""})

    def _pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def date(self) -> str:
        """A date between 1985 and 2023 in one of several common formats."""
        d = dt.date(1985, 1, 1) + dt.timedelta(days=int(self.rng.integers(0, 14000)))
        month = _MONTHS[d.month - 1]
        return self._pick((f"{month} {d.day}, {d.year}", f"{d.day:02d}/{d.month:02d}/{d.year}",
                           d.isoformat(), f"{d.day} {month[:3]}. {d.year}", f"{d.month}/{d.day}/{d.year % 100:02d}"))

    def amount(self) -> str:
        """A money amount such as ``$1,234.56``."""
        v = float(self.rng.lognormal(4.0, 1.6))
        return self._pick((f"${v:,.2f}", f"{v:,.2f} USD", f"EUR {v:.2f}", f"$ {v:.2f}"))

    def block(self) -> list[str]:
        """One block of text: an address, form fields, item lines, a heading or prose."""
        f, rng, kind = self.fake, self.rng, int(self.rng.integers(7))
        if kind == 0:
            lines = [f.name(), f.street_address(), f"{f.city()}, {f.state_abbr()} {f.zipcode()}"]
            if rng.random() < 0.5:
                lines.append(f"Phone: {f.phone_number()}")
        elif kind == 1:
            fields = (("Date:", self.date), ("Due date:", self.date), ("Amount:", self.amount),
                      ("Invoice No.", lambda: str(int(rng.integers(1000, 999999)))),
                      ("Account #", lambda: f.bothify("??-#####").upper()), ("Customer:", f.name),
                      ("Email:", f.email), ("Company:", f.company), ("Ref:", lambda: f.bothify("###-???-##")))
            picks = rng.choice(len(fields), size=int(rng.integers(2, 5)), replace=False)
            lines = [f"{fields[i][0]} {fields[i][1]()}" for i in picks]
        elif kind == 2:
            lines = []
            for _ in range(int(rng.integers(2, 6))):
                desc = " ".join(self._pick(self.words) for _ in range(int(rng.integers(1, 4))))
                lines.append(f"{int(rng.integers(1, 50))} x {desc.capitalize()}  {self.amount()}")
        elif kind == 3:
            title = self._pick(_HEADINGS) if rng.random() < 0.7 else f.company()
            lines = [title.upper() if rng.random() < 0.5 else title]
        else:
            start, count = int(rng.integers(len(self.sentences))), int(rng.integers(2, 6))
            text = " ".join(self.sentences[(start + i) % len(self.sentences)] for i in range(count))
            lines = [text.upper() if rng.random() < 0.08 else text]
        return [t for t in (_ascii(line) for line in lines) if t]


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedily wrap ``text`` into lines no wider than ``width`` pixels.

    Parameters
    ----------
    text : str
        Text to wrap; runs of whitespace become single spaces.
    font : PIL.ImageFont.FreeTypeFont
        Font used to measure the text.
    width : int
        Maximum line width in pixels; over-long single words are cut.

    Returns
    -------
    list of str
        Non-empty lines.
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    for i, line in enumerate(lines):
        while len(line) > 1 and font.getlength(line) > width:
            line = line[:-1].rstrip()
        lines[i] = line
    return lines


def draw_text(text: str, font: ImageFont.FreeTypeFont) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Render black text on a white canvas and measure its line box.

    The text's baseline is at ``y = 2 * font.size`` and its origin at
    ``x = font.size``; the canvas is ``3 * font.size`` pixels high.

    Parameters
    ----------
    text : str
        One line of text.
    font : PIL.ImageFont.FreeTypeFont
        Font to render with.

    Returns
    -------
    canvas : numpy.ndarray
        ``uint8`` image, 255 = paper, 0 = ink.
    box : tuple of int or None
        ``(x0, y0, x1, y1)`` (exclusive end) tight around the ink horizontally and
        spanning at least ascender top to descender bottom vertically; ``None`` if
        nothing is inked.
    """
    size = int(font.size)
    image = Image.new("L", (int(font.getlength(text)) + 2 * size, 3 * size), 255)
    baseline = 2 * size
    ImageDraw.Draw(image).text((size, baseline), text, font=font, fill=0, anchor="ls")
    canvas = np.asarray(image)
    ink = canvas < INK_LEVEL
    cols, rows = np.flatnonzero(ink.any(axis=0)), np.flatnonzero(ink.any(axis=1))
    if cols.size == 0:
        return canvas, None
    top = min(int(rows[0]), baseline + int(font.getbbox(_TALL, anchor="ls")[1]))
    bottom = max(int(rows[-1]) + 1, baseline + int(font.getbbox(_DEEP, anchor="ls")[3]))
    return canvas, (int(cols[0]), top, int(cols[-1]) + 1, bottom)
