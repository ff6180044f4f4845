"""Russian speaking of numbers as sequences of word tokens (REQ-O6, REQ-T14).

Every function here is pure: it turns a value (an integer, a money amount, a date,
a time, a phone or account number) into a list of lower-case Russian word tokens,
e.g. ``money_tokens(21)`` -> ``["двадцать", "один", "рубль"]``.  The IVR plays one
pre-recorded (or pre-synthesised) prompt per token, so the set of all tokens that
can ever be produced is exported as :data:`VOCABULARY` and the prompt generator
records exactly that set.

Grammatical agreement is the whole point of this module (REQ-O6: "speaks numbers:
money amounts, time, date, quantity, phone numbers"):

* ``plural_form`` implements the Russian rule (1, 21, 101 -> one; 2-4, 22-24 -> few;
  0, 5-20, 11-14, 111-114 -> many);
* numbers agree in gender with the counted noun: "одна тысяча", "две тысячи",
  "одна копейка", "две минуты", "одно обращение";
* days of month and years are genitive ordinals: "двадцать пятого ноября
  две тысячи двадцать шестого года".

These are the dictionary forms. A value said after a fragment that governs
another case («по состоянию на первое марта», «с восьми часов») is built by
:mod:`ivr.phrases_ru`, whose ``VOCABULARY`` (this one and every other form)
is what the word prompts are recorded from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, time
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "MONTHS_GEN",
    "UNITS",
    "VOCABULARY",
    "Gender",
    "account_token_groups",
    "account_tokens",
    "date_tokens",
    "digits_tokens",
    "duration_tokens",
    "money_tokens",
    "number_tokens",
    "ordinal_genitive_tokens",
    "phone_token_groups",
    "phone_tokens",
    "plural_form",
    "quantity_tokens",
    "time_tokens",
    "tokens_to_text",
]

Gender = Literal["m", "f", "n"]

MAX_NUMBER: Final = 999_999_999

# --------------------------------------------------------------------------- tables

_ONES_M: Final = (
    "ноль",
    "один",
    "два",
    "три",
    "четыре",
    "пять",
    "шесть",
    "семь",
    "восемь",
    "девять",
)
_ONE_BY_GENDER: Final[Mapping[str, str]] = MappingProxyType({"m": "один", "f": "одна", "n": "одно"})
_TWO_BY_GENDER: Final[Mapping[str, str]] = MappingProxyType({"m": "два", "f": "две", "n": "два"})
_TEENS: Final = (
    "десять",
    "одиннадцать",
    "двенадцать",
    "тринадцать",
    "четырнадцать",
    "пятнадцать",
    "шестнадцать",
    "семнадцать",
    "восемнадцать",
    "девятнадцать",
)
_TENS: Final = (
    "",
    "",
    "двадцать",
    "тридцать",
    "сорок",
    "пятьдесят",
    "шестьдесят",
    "семьдесят",
    "восемьдесят",
    "девяносто",
)
_HUNDREDS: Final = (
    "",
    "сто",
    "двести",
    "триста",
    "четыреста",
    "пятьсот",
    "шестьсот",
    "семьсот",
    "восемьсот",
    "девятьсот",
)
_THOUSAND_FORMS: Final = ("тысяча", "тысячи", "тысяч")
_MILLION_FORMS: Final = ("миллион", "миллиона", "миллионов")

# Genitive ordinals ("первого", ...), used for days of month and years.
_ORD_GEN_1_19: Final = (
    "",
    "первого",
    "второго",
    "третьего",
    "четвёртого",
    "пятого",
    "шестого",
    "седьмого",
    "восьмого",
    "девятого",
    "десятого",
    "одиннадцатого",
    "двенадцатого",
    "тринадцатого",
    "четырнадцатого",
    "пятнадцатого",
    "шестнадцатого",
    "семнадцатого",
    "восемнадцатого",
    "девятнадцатого",
)
_ORD_GEN_TENS: Final = (
    "",
    "",
    "двадцатого",
    "тридцатого",
    "сорокового",
    "пятидесятого",
    "шестидесятого",
    "семидесятого",
    "восьмидесятого",
    "девяностого",
)
_ORD_GEN_HUNDREDS: Final = (
    "",
    "сотого",
    "двухсотого",
    "трёхсотого",
    "четырёхсотого",
    "пятисотого",
    "шестисотого",
    "семисотого",
    "восьмисотого",
    "девятисотого",
)
_ORD_GEN_THOUSANDS: Final = (
    "",
    "тысячного",
    "двухтысячного",
    "трёхтысячного",
    "четырёхтысячного",
    "пятитысячного",
    "шеститысячного",
    "семитысячного",
    "восьмитысячного",
    "девятитысячного",
)

MONTHS_GEN: Final = (
    "",
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
_YEAR_WORD: Final = "года"
_PLUS_WORD: Final = "плюс"

# unit name -> (gender of the noun, form for 1, form for 2-4, form for 5-20)
UNITS: Final[Mapping[str, tuple[Gender, str, str, str]]] = MappingProxyType(
    {
        "kwh": ("m", "киловатт-час", "киловатт-часа", "киловатт-часов"),
        "kw": ("m", "киловатт", "киловатта", "киловатт"),
        "ruble": ("m", "рубль", "рубля", "рублей"),
        "kopeck": ("f", "копейка", "копейки", "копеек"),
        "day": ("m", "день", "дня", "дней"),
        "hour": ("m", "час", "часа", "часов"),
        "minute": ("f", "минута", "минуты", "минут"),
        "second": ("f", "секунда", "секунды", "секунд"),
        "month": ("m", "месяц", "месяца", "месяцев"),
        "call": ("m", "звонок", "звонка", "звонков"),
        "person": ("m", "человек", "человека", "человек"),
        "appeal": ("n", "обращение", "обращения", "обращений"),
    }
)
"""Counted nouns understood by :func:`quantity_tokens` (REQ-O6 "quantity").

