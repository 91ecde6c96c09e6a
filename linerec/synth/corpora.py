"""Line-length English text for the line-sheet generator, built offline from the machine.

:func:`load_corpus` gathers text lines of several *kinds* once and caches them
under ``cache_dir/corpus`` (a file named by a hash of the source files' paths,
sizes and mtimes, the bundled text, this builder's code and the Faker version,
so a changed machine or builder rebuilds and an unchanged one never does):

========  ==================================================================
kind      source
========  ==================================================================
prose     man pages (``/usr/share/man/man?``, roff stripped) wrapped at 60-100
          characters, plus the bundled ``corpus_en.txt``
doc       ``/usr/share/doc/*``: README, NEWS, copyright and changelog lines
name      Faker (several English locales): people, optionally with titles
address   Faker street lines, city/postcode lines, whole one-line addresses
company   Faker companies, catch phrases, job titles
date      dates and times in a dozen printed formats
phone     Faker phone numbers, with and without labels
email     Faker e-mail addresses, with and without labels
url       Faker URLs and domain names
receipt   till receipts: items with quantities and prices, totals, tax/GST/VAT,
          CASH/CHANGE, invoice and table numbers, card lines, shop footers
amount    money with ``€ £ $ RM`` and ISO codes, in several number styles
code      IDs, SKUs, serials, percentages, ``±`` tolerances, ``°`` temperatures,
          ``§`` references, dimensions with ``×``, part and lot numbers
========  ==================================================================

Without man pages or package docs (a minimal container) the prose and doc kinds
fall back to the bundled corpus, with a logged warning. :class:`LineSampler`
draws a line of a kind with realistic lengths (2-80 characters, many short),
turns some into ALL CAPS and gives some typographic quotes and dashes. Every
character of every line is in :data:`linerec.model.charset.DEFAULT_CHARS`
(:func:`to_charset` maps or drops the others).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import pathlib
import re
import textwrap
import unicodedata
from typing import NamedTuple

import numpy as np

from linerec.model.charset import DEFAULT_CHARS

logger = logging.getLogger(__name__)

BUILD_VERSION = 1
MAN_DIRS = tuple(pathlib.Path("/usr/share/man") / f"man{s}" for s in "12345678")
DOC_DIR = pathlib.Path("/usr/share/doc")
BUNDLED = pathlib.Path(__file__).with_name("corpus_en.txt")
MAX_MAN_PAGES = 4000  # a spread-out subset keeps the one-time build near a minute on 2 cores
MAX_DOC_FILES = 3000
KINDS = ("prose", "doc", "name", "address", "company", "date", "phone", "email", "url", "receipt", "amount", "code")
#: How often :class:`LineSampler` draws each kind.
KIND_WEIGHTS = {
    "prose": 0.30,
    "doc": 0.12,
    "name": 0.04,
    "address": 0.05,
    "company": 0.03,
    "date": 0.04,
    "phone": 0.03,
    "email": 0.03,
    "url": 0.03,
    "receipt": 0.17,
    "amount": 0.06,
    "code": 0.10,
}
_CHARSET = frozenset(DEFAULT_CHARS)
_MAP = str.maketrans(
    {
        "\t": " ",
        "\u00a0": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00ab": '"',
        "\u00bb": '"',
        "\u201e": "\u201c",
        "\u201a": "\u2018",
        "\u2032": "'",
        "\u2033": '"',
        "\u2022": "\u00b7",
        "\u2122": "TM",
        "\u00a9": "(c)",
        "\u00ae": "(R)",
        "\u00b5": "u",
        "\u00bd": "1/2",
        "\u00bc": "1/4",
        "\u00be": "3/4",
        "\u00df": "ss",
        "\u00e6": "ae",
        "\u00c6": "AE",
        "\u0153": "oe",
        "\u0152": "OE",
        "\u00f8": "o",
        "\u00d8": "O",
        "\u0142": "l",
        "\u0141": "L",
        "\u00f0": "d",
        "\u00fe": "th",
        "\u00b4": "'",
        "\u02bc": "\u2019",
        "\u2015": "\u2014",
        "\u00f7": "/",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u2192": "->",
        "\u2190": "<-",
    }
)


def to_charset(text: str, max_dropped: float = 0.1) -> str | None:
    """``text`` with every character in the default charset, or None if too much is lost.

    Look-alikes are mapped (``‐ − → -``, ``… → ...``, ``• → ·``), accents removed
    (``é → e``), whitespace collapsed; other characters are dropped.

    Parameters
    ----------
    text : str
        Any text.
    max_dropped : float, optional
        Largest share of characters that may be dropped.

    Returns
    -------
    str or None
        The mapped text (stripped), or None when it is empty or lost too much.
    """
    text = text.translate(_MAP)
    if any(c not in _CHARSET for c in text):
        text = "".join(c if c in _CHARSET else unicodedata.normalize("NFKD", c) for c in text)
    kept = "".join(c for c in text if c in _CHARSET)
    if len(kept) < (1.0 - max_dropped) * len(text):
        return None
    kept = " ".join(kept.split())
    return kept or None


# --- roff (man pages) to text ---

_ROFF_CHARS = {
    "em": "\u2014",
    "en": "\u2013",
    "lq": "\u201c",
    "rq": "\u201d",
    "oq": "\u2018",
    "cq": "\u2019",
    "aq": "'",
    "dq": '"',
    "bu": "\u00b7",
    "co": "(c)",
    "de": "\u00b0",
    "+-": "\u00b1",
    "mu": "\u00d7",
    "sc": "\u00a7",
    "hy": "-",
    "mi": "-",
    "ti": "~",
    "ha": "^",
    "rs": "\\",
    "bv": "|",
    "ba": "|",
    "Eu": "\u20ac",
    "eu": "\u20ac",
    "Po": "\u00a3",
    "ga": "`",
    "aa": "'",
    "pl": "+",
    "eq": "=",
    "tm": "TM",
    "rg": "(R)",
    "fm": "'",
    "sl": "/",
    "ul": "_",
    "at": "@",
    "sh": "#",
    "Do": "$",
    "ra": ">",
    "la": "<",
    "->": "->",
    "<-": "<-",
    "R": "(R)",
    "Tm": "TM",
}
_ESCAPES = re.compile(
    r"\\(?:\((..)|\[([^\]]*)\]|\*\((..)|\*\[([^\]]*)\]|\*(.)|f\(..|f\[[^\]]*\]|f.|s[+-]?\d+"
    r"|s\(\d\d|n\(..|n\[[^\]]*\]|n.|[kw]'[^']*'|[hvlLxoDbz]'[^']*'|(.))"
)
_SIMPLE = {"-": "-", "e": "\\", "~": " ", " ": " ", "0": " ", "t": " ", "`": "`", "'": "'", ".": ".", "\\": "\\"}
_FONT_MACROS = {"B", "I", "SM", "SB", "BR", "IR", "RB", "RI", "BI", "IB", "R"}
_BREAK_MACROS = {
    "PP",
    "P",
    "LP",
    "TP",
    "TQ",
    "HP",
    "RS",
    "RE",
    "sp",
    "br",
    "in",
    "ti",
    "Pp",
    "Bl",
    "El",
    "Bd",
    "Ed",
    "Sh",
    "Ss",
    "EX",
    "EE",
}


def _unescape(text: str) -> str:
    def sub(m: re.Match) -> str:
        named = m.group(1) or m.group(2) or m.group(3) or m.group(4) or m.group(5)
        if named is not None:
            return _ROFF_CHARS.get(named, "")
        return _SIMPLE.get(m.group(6) or "", "")

    return _ESCAPES.sub(sub, text.split('\\"', 1)[0])


def _macro_text(args: str) -> str:
    """The text arguments of a font macro such as ``.BR ls (1)``."""
    words = re.findall(r'"([^"]*)"|(\S+)', args)
    return " ".join(a or b for a, b in words)


def roff_to_text(source: str) -> list[str]:
    """Readable paragraphs of a man page (roff source).

    Parameters
    ----------
    source : str
        The page's roff text.

    Returns
    -------
    list of str
        Headings, paragraphs (filled text joined into one string) and the
        lines of no-fill blocks (examples), in page order, escapes resolved.
    """
    out: list[str] = []
    current: list[str] = []
    nofill = table = False

    def flush() -> None:
        if current:
            out.append(" ".join(_unescape(x) for x in current))
            current.clear()

    for line in source.splitlines():
        if line.startswith((".", "'")):
            m = re.match(r"[.'][ \t]*([A-Za-z]+)[ \t]*(.*)", line)
            if not m:
                continue
            macro, args = m.groups()
            if macro == "TS":
                flush()
                table = True
            elif macro == "TE":
                table = False
            elif macro == "nf":
                flush()
                nofill = True
            elif macro == "fi":
                nofill = False
            elif macro in ("SH", "SS", "IP"):
                flush()
                if args.strip():
                    out.append(_unescape(_macro_text(args)))
            elif macro in _FONT_MACROS:
                if macro in ("B", "I", "SM", "SB", "R"):
                    current.append(_macro_text(args))
                else:  # alternating fonts: arguments join without spaces
                    current.append("".join(a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', args)))
                if nofill:
                    flush()
            elif macro in _BREAK_MACROS:
                flush()
            continue
        if table:
            continue
        current.append(line)
        if nofill:
            flush()
    flush()
    return [p for p in (" ".join(x.split()) for x in out) if p]


def _man_page(path: str) -> list[str]:
    """Wrapped prose lines of one man page file (gzip or plain)."""
    try:
        raw = pathlib.Path(path).read_bytes()
        raw = gzip.decompress(raw) if path.endswith(".gz") else raw
    except (OSError, EOFError, gzip.BadGzipFile):
        return []
    text = raw.decode("utf-8", errors="replace")
    if text.startswith(".so "):  # a link to another page
        return []
    lines: list[str] = []
    for para in roff_to_text(text):
        width = 60 + (len(para) * 7 + len(lines) * 13) % 41  # 60-100, varied but a pure function of the page
        for line in textwrap.wrap(para, width, break_long_words=False, break_on_hyphens=False):
            mapped = to_charset(line)
            if mapped and len(mapped) >= 2 and "\ufffd" not in line:
                lines.append(mapped)
    return lines


def _doc_file(path: str) -> list[str]:
    """Text lines of one package doc file (README, copyright, changelog; gzip or plain)."""
    try:
        raw = pathlib.Path(path).read_bytes()
        if path.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile):
        return []
    if b"\x00" in raw[:4096]:
        return []
    lines = []
    for line in raw[:200_000].decode("utf-8", errors="replace").splitlines()[:400]:
        line = line.strip()
        if len(line) < 2 or "\ufffd" in line or sum(c.isalnum() for c in line) < 0.4 * len(line):
            continue
        mapped = to_charset(line)
        if mapped:
            lines.append(mapped[:100])
    return lines


def _spread(paths: list[str], limit: int) -> list[str]:
    """At most ``limit`` of the sorted ``paths``, evenly spread."""
    if len(paths) <= limit:
        return paths
    step = len(paths) / limit
    return [paths[int(i * step)] for i in range(limit)]


def _man_files() -> list[str]:
    found = [str(p) for d in MAN_DIRS if d.is_dir() for p in d.iterdir() if p.is_file()]
    return _spread(sorted(found), MAX_MAN_PAGES)


def _doc_files() -> list[str]:
    if not DOC_DIR.is_dir():
        return []
    pattern = re.compile(r"^(readme|news|copyright|changelog|changes|authors|faq)([._-].*)?$", re.I)
    found = []
    for pkg in sorted(DOC_DIR.iterdir()):
        if pkg.is_dir() and not pkg.is_symlink():
            found += [
                str(p)
                for p in sorted(pkg.iterdir())
                if p.is_file() and pattern.match(p.name) and not p.name.endswith((".html", ".pdf", ".png", ".svg"))
            ]
    return _spread(found, MAX_DOC_FILES)


def _source_key(files: list[str]) -> str:
    from faker import VERSION as faker_version

    digest = hashlib.sha256(f"{BUILD_VERSION} {faker_version} {len(files)}".encode())
    for source in (BUNDLED, pathlib.Path(__file__), pathlib.Path(__file__).with_name("text_kinds.py")):
        digest.update(source.read_bytes())  # the text and the code that builds the corpus
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            continue
        digest.update(f"\n{path} {st.st_size} {st.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def _bundled() -> list[str]:
    lines = BUNDLED.read_text(encoding="ascii").splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


class Corpus(NamedTuple):
    """Distinct text lines by kind (each tuple sorted), as built by :func:`load_corpus`."""

    lines: dict[str, tuple[str, ...]]
    key: str

    def __len__(self) -> int:
        return sum(len(v) for v in self.lines.values())


def build_lines(man_files: list[str], doc_files: list[str], workers: int = 2) -> dict[str, list[str]]:
    """Build every kind's lines (without caching); see the module docstring.

    Parameters
    ----------
    man_files, doc_files : list of str
        Source files (may be empty: prose and doc then come from the bundled corpus).
    workers : int, optional
        Processes parsing the source files.

    Returns
    -------
    dict
        ``kind -> distinct lines`` (sorted).
    """
    from linerec.synth import text_kinds

    def parse(func, files: list[str]) -> list[str]:
        if workers > 1 and len(files) > 100:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                parts = list(pool.map(func, files, chunksize=64))
        else:
            parts = [func(f) for f in files]
        return [line for part in parts for line in part]

    prose = parse(_man_page, man_files)
    doc = parse(_doc_file, doc_files)
    if not prose:
        logger.warning(
            "no man pages found under %s: prose comes from the bundled corpus only", ", ".join(map(str, MAN_DIRS[:1]))
        )
    if not doc:
        logger.warning("no package documentation found under %s: doc lines come from the bundled corpus", DOC_DIR)
        doc = list(_bundled())
    prose += _bundled()
    lines = {"prose": prose, "doc": doc, **text_kinds.generate(seed=0, workers=workers)}
    out = {}
    for kind in KINDS:
        kept = {m for m in (to_charset(x) for x in lines.get(kind, ())) if m}
        out[kind] = sorted(kept)
    return out


@functools.lru_cache(maxsize=2)
def load_corpus(workers: int = 2, man: bool = True) -> Corpus:
    """The cached corpus of this machine, built on first use.

    Parameters
    ----------
    workers : int, optional
        Processes used when the cache has to be built.
    man : bool, optional
        Read man pages and package docs (False: bundled corpus and generated kinds only).

    Returns
    -------
    Corpus
        Lines by kind; the same object for the same machine state.
    """
    from linerec.infra.config import get_settings

    man_files, doc_files = (_man_files(), _doc_files()) if man else ([], [])
    key = _source_key(man_files + doc_files)
    cache = get_settings().cache_dir / "corpus" / f"lines-{key}.tsv"
    if not cache.is_file():
        lines = build_lines(man_files, doc_files, workers)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for kind in KINDS:
                fh.writelines(f"{kind}\t{line}\n" for line in lines[kind])
        os.replace(tmp, cache)
        logger.info("built corpus %s: %s", cache, ", ".join(f"{k} {len(v)}" for k, v in lines.items()))
    by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
    with open(cache, encoding="utf-8") as fh:
        for row in fh:
            kind, _, text = row.rstrip("\n").partition("\t")
            by_kind[kind].append(text)
    return Corpus({k: tuple(v) for k, v in by_kind.items()}, key)


# --- sampling ---

_CUT_KINDS = {"prose", "doc"}


def _curly(text: str, rng: np.random.Generator) -> str:
    """Typographic quotes, apostrophes and dashes, as typeset text has them."""
    out, double_open, single_open = [], True, True
    for i, c in enumerate(text):
        prev = text[i - 1] if i else " "
        if c == '"':
            out.append("\u201c" if double_open else "\u201d")
            double_open = not double_open
        elif c == "'":
            if prev.isalnum():
                out.append("\u2019")  # apostrophe or closing quote
            else:
                out.append("\u2018" if single_open else "\u2019")
                single_open = not single_open
        else:
            out.append(c)
    text = "".join(out)
    text = re.sub(r"(?<=\d)-(?=\d)", "\u2013", text) if rng.random() < 0.7 else text
    text = text.replace(" -- ", " \u2014 " if rng.random() < 0.5 else "\u2014").replace("--", "\u2013")
    if rng.random() < 0.4:
        text = text.replace(" - ", " \u2013 ")
    return text


class LineSampler:
    """Draws text lines from a :class:`Corpus` with realistic lengths and casing.

    Parameters
    ----------
    corpus : Corpus
        Lines by kind.
    weights : dict, optional
        Probability of each kind (defaults to :data:`KIND_WEIGHTS`; kinds the corpus
        lacks are left out).
    """

    def __init__(self, corpus: Corpus, weights: dict[str, float] | None = None) -> None:
        weights = dict(KIND_WEIGHTS if weights is None else weights)
        self.corpus = corpus
        self.kinds = tuple(k for k in KINDS if weights.get(k, 0) > 0 and corpus.lines.get(k))
        p = np.array([weights[k] for k in self.kinds], dtype=np.float64)
        self.p = p / p.sum()

    def _length(self, rng: np.random.Generator) -> int:
        """Target length in characters: many short lines, a long tail to 80."""
        u = rng.random()
        if u < 0.25:
            return int(rng.integers(2, 13))
        if u < 0.6:
            return int(rng.integers(12, 41))
        return int(rng.integers(40, 81))

    def _cut(self, line: str, length: int, rng: np.random.Generator) -> str:
        """A run of whole words of ``line`` about ``length`` characters long."""
        words = line.split()
        if len(line) <= length or len(words) == 1:
            return line[:80]
        start = int(rng.integers(len(words))) if rng.random() < 0.7 else 0
        out = words[start]
        for w in words[start + 1 :]:
            if len(out) + 1 + len(w) > length:
                break
            out += " " + w
        return out[:80]

    def sample(self, rng: np.random.Generator) -> tuple[str, str]:
        """One ``(kind, text)``; ``text`` is 1-80 characters of the default charset."""
        kind = self.kinds[int(rng.choice(len(self.kinds), p=self.p))]
        pool = self.corpus.lines[kind]
        text = pool[int(rng.integers(len(pool)))]
        if kind in _CUT_KINDS:
            text = self._cut(text, self._length(rng), rng)
            if rng.random() < 0.35:
                text = _curly(text, rng)
        elif ('"' in text or "'" in text or "-" in text) and rng.random() < 0.3:
            text = _curly(text, rng)
        r = rng.random()
        if r < 0.08:
            text = text.upper()
        elif r < 0.10 and kind in _CUT_KINDS:
            text = text.title()
        text = text.strip()[:80].strip()
        return kind, text or "-"
