"""Text content and single-line rendering for the synthetic page generator.

Content mixes English prose from ``corpus_en.txt`` with seeded ``faker`` names,
addresses, dates, amounts and reference numbers, restricted to printable ASCII.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import pathlib
from typing import NamedTuple

import numpy as np
from faker import Faker
from PIL import Image, ImageDraw, ImageFont

from linerec.synth.text_kinds import MONTHS

logger = logging.getLogger(__name__)

CORPUS_PATH = pathlib.Path(__file__).with_name("corpus_en.txt")
INK_LEVEL = 200  # clean pixels darker than this count as ink
_TALL, _DEEP = "Hdbfhklt", "gjpqy"  # glyphs whose extents define a line's vertical span
HEADINGS = (
    "Notice",
    "Statement of Account",
    "Invoice",
    "Minutes of the Meeting",
    "Receipt",
    "Order Confirmation",
    "Annual Report",
    "Memorandum",
    "Delivery Note",
    "Payment Reminder",
)


@functools.lru_cache(maxsize=4)
def _corpus(path: pathlib.Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sentences and sorted lower-case vocabulary of a corpus file (read once)."""
    sentences = tuple(load_sentences(path))
    words = sorted({w.strip('.,;:"?!()').lower() for s in sentences for w in s.split()} - {""})
    return sentences, tuple(words)


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
        sentences, words = _corpus(CORPUS_PATH)
        self.sentences, self.words = list(sentences), list(words)

    def _pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def date(self) -> str:
        """A date between 1985 and 2023 in one of several common formats."""
        d = dt.date(1985, 1, 1) + dt.timedelta(days=int(self.rng.integers(0, 14000)))
        month = MONTHS[d.month - 1]
        return self._pick(
            (
                f"{month} {d.day}, {d.year}",
                f"{d.day:02d}/{d.month:02d}/{d.year}",
                d.isoformat(),
                f"{d.day} {month[:3]}. {d.year}",
                f"{d.month}/{d.day}/{d.year % 100:02d}",
            )
        )

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
            fields = (
                ("Date:", self.date),
                ("Due date:", self.date),
                ("Amount:", self.amount),
                ("Invoice No.", lambda: str(int(rng.integers(1000, 999999)))),
                ("Account #", lambda: f.bothify("??-#####").upper()),
                ("Customer:", f.name),
                ("Email:", f.email),
                ("Company:", f.company),
                ("Ref:", lambda: f.bothify("###-???-##")),
            )
            picks = rng.choice(len(fields), size=int(rng.integers(2, 5)), replace=False)
            lines = [f"{fields[i][0]} {fields[i][1]()}" for i in picks]
        elif kind == 2:
            lines = []
            for _ in range(int(rng.integers(2, 6))):
                desc = " ".join(self._pick(self.words) for _ in range(int(rng.integers(1, 4))))
                lines.append(f"{int(rng.integers(1, 50))} x {desc.capitalize()}  {self.amount()}")
        elif kind == 3:
            title = self._pick(HEADINGS) if rng.random() < 0.7 else f.company()
            lines = [title.upper() if rng.random() < 0.5 else title]
        else:
            start, count = int(rng.integers(len(self.sentences))), int(rng.integers(2, 6))
            text = " ".join(self.sentences[(start + i) % len(self.sentences)] for i in range(count))
            lines = [text.upper() if rng.random() < 0.08 else text]
        return [t for t in (_ascii(line) for line in lines) if t]


#: Kinds of synthetic scanned documents.
DOC_KINDS = ("letter", "invoice", "form", "figures", "report")
_SALUTATIONS = (
    "Dear {title} {last},",
    "Dear {title} {last}:",
    "Dear {first},",
    "Dear Sir or Madam,",
    "To whom it may concern:",
    "Dear Customer,",
)
_CLOSINGS = (
    "Sincerely,",
    "Yours sincerely,",
    "Yours faithfully,",
    "Best regards,",
    "Kind regards,",
    "Respectfully,",
    "With thanks,",
)
_FORM_TITLES = (
    "APPLICATION FORM",
    "Change of Address",
    "Patient Registration Form",
    "Insurance Claim",
    "Membership Application",
    "Employee Information Sheet",
    "Vehicle Registration",
    "Request for Refund",
    "Booking Confirmation",
    "Warranty Registration Card",
)
_FORM_FIELDS = (
    ("Full name", "name"),
    ("Date of birth", "date"),
    ("Street address", "street_address"),
    ("City", "city"),
    ("State", "state_abbr"),
    ("ZIP code", "zipcode"),
    ("Telephone", "phone_number"),
    ("E-mail", "email"),
    ("Employer", "company"),
    ("Occupation", "job"),
    ("Policy No.", "policy"),
    ("Account number", "account"),
    ("Amount claimed", "amount"),
    ("Date signed", "date"),
    ("Reference", "ref"),
    ("Place of birth", "city"),
    ("Emergency contact", "name"),
    ("Vehicle ID", "vin"),
    ("License plate", "plate"),
    ("Member since", "date"),
)
SECTIONS = (
    "Introduction",
    "Background",
    "Summary of Findings",
    "Methods",
    "Results",
    "Discussion",
    "Financial Overview",
    "Operations",
    "Outlook",
    "Recommendations",
    "Conclusion",
    "Appendix",
)
_ROW_LABELS = (
    "North",
    "South",
    "East",
    "West",
    "Central",
    "Overseas",
    "Retail",
    "Wholesale",
    "Online",
    "Services",
    "Parts",
    "Labor",
    "Freight",
    "Materials",
    "Salaries",
    "Rent",
    "Utilities",
    "Insurance",
    "Marketing",
    "Travel",
    "Training",
    "Equipment",
    "Repairs",
    "Other",
)
_COL_HEADS = (
    "Q1",
    "Q2",
    "Q3",
    "Q4",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "Total",
    "Budget",
    "Actual",
    "Change",
    "Units",
    "Avg.",
    "Min.",
    "Max.",
    "% of total",
    "Prior yr",
)


