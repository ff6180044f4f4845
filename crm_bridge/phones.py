"""Russian phone numbers to E.164 (``+79001234567``).

Accepted: ``8XXXXXXXXXX``, ``+7XXXXXXXXXX``, ``7XXXXXXXXXX``, a bare ten-digit
national number ``XXXXXXXXXX`` (how caller ID often arrives from a Russian
trunk), and any of them with spaces, dashes, dots and parentheses
(``8 (900) 123-45-67``). International numbers written with ``+`` or the
Russian exit code ``810`` are accepted when valid. Anything else is refused
with :class:`InvalidPhone`, whose ``reason`` is a sentence for people (import
reports, the operator's form) in Russian.
"""

from __future__ import annotations

import functools
import re
from typing import Final

import phonenumbers

__all__ = [
    "InvalidPhone",
    "e164_candidate",
    "is_valid_phone",
    "normalize_phone",
    "try_normalize_phone",
]

_ALLOWED: Final = re.compile(r"^[+\d\s().\-\u00a0]+$")
_SEPARATORS: Final = re.compile(r"[\s().\-\u00a0]")
_ANONYMOUS: Final = frozenset({"anonymous", "unknown", "restricted", "private", "unavailable"})


class InvalidPhone(ValueError):
    """A phone number that cannot be normalised; ``reason`` says why."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(reason)
        self.raw = raw
        self.reason = reason


def normalize_phone(raw: str, *, region: str = "RU") -> str:
    """The E.164 form of ``raw``, or :class:`InvalidPhone` with a reason.

    >>> normalize_phone("8 (900) 123-45-67")
    '+79001234567'
    >>> normalize_phone("+7 900 123 45 67")
    '+79001234567'
    >>> normalize_phone("9001234567")
    '+79001234567'
    """
    digits = e164_candidate(raw)
    e164, why = _e164(digits, region)
    if e164 is None:
        raise InvalidPhone(raw, why)
    return e164


def e164_candidate(raw: str) -> str:
    """``raw`` written as ``+digits`` by the rules above, before the check
    that such a number exists (:class:`InvalidPhone` for what the rules
    refuse). A number in E.164 form is its own candidate and normalises to
    itself, so an importer that finds a candidate among numbers already
    normalised (the contracts' phones) has its E.164 form without asking
    phonenumbers again."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone(raw, "номер не указан")
    if text.lower() in _ANONYMOUS:
        raise InvalidPhone(raw, "номер скрыт")
    if not _ALLOWED.match(text):
        raise InvalidPhone(
            raw, "недопустимые символы в номере (допустимы цифры, +, пробел, скобки, дефис)"
        )
    if text.count("+") > 1 or ("+" in text and not text.startswith("+")):
        raise InvalidPhone(raw, "знак + допустим только в начале номера")
    digits = _SEPARATORS.sub("", text)
    plus = digits.startswith("+")
    digits = digits.lstrip("+")
    if not plus:
        if len(digits) == 11 and digits[0] in "78":
            digits = "+7" + digits[1:]
        elif len(digits) == 10 and digits[0] != "0":
            digits = "+7" + digits
        elif digits.startswith("810") and len(digits) > 11:
            digits = "+" + digits[3:]
        elif len(digits) < 10:
            raise InvalidPhone(raw, f"слишком короткий номер (цифр: {len(digits)}, нужно 11)")
        elif len(digits) > 11:
            raise InvalidPhone(raw, f"слишком длинный номер (цифр: {len(digits)}, нужно 11)")
        else:
            raise InvalidPhone(raw, "номер должен начинаться с 8, 7 или +7")
    else:
        digits = "+" + digits
        if digits.startswith("+7") and len(digits) != 12:
            raise InvalidPhone(
                raw, f"российский номер +7 должен содержать 11 цифр, а не {len(digits) - 1}"
            )
    return digits


@functools.lru_cache(maxsize=4096)
def _e164(digits: str, region: str) -> tuple[str | None, str]:
    """phonenumbers' verdict on ``+digits`` (cached: every call normalises
    its caller's number several times, and the library's parse is the dear
    part): the E.164 form, or None and why not."""
    try:
        parsed = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException as exc:
        return None, f"номер не распознан ({exc})"
    if not phonenumbers.is_valid_number(parsed):
        return None, "такого номера не существует (неверный код оператора или города)"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), ""


def try_normalize_phone(raw: str | None, *, region: str = "RU") -> str | None:
    """Like :func:`normalize_phone` but ``None`` instead of an exception."""
    if raw is None:
        return None
    try:
        return normalize_phone(raw, region=region)
    except InvalidPhone:
        return None


def is_valid_phone(raw: str | None) -> bool:
    return try_normalize_phone(raw) is not None
