"""Multi-column page layouts of the "scan" generator: what goes where, before any pixel.

A layout is a list of :class:`Section` bands, top to bottom. A section holds one block per
column side by side (an address block beside another, a full-width title, a table), or text
that *flows* through its columns (an article: column 1 to its foot, then column 2, ...). The
drawing is :func:`linerec.synth.pages._layout_sections`; the ground truth it returns names each
line's block, blocks in reading order: sections top to bottom, columns left to right, a column
top to bottom.

Layouts (:data:`LAYOUTS`):

* ``"single"``: the one-column documents (:meth:`DocumentSource.document`), no sections;
* ``"columns2"`` / ``"columns3"``: a full-width title (and byline) over 2 or 3 columns of prose
  with in-column subheadings; sometimes a full-width heading and a second band of columns;
* ``"side_by_side"``: a letter whose address blocks stand side by side (sender and date beside
  the recipient), under an optional letterhead, over the full-width body; sometimes two
  signature blocks side by side at the foot;
* ``"table"``: a full-width caption (and a short introduction) over a table, one line a row
  of cells, and a source note; sometimes a second table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from linerec.synth.text import HEADINGS, SECTIONS, DocumentSource, Item

#: Page layouts of the "scan" profile; "single" is the one-column generator.
LAYOUTS = ("single", "columns2", "columns3", "side_by_side", "table")
#: The layouts with more than one block side by side or a table.
MULTI_COLUMN = LAYOUTS[1:]
#: Document kind recorded for a layout's pages (``data["kind"]``); "single" keeps its document's.
LAYOUT_KINDS = {"columns2": "report", "columns3": "report", "side_by_side": "letter", "table": "figures"}
#: Body size range (points) of each multi-column layout: narrow columns want small type.
BODY_PT = {"columns2": (8.5, 11.5), "columns3": (8.0, 10.0), "side_by_side": (9.0, 12.0), "table": (8.5, 12.0)}


class BlockPlan(NamedTuple):
    """One ground-truth block: its role on the page, its layout items and its kind.

    ``kind`` is ``"text"`` or ``"table"`` (as :class:`linerec.vision.layout.Block`); ``role`` is one of
    ``"title"``, ``"column"``, ``"address"``, ``"body"``, ``"signature"``, ``"table"``, ``"note"``.
    In a flowing section ``items`` may be an iterator, drawn from until the columns are full.
    """

    role: str
    items: Iterable[Item]
    kind: str = "text"


class Section(NamedTuple):
    """A horizontal band of the page.

    ``weights`` are the columns' relative widths (one per column), ``gutter`` the whitespace
    between two columns in body-font ems, ``space`` the empty lines above the band. Without
    ``flow`` there is one block per column; with it, the one block's items run through the
    columns in turn and each column becomes a block of role ``"column"``. ``height`` is the share
    of the space left on the page a flowing band may fill.
    """

    blocks: tuple[BlockPlan, ...]
    weights: tuple[float, ...] = (1.0,)
    gutter: float = 0.0
    space: float = 0.0
    flow: bool = False
    height: float = 1.0


def layout_mix(multi: float) -> dict[str, float]:
    """Layout weights giving ``multi`` of the documents a multi-column layout, evenly split.

    >>> layout_mix(0.2)["columns2"]
    0.05
    """
    if not 0.0 <= multi <= 1.0:
        raise ValueError(f"multi-column share must be in [0, 1], got {multi}")
    return {"single": 1.0 - multi, **{name: multi / len(MULTI_COLUMN) for name in MULTI_COLUMN}}


def check_mix(layouts: dict[str, float] | None) -> dict[str, float] | None:
    """``layouts`` validated (known names, finite weights >= 0, a positive sum); ``None`` stays ``None``."""
    if layouts is None:
        return None
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown:
        raise ValueError(f"unknown layout(s) {', '.join(unknown)}; expected some of {', '.join(LAYOUTS)}")
    weights = {k: float(v) for k, v in layouts.items()}
    if any(not (v >= 0.0) or v == float("inf") for v in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"layout weights must be finite, >= 0 and not all 0, got {layouts}")
    return weights


def parse_mix(spec: str) -> dict[str, float]:
    """``"single=3,columns2=1"`` (or one name, weight 1) as layout weights; see :func:`check_mix`."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.partition("=")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"layout weight {part!r}: expected NAME or NAME=NUMBER") from None
    return check_mix(out) or {}


