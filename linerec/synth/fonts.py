"""Installed fonts for synthetic text, with a fixed held-out split.

Two views of the same machine:

* :func:`fonts` - a hand-made catalog of ~40 families (the page generator
  :mod:`linerec.synth.pages` renders whole documents with it). All styles of
  :data:`HELDOUT_FAMILIES` are ``"heldout"``, every other entry ``"train"``.
* :func:`line_fonts` - every usable font file installed under
  :data:`FONT_DIRS` (hundreds of families from Debian ``fonts-*`` packages), for
  the line-sheet generator :mod:`linerec.synth.lines`. A font is usable when
  it draws every letter, digit and common punctuation mark of ASCII (no
  ``.notdef`` box, no blank; up to :data:`MAX_LACKING` rare symbols such as
  ``{|}~`` may be missing and are recorded in ``Font.lacks``) with real lower
  case (ascenders, descenders, a small period: caps-only, small-caps, symbol and
  dingbat fonts fail), is not a hairline weight and is not a script,
  handwriting, decorative or re-encoded family (:data:`_SKIP_NAME`,
  :data:`_SKIP_FAMILIES`). The Unicode
  characters of :data:`linerec.model.charset.EXTRA_CHARS` it draws are recorded per
  font (``Font.extras``), so a line can avoid the ones a font lacks.

The held-out split of :func:`line_fonts` works on *design groups*, not family
names, because Debian ships the same design under several names (TeX Gyre
Pagella is P052, Ricty Diminished is Inconsolata, Tinos is Liberation Serif,
Computer Modern Unicode is Latin Modern, ...). A group is the family's first
word (three for "TeX Gyre ..."), merged through :data:`_DESIGN_ALIASES`,
:data:`_DESIGN_PREFIXES` and identical renderings of a probe string. A group is held out when it holds
a family of :data:`HELDOUT_FAMILIES`, or when its name hashes into
:data:`HASH_HELDOUT_PERCENT` percent of the hash space and it holds no family of
the hand-made catalog (those are training fonts of the page generator). The
split therefore depends only on the installed files, never on a seed.

Discovery renders every glyph of ~3,000 files once (~20 s) and caches the
result under ``cache_dir/fonts`` keyed by the files' paths, sizes and mtimes and
by this module's code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pathlib
import re
from typing import NamedTuple

logger = logging.getLogger(__name__)

FONT_ROOT = pathlib.Path("/usr/share/fonts")
#: Families never used for training (all of their styles).
HELDOUT_FAMILIES = frozenset({"Carlito", "Caladea", "Inconsolata", "P052"})
SPLITS = ("train", "heldout", "all")


class Font(NamedTuple):
    """One font file of the catalog."""

    name: str  # file stem, e.g. "LiberationSerif-Bold"
    path: str
    family: str  # e.g. "Liberation Serif"
    style: str  # "regular", "bold", "italic", "bold italic", "light", "light italic"
    category: str  # "serif", "sans" or "mono"
    condensed: bool
    package: str  # the Debian package that installs the file ("" when unknown)
    group: str = ""  # design group (discovered fonts only)
    held_out: bool = False  # in a held-out design group (discovered fonts only)
    extras: str = ""  # characters of EXTRA_CHARS the font draws (discovered fonts only)
    x_height: float = 0.0  # height of "x" per pixel of font size (discovered fonts only)
    lacks: str = ""  # rare ASCII symbols the font does not draw (discovered fonts only; at most MAX_LACKING)

    @property
    def split(self) -> str:
        """``"heldout"`` for the held-out families (or design groups), else ``"train"``."""
        return "heldout" if self.held_out or self.family in HELDOUT_FAMILIES else "train"


_R4 = "Regular Bold Italic BoldItalic"  # the usual four file suffixes
# (package, directory under FONT_ROOT, family, category, file stems, extension)
_CATALOG = (
    (
        "fonts-dejavu-core",
        "truetype/dejavu",
        "DejaVu Sans",
        "sans",
        "DejaVuSans DejaVuSans-Bold DejaVuSans-Oblique DejaVuSans-BoldOblique",
        ".ttf",
    ),
    ("fonts-dejavu-core", "truetype/dejavu", "DejaVu Serif", "serif", "DejaVuSerif DejaVuSerif-Bold", ".ttf"),
    (
        "fonts-dejavu-extra",
        "truetype/dejavu",
        "DejaVu Serif",
        "serif",
        "DejaVuSerif-Italic DejaVuSerif-BoldItalic",
        ".ttf",
    ),
    ("fonts-dejavu-core", "truetype/dejavu", "DejaVu Sans Mono", "mono", "DejaVuSansMono DejaVuSansMono-Bold", ".ttf"),
    (
        "fonts-dejavu-extra",
        "truetype/dejavu",
        "DejaVu Sans Mono",
        "mono",
        "DejaVuSansMono-Oblique DejaVuSansMono-BoldOblique",
        ".ttf",
    ),
    (
        "fonts-dejavu-extra",
        "truetype/dejavu",
        "DejaVu Sans Condensed",
        "sans",
        "DejaVuSansCondensed DejaVuSansCondensed-Bold DejaVuSansCondensed-Oblique DejaVuSansCondensed-BoldOblique",
        ".ttf",
    ),
    (
        "fonts-dejavu-extra",
        "truetype/dejavu",
        "DejaVu Serif Condensed",
        "serif",
        "DejaVuSerifCondensed DejaVuSerifCondensed-Bold DejaVuSerifCondensed-Italic DejaVuSerifCondensed-BoldItalic",
        ".ttf",
    ),
    ("fonts-liberation", "truetype/liberation", "Liberation Sans", "sans", _R4, ".ttf"),
    ("fonts-liberation", "truetype/liberation", "Liberation Serif", "serif", _R4, ".ttf"),
    ("fonts-liberation", "truetype/liberation", "Liberation Mono", "mono", _R4, ".ttf"),
    ("fonts-liberation", "truetype/liberation", "Liberation Sans Narrow", "sans", _R4, ".ttf"),
    (
        "fonts-freefont-ttf",
        "truetype/freefont",
        "FreeSans",
        "sans",
        "FreeSans FreeSansBold FreeSansOblique FreeSansBoldOblique",
        ".ttf",
    ),
    (
        "fonts-freefont-ttf",
        "truetype/freefont",
        "FreeSerif",
        "serif",
        "FreeSerif FreeSerifBold FreeSerifItalic FreeSerifBoldItalic",
        ".ttf",
    ),
    (
        "fonts-freefont-ttf",
        "truetype/freefont",
        "FreeMono",
        "mono",
        "FreeMono FreeMonoBold FreeMonoOblique FreeMonoBoldOblique",
        ".ttf",
    ),
    ("fonts-croscore", "truetype/croscore", "Arimo", "sans", _R4, ".ttf"),
    ("fonts-croscore", "truetype/croscore", "Tinos", "serif", _R4, ".ttf"),
    ("fonts-croscore", "truetype/croscore", "Cousine", "mono", _R4, ".ttf"),
    ("fonts-crosextra-carlito", "truetype/crosextra", "Carlito", "sans", _R4, ".ttf"),
    ("fonts-crosextra-caladea", "truetype/crosextra", "Caladea", "serif", _R4, ".ttf"),
    ("fonts-open-sans", "truetype/open-sans", "Open Sans", "sans", _R4 + " Semibold Light LightItalic", ".ttf"),
    (
        "fonts-open-sans",
        "truetype/open-sans",
        "Open Sans Condensed",
        "sans",
        "OpenSans-CondBold OpenSans-CondLight",
        ".ttf",
    ),
    ("fonts-roboto-unhinted", "truetype/roboto/unhinted/RobotoTTF", "Roboto", "sans", _R4 + " Medium Light", ".ttf"),
    ("fonts-roboto-unhinted", "truetype/roboto/unhinted", "Roboto Condensed", "sans", _R4 + " Light", ".ttf"),
    ("fonts-lato", "truetype/lato", "Lato", "sans", _R4 + " Black Light Semibold", ".ttf"),
    ("fonts-go", "fonts-go", "Go", "sans", "Go-Regular Go-Bold Go-Italic Go-Bold-Italic", ".ttf"),
    ("fonts-go", "fonts-go", "Go Medium", "sans", "Go-Medium Go-Medium-Italic", ".ttf"),
    ("fonts-go", "fonts-go", "Go Mono", "mono", "Go-Mono Go-Mono-Bold Go-Mono-Italic Go-Mono-Bold-Italic", ".ttf"),
    ("fonts-inconsolata", "truetype/inconsolata", "Inconsolata", "mono", "Inconsolata", ".otf"),
    ("fonts-noto-mono", "truetype/noto", "Noto Mono", "mono", "NotoMono-Regular", ".ttf"),
    ("fonts-urw-base35", "opentype/urw-base35", "Nimbus Roman", "serif", _R4, ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "Nimbus Sans", "sans", _R4, ".otf"),
    (
        "fonts-urw-base35",
        "opentype/urw-base35",
        "Nimbus Sans Narrow",
        "sans",
        "Regular Bold Oblique BoldOblique",
        ".otf",
    ),
    ("fonts-urw-base35", "opentype/urw-base35", "Nimbus Mono PS", "mono", _R4, ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "C059", "serif", "Roman Bold Italic BdIta", ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "P052", "serif", "Roman Bold Italic BoldItalic", ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "URW Bookman", "serif", "Light Demi LightItalic DemiItalic", ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "URW Gothic", "sans", "Book Demi BookOblique DemiOblique", ".otf"),
)


def _style(stem: str) -> str:
    """Style of a font file from its stem, e.g. ``"Go-Bold-Italic"`` -> ``"bold italic"``."""
    s = stem.lower()
    italic = any(k in s for k in ("italic", "oblique", "bdita"))
    weights = (("bold", ("bold", "bdita", "demi", "black")), ("medium", ("medium",)), ("light", ("light",)))
    weight = next((w for w, keys in weights if any(k in s for k in keys)), "")
    return " ".join(p for p in (weight, "italic" if italic else "") if p) or "regular"


def _file_stem(family: str, part: str) -> str:
    """File stem of a catalog part: a whole stem, or a style suffix of the family's compact name."""
    compact = family.replace(" ", "")
    return part if "-" in part or part.startswith(compact) else f"{compact}-{part}"


