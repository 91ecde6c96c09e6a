"""Character vocabulary for the line recognizer.

Index ``BLANK`` (0) is reserved for the CTC blank symbol; the characters of
the charset map to indices ``1..N`` in the order they were given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

BLANK = 0

#: Printable ASCII from space (0x20) to tilde (0x7E): 95 characters, the first part of :data:`DEFAULT_CHARS`
#: (and the whole charset of models trained without :data:`EXTRA_CHARS`).
ASCII_CHARS = "".join(chr(c) for c in range(0x20, 0x7F))
#: Printed characters beyond ASCII that receipts, forms and papers hold: currency, degree,
#: plus-minus, section, typographic quotes and dashes, middle dot, multiplication sign.
EXTRA_CHARS = "\u20ac\u00a3\u00b0\u00b1\u00a7\u201c\u201d\u2018\u2019\u2013\u2014\u00b7\u00d7"
#: The default vocabulary of new datasets and models: ASCII then :data:`EXTRA_CHARS` (108 characters).
DEFAULT_CHARS = ASCII_CHARS + EXTRA_CHARS


class Charset:
    """Bidirectional mapping between characters and integer class ids.

    Parameters
    ----------
    chars : str, optional
        The characters of the vocabulary, each at most once. Defaults to
        printable ASCII (space through ``~``) and :data:`EXTRA_CHARS`.

    Raises
    ------
    ValueError
        If ``chars`` is empty or contains a character twice.
    """

    def __init__(self, chars: str = DEFAULT_CHARS) -> None:
        if not chars:
            raise ValueError("charset must contain at least one character")
        seen: set[str] = set()
        for ch in chars:
            if ch in seen:
                raise ValueError(f"duplicate character {ch!r} in charset")
            seen.add(ch)
        self.chars = chars
        self._to_id = {ch: i + 1 for i, ch in enumerate(chars)}

    @property
    def size(self) -> int:
        """Number of classes including the CTC blank (``len(chars) + 1``)."""
        return len(self.chars) + 1

    def __len__(self) -> int:
        return self.size

    def __contains__(self, ch: object) -> bool:
        return ch in self._to_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Charset) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Charset({self.chars!r})"

    def encode(self, text: str) -> list[int]:
        """Map a string to class ids in ``1..N``.

        Parameters
        ----------
        text : str
            Text to encode.

        Returns
        -------
        list of int
            One id per character.

        Raises
        ------
        ValueError
            If a character is not in the charset (the message names it).
        """
        ids = []
        for pos, ch in enumerate(text):
            idx = self._to_id.get(ch)
            if idx is None:
                raise ValueError(f"character {ch!r} (U+{ord(ch):04X}) at position {pos} is not in the charset")
            ids.append(idx)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Map class ids back to a string.

        Blank ids (``BLANK``) and negative padding ids are skipped; repeats are
        NOT collapsed (that is the CTC decoder's job).

        Parameters
        ----------
        ids : iterable of int
            Class ids.

        Returns
        -------
        str
            Decoded text.

        Raises
        ------
        ValueError
            If an id is larger than ``size - 1``.
        """
        out = []
        for i in ids:
            i = int(i)
            if i <= BLANK:
                continue
            if i >= self.size:
                raise ValueError(f"class id {i} out of range for charset of size {self.size}")
            out.append(self.chars[i - 1])
        return "".join(out)

    def to_json(self) -> str:
        """Serialize to a JSON string ``{"chars": ...}``."""
        return json.dumps({"chars": self.chars}, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | dict) -> Charset:
        """Build a charset from :meth:`to_json` output (string or parsed dict).

        Parameters
        ----------
        data : str or dict
            JSON text or an already-parsed dict with key ``"chars"``.

        Returns
        -------
        Charset
        """
        obj = json.loads(data) if isinstance(data, str) else data
        return cls(obj["chars"])
