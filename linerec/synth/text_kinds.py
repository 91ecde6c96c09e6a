"""Generated text lines of the non-prose kinds of :mod:`linerec.synth.corpora`.

Names, addresses, companies, phones, e-mails and URLs come from Faker (English
locales); dates, receipts, amounts and codes from templates filled by a seeded
generator. :func:`generate` is a pure function of its seed and the Faker version.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

import numpy as np

LOCALES = ("en_US", "en_GB", "en_AU", "en_CA", "en_IE", "en_NZ", "en_IN")
MONTHS = (  # English month names (never the process locale's)
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ITEMS = (
    "MILK",
    "BREAD",
    "EGGS",
    "BUTTER",
    "CHEESE",
    "YOGHURT",
    "RICE",
    "PASTA",
    "FLOUR",
    "SUGAR",
    "SALT",
    "COFFEE",
    "TEA",
    "JUICE",
    "WATER",
    "COLA",
    "BEER",
    "WINE",
    "APPLES",
    "BANANAS",
    "ORANGES",
    "GRAPES",
    "TOMATOES",
    "POTATOES",
    "ONIONS",
    "CARROTS",
    "LETTUCE",
    "CHICKEN",
    "BEEF MINCE",
    "PORK CHOPS",
    "SALMON",
    "TUNA",
    "SAUSAGES",
    "BACON",
    "HAM",
    "CEREAL",
    "OATS",
    "BISCUITS",
    "CHOCOLATE",
    "CRISPS",
    "NOODLES",
    "SOY SAUCE",
    "KETCHUP",
    "MAYO",
    "OLIVE OIL",
    "VINEGAR",
    "HONEY",
    "JAM",
    "PEANUT BUTTER",
    "SOAP",
    "SHAMPOO",
    "TOOTHPASTE",
    "TISSUES",
    "TOILET ROLL",
    "DETERGENT",
    "BLEACH",
    "BATTERIES",
    "LIGHT BULB",
    "NOTEBOOK",
    "PEN BLUE",
    "A4 PAPER",
    "ENVELOPES",
    "STAPLES",
    "TAPE",
    "GLUE STICK",
    "CHARGER",
    "USB CABLE",
    "HDMI CABLE",
    "SCREWS",
    "NAILS",
    "PAINT",
    "BRUSH",
    "GLOVES",
    "MASK",
    "CAPPUCCINO",
    "LATTE",
    "ESPRESSO",
    "MUFFIN",
    "CROISSANT",
    "SANDWICH",
    "SALAD",
    "NASI LEMAK",
    "TEH TARIK",
    "ROTI CANAI",
    "MEE GORENG",
    "CHICKEN RICE",
    "KOPI O",
    "MILO ICE",
    "FRIES",
    "BURGER",
    "PIZZA MARG",
    "SOUP OF DAY",
    "FISH & CHIPS",
    "PARKING",
    "DIESEL",
    "UNLEADED 95",
    "CAR WASH",
    "SERVICE CHG",
    "Avocado",
    "Sourdough",
    "Free range eggs",
    "Oat milk",
    "Green tea",
    "Dish soap",
    "Paper towels",
    "Cat food",
    "Dog treats",
    "Sparkling water",
    "Orange juice",
    "Greek yogurt",
    "Cheddar",
    "Mozzarella",
    "Spinach",
    "Basil",
)
_SIZES = (
    "",
    "",
    "",
    " 1L",
    " 2L",
    " 500ML",
    " 250G",
    " 1KG",
    " 500G",
    " 6PK",
    " 12PK",
    " LRG",
    " SML",
    " REG",
    " x2",
    " 330ml",
    " 750ml",
    " 1.5L",
    " 400g",
    " 2kg",
)
_CURRENCIES = ("$", "\u20ac", "\u00a3", "RM", "RM ", "USD ", "EUR ", "GBP ", "MYR ", "", "", "")
_SHOPS = (
    "SUPERMARKET",
    "MINI MART",
    "CAFE",
    "RESTAURANT",
    "HARDWARE",
    "PHARMACY",
    "BOOKSTORE",
    "PETROL STATION",
    "BAKERY",
    "GROCER",
    "KEDAI RUNCIT",
    "DEPARTMENT STORE",
    "STATIONERY",
)
_UNITS = ("mm", "cm", "m", "kg", "g", "mg", "ml", "L", "V", "A", "W", "kW", "Hz", "kHz", "MPa", "psi", "rpm", "ohm")


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _number(rng: np.random.Generator, value: float, style: int) -> str:
    """A price in one of the printed number styles."""
    if style == 0:
        return f"{value:,.2f}"
    if style == 1:
        return f"{value:.2f}"
    if style == 2:  # continental: 1.234,56
        return f"{value:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{value:.2f}".replace(".", ",")


def _money(rng: np.random.Generator, value: float | None = None) -> str:
    value = float(rng.lognormal(2.5, 1.5)) if value is None else value
    cur, style = _pick(rng, _CURRENCIES), int(rng.integers(4))
    num = _number(rng, value, style)
    if cur and rng.random() < 0.25:
        return f"{num} {cur.strip()}"
    return f"{cur}{num}"


def _date(rng: np.random.Generator) -> str:
    d = dt.date(1970, 1, 1) + dt.timedelta(days=int(rng.integers(0, 22000)))
    t = dt.time(int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60)))
    m = MONTHS[d.month - 1]
    forms = (
        f"{d.day:02d}/{d.month:02d}/{d.year}",
        f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
        d.isoformat(),
        f"{d.day} {m} {d.year}",
        f"{m} {d.day}, {d.year}",
        f"{d.day}-{m[:3].upper()}-{d.year}",
        f"{d.day:02d}.{d.month:02d}.{d.year}",
        f"{_DAYS[d.weekday()]}, {d.day} {m} {d.year}",
        f"{d.day:02d}/{d.month:02d}/{d.year} {t.hour:02d}:{t.minute:02d}",
        f"{d.isoformat()} {t.isoformat()}",
        f"{d.day:02d}-{d.month:02d}-{d.year} {t.hour % 12 or 12}:{t.minute:02d} {'PM' if t.hour >= 12 else 'AM'}",
        f"{t.hour:02d}:{t.minute:02d}",
        f"{m[:3]} {d.year}",
        f"Date: {d.day:02d}/{d.month:02d}/{d.year}",
        f"DATE {d.day:02d}.{d.month:02d}.{d.year % 100:02d} TIME {t.hour:02d}:{t.minute:02d}",
    )
    return _pick(rng, forms)


def _receipt(rng: np.random.Generator, fake) -> str:
    price = round(float(rng.lognormal(1.6, 1.0)), 2)
    qty = int(rng.integers(1, 13)) if rng.random() < 0.8 else round(float(rng.uniform(0.1, 3)), 3)
    item = _pick(rng, _ITEMS) + _pick(rng, _SIZES)
    cur = _pick(rng, ("", "", "", "$", "RM", "\u20ac", "\u00a3"))
    total = round(price * qty, 2)
    rate = _pick(rng, (6, 8, 10, 5, 20, 7, 9, 19, 15, 13))
    sku = f"{int(rng.integers(10**5, 10**13))}"
    forms = (
        lambda: f"{item} {cur}{price:.2f}",
        lambda: f"{qty} x {item} {total:.2f}",
        lambda: f"{qty} @ {price:.2f} {total:.2f}",
        lambda: f"{item}",
        lambda: f"{qty} {item} {cur}{total:.2f}",
        lambda: f"{sku} {item}",
        lambda: f"{item} {total:.2f} {_pick(rng, 'ABTSZ')}",
        lambda: f"  {qty} X {cur}{price:.2f}",
        lambda: f"{qty}x {item.title()} {total:.2f}",
        lambda: f"{item} {qty}kg @ {price:.2f}/kg",
        lambda: f"SUBTOTAL {cur}{total:.2f}",
        lambda: f"SUB-TOTAL {total:.2f}",
        lambda: f"TOTAL {cur}{total:.2f}",
        lambda: f"TOTAL DUE {_money(rng, total)}",
        lambda: f"Total (incl. GST) {cur}{total:.2f}",
        lambda: f"GST {rate}% {total * rate / 100:.2f}",
        lambda: f"SST {rate}% {total * rate / 100:.2f}",
        lambda: f"VAT {rate}% {_money(rng, total * rate / 100)}",
        lambda: f"Tax {rate:.1f}% {total * rate / 100:.2f}",
        lambda: f"GST @{rate}% included in total {total * rate / 100:.2f}",
        lambda: f"CASH {cur}{total + float(rng.integers(0, 50)):.2f}",
        lambda: f"CHANGE {cur}{float(rng.uniform(0, 20)):.2f}",
        lambda: f"CHANGE DUE {float(rng.uniform(0, 20)):.2f}",
        lambda: f"ROUNDING ADJ -0.0{int(rng.integers(1, 5))}",
        lambda: f"ROUNDING {_pick(rng, ('-', ''))}0.0{int(rng.integers(1, 5))}",
        lambda: f"DISCOUNT -{float(rng.uniform(0.5, 10)):.2f}",
        lambda: f"Invoice No: INV-{int(rng.integers(2000, 2030))}-{int(rng.integers(0, 99999)):05d}",
        lambda: f"Receipt #{int(rng.integers(1000, 999999))}",
        lambda: f"Bill No. {int(rng.integers(1, 99999))}",
        lambda: f"Table {int(rng.integers(1, 60))}  Pax {int(rng.integers(1, 9))}",
        lambda: f"Cashier: {fake.first_name()}",
        lambda: (
            f"Till {int(rng.integers(1, 12))} Op {int(rng.integers(1, 99)):02d} Trn {int(rng.integers(1, 9999)):04d}"
        ),
        lambda: f"VISA ************{int(rng.integers(0, 9999)):04d}",
        lambda: f"MASTERCARD **** {int(rng.integers(0, 9999)):04d}",
        lambda: f"AUTH CODE: {int(rng.integers(0, 999999)):06d}",
        lambda: "THANK YOU",
        lambda: "THANK YOU, PLEASE COME AGAIN",
        lambda: "*** CUSTOMER COPY ***",
        lambda: "TAX INVOICE",
        lambda: "GOODS SOLD ARE NOT RETURNABLE",
        lambda: "Thank you for shopping with us!",
        lambda: f"{fake.company().upper()} {_pick(rng, _SHOPS)}",
        lambda: f"GST Reg No: {int(rng.integers(10**11, 10**12))}",
        lambda: (
            f"ABN {int(rng.integers(10, 99))} {int(rng.integers(100, 999))} {int(rng.integers(100, 999))} "
            f"{int(rng.integers(100, 999))}"
        ),
        lambda: (
            f"VAT Reg. No. GB {int(rng.integers(100, 999))} {int(rng.integers(1000, 9999))} {int(rng.integers(10, 99))}"
        ),
        lambda: f"Tel: {fake.phone_number()}",
        lambda: f"ITEMS: {int(rng.integers(1, 40))}",
        lambda: f"No. of items {int(rng.integers(1, 40))}",
        lambda: f"Points earned: {int(rng.integers(1, 500))}",
        lambda: f"{_date(rng)}",
        lambda: f"{item} ({qty} @ {cur}{price:.2f})",
        lambda: f"EFTPOS {cur}{total:.2f}",
        lambda: f"CARD {cur}{total:.2f}",
        lambda: f"BALANCE {cur}{total:.2f}",
        lambda: f"Service charge 10% {total * 0.1:.2f}",
    )
    return _pick(rng, forms)()


def _code(rng: np.random.Generator, fake) -> str:
    n = int(rng.integers(0, 10**6))
    v = float(rng.lognormal(1.5, 1.2))
    forms = (
        lambda: f"SKU {fake.bothify('??-#####').upper()}",
        lambda: f"SKU: {int(rng.integers(10**7, 10**12))}",
        lambda: f"ID {fake.bothify('???-####-??').upper()}",
        lambda: f"Ref. {fake.bothify('##/####/??').upper()}",
        lambda: f"Part No. {fake.bothify('##-####-?').upper()}",
        lambda: f"P/N {fake.bothify('???####').upper()}",
        lambda: f"Lot {fake.bothify('##?-####').upper()}",
        lambda: f"Serial No. {fake.bothify('?#########').upper()}",
        lambda: f"S/N: {fake.bothify('####-####-####').upper()}",
        lambda: f"Order #{int(rng.integers(10**5, 10**9))}",
        lambda: f"{v:.1f}%",
        lambda: f"{v:.2f} %",
        lambda: f"+{v:.1f}%",
        lambda: f"-{v:.1f}%",
        lambda: f"{int(v * 10)}% off",
        lambda: f"\u00b1{v / 10:.2f} {_pick(rng, _UNITS)}",
        lambda: f"{v:.1f} \u00b1 {v / 20:.2f} {_pick(rng, _UNITS)}",
        lambda: f"Tolerance \u00b1{v / 10:.3f} mm",
        lambda: f"{int(rng.integers(-40, 120))}\u00b0C",
        lambda: f"{int(rng.integers(-20, 230))} \u00b0F",
        lambda: f"{v:.1f}\u00b0",
        lambda: f"Store below {int(rng.integers(2, 30))}\u00b0C",
        lambda: f"{int(rng.integers(0, 360))}\u00b0 {int(rng.integers(0, 60))}' {int(rng.integers(0, 60))}\"",
        lambda: f"\u00a7 {int(rng.integers(1, 400))}",
        lambda: f"\u00a7{int(rng.integers(1, 99))}.{int(rng.integers(1, 20))}",
        lambda: f"see \u00a7 {int(rng.integers(1, 40))}({_pick(rng, 'abcdef')})",
        lambda: f"\u00a7\u00a7 {int(rng.integers(1, 50))}\u2013{int(rng.integers(51, 99))}",
        lambda: f"{int(rng.integers(1, 300))} \u00d7 {int(rng.integers(1, 300))} mm",
        lambda: f"{int(rng.integers(1, 99))} \u00d7 {v:.2f}",
        lambda: f"{v:.1f}\u00d7{v * 2:.1f}\u00d7{v / 2:.1f} cm",
        lambda: f"{int(rng.integers(2, 50))}\u00d7",
        lambda: f"{v:.2f} {_pick(rng, _UNITS)}",
        lambda: f"{n:,}",
        lambda: f"{n}",
        lambda: f"No. {int(rng.integers(1, 9999))}",
        lambda: f"#{int(rng.integers(1, 99999))}",
        lambda: f"{fake.ean13()}",
        lambda: f"ISBN {fake.isbn13()}",
        lambda: f"IBAN {fake.iban()}",
        lambda: f"{fake.license_plate()}",
        lambda: f"ISO {int(rng.integers(1000, 30000))}:{int(rng.integers(1990, 2025))}",
        lambda: f"v{int(rng.integers(0, 12))}.{int(rng.integers(0, 30))}.{int(rng.integers(0, 99))}",
        lambda: f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}",
        lambda: f"Page {int(rng.integers(1, 99))} of {int(rng.integers(99, 200))}",
        lambda: f"Fig. {int(rng.integers(1, 30))}",
        lambda: f"Table {int(rng.integers(1, 20))}.{int(rng.integers(1, 9))}",
        lambda: f"{int(rng.integers(1, 40))}.{int(rng.integers(1, 20))}.{int(rng.integers(1, 9))}",
        lambda: f"Room {int(rng.integers(1, 9))}{int(rng.integers(0, 99)):02d}",
        lambda: f"Gate {_pick(rng, 'ABCDEF')}{int(rng.integers(1, 40))}",
        lambda: f"Flight {fake.bothify('??###').upper()}",
        lambda: f"Seat {int(rng.integers(1, 45))}{_pick(rng, 'ABCDEF')}",
        lambda: f"Batch {fake.bothify('####?').upper()} EXP {int(rng.integers(1, 13)):02d}/{int(rng.integers(24, 32))}",
        lambda: f"{fake.bothify('??#-###').upper()} \u00b7 {fake.bothify('##?').upper()}",
        lambda: f"{v:.3f}",
        lambda: f"-{v:.2f}",
        lambda: f"({v:,.2f})",
        lambda: f"{v:.1e}",
        lambda: f"1:{int(rng.integers(2, 500))}",
        lambda: f"{int(rng.integers(1, 20))}/{int(rng.integers(1, 20))}",
    )
    return _pick(rng, forms)()


def _faker_line(kind: str, rng: np.random.Generator, fake) -> str:
    forms: tuple[Callable[[], str], ...]
    if kind == "name":
        forms = (
            fake.name,
            fake.name,
            lambda: f"{fake.prefix()} {fake.name()}",
            lambda: fake.name().upper(),
            lambda: f"{fake.last_name()}, {fake.first_name()}",
            lambda: f"Attn: {fake.name()}",
            lambda: f"{fake.first_name()[0]}. {fake.last_name()}",
            lambda: f"Dear {fake.prefix()} {fake.last_name()},",
            lambda: f"Name: {fake.name()}",
            lambda: f"{fake.name()}, {fake.job()}",
        )
    elif kind == "address":
        forms = (
            fake.street_address,
            lambda: fake.address().split("\n")[-1],
            lambda: fake.address().replace("\n", ", "),
            fake.city,
            lambda: f"{fake.building_number()} {fake.street_name()}",
            lambda: fake.street_address().upper(),
            lambda: f"PO Box {int(rng.integers(1, 9999))}",
            fake.postcode,
            lambda: f"{fake.city()}, {fake.country()}",
            lambda: f"Address: {fake.street_address()}",
        )
    elif kind == "company":
        forms = (
            fake.company,
            fake.company,
            lambda: fake.company().upper(),
            fake.catch_phrase,
            fake.job,
            fake.bs,
            lambda: f"{fake.company()} {_pick(rng, ('Ltd', 'Pty Ltd', 'Sdn Bhd', 'LLC', 'Inc.', 'plc', 'GmbH'))}",
        )
    elif kind == "phone":
        forms = (
            fake.phone_number,
            lambda: f"Tel: {fake.phone_number()}",
            lambda: f"Phone {fake.phone_number()}",
            lambda: f"Fax: {fake.phone_number()}",
            lambda: f"Mobile: {fake.phone_number()}",
            lambda: f"T {fake.phone_number()}  F {fake.phone_number()}",
        )
    elif kind == "email":
        forms = (
            fake.email,
            fake.company_email,
            lambda: f"Email: {fake.email()}",
            lambda: f"E-mail {fake.email()}",
            lambda: f"{fake.name()} <{fake.email()}>",
        )
    else:  # url
        forms = (
            fake.url,
            fake.domain_name,
            lambda: f"www.{fake.domain_name()}",
            lambda: f"{fake.url()}{fake.uri_path()}",
            lambda: f"Visit us at www.{fake.domain_name()}",
            fake.uri,
        )
    return _pick(rng, forms)()


#: Lines generated per kind (before duplicates are removed).
COUNTS = {
    "name": 8000,
    "address": 10000,
    "company": 6000,
    "date": 10000,
    "phone": 5000,
    "email": 5000,
    "url": 5000,
    "receipt": 40000,
    "amount": 12000,
    "code": 30000,
}


@functools.cache
def _faker(locale: str):
    """One Faker per locale and process (building one takes ~0.2 s); callers seed it."""
    from faker import Faker

    return Faker(locale)


def generate_kind(kind: str, n: int, seed: int = 0) -> list[str]:
    """``n`` lines of one generated kind, a pure function of ``(kind, n, seed)`` and the Faker version.

    Parameters
    ----------
    kind : str
        One of :data:`COUNTS`.
    n : int
        Number of lines (duplicates possible; the corpus builder removes them).
    seed : int, optional
        Seed of the templates and of Faker.

    Returns
    -------
    list of str
    """
    if kind not in COUNTS:
        raise ValueError(f"unknown generated kind {kind!r}")
    k = list(COUNTS).index(kind)
    fakers = []
    for j, locale in enumerate(LOCALES):  # one Faker per locale: cheaper a call than a multi-locale proxy
        fake = _faker(locale)
        fake.seed_instance(seed * 1000 + k * 10 + j)
        fakers.append(fake)
    rng = np.random.default_rng([seed, k, 7])

    def one() -> str:
        fake = fakers[int(rng.integers(len(fakers)))]
        if kind == "date":
            return _date(rng)
        if kind == "receipt":
            return _receipt(rng, fake)
        if kind == "amount":
            if rng.random() < 0.7:
                return _money(rng)
            return f"{_pick(rng, ('Total', 'Amount', 'Balance', 'Price', 'Paid', 'Due'))}: {_money(rng)}"
        if kind == "code":
            return _code(rng, fake)
        return _faker_line(kind, rng, fake)

    return [one() for _ in range(n)]


def generate(seed: int = 0, counts: dict[str, int] | None = None, workers: int = 1) -> dict[str, list[str]]:
    """Lines of every generated kind (see :func:`generate_kind`).

    Parameters
    ----------
    seed : int, optional
        Seed of the templates and of Faker.
    counts : dict, optional
        Lines per kind (default :data:`COUNTS`).
    workers : int, optional
        Processes generating kinds side by side; the output does not depend on it.

    Returns
    -------
    dict
        ``kind -> lines`` for the kinds of ``counts``.
    """
    counts = COUNTS if counts is None else counts
    kinds = list(counts)
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(generate_kind, kinds, [counts[k] for k in kinds], [seed] * len(kinds)))
    else:
        parts = [generate_kind(k, counts[k], seed) for k in kinds]
    return dict(zip(kinds, parts))