@functools.lru_cache(maxsize=1)
def catalog() -> tuple[Font, ...]:
    """Every font of the catalog, installed or not, in a fixed order."""
    entries = []
    for package, folder, family, category, parts, ext in _CATALOG:
        condensed = any(k in family for k in ("Narrow", "Condensed"))
        for part in parts.split():
            stem = _file_stem(family, part)
            entries.append(
                Font(stem, str(FONT_ROOT / folder / (stem + ext)), family, _style(stem), category, condensed, package)
            )
    return tuple(entries)


def fonts(split: str = "train") -> list[Font]:
    """Installed fonts of a split.

    Parameters
    ----------
    split : {"train", "heldout", "all"}
        ``"heldout"`` holds every style of :data:`HELDOUT_FAMILIES`, ``"train"``
        every other font, ``"all"`` both.

    Returns
    -------
    list of Font
        Installed entries in catalog order (stable across runs and machines
        that have the same packages).

    Raises
    ------
    ValueError
        For an unknown split.
    RuntimeError
        If no font of the split is installed; the message names the apt packages.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown font split {split!r}; expected one of {SPLITS}")
    wanted = [f for f in catalog() if split == "all" or f.split == split]
    found = [f for f in wanted if pathlib.Path(f.path).is_file()]
    if not found:
        packages = " ".join(sorted({f.package for f in wanted}))
        raise RuntimeError(f"no {split!r} fonts installed; run: sudo apt-get install {packages}")
    return found


def by_name(name: str) -> Font:
    """The font called ``name``: a catalog entry (file stem such as ``"LiberationSerif-Bold"``), else
    a discovered font of :func:`line_fonts` of that name."""
    for font in catalog():
        if font.name == name:
            return font
    for font in discover():
        if font.name == name:
            return font
    raise KeyError(f"no font {name!r} in the catalog or among the installed fonts")


# --- every installed font: discovery, design groups and the held-out split of the line generator ---

#: Folders searched for font files by :func:`discover` (symbolic links are followed).
FONT_DIRS = (FONT_ROOT, pathlib.Path("/usr/share/texmf/fonts/opentype"), pathlib.Path("/usr/local/share/fonts"))
#: A font may lack up to this many ASCII symbols (typewriter and signage faces often lack ``{|}~``) ...
MAX_LACKING = 6
#: ... but never a letter, a digit or one of these.
ESSENTIAL = ".,:;-'\"()/!?$%"
#: Percent of the design groups (by name hash) held out on top of :data:`HELDOUT_FAMILIES`.
HASH_HELDOUT_PERCENT = 10
_DISCOVERY_VERSION = 3
_PROBE_SIZE = 48
_PROBE_TEXT = "Hamburgefonstiv 0123"  # identical renderings mean one design under two names
_SKIP_NAME = re.compile(
    r"symbol|dingbat|emoji|\bicons?\b|awesome|math|braille|music|ornament|initials|fallback|"
    r"barcode|phon|abecedario|keyboard|integrals|sizes?\w*sym|nonunicode|variants|titling|"
    r"\bsc\b|\ball sc\b|upper|csur|\bjp\b|script|chancery|chorus|z003|calligraph|handwrit|"
    r"brush",
    re.I,
)
#: Decorative, handwriting and re-encoded families that pass the glyph checks (the Uralic URW clones put
#: Cyrillic and other letters where Latin-1 symbols belong).
_SKIP_FAMILIES = frozenset(
    {
        "Elegante",
        "Domestic Manners",
        "Junkyard",
        "Penguin Attack",
        "Cupola",
        "It wasn't me",
        "Marked Fool",
        "El Abogado Loco",
        "Winks",
        "Wargames",
        "flatline",
        "progenisis",
        "Bookman Uralic",
        "Chancery Uralic",
        "Gothic Uralic",
        "Mono Uralic",
        "Palladio Uralic",
        "Roman Uralic",
        "Sans Condensed Uralic",
        "Sans Uralic",
        "Schoolbook Uralic",
    }
)
_SKIP_STYLE = re.compile(r"thin|hairline|extra ?light|ultra ?light", re.I)
_CONDENSED = re.compile(r"cond|narrow|compress|\bcn\b", re.I)
#: Families that are another family's design under a new name -> the group they belong to.
_DESIGN_ALIASES = {
    "Arimo": "liberation",
    "Tinos": "liberation",
    "Cousine": "liberation",
    "TeX Gyre Termes": "nimbus",
    "TeX Gyre Heros": "nimbus",
    "TeX Gyre Heros Cn": "nimbus",
    "TeX Gyre Cursor": "nimbus",
    "FreeSerif": "nimbus",
    "FreeSans": "nimbus",
    "FreeMono": "nimbus",
    "TeX Gyre Bonum": "urw",
    "TeX Gyre Adventor": "urw",
    "TeX Gyre Schola": "c059",
    "TeX Gyre Pagella": "p052",
    "TeX Gyre Chorus": "z003",
    "Ricty Diminished": "inconsolata",
    "Ricty Diminished Discord": "inconsolata",
    "Aerial": "dejavu",
    "Aerial Mono": "dejavu",
    "Veranda": "dejavu",
    "Tymes": "dejavu",
    "sans": "dejavu",
    "Noto Mono": "noto mono",
    "Noto Sans Mono": "noto mono",
}
#: Family-name prefixes that name one design group.
_DESIGN_PREFIXES = (
    ("CMU ", "computer modern"),
    ("Latin Modern", "computer modern"),
    ("LM ", "computer modern"),
    ("OCRA", "ocr a"),
    ("Beteckna", "beteckna"),
    ("Gentium", "gentium"),
    ("Karla", "karla"),
    ("Verana", "verana"),
    ("Tiresias", "tiresias"),
    ("Unifont", "unifont"),
    ("Noto ", "noto"),
)


def _design_name(family: str) -> str:
    """The design group a family name implies before merging identical renderings."""
    if family in _DESIGN_ALIASES:
        return _DESIGN_ALIASES[family]
    for prefix, group in _DESIGN_PREFIXES:
        if family.startswith(prefix):
            return group
    words = family.lower().replace("_", " ").split()
    return " ".join(words[:3] if family.startswith("TeX Gyre") else words[:1]) or family.lower()


def _font_files() -> list[pathlib.Path]:
    """TrueType/OpenType files under :data:`FONT_DIRS`, real paths, sorted, without duplicates."""
    found = set()
    for root in FONT_DIRS:
        if not root.is_dir():
            continue
        for folder, _, names in os.walk(root, followlinks=True):
            for name in names:
                if name.lower().endswith((".ttf", ".otf")):
                    path = pathlib.Path(folder, name)
                    if path.is_file():
                        found.add(path.resolve())
    return sorted(found)


def _packages(paths: list[pathlib.Path]) -> dict[str, str]:
    """Debian package of each font file, from dpkg's file lists (empty where dpkg is absent)."""
    wanted, owner = {str(p) for p in paths}, {}
    info = pathlib.Path("/var/lib/dpkg/info")
    for listing in sorted(info.glob("*.list")) if info.is_dir() else ():
        try:
            lines = listing.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            real = str(pathlib.Path(line).resolve()) if "/fonts/" in line else ""
            if real in wanted and real not in owner:
                owner[real] = listing.stem.split(":")[0]
    return owner


