"""Catalog of installed font files for synthetic pages, with a fixed held-out set.

Every entry is a font that renders all of printable ASCII faithfully; fonts that
do not (small caps, dingbats, symbols, hairline weights) are left out. All styles
of the families in :data:`HELDOUT_FAMILIES` form the ``"heldout"`` split, which
training data must never use; every other font is ``"train"``.
"""

from __future__ import annotations

import functools
import pathlib
from typing import NamedTuple

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
    package: str  # the Debian package that installs the file

    @property
    def split(self) -> str:
        """``"heldout"`` for the held-out families, else ``"train"``."""
        return "heldout" if self.family in HELDOUT_FAMILIES else "train"


_R4 = "Regular Bold Italic BoldItalic"  # the usual four file suffixes
# (package, directory under FONT_ROOT, family, category, file stems, extension)
_CATALOG = (
    ("fonts-dejavu-core", "truetype/dejavu", "DejaVu Sans", "sans",
     "DejaVuSans DejaVuSans-Bold DejaVuSans-Oblique DejaVuSans-BoldOblique", ".ttf"),
    ("fonts-dejavu-core", "truetype/dejavu", "DejaVu Serif", "serif",
     "DejaVuSerif DejaVuSerif-Bold", ".ttf"),
    ("fonts-dejavu-extra", "truetype/dejavu", "DejaVu Serif", "serif",
     "DejaVuSerif-Italic DejaVuSerif-BoldItalic", ".ttf"),
    ("fonts-dejavu-core", "truetype/dejavu", "DejaVu Sans Mono", "mono",
     "DejaVuSansMono DejaVuSansMono-Bold", ".ttf"),
    ("fonts-dejavu-extra", "truetype/dejavu", "DejaVu Sans Mono", "mono",
     "DejaVuSansMono-Oblique DejaVuSansMono-BoldOblique", ".ttf"),
    ("fonts-dejavu-extra", "truetype/dejavu", "DejaVu Sans Condensed", "sans",
     "DejaVuSansCondensed DejaVuSansCondensed-Bold DejaVuSansCondensed-Oblique "
     "DejaVuSansCondensed-BoldOblique", ".ttf"),
    ("fonts-dejavu-extra", "truetype/dejavu", "DejaVu Serif Condensed", "serif",
     "DejaVuSerifCondensed DejaVuSerifCondensed-Bold DejaVuSerifCondensed-Italic "
     "DejaVuSerifCondensed-BoldItalic", ".ttf"),
    ("fonts-liberation", "truetype/liberation", "Liberation Sans", "sans", _R4, ".ttf"),
    ("fonts-liberation", "truetype/liberation", "Liberation Serif", "serif", _R4, ".ttf"),
    ("fonts-liberation", "truetype/liberation", "Liberation Mono", "mono", _R4, ".ttf"),
    ("fonts-liberation", "truetype/liberation", "Liberation Sans Narrow", "sans", _R4, ".ttf"),
    ("fonts-freefont-ttf", "truetype/freefont", "FreeSans", "sans",
     "FreeSans FreeSansBold FreeSansOblique FreeSansBoldOblique", ".ttf"),
    ("fonts-freefont-ttf", "truetype/freefont", "FreeSerif", "serif",
     "FreeSerif FreeSerifBold FreeSerifItalic FreeSerifBoldItalic", ".ttf"),
    ("fonts-freefont-ttf", "truetype/freefont", "FreeMono", "mono",
     "FreeMono FreeMonoBold FreeMonoOblique FreeMonoBoldOblique", ".ttf"),
    ("fonts-croscore", "truetype/croscore", "Arimo", "sans", _R4, ".ttf"),
    ("fonts-croscore", "truetype/croscore", "Tinos", "serif", _R4, ".ttf"),
    ("fonts-croscore", "truetype/croscore", "Cousine", "mono", _R4, ".ttf"),
    ("fonts-crosextra-carlito", "truetype/crosextra", "Carlito", "sans", _R4, ".ttf"),
    ("fonts-crosextra-caladea", "truetype/crosextra", "Caladea", "serif", _R4, ".ttf"),
    ("fonts-open-sans", "truetype/open-sans", "Open Sans", "sans",
     _R4 + " Semibold Light LightItalic", ".ttf"),
    ("fonts-open-sans", "truetype/open-sans", "Open Sans Condensed", "sans",
     "OpenSans-CondBold OpenSans-CondLight", ".ttf"),
    ("fonts-roboto-unhinted", "truetype/roboto/unhinted/RobotoTTF", "Roboto", "sans",
     _R4 + " Medium Light", ".ttf"),
    ("fonts-roboto-unhinted", "truetype/roboto/unhinted", "Roboto Condensed", "sans", _R4 + " Light", ".ttf"),
    ("fonts-lato", "truetype/lato", "Lato", "sans", _R4 + " Black Light Semibold", ".ttf"),
    ("fonts-go", "fonts-go", "Go", "sans", "Go-Regular Go-Bold Go-Italic Go-Bold-Italic", ".ttf"),
    ("fonts-go", "fonts-go", "Go Medium", "sans", "Go-Medium Go-Medium-Italic", ".ttf"),
    ("fonts-go", "fonts-go", "Go Mono", "mono", "Go-Mono Go-Mono-Bold Go-Mono-Italic Go-Mono-Bold-Italic", ".ttf"),
    ("fonts-inconsolata", "truetype/inconsolata", "Inconsolata", "mono", "Inconsolata", ".otf"),
    ("fonts-noto-mono", "truetype/noto", "Noto Mono", "mono", "NotoMono-Regular", ".ttf"),
    ("fonts-urw-base35", "opentype/urw-base35", "Nimbus Roman", "serif", _R4, ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "Nimbus Sans", "sans", _R4, ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "Nimbus Sans Narrow", "sans",
     "Regular Bold Oblique BoldOblique", ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "Nimbus Mono PS", "mono", _R4, ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "C059", "serif", "Roman Bold Italic BdIta", ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "P052", "serif", "Roman Bold Italic BoldItalic", ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "URW Bookman", "serif",
     "Light Demi LightItalic DemiItalic", ".otf"),
    ("fonts-urw-base35", "opentype/urw-base35", "URW Gothic", "sans",
     "Book Demi BookOblique DemiOblique", ".otf"),
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
            entries.append(Font(stem, str(FONT_ROOT / folder / (stem + ext)), family, _style(stem),
                                category, condensed, package))
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
    """The catalog entry called ``name`` (a file stem such as ``"LiberationSerif-Bold"``)."""
    for font in catalog():
        if font.name == name:
            return font
    raise KeyError(f"no font {name!r} in the catalog")