A read-only mapping (``MappingProxyType``).
"""

_SEPARATORS_RE: Final = re.compile(r"[\s\-().]+")


# --------------------------------------------------------------------------- helpers


def plural_form(n: int, one: str, few: str, many: str) -> str:
    """Pick the noun form that agrees with ``n`` (REQ-O6).

    1, 21, 101, 1001 -> ``one``; 2-4, 22-24, 102-104 -> ``few``;
    0, 5-20, 11-14, 111-114, 25-30 -> ``many``.  Negative numbers use ``abs(n)``.
    """
    n = abs(n)
    last_two = n % 100
    if 11 <= last_two <= 14:
        return many
    last = n % 10
    if last == 1:
        return one
    if 2 <= last <= 4:
        return few
    return many


def _check_gender(gender: str) -> None:
    if gender not in ("m", "f", "n"):
        raise ValueError(f"gender must be 'm', 'f' or 'n', got {gender!r}")


def _check_int(n: object, what: str = "number") -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, got {type(n).__name__}")
    return n


def _below_thousand(n: int, gender: Gender) -> list[str]:
    """Tokens for 1..999 (zero gives an empty list)."""
    out: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        out.append(_HUNDREDS[hundreds])
    if 10 <= rest <= 19:
        out.append(_TEENS[rest - 10])
        return out
    tens, ones = divmod(rest, 10)
    if tens:
        out.append(_TENS[tens])
    if ones == 1:
        out.append(_ONE_BY_GENDER[gender])
    elif ones == 2:
        out.append(_TWO_BY_GENDER[gender])
    elif ones:
        out.append(_ONES_M[ones])
    return out


def number_tokens(n: int, gender: Gender = "m") -> list[str]:
    """Cardinal number ``0..999 999 999`` as tokens, agreeing in ``gender`` (REQ-O6).

    >>> number_tokens(21, "f")
    ['двадцать', 'одна']
    >>> number_tokens(2_001_000)
    ['два', 'миллиона', 'одна', 'тысяча']
    """
    n = _check_int(n)
    _check_gender(gender)
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number out of range 0..{MAX_NUMBER}: {n}")
    if n == 0:
        return ["ноль"]
    millions, rest = divmod(n, 1_000_000)
    thousands, ones = divmod(rest, 1000)
    out: list[str] = []
    if millions:
        out += _below_thousand(millions, "m")
        out.append(plural_form(millions, *_MILLION_FORMS))
    if thousands:
        out += _below_thousand(thousands, "f")
        out.append(plural_form(thousands, *_THOUSAND_FORMS))
    out += _below_thousand(ones, gender)
    return out


def _ordinal_genitive_below_thousand(n: int) -> list[str]:
    """Genitive ordinal for 1..999: only the last word is an ordinal."""
    hundreds, rest = divmod(n, 100)
    if rest == 0:
        return [_ORD_GEN_HUNDREDS[hundreds]]
    out = [_HUNDREDS[hundreds]] if hundreds else []
    if rest < 20:
        out.append(_ORD_GEN_1_19[rest])
        return out
    tens, ones = divmod(rest, 10)
    if ones == 0:
        out.append(_ORD_GEN_TENS[tens])
    else:
        out += [_TENS[tens], _ORD_GEN_1_19[ones]]
    return out


def ordinal_genitive_tokens(n: int) -> list[str]:
    """Genitive ordinal for ``1..9999`` ("двадцать пятого", "двухтысячного").

    Used for days of month and for years (REQ-O6 "date"); in years the thousand is
    said without "одна": 1999 -> "тысяча девятьсот девяносто девятого".
    """
    n = _check_int(n)
    if not 1 <= n <= 9999:
        raise ValueError(f"ordinal out of range 1..9999: {n}")
    thousands, rest = divmod(n, 1000)
    if rest == 0:
        return [_ORD_GEN_THOUSANDS[thousands]]
    out: list[str] = []
    if thousands == 1:
        out.append("тысяча")
    elif thousands:
        out += _below_thousand(thousands, "f")
        out.append(plural_form(thousands, *_THOUSAND_FORMS))
    return out + _ordinal_genitive_below_thousand(rest)


def quantity_tokens(n: int, unit: str) -> list[str]:
    """``n`` followed by the agreeing form of ``unit`` (a key of :data:`UNITS`) (REQ-O6).

    >>> quantity_tokens(22, "kwh")
    ['двадцать', 'два', 'киловатт-часа']
    >>> quantity_tokens(1, "minute")
    ['одна', 'минута']
    """
    try:
        gender, one, few, many = UNITS[unit]
    except KeyError:
        raise ValueError(f"unknown unit {unit!r}; known: {sorted(UNITS)}") from None
    n = _check_int(n)
    if n < 0:
        raise ValueError(f"quantity must not be negative: {n}")
    return [*number_tokens(n, gender), plural_form(n, one, few, many)]


# --------------------------------------------------------------------------- money


def _to_decimal(amount: Decimal | int | str) -> Decimal:
    if isinstance(amount, bool) or isinstance(amount, float):
        raise TypeError("money amount must be Decimal, int or str (never float or bool)")
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, str):
        text = amount.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a money amount: {amount!r}") from None
    else:
        raise TypeError(f"money amount must be Decimal, int or str, got {type(amount).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite money amount: {amount!r}")
    return value


def money_tokens(
    amount: Decimal | int | str,
    *,
    with_kopecks: bool | Literal["always"] = True,
) -> list[str]:
    """Speak a money amount in rubles and kopecks (REQ-O6 "money amounts").

    * rubles agree as a masculine noun: "один рубль", "два рубля", "пять рублей";
    * kopecks as a feminine noun: "одна копейка", "две копейки", "пять копеек";
    * ``with_kopecks=True`` (default): kopecks are said only when non-zero;
      ``"always"``: also "ноль копеек"; ``False``: kopecks are never said (the
      amount must then be whole rubles, otherwise ``ValueError`` - no silent
      rounding of money);
    * a zero ruble part is skipped when non-zero kopecks are said ("пятьдесят
      копеек"); zero itself is "ноль рублей" (``"always"``: "ноль рублей ноль копеек");
    * negative amounts (overpayment) raise ``ValueError``: the caller chooses the
      wording ("переплата ..."), this module never says "минус";
    * fractions of a kopeck raise ``ValueError`` (no silent rounding);
    * ``str`` input may use a comma and spaces: ``"1 234,50"``.
    """
    if with_kopecks not in (True, False, "always"):
        raise ValueError(f"with_kopecks must be True, False or 'always', got {with_kopecks!r}")
    value = _to_decimal(amount)
    if value < 0:
        raise ValueError(f"negative money amount {amount!r}: the caller decides the wording")
    total_kopecks = value * 100
    if total_kopecks != total_kopecks.to_integral_value():
        raise ValueError(f"money amount has a fraction of a kopeck: {amount!r}")
    rubles, kopecks = divmod(int(total_kopecks), 100)
    if rubles > MAX_NUMBER:
        raise ValueError(f"money amount too large to speak: {amount!r}")
    say_kopecks = with_kopecks == "always" or (with_kopecks is True and kopecks != 0)
    if with_kopecks is False and kopecks != 0:
        raise ValueError(f"amount {amount!r} has kopecks but with_kopecks=False")
    out: list[str] = []
    if rubles != 0 or kopecks == 0 or not say_kopecks:
        out += quantity_tokens(rubles, "ruble")
    if say_kopecks:
        out += quantity_tokens(kopecks, "kopeck")
    return out


# --------------------------------------------------------------------------- date & time


def date_tokens(d: date, *, with_year: bool = False) -> list[str]:
    """Speak a date: "двадцать пятого ноября [две тысячи двадцать шестого года]" (REQ-O6)."""
    if not isinstance(d, date):
        raise TypeError(f"expected a date, got {type(d).__name__}")
    out = [*ordinal_genitive_tokens(d.day), MONTHS_GEN[d.month]]
    if with_year:
        out += [*ordinal_genitive_tokens(d.year), _YEAR_WORD]
    return out


def time_tokens(t: time) -> list[str]:
    """Speak a clock time: "восемь часов", "двадцать часов одна минута" (REQ-O6).

    Hours are a masculine noun (час/часа/часов), minutes feminine
    (минута/минуты/минут); zero minutes are not said; seconds are ignored.
    Midnight is "ноль часов".
    """
    if not isinstance(t, time):
        raise TypeError(f"expected a time, got {type(t).__name__}")
    out = quantity_tokens(t.hour, "hour")
    if t.minute:
        out += quantity_tokens(t.minute, "minute")
    return out


def duration_tokens(seconds: int) -> list[str]:
    """Speak a duration, e.g. an estimated wait: "две минуты тридцать секунд" (REQ-O6).

    Zero components are skipped ("один час пять секунд"); zero itself is
    "ноль секунд".
    """
    seconds = _check_int(seconds, "seconds")
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {seconds}")
    if seconds == 0:
        return quantity_tokens(0, "second")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out: list[str] = []
    if hours:
        out += quantity_tokens(hours, "hour")
    if minutes:
        out += quantity_tokens(minutes, "minute")
    if secs:
        out += quantity_tokens(secs, "second")
    return out


# --------------------------------------------------------------------------- digit strings


def _clean_digits(s: str, what: str) -> str:
    if not isinstance(s, str):
        raise TypeError(f"{what} must be a str, got {type(s).__name__}")
    digits = _SEPARATORS_RE.sub("", s)
    if not digits:
        raise ValueError(f"empty {what}: {s!r}")
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"{what} must contain only digits and separators: {s!r}")
    return digits


def digits_tokens(s: str) -> list[str]:
    """Digit by digit: ``"007"`` -> ноль ноль семь (separators ``space - ( ) .`` ignored)."""
    return [_ONES_M[int(c)] for c in _clean_digits(s, "digit string")]


def _group_tokens(group: str) -> list[str]:
    """A digit group as a number; leading zeros are said digit by digit ("05" -> ноль пять)."""
    stripped = group.lstrip("0")
    zeros = len(group) - len(stripped)
    out = ["ноль"] * zeros
    if stripped:
        out += number_tokens(int(stripped))
    return out


def _split_groups(digits: str, sizes: Iterable[int]) -> list[str]:
    groups: list[str] = []
    pos = 0
    for size in sizes:
        groups.append(digits[pos : pos + size])
        pos += size
    assert pos == len(digits), (digits, groups)
    return groups


def _generic_sizes(length: int) -> list[int]:
    """Groups of three with the tail in twos: 4 -> 2-2, 5 -> 3-2, 7 -> 3-2-2, 10 -> 3-3-2-2."""
    if length <= 3:
        return [length]
    remainder = length % 3
    if remainder == 0:
        return [3] * (length // 3)
    if remainder == 2:
        return [3] * (length // 3) + [2]
    return [3] * (length // 3 - 1) + [2, 2]


def _speak_groups(digits: str, sizes: Iterable[int]) -> list[list[str]]:
    return [_group_tokens(group) for group in _split_groups(digits, sizes)]


def _flatten(groups: Iterable[list[str]]) -> list[str]:
    return [token for group in groups for token in group]


def account_token_groups(account: str) -> list[list[str]]:
    """Like :func:`account_tokens`, one list per spoken group (the player may pause between).

    Pauses matter: "300 45" said without a pause sounds like "триста сорок пять" (345).
    """
    digits = _clean_digits(account, "account number")
    return _speak_groups(digits, _generic_sizes(len(digits)))


def account_tokens(account: str) -> list[str]:
    """Speak an account number in groups of 3 and 2 digits (REQ-O6, REQ-T14).

    ``"1234567"`` -> сто двадцать три / сорок пять / шестьдесят семь;
    leading zeros of a group are said digit by digit ("0012" -> ноль ноль двенадцать).
    """
    return _flatten(account_token_groups(account))


_PHONE_SIZES: Final[Mapping[int, tuple[int, ...]]] = MappingProxyType(
    {10: (3, 3, 2, 2), 7: (3, 2, 2), 6: (2, 2, 2), 5: (1, 2, 2), 4: (2, 2)}
)


def phone_token_groups(phone: str) -> list[list[str]]:
    """Speak a phone number in the usual Russian grouping (REQ-O6 "phone numbers").

    * ``+7 XXX XXX-XX-XX`` -> "плюс семь" + 3-3-2-2;
    * ``8 XXX XXX-XX-XX`` / ``7 XXX ...`` (11 digits) -> the trunk digit + 3-3-2-2;
    * 10 digits -> 3-3-2-2; local 7 digits -> 3-2-2; 6 -> 2-2-2; 5 -> 1-2-2;
      4 -> 2-2; 1-3 digits (short numbers such as 112) -> one number;
    * any other length, or another country after "+", -> groups of 3 and 2.
    """
    if not isinstance(phone, str):
        raise TypeError(f"phone must be a str, got {type(phone).__name__}")
    text = phone.strip()
    plus = text.startswith("+")
    digits = _clean_digits(text[1:] if plus else text, "phone number")
    trunk_digits = "7" if plus else "78"
    if len(digits) == 11 and digits[0] in trunk_digits:
        head = [_PLUS_WORD, _ONES_M[int(digits[0])]] if plus else [_ONES_M[int(digits[0])]]
        return [head, *_speak_groups(digits[1:], _PHONE_SIZES[10])]
    if plus:
        return [[_PLUS_WORD], *_speak_groups(digits, _generic_sizes(len(digits)))]
    if len(digits) in _PHONE_SIZES:
        return _speak_groups(digits, _PHONE_SIZES[len(digits)])
    return _speak_groups(digits, _generic_sizes(len(digits)))


def phone_tokens(phone: str) -> list[str]:
    """Speak a phone number as one flat token list; see :func:`phone_token_groups` (REQ-O6)."""
    return _flatten(phone_token_groups(phone))


# --------------------------------------------------------------------------- vocabulary


def tokens_to_text(tokens: Iterable[str]) -> str:
    """Join tokens with single spaces (for previews, logs and TTS input)."""
    return " ".join(tokens)


def _build_vocabulary() -> frozenset[str]:
    words: set[str] = set(_ONES_M) | set(_TEENS) | set(_HUNDREDS) | set(_TENS)
    words |= set(_ONE_BY_GENDER.values()) | set(_TWO_BY_GENDER.values())
    words |= set(_THOUSAND_FORMS) | set(_MILLION_FORMS)
    words |= set(_ORD_GEN_1_19) | set(_ORD_GEN_TENS) | set(_ORD_GEN_HUNDREDS)
    words |= set(_ORD_GEN_THOUSANDS) | set(MONTHS_GEN)
    words |= {_YEAR_WORD, _PLUS_WORD}
    for _gender, one, few, many in UNITS.values():
        words |= {one, few, many}
    words.discard("")
    return frozenset(words)


VOCABULARY: Final[frozenset[str]] = _build_vocabulary()
"""Every token any function of this module can produce (prompt set for REQ-O6)."""