class Item(NamedTuple):
    """One layout element of a synthetic document page.

    ``kind`` is ``"heading"`` (one line at ``scale`` times the body size),
    ``"line"`` (one line, cut to fit), ``"para"`` (wrapped text, first line
    indented by ``indent`` of the text width), ``"table"`` (``rows`` of cells,
    the first row the header; ``align`` holds one ``"l"``/``"r"`` per column)
    or ``"gap"`` (``scale`` empty lines).
    """

    kind: str
    text: str = ""
    align: str = "left"  # "left", "right" or "center"; per column for tables
    indent: float = 0.0
    scale: float = 1.0
    rows: tuple = ()


class DocumentSource(TextSource):
    """Seeded content of whole documents (letters, invoices, forms, tables, reports).

    Parameters
    ----------
    seed : int
        Seed for ``faker``.
    rng : numpy.random.Generator
        Generator for every other random choice.
    """

    def sentence(self) -> str:
        """A corpus sentence or a templated one with names, dates, amounts and numbers."""
        f, rng = self.fake, self.rng
        if rng.random() < 0.6:
            return self._pick(self.sentences)
        n = int(rng.integers(2, 480))
        templates = (
            f"Payment of {self.amount()} was received on {self.date()}.",
            f"Please contact {f.name()} at {f.phone_number()} for details.",
            f"Our office at {f.street_address()}, {f.city()}, will be closed on {self.date()}.",
            f"A total of {n} units were shipped (order no. {f.bothify('??-####').upper()}).",
            f"The balance of {self.amount()} is due by {self.date()}; late fees may apply.",
            f"{f.company()} reported {rng.uniform(-20, 40):.1f}% growth in net sales.",
            f"Send questions to {f.email()} or call {f.phone_number()}.",
            f"See section {int(rng.integers(1, 12))}.{int(rng.integers(1, 9))} and the notes on page {n % 40 + 1}.",
            f"Meeting minutes: {f.name()} (chair), {f.name()}, and {f.name()} attended.",
        )
        return self._pick(templates)

    def paragraph(self, lo: int = 2, hi: int = 6) -> str:
        """Between ``lo`` and ``hi`` sentences."""
        return " ".join(self.sentence() for _ in range(int(self.rng.integers(lo, hi + 1))))

    def _value(self, key: str) -> str:
        f = self.fake
        special = {
            "date": self.date,
            "amount": self.amount,
            "policy": lambda: f.bothify("??######").upper(),
            "account": lambda: f.bothify("####-####-##"),
            "ref": lambda: f.bothify("REF-###/??").upper(),
            "vin": lambda: f.bothify("1??#?##?#??######").upper(),
            "plate": lambda: f.bothify("???-####").upper(),
        }
        return special[key]() if key in special else str(getattr(f, key)())

    def address(self, with_company: bool) -> list[str]:
        """A postal address: a name, maybe a company, the street, city, state and ZIP code."""
        f = self.fake
        lines = [f.name()] + ([f.company()] if with_company else [])
        return lines + [f.street_address(), f"{f.city()}, {f.state_abbr()} {f.zipcode()}"]

    def _money(self, value: float, symbol: bool) -> str:
        return f"${value:,.2f}" if symbol else f"{value:,.2f}"

    def letter(self, first: bool) -> list[Item]:
        """A business letter; later pages hold only prose and the closing."""
        f, rng, items = self.fake, self.rng, []
        if first:
            align = "right" if rng.random() < 0.4 else "left"
            items += [Item("line", t, align) for t in self.address(rng.random() < 0.6)]
            if rng.random() < 0.5:
                items.append(Item("line", f"Tel. {f.phone_number()}", align))
            items += [Item("gap", scale=1.0), Item("line", self.date(), align), Item("gap", scale=1.0)]
            items += [Item("line", t) for t in self.address(rng.random() < 0.5)]
            items.append(Item("gap", scale=1.0))
            if rng.random() < 0.5:
                items += [Item("line", f"Re: {self._pick(HEADINGS)} {f.bothify('#####')}"), Item("gap")]
            title = self._pick(("Mr.", "Ms.", "Mrs.", "Dr."))
            salutation = self._pick(_SALUTATIONS).format(title=title, first=f.first_name(), last=f.last_name())
            items += [Item("line", salutation), Item("gap", scale=0.5)]
        indent = 0.05 if rng.random() < 0.4 else 0.0
        for _ in range(int(rng.integers(2, 6))):
            items += [Item("para", self.paragraph(), indent=indent), Item("gap", scale=0.6)]
        items += [Item("line", self._pick(_CLOSINGS)), Item("gap", scale=2.0), Item("line", f.name())]
        if rng.random() < 0.6:
            items.append(Item("line", f.job()))
        return items

    def invoice(self, first: bool) -> list[Item]:
        """An invoice: header fields, an item table (qty, description, prices) and totals."""
        f, rng, items = self.fake, self.rng, []
        if first:
            items += [
                Item(
                    "heading",
                    self._pick(("INVOICE", "Invoice", "TAX INVOICE", "Statement")),
                    self._pick(("left", "center")),
                    scale=float(rng.uniform(1.3, 1.8)),
                )
            ]
            items += [Item("line", t) for t in self.address(True)[1:]] + [Item("gap", scale=0.8)]
            items += [
                Item("line", f"Invoice No.: {f.bothify('INV-######')}"),
                Item("line", f"Date: {self.date()}"),
                Item("line", f"Due date: {self.date()}"),
                Item("line", f"Customer ID: {f.bothify('C-#####')}"),
            ]
            items += [Item("gap", scale=0.8), Item("line", "Bill to:")]
            items += [Item("line", t, indent=0.05) for t in self.address(rng.random() < 0.5)]
            items.append(Item("gap", scale=1.0))
        symbol, total = rng.random() < 0.5, 0.0
        head = self._pick(
            (
                ("Qty", "Description", "Unit Price", "Amount"),
                ("QTY", "ITEM", "PRICE", "TOTAL"),
                ("Quantity", "Description", "Rate", "Line Total"),
            )
        )
        rows = [head]
        for _ in range(int(rng.integers(4, 16))):
            qty, price = int(rng.integers(1, 60)), round(float(rng.lognormal(3.0, 1.2)), 2)
            words = " ".join(self._pick(self.words) for _ in range(int(rng.integers(1, 4))))
            desc = f"{words.capitalize()}{self._pick(('', '', ' ' + f.bothify('#?-##').upper(), ', pack of 10'))}"
            total += qty * price
            rows.append((str(qty), desc, self._money(price, symbol), self._money(qty * price, symbol)))
        items += [Item("table", align="lrrr" if rng.random() < 0.3 else "llrr", rows=tuple(rows)), Item("gap")]
        rate = float(self._pick((0.0, 5.0, 6.25, 7.5, 8.25, 10.0, 19.0, 20.0)))
        items += [
            Item("line", f"Subtotal: {self._money(total, True)}", "right"),
            Item("line", f"Tax ({rate:g}%): {self._money(total * rate / 100, True)}", "right"),
            Item("line", f"TOTAL DUE: {self._money(total * (1 + rate / 100), True)}", "right"),
            Item("gap", scale=1.0),
            Item(
                "para",
                f"Payment terms: net {self._pick(('15', '30', '45'))} days. "
                f"Please make checks payable to {f.company()}. {self.sentence()}",
            ),
        ]
        return items

    def form(self, first: bool) -> list[Item]:
        """A filled-in form: ``label: value`` fields, check boxes and a declaration."""
        rng, items = self.rng, []
        if first:
            items += [
                Item("heading", self._pick(_FORM_TITLES), "center", scale=float(rng.uniform(1.2, 1.7))),
                Item("gap", scale=0.8),
            ]
        for section in range(int(rng.integers(1, 4))):
            items.append(Item("line", f"Section {section + 1} - {self._pick(SECTIONS)}"))
            picks = rng.choice(len(_FORM_FIELDS), size=int(rng.integers(4, 10)), replace=False)
            sep = self._pick((": ", ": ", " - ", ":  "))
            for i in picks:
                label, key = _FORM_FIELDS[i]
                items.append(Item("line", f"{label}{sep}{self._value(key)}", indent=0.03))
            if rng.random() < 0.6:
                yes = rng.random() < 0.5
                items.append(
                    Item(
                        "line",
                        f"{self._pick(('Smoker?', 'Married?', 'New customer?', 'Sign up for news?'))}"
                        f" [{'X' if yes else ' '}] Yes [{' ' if yes else 'X'}] No",
                        indent=0.03,
                    )
                )
            items.append(Item("gap", scale=0.8))
        items += [
            Item("para", "I certify that the information given on this form is true and complete. " + self.sentence()),
            Item("gap", scale=1.5),
            Item("line", f"Signature: {self.fake.name()}    Date: {self.date()}"),
        ]
        return items

    def figure_table(self) -> Item:
        """A numeric table: a label column and 2-5 figure columns under a header row."""
        rng = self.rng
        n_cols = int(rng.integers(2, 6))
        first = self._pick(("Region", "Item", "Category", "Account", "Department"))
        heads = [first] + [str(h) for h in rng.choice(_COL_HEADS, size=n_cols, replace=False)]
        style = int(rng.integers(4))
        rows = [tuple(heads)]
        labels = rng.choice(_ROW_LABELS, size=int(rng.integers(4, 14)), replace=False)
        for label in labels:
            cells = [str(label)]
            for _ in range(n_cols):
                v = float(rng.normal(0, 1)) * 10 ** float(rng.uniform(0.5, 4))
                cells.append(
                    (f"{v:,.0f}", f"{v:.1f}", f"{v:+.1f}%", f"({abs(v):,.2f})" if v < 0 else f"{v:,.2f}")[style]
                )
            rows.append(tuple(cells))
        return Item("table", align="l" + "r" * n_cols, rows=tuple(rows))

    def figures(self, first: bool) -> list[Item]:
        """One or two numeric tables with captions and notes."""
        f, rng, items = self.fake, self.rng, []
        for _ in range(int(rng.integers(1, 3))):
            unit = self._pick(("in thousands of dollars", "in units", "percent", "in $ millions", "2019-2023"))
            by = self._pick(("region", "quarter", "category", "month"))
            caption = f"Table {int(rng.integers(1, 20))}. {self._pick(SECTIONS)} by {by} ({unit})"
            items += [
                Item("heading", caption, scale=float(rng.uniform(1.0, 1.3))),
                Item("gap", scale=0.5),
                self.figure_table(),
                Item("gap", scale=0.5),
                Item("line", f"Source: {f.company()}, {self.date()}. Figures may not add up due to rounding."),
                Item("gap", scale=1.5),
            ]
        if rng.random() < 0.7:
            items.append(Item("para", self.paragraph()))
        return items

    def report(self, first: bool) -> list[Item]:
        """A report: a title, optional byline, numbered section headings and prose."""
        f, rng, items = self.fake, self.rng, []
        if first:
            title = (
                self._pick(HEADINGS)
                if rng.random() < 0.5
                else f"{f.company()} {self._pick(('Annual Report', 'Progress Report', 'Audit Summary'))}"
            )
            items += [
                Item("heading", title, self._pick(("left", "center")), scale=float(rng.uniform(1.4, 2.0))),
                Item("line", f"Prepared by {f.name()}, {self.date()}", self._pick(("left", "center"))),
                Item("gap", scale=1.0),
            ]
        start = int(rng.integers(1, 8))
        for k in range(int(rng.integers(2, 5))):
            items += [
                Item("heading", f"{start + k}. {self._pick(SECTIONS)}", scale=float(rng.uniform(1.1, 1.4))),
                Item("gap", scale=0.3),
            ]
            for _ in range(int(rng.integers(1, 4))):
                items += [Item("para", self.paragraph(3, 7)), Item("gap", scale=0.5)]
        return items

    def document(self, kind: str, first: bool) -> list[Item]:
        """Layout items of one page of a document of ``kind`` (one of :data:`DOC_KINDS`)."""
        if kind not in DOC_KINDS:
            raise ValueError(f"unknown document kind {kind!r}")
        return [printable(it) for it in getattr(self, kind)(first)]


def printable(item: Item) -> Item:
    """``item`` with its text and cells restricted to printable ASCII (an emptied cell becomes ``"-"``)."""
    return item._replace(text=_ascii(item.text), rows=tuple(tuple(_ascii(c) or "-" for c in r) for r in item.rows))


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


def fit_text(text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    """``text`` cut at a word boundary (or a character, for one long word) to fit ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    words = text.split()
    while len(words) > 1 and font.getlength(" ".join(words)) > width:
        words.pop()
    text = " ".join(words)
    while len(text) > 1 and font.getlength(text) > width:
        text = text[:-1].rstrip()
    return text
