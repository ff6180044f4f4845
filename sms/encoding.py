"""How many SMS segments a text takes (GSM 03.38 7-bit or UCS-2).

A text of the GSM 7-bit default alphabet fits 160 characters in one segment
(153 per part when concatenated: the UDH takes 7 septets); anything else
(Cyrillic) goes as UCS-2: 70 characters, 67 per part. Characters of the
alphabet's extension table (``{}[]~|\\^€``) count twice. Kannel splits and
concatenates by the same rules (``concatenation = true``); this module lets
the service say how many parts a reply costs and choose the coding.
"""

from __future__ import annotations

from typing import Final

__all__ = ["GSM7", "UCS2", "coding_of", "segments"]

GSM7: Final = 0
"""Kannel's ``coding=0``: the GSM default alphabet."""
UCS2: Final = 2
"""Kannel's ``coding=2``: UCS-2 (UTF-16BE on the air)."""

_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENDED: Final = frozenset("^{}\\[~]|€\f")


def coding_of(text: str) -> int:
    """:data:`GSM7` when every character is in the GSM alphabet, else :data:`UCS2`."""
    return GSM7 if all(c in _BASIC or c in _EXTENDED for c in text) else UCS2


def _units(text: str, coding: int) -> int:
    if coding == GSM7:
        return sum(2 if c in _EXTENDED else 1 for c in text)
    # UTF-16 code units: a character outside the BMP takes two
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def segments(text: str) -> int:
    """The number of SMS parts ``text`` is sent in (at least 1)."""
    coding = coding_of(text)
    units = _units(text, coding)
    single, part = (160, 153) if coding == GSM7 else (70, 67)
    if units <= single:
        return 1
    return -(-units // part)