def _probe(path: pathlib.Path) -> tuple[dict | None, str]:
    """Measure one font file; ``(record, "ok")`` or ``(None, reason it is unusable)``."""
    import numpy as np
    from PIL import ImageFont

    from linerec.model.charset import EXTRA_CHARS

    try:
        face = ImageFont.truetype(str(path), _PROBE_SIZE)
        family, style = face.getname()
    except (OSError, ValueError):
        return None, "unreadable"
    family, style = (family or "").strip(), (style or "Regular").strip()
    if not family or family in _SKIP_FAMILIES or _SKIP_NAME.search(family) or _SKIP_NAME.search(style):
        return None, "symbol, math or decorative name"
    if _SKIP_STYLE.search(style):
        return None, "hairline weight"
    small = ImageFont.truetype(str(path), 20)  # glyph presence: rendering 20 px is 4x cheaper than 48 px
    notdef = bytes(small.getmask("\U000f0000"))

    def draws(ch: str) -> bool:
        mask = small.getmask(ch)
        return mask.getbbox() is not None and bytes(mask) != notdef

    missing = "".join(chr(c) for c in range(0x21, 0x7F) if not draws(chr(c)))
    if len(missing) > MAX_LACKING or any(c.isalnum() or c in ESSENTIAL for c in missing):
        return None, "lacks printable ASCII"
    box = {c: face.getbbox(c, anchor="ls") for c in "xbdhklgpqy"}  # y of the ink relative to the baseline
    x_h = -box["x"][1]
    ascent = sum(-box[c][1] for c in "bdhkl") / 5
    descending = sum(box[c][3] > 0.12 * x_h for c in "gpqy")
    ink_box = {c: face.getmask(c).getbbox() for c in "H.-"}  # (x0, y0, x1, y1) of the ink
    area = {c: (b[2] - b[0]) * (b[3] - b[1]) for c, b in ink_box.items()}
    hyphen = ink_box["-"]
    if (
        x_h <= 0
        or ascent < 1.15 * x_h
        or descending < 3
        or area["."] > 0.2 * area["H"]
        or hyphen[2] - hyphen[0] <= hyphen[3] - hyphen[1]
    ):
        return None, "no real lower case (caps, small caps or symbols)"
    mono = len({round(face.getlength(c), 1) for c in "iM.W0l"}) == 1
    ink = np.asarray(face.getmask("I"), dtype=np.uint8).reshape(face.getmask("I").size[::-1]) > 127
    rows = ink[ink.any(axis=1)]
    foot, waist = rows[-max(len(rows) // 12, 1) :].sum(axis=1).max(), rows[len(rows) // 2].sum()
    category = "mono" if mono else ("serif" if foot > 1.6 * max(waist, 1) else "sans")
    return {
        "path": str(path),
        "family": family,
        "style": style.lower(),
        "category": category,
        "condensed": bool(_CONDENSED.search(f"{family} {style}")),
        "extras": "".join(c for c in EXTRA_CHARS if draws(c)),
        "x_height": round(x_h / _PROBE_SIZE, 4),
        "lacks": missing,
        "print": hashlib.sha1(bytes(face.getmask(_PROBE_TEXT))).hexdigest()[:16],
    }, "ok"


def _groups(records: list[dict]) -> dict[str, str]:
    """Design group of each family: name rules merged over identical probe renderings (union-find)."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the smaller name names the group: order-independent

    by_print: dict[str, str] = {}
    for rec in records:
        group = _design_name(rec["family"])
        union(group, by_print.setdefault(rec["print"], group))
    return {rec["family"]: find(_design_name(rec["family"])) for rec in records}


def _heldout_groups(group_of: dict[str, str]) -> set[str]:
    """Design groups never used for training (see the module docstring)."""
    catalog_families = {f.family for f in catalog()}
    held = {g for fam, g in group_of.items() if fam in HELDOUT_FAMILIES}
    protected = {g for fam, g in group_of.items() if fam in catalog_families and fam not in HELDOUT_FAMILIES}
    for group in set(group_of.values()) - protected:
        if int(hashlib.sha256(group.encode()).hexdigest(), 16) % 100 < HASH_HELDOUT_PERCENT:
            held.add(group)
    clash = held & protected
    if clash:
        logger.warning("design groups %s hold both held-out and catalog training families; held out", sorted(clash))
    return held


def _discovery_key(paths: list[pathlib.Path]) -> str:
    digest = hashlib.sha256(f"{_DISCOVERY_VERSION} {HASH_HELDOUT_PERCENT} {sorted(HELDOUT_FAMILIES)}".encode())
    digest.update(pathlib.Path(__file__).read_bytes())  # the rules that probe, group and split
    for path in paths:
        st = path.stat()
        digest.update(f"\n{path} {st.st_size} {st.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def _discover_records(paths: list[pathlib.Path], workers: int) -> list[dict]:
    """Probe every file (in ``workers`` processes); keep one file per (family, style, rendering)."""
    if workers > 1 and len(paths) > 50:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            probed = list(pool.map(_probe, paths, chunksize=32))
    else:
        probed = [_probe(p) for p in paths]
    reasons: dict[str, int] = {}
    for _, reason in probed:
        reasons[reason] = reasons.get(reason, 0) + 1
    logger.info("probed %d font files: %s", len(paths), ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())))
    preferred = {f.path for f in catalog()}
    records = sorted(
        (r for r, _ in probed if r is not None),
        key=lambda r: (r["path"] not in preferred, not r["path"].endswith(".ttf"), r["path"]),
    )
    seen, kept = set(), []
    for rec in records:  # the same face in two files (e.g. .ttf and .otf builds) counts once
        if (rec["family"], rec["style"], rec["print"]) not in seen:
            seen.add((rec["family"], rec["style"], rec["print"]))
            kept.append(rec)
    return sorted(kept, key=lambda r: r["path"])


@functools.lru_cache(maxsize=1)
def discover(workers: int = 2) -> tuple[Font, ...]:
    """Every usable installed font file, in path order, with its design group and split.

    Parameters
    ----------
    workers : int, optional
        Processes probing the files when the cache is cold.

    Returns
    -------
    tuple of Font
        One entry per distinct face; ``name`` is the file stem (made unique with the
        folder name where two files share a stem), ``package`` the Debian package.
    """
    from linerec.infra.config import get_settings

    paths = _font_files()
    cache = get_settings().cache_dir / "fonts" / f"fonts-{_discovery_key(paths)}.json"
    if cache.is_file():
        records = json.loads(cache.read_text(encoding="utf-8"))
    else:
        records = _discover_records(paths, workers)
        owner = _packages([pathlib.Path(r["path"]) for r in records])
        group_of = _groups(records)
        held = _heldout_groups(group_of)
        for rec in records:
            rec.update(
                package=owner.get(rec["path"], ""),
                group=group_of[rec["family"]],
                held_out=group_of[rec["family"]] in held,
            )
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(records, ensure_ascii=False, indent=0), encoding="utf-8")
        os.replace(tmp, cache)
    out, names = [], set()
    for rec in records:
        path = pathlib.Path(rec["path"])
        name = path.stem if path.stem not in names else f"{path.stem}-{path.parent.name}"
        names.add(name)
        out.append(
            Font(
                name,
                rec["path"],
                rec["family"],
                rec["style"],
                rec["category"],
                rec["condensed"],
                rec["package"],
                rec["group"],
                rec["held_out"],
                rec["extras"],
                rec["x_height"],
                rec["lacks"],
            )
        )
    return tuple(out)


def line_fonts(split: str = "train") -> list[Font]:
    """Discovered fonts of a split (see :func:`discover` and the module docstring).

    Parameters
    ----------
    split : {"train", "heldout", "all"}

    Returns
    -------
    list of Font
        In path order.

    Raises
    ------
    ValueError
        For an unknown split.
    RuntimeError
        If no usable font of the split is installed.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown font split {split!r}; expected one of {SPLITS}")
    found = [f for f in discover() if split == "all" or f.split == split]
    if not found:
        raise RuntimeError(
            f"no usable {split!r} fonts installed under {', '.join(map(str, FONT_DIRS))}; "
            "run scripts/setup.sh (it installs the fonts-* packages)"
        )
    return found


def design_groups(split: str = "train") -> dict[str, tuple[Font, ...]]:
    """Fonts of a split by design group, groups in name order.

    Parameters
    ----------
    split : {"train", "heldout", "all"}

    Returns
    -------
    dict
        ``group -> fonts`` (each tuple in path order).
    """
    groups: dict[str, list[Font]] = {}
    for font in line_fonts(split):
        groups.setdefault(font.group, []).append(font)
    return {g: tuple(groups[g]) for g in sorted(groups)}
