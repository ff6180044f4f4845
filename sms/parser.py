"""Meter readings in a text message (REQ-T14): «1000000001 12345»,
«ЛС 1000000001 Т1 12345 Т2 6789», «Т1 12345 Т2 6789», «12345».

A pure parser: it knows nothing of accounts or meters. What it gives back is
checked by :mod:`sms.inbound` against the database (which account, which
meter, the same rules as voice and keypad).

The grammar, case-insensitive, tokens separated by spaces, commas,
semicolons, colons, ``=`` or ``-``:

=====================  =====================================================
``ЛС`` / ``Л/С`` / ``LS``  marks the next number as the account number
``Т1``…``Т3``             the tariff zone of the next number; Cyrillic «Т»
                          and Latin «T» alike
a bare number             an account number or a reading, by position:
                          alone, it is a reading; several, the first is the
                          account number and the rest are readings in zone
                          order (Т1, Т2, Т3); before zone labels, it is the
                          account number
=====================  =====================================================

Anything else (a word, a letter) is not a readings message: :func:`parse`
returns None and the sender gets the help text. A message of these tokens
that cannot be read unambiguously raises :class:`FormatError` whose
``reason`` is a short Russian sentence for the reply SMS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from crm_bridge.models import TariffZone

__all__ = ["FormatError", "ReadingsMessage", "ZoneValue", "parse"]

MAX_VALUE_DIGITS: Final = 9
MAX_ACCOUNT_DIGITS: Final = 20

_TOKEN: Final = re.compile(
    r"""
    (?P<sep>[\s,;:=\-№#]+)
  | (?P<account>(?:ЛИЦЕВОЙ\s*СЧ[ЕЁ]Т|Л\s*[./\\]?\s*С|LS)\.?(?=[\s,;:=\-№#\d]|$))
  | (?P<zone>[ТT]\s*(?P<zn>[1-3])(?=[\s,;:=\-№#]|$))
  | (?P<number>\d+(?:[.,]\d+)?)
    """,
    re.VERBOSE,
)
_ZONES: Final = {"1": TariffZone.T1, "2": TariffZone.T2, "3": TariffZone.T3}


class FormatError(ValueError):
    """A readings message that cannot be read; ``reason`` is for the reply (Russian)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ZoneValue:
    zone: TariffZone | None
    """None: not labelled (the meter's zones are taken in order)."""
    value: int


@dataclass(frozen=True, slots=True)
class ReadingsMessage:
    account: str | None
    """The account number as written (digits), or None: the sender's phone decides."""
    values: tuple[ZoneValue, ...]

    @property
    def labelled(self) -> bool:
        return any(v.zone is not None for v in self.values)


def _tokens(text: str) -> list[tuple[str, str]] | None:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        kind = m.lastgroup or ""
        if kind == "zn":  # the zone's inner group
            kind = "zone"
        if kind == "zone":
            out.append(("zone", m.group("zn")))
        elif kind != "sep":
            out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _whole(raw: str, what: str, max_digits: int) -> int:
    if not raw.isdigit():
        raise FormatError(f"{what}: только целое число, без дробной части")
    if len(raw) > max_digits:
        raise FormatError(f"{what}: слишком много цифр")
    return int(raw)


def parse(text: str) -> ReadingsMessage | None:
    """The readings in ``text``, None when it is not a readings message at
    all, or :class:`FormatError` when it is one but cannot be read."""
    tokens = _tokens(" ".join(text.upper().split()))
    if not tokens:
        return None
    account: str | None = None
    values: list[ZoneValue] = []
    bare: list[str] = []
    i = 0
    while i < len(tokens):
        kind, raw = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if kind == "account":
            if nxt is None or nxt[0] != "number" or not nxt[1].isdigit():
                raise FormatError("после «ЛС» укажите номер лицевого счёта")
            if account is not None:
                raise FormatError("лицевой счёт указан дважды")
            if len(nxt[1]) > MAX_ACCOUNT_DIGITS:
                raise FormatError("слишком длинный номер лицевого счёта")
            account = nxt[1]
            i += 2
        elif kind == "zone":
            zone = _ZONES[raw]
            if nxt is None or nxt[0] != "number":
                raise FormatError(f"после «Т{raw}» укажите показание")
            if any(v.zone is zone for v in values):
                raise FormatError(f"зона Т{raw} указана дважды")
            if bare:
                # numbers before the first label: at most the account number
                if len(bare) > 1 or account is not None or values:
                    raise FormatError("укажите показания с зонами: Т1 12345 Т2 6789")
                account = _account(bare.pop())
            values.append(ZoneValue(zone, _whole(nxt[1], f"показание Т{raw}", MAX_VALUE_DIGITS)))
            i += 2
        else:
            if values:
                raise FormatError("укажите зону перед каждым показанием: Т1 12345 Т2 6789")
            bare.append(raw)
            i += 1
    if bare:
        if account is None and len(bare) > 1:
            account = _account(bare.pop(0))
        if len(bare) > len(_ZONES):
            raise FormatError("слишком много чисел в сообщении")
        values = [ZoneValue(None, _whole(b, "показание", MAX_VALUE_DIGITS)) for b in bare]
    if not values:
        raise FormatError("в сообщении нет показаний")
    return ReadingsMessage(account, tuple(values))


def _account(raw: str) -> str:
    if not raw.isdigit():
        raise FormatError("номер лицевого счёта — только цифры")
    if len(raw) > MAX_ACCOUNT_DIGITS:
        raise FormatError("слишком длинный номер лицевого счёта")
    return raw