class LayoutSource(DocumentSource):
    """Seeded content of :data:`MULTI_COLUMN` pages (and, inherited, of one-column documents)."""

    def sections(self, layout: str, first: bool) -> list[Section]:
        """The sections of one page of ``layout`` (one of :data:`MULTI_COLUMN`)."""
        if layout in ("columns2", "columns3"):
            return self.columns(int(layout[-1]), first)
        if layout == "side_by_side":
            return self.side_by_side(first)
        if layout == "table":
            return self.tables(first)
        raise ValueError(f"unknown multi-column layout {layout!r}; expected one of {MULTI_COLUMN}")

    def _article(self, paragraphs: int | None, subheads: bool) -> Iterator[Item]:
        """Paragraphs and subheadings flowing through columns; endless when ``paragraphs`` is None."""
        rng, k = self.rng, 0
        indent = 0.06 if rng.random() < 0.5 else 0.0  # first-line indent, else a gap between paragraphs
        while paragraphs is None or k < paragraphs:
            if subheads and k > 0 and rng.random() < 0.18:
                yield Item("gap", scale=0.6)
                yield Item("heading", self._pick(SECTIONS), scale=float(rng.uniform(1.05, 1.3)))
            elif k > 0 and not indent:
                yield Item("gap", scale=0.5)
            yield Item("para", self.paragraph(2, 6), indent=indent)
            k += 1

    def columns(self, n: int, first: bool) -> list[Section]:
        """A title (and byline) over ``n`` columns of prose; sometimes a full-width heading and more columns."""
        f, rng = self.fake, self.rng
        title = (
            self._pick(HEADINGS)
            if rng.random() < 0.4
            else f"{f.company()} {self._pick(('Newsletter', 'Bulletin', 'Review', 'Quarterly', 'Gazette'))}"
        )
        align = self._pick(("left", "center"))
        head = [Item("heading", title if first else f"{title} (continued)", align, scale=float(rng.uniform(1.4, 2.0)))]
        if rng.random() < 0.6:
            head.append(Item("line", f"By {f.name()}, {self.date()}", align))
        sections = [Section((BlockPlan("title", tuple(head)),))]
        gutter = float(rng.uniform(1.5, 3.0))
        bands = 2 if rng.random() < 0.35 else 1
        subheads = rng.random() < 0.6
        for b in range(bands):
            last = b == bands - 1
            if b > 0:
                heading = Item(
                    "heading", f"{self._pick(SECTIONS)}: {self._pick(HEADINGS)}", scale=float(rng.uniform(1.2, 1.5))
                )
                sections.append(Section((BlockPlan("title", (heading,)),), space=float(rng.uniform(0.8, 1.5))))
            limit = int(rng.integers(n + 1, 4 * n + 2)) if last and rng.random() < 0.4 else None
            sections.append(
                Section(
                    (BlockPlan("column", self._article(limit, subheads)),),
                    (1.0,) * n,
                    gutter,
                    space=float(rng.uniform(0.7, 1.4)),
                    flow=True,
                    height=1.0 if last else float(rng.uniform(0.35, 0.6)),
                )
            )
        return sections

    def side_by_side(self, first: bool) -> list[Section]:
        """A letter: letterhead, two address blocks side by side, the body; maybe two signature blocks."""
        f, rng, sections = self.fake, self.rng, []
        if not first:
            paras = [
                it
                for _ in range(int(rng.integers(2, 5)))
                for it in (Item("para", self.paragraph(3, 7)), Item("gap", scale=0.6))
            ]
            return [Section((BlockPlan("body", tuple(paras)),))]
        company = f.company()
        if rng.random() < 0.6:
            align = self._pick(("left", "center"))
            head = [Item("heading", company, align, scale=float(rng.uniform(1.4, 2.0)))]
            if rng.random() < 0.5:
                head.append(Item("line", f"{f.street_address()}, {f.city()} | Tel. {f.phone_number()}", align))
            sections.append(Section((BlockPlan("title", tuple(head)),)))
        recipient = [Item("line", t) for t in self.address(rng.random() < 0.5)]
        sender = [Item("line", t) for t in ([f.name(), company] if rng.random() < 0.5 else [f.name()])]
        sender += [Item("line", f"Date: {self.date()}"), Item("line", f"Our ref.: {f.bothify('??/####').upper()}")]
        if rng.random() < 0.5:
            sender.append(Item("line", f"Your ref.: {f.bothify('####-??').upper()}"))
        if rng.random() < 0.3:  # right block set flush right
            sender = [it._replace(align="right") for it in sender]
        left_w = float(rng.uniform(0.4, 0.55))
        blocks = (BlockPlan("address", tuple(recipient)), BlockPlan("address", tuple(sender)))
        if rng.random() < 0.35:
            blocks, left_w = blocks[::-1], 1.0 - left_w
        sections.append(
            Section(blocks, (left_w, 1.0 - left_w), float(rng.uniform(2.0, 6.0)), space=float(rng.uniform(1.0, 2.0)))
        )
        title = self._pick(("Mr.", "Ms.", "Mrs.", "Dr."))
        body = []
        if rng.random() < 0.5:
            body += [Item("line", f"Re: {self._pick(HEADINGS)} {f.bothify('#####')}"), Item("gap", scale=0.6)]
        body += [Item("line", f"Dear {title} {f.last_name()},"), Item("gap", scale=0.5)]
        for _ in range(int(rng.integers(2, 5))):
            body += [
                Item("para", self.paragraph(2, 5), indent=0.05 if rng.random() < 0.3 else 0.0),
                Item("gap", scale=0.6),
            ]
        two_signatures = rng.random() < 0.4
        if not two_signatures:
            body += [
                Item("line", self._pick(("Sincerely,", "Yours faithfully,", "Kind regards,"))),
                Item("gap", scale=1.5),
                Item("line", f.name()),
            ]
        sections.append(Section((BlockPlan("body", tuple(body)),), space=float(rng.uniform(1.0, 2.0))))
        if two_signatures:
            ours = (
                Item("line", f"For {company}:"),
                Item("gap", scale=1.2),
                Item("line", f.name()),
                Item("line", f.job()),
            )
            theirs = (
                Item("line", "Accepted and agreed:"),
                Item("gap", scale=1.2),
                Item("line", f.name()),
                Item("line", f"Date: {self.date()}"),
            )
            sections.append(
                Section(
                    (BlockPlan("signature", ours), BlockPlan("signature", theirs)),
                    (1.0, 1.0),
                    float(rng.uniform(3.0, 6.0)),
                    space=float(rng.uniform(1.0, 2.0)),
                )
            )
        return sections

    def _item_table(self) -> Item:
        """An order's items: quantity, a description of several words, unit price and amount."""
        f, rng = self.fake, self.rng
        rows = [self._pick((("Qty", "Description", "Unit Price", "Amount"), ("Quantity", "Item", "Rate", "Total")))]
        for _ in range(int(rng.integers(4, 14))):
            qty, price = int(rng.integers(1, 60)), round(float(rng.lognormal(3.0, 1.2)), 2)
            words = " ".join(self._pick(self.words) for _ in range(int(rng.integers(1, 4))))
            rows.append(
                (
                    str(qty),
                    f"{words.capitalize()}{self._pick(('', ' ' + f.bothify('#?-##').upper()))}",
                    f"{price:,.2f}",
                    f"{qty * price:,.2f}",
                )
            )
        return Item("table", align="lrrr", rows=tuple(rows))

    def tables(self, first: bool) -> list[Section]:
        """A caption (and an introduction) over a table and its source note; sometimes a second table."""
        f, rng, sections = self.fake, self.rng, []
        for t in range(2 if rng.random() < 0.45 else 1):
            caption = (
                f"Table {int(rng.integers(1, 20))}. {self._pick(SECTIONS)} by "
                f"{self._pick(('region', 'quarter', 'category', 'month'))}"
            )
            heading = Item("heading", caption, scale=float(rng.uniform(1.1, 1.5)))
            sections.append(
                Section((BlockPlan("title", (heading,)),), space=0.0 if t == 0 else float(rng.uniform(1.5, 2.5)))
            )
            if rng.random() < 0.5:
                sections.append(
                    Section(
                        (BlockPlan("body", (Item("para", self.paragraph(1, 3)),)),), space=float(rng.uniform(0.4, 0.8))
                    )
                )
            table = self.figure_table() if rng.random() < 0.6 else self._item_table()
            sections.append(Section((BlockPlan("table", (table,), "table"),), space=float(rng.uniform(0.6, 1.2))))
            note = f"Source: {f.company()}, {self.date()}. Figures may not add up due to rounding."
            sections.append(Section((BlockPlan("note", (Item("line", note),)),), space=float(rng.uniform(0.4, 1.0))))
        return sections
