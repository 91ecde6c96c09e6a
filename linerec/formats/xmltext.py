"""Text that XML 1.0 can hold: characters it cannot (most C0 controls, lone surrogates,
U+FFFE/U+FFFF) are dropped and counted, never a crash."""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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
