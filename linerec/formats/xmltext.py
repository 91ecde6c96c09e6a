"""Text that XML 1.0 can hold, and its escaping for the writers of :mod:`linerec.formats`.

Characters XML cannot hold (most C0 controls, lone surrogates, U+FFFE/U+FFFF) are dropped and
counted, never a crash (:class:`Cleaner`). The writers build their documents as text, escaped by
:func:`text` and :func:`attr` exactly as lxml serializes element text and attribute values (a
carriage return survives a parse as ``&#13;``; tab and newline in an attribute as ``&#9;`` and
``&#10;``, which a parser would otherwise normalize to spaces).
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT_SPECIAL = re.compile("[&<>\r]")
_ATTR_SPECIAL = re.compile('[&<>"\t\n\r]')

#: The XML declaration every writer starts with.
DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"


class Cleaner:
    """Cleans strings for XML and counts the characters it dropped (:attr:`dropped`)."""

    def __init__(self) -> None:
        self.dropped = 0

    def __call__(self, text: str) -> str:
        """``text`` without the characters XML 1.0 cannot hold."""
        cleaned, n = _NOT_XML.subn("", str(text))
        self.dropped += n
        return cleaned

    def report(self, what: str) -> None:
        """Log how many characters were dropped from ``what`` (nothing when none were)."""
        if self.dropped:
            logger.warning("%s: dropped %d characters that XML cannot hold", what, self.dropped)


def text(value: str) -> str:
    """``value`` (already cleaned) escaped as element content."""
    if not _TEXT_SPECIAL.search(value):
        return value
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def attr(value: str) -> str:
    """``value`` (already cleaned) escaped as a double-quoted attribute value."""
    if not _ATTR_SPECIAL.search(value):
        return value
    return text(value).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
