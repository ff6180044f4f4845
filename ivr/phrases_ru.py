"""The phrase layer: every spoken value in the case its frame requires (REQ-O6).

:mod:`ivr.say_ru` speaks a value in its dictionary form. A value that follows
a recorded fragment must agree with it: «по состоянию на» governs the
accusative («на первое марта»), «с»/«до»/«от»/«начиная с»/«в размере» the
genitive («с восьми часов тридцати минут»), «составляет» the nominative,
«в» + a clock time the accusative («в четырнадцать часов двадцать одну
минуту»). Every fragment of ``recordings/prompts.toml`` that is followed by
a value names that case (its ``then`` key) and the flows say the value in
it; ``tests/unit/test_phrases_ru.py`` proves the two agree.

Values and their cases:

* cardinal numbers 0..999 999 999 in six cases and three genders
  (accusative of inanimate nouns: «одну тысячу», «двадцать одну минуту»);
* quantities: a number and its counted noun agreeing in case and number —
  nominative/accusative by the 1 / 2–4 / 5+ rule («две минуты», «пять
  минут»), oblique cases singular after a final «один» and plural otherwise
  («двадцати одной минуты», «двух минут»);
* money («составляет сто рублей», «в размере ста рублей»), durations
  («в течение двух часов тридцати минут»), «в течение N дней»;
* dates: the day as a neuter ordinal in any case («первое», «первого»,
  «первому», «первым», «первом»), the month and the year always genitive
  («на первое марта две тысячи двадцать шестого года»);
* clock times («восемь часов тридцать минут», «с восьми часов тридцати
  минут»), a date-time as the time in the frame's case and the date as its
  genitive attribute («до семнадцати часов первого марта»);
* ranges: :func:`time_range` («первого марта с восьми часов тридцати минут
  до семнадцати часов»; over several days «с восьми часов первого марта до
  семнадцати часов второго марта»; an end at midnight is «до двадцати
  четырёх часов»), :func:`date_range` («с пятнадцатого по двадцать пятое
  марта»);
* codes — phone, account and meter digits, house and flat numbers — are said
  as in a dictation, the same in every case («на номер восемь девятьсот
  один…», «дом пятнадцать а»).

A :class:`Phrase` is what a flow speaks: word parts (journalled as
``say``/``what:value``) and, for ranges, the recorded prepositions
(``phrase/from`` «с», ``phrase/to`` «до», ``phrase/through`` «по»).
:func:`speak` plays it on a channel and returns the key that interrupted it
(type-ahead: the caller's key is the answer to what comes next).
:func:`tokens_for` renders a journalled value again in a given case — the
tests compare what a flow said after a fragment with it.

``python -m ivr.phrases_ru`` prints every frame with an example, as the
caller hears it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, cast, get_args

from ivr import say_ru
from ivr.say_ru import Gender, plural_form

if TYPE_CHECKING:
    from telephony.channel import Channel

__all__ = [
    "CASES",
    "CODE_KINDS",
    "FRAMES",
    "KINDS",
    "NOUNS",
    "P_FROM",
    "P_THROUGH",
    "P_TO",
    "VOCABULARY",
    "Case",
    "Phrase",
    "Words",
    "cardinal",
    "clock_time",
    "date_range",
    "date_words",
    "datetime_words",
    "day_ordinal",
    "duration",
    "house_tokens",
    "listing",
    "money",
    "quantity",
    "speak",
    "time_range",
    "tokens_for",
    "value",
]

Case = Literal["nom", "gen", "dat", "acc", "ins", "prep"]
CASES: Final[tuple[Case, ...]] = get_args(Case)

CASE_NAMES: Final[Mapping[Case, str]] = MappingProxyType(
    {
        "nom": "именительный",
        "gen": "родительный",
        "dat": "дательный",
        "acc": "винительный",
        "ins": "творительный",
        "prep": "предложный",
    }
)

P_FROM: Final = "phrase/from"
"""«с» + genitive (the start of a range)."""
P_TO: Final = "phrase/to"
"""«до» + genitive (the end of a time range, exclusive)."""
P_THROUGH: Final = "phrase/through"
"""«по» + accusative (the last day of a date range, inclusive)."""

# --------------------------------------------------------------------------- cardinals

_ZERO: Final[Mapping[Case, str]] = MappingProxyType(
    {"nom": "ноль", "gen": "нуля", "dat": "нулю", "acc": "ноль", "ins": "нулём", "prep": "нуле"}
)
# one and two by case and gender (m, f, n); the accusative of inanimate nouns
_ONE: Final[Mapping[Case, tuple[str, str, str]]] = MappingProxyType(
    {
        "nom": ("один", "одна", "одно"),
        "gen": ("одного", "одной", "одного"),
        "dat": ("одному", "одной", "одному"),
        "acc": ("один", "одну", "одно"),
        "ins": ("одним", "одной", "одним"),
        "prep": ("одном", "одной", "одном"),
    }
)
_TWO: Final[Mapping[Case, tuple[str, str, str]]] = MappingProxyType(
    {
        "nom": ("два", "две", "два"),
        "gen": ("двух", "двух", "двух"),
        "dat": ("двум", "двум", "двум"),
        "acc": ("два", "две", "два"),
        "ins": ("двумя", "двумя", "двумя"),
        "prep": ("двух", "двух", "двух"),
    }
)
# 3..9 in the oblique cases (index = digit)
_UNITS_OBLIQUE: Final[Mapping[Case, tuple[str, ...]]] = MappingProxyType(
    {
        "gen": ("", "", "", "трёх", "четырёх", "пяти", "шести", "семи", "восьми", "девяти"),
        "dat": ("", "", "", "трём", "четырём", "пяти", "шести", "семи", "восьми", "девяти"),
        "ins": ("", "", "", "тремя", "четырьмя", "пятью", "шестью", "семью", "восемью", "девятью"),
        "prep": ("", "", "", "трёх", "четырёх", "пяти", "шести", "семи", "восьми", "девяти"),
    }
)
_TENS_OBLIQUE: Final[Mapping[Case, tuple[str, ...]]] = MappingProxyType(
    {
        "gen": (
            "",
            "",
            "двадцати",
            "тридцати",
            "сорока",
            "пятидесяти",
            "шестидесяти",
            "семидесяти",
            "восьмидесяти",
            "девяноста",
        ),
        "ins": (
            "",
            "",
            "двадцатью",
            "тридцатью",
            "сорока",
            "пятьюдесятью",
            "шестьюдесятью",
            "семьюдесятью",
            "восемьюдесятью",
            "девяноста",
        ),
    }
)
_HUNDREDS_OBLIQUE: Final[Mapping[Case, tuple[str, ...]]] = MappingProxyType(
    {
        "gen": (
            "",
            "ста",
            "двухсот",
            "трёхсот",
            "четырёхсот",
            "пятисот",
            "шестисот",
            "семисот",
            "восьмисот",
            "девятисот",
        ),
        "dat": (
            "",
            "ста",
            "двумстам",
            "трёмстам",
            "четырёмстам",
            "пятистам",
            "шестистам",
            "семистам",
            "восьмистам",
            "девятистам",
        ),
        "ins": (
            "",
            "ста",
            "двумястами",
            "тремястами",
            "четырьмястами",
            "пятьюстами",
            "шестьюстами",
            "семьюстами",
            "восемьюстами",
            "девятьюстами",
        ),
        "prep": (
            "",
            "ста",
            "двухстах",
            "трёхстах",
            "четырёхстах",
            "пятистах",
            "шестистах",
            "семистах",
            "восьмистах",
            "девятистах",
        ),
    }
)
_GENDER_INDEX: Final[Mapping[str, int]] = MappingProxyType({"m": 0, "f": 1, "n": 2})


@dataclass(frozen=True, slots=True)
class Noun:
    """A counted noun: its gender and its forms, singular and plural, by case."""

    gender: Gender
    singular: Mapping[Case, str]
    plural: Mapping[Case, str]

    @classmethod
    def of(cls, gender: Gender, singular: str, plural: str) -> Noun:
        """Forms as two space-separated lists in the order nom gen dat acc ins prep."""
        sg, pl = singular.split(), plural.split()
        assert len(sg) == len(pl) == len(CASES), (singular, plural)
        return cls(gender, dict(zip(CASES, sg, strict=True)), dict(zip(CASES, pl, strict=True)))

    def agree(self, n: int, case: Case) -> str:
        """The form after the number ``n`` in ``case``.

        Nominative and accusative: «одна минута» / «одну минуту», «две
        минуты» (genitive singular), «пять минут» (genitive plural).
        Oblique cases: singular after a final «один» (not 11), plural
        otherwise: «двадцати одной минуты», «двух минут», «пяти минут».
        """
        if case in ("nom", "acc"):
            return plural_form(n, self.singular[case], self.singular["gen"], self.plural["gen"])
        last_two = abs(n) % 100
        if last_two % 10 == 1 and last_two != 11:
            return self.singular[case]
        return self.plural[case]


NOUNS: Final[Mapping[str, Noun]] = MappingProxyType(
    {
        "ruble": Noun.of(
            "m", "рубль рубля рублю рубль рублём рубле", "рубли рублей рублям рубли рублями рублях"
        ),
        "kopeck": Noun.of(
            "f",
            "копейка копейки копейке копейку копейкой копейке",
            "копейки копеек копейкам копейки копейками копейках",
        ),
        "day": Noun.of("m", "день дня дню день днём дне", "дни дней дням дни днями днях"),
        "hour": Noun.of("m", "час часа часу час часом часе", "часы часов часам часы часами часах"),
        "minute": Noun.of(
            "f",
            "минута минуты минуте минуту минутой минуте",
            "минуты минут минутам минуты минутами минутах",
        ),
        "second": Noun.of(
            "f",
            "секунда секунды секунде секунду секундой секунде",
            "секунды секунд секундам секунды секундами секундах",
        ),
        "month": Noun.of(
            "m",
            "месяц месяца месяцу месяц месяцем месяце",
            "месяцы месяцев месяцам месяцы месяцами месяцах",
        ),
        "kwh": Noun.of(
            "m",
            "киловатт-час киловатт-часа киловатт-часу киловатт-час киловатт-часом киловатт-часе",
            "киловатт-часы киловатт-часов киловатт-часам киловатт-часы киловатт-часами"
            " киловатт-часах",
        ),
        "kw": Noun.of(
            "m",
            "киловатт киловатта киловатту киловатт киловаттом киловатте",
            "киловатты киловатт киловаттам киловатты киловаттами киловаттах",
        ),
    }
)
"""Counted nouns declined in every case (a subset of :data:`ivr.say_ru.UNITS`)."""

_THOUSAND: Final = Noun.of(
    "f",
    "тысяча тысячи тысяче тысячу тысячей тысяче",
    "тысячи тысяч тысячам тысячи тысячами тысячах",
)
_MILLION: Final = Noun.of(
    "m",
    "миллион миллиона миллиону миллион миллионом миллионе",
    "миллионы миллионов миллионам миллионы миллионами миллионах",
)


def _check_case(case: str) -> Case:
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    return cast(Case, case)


def _below_thousand(n: int, case: Case, gender: Gender) -> list[str]:
    """1..999 in ``case`` (zero: an empty list)."""
    if case in ("nom", "acc"):
        out = say_ru._below_thousand(n, gender)
        if case == "acc" and n % 10 == 1 and n % 100 != 11 and gender == "f":
            out[-1] = _ONE["acc"][1]
        return out
    out = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        out.append(_HUNDREDS_OBLIQUE[case][hundreds])
    if 10 <= rest <= 19:
        word = say_ru._TEENS[rest - 10]
        out.append(word[:-1] + ("ью" if case == "ins" else "и"))
        return out
    tens, ones = divmod(rest, 10)
    if tens:
        table = _TENS_OBLIQUE["ins" if case == "ins" else "gen"]
        out.append(table[tens])
    if ones == 1:
        out.append(_ONE[case][_GENDER_INDEX[gender]])
    elif ones == 2:
        out.append(_TWO[case][_GENDER_INDEX[gender]])
    elif ones:
        out.append(_UNITS_OBLIQUE[case][ones])
    return out


def cardinal(n: int, case: Case = "nom", gender: Gender = "m") -> list[str]:
    """A cardinal number 0..999 999 999 in ``case``, agreeing in ``gender``.

    Every word of a compound number is declined («двухсот тридцати пяти
    тысяч»); the accusative is that of inanimate nouns («одну тысячу»).

    >>> cardinal(1234, "gen")
    ['одной', 'тысячи', 'двухсот', 'тридцати', 'четырёх']
    """
    n = say_ru._check_int(n)
    case = _check_case(case)
    say_ru._check_gender(gender)
    if not 0 <= n <= say_ru.MAX_NUMBER:
        raise ValueError(f"number out of range 0..{say_ru.MAX_NUMBER}: {n}")
    if n == 0:
        return [_ZERO[case]]
    millions, rest = divmod(n, 1_000_000)
    thousands, ones = divmod(rest, 1000)
    out: list[str] = []
    if millions:
        out += _below_thousand(millions, case, "m")
        out.append(_MILLION.agree(millions, case))
    if thousands:
        out += _below_thousand(thousands, case, "f")
        out.append(_THOUSAND.agree(thousands, case))
    out += _below_thousand(ones, case, gender)
    return out


def quantity(n: int, unit: str, case: Case = "nom") -> list[str]:
    """``n`` and the noun ``unit`` (a key of :data:`NOUNS`), agreeing in ``case``.

    >>> quantity(21, "day", "gen")
    ['двадцати', 'одного', 'дня']
    """
    try:
        noun = NOUNS[unit]
    except KeyError:
        raise ValueError(f"unknown unit {unit!r}; known: {sorted(NOUNS)}") from None
    n = say_ru._check_int(n)
    if n < 0:
        raise ValueError(f"quantity must not be negative: {n}")
    return [*cardinal(n, case, noun.gender), noun.agree(n, case)]


# --------------------------------------------------------------------------- ordinals

_ORD_STEMS: Final = (
    "",
    "перв",
    "втор",
    "трет",
    "четвёрт",
    "пят",
    "шест",
    "седьм",
    "восьм",
    "девят",
    "десят",
    "одиннадцат",
    "двенадцат",
    "тринадцат",
    "четырнадцат",
    "пятнадцат",
    "шестнадцат",
    "семнадцат",
    "восемнадцат",
    "девятнадцат",
)
_ORD_TENS_STEMS: Final = {20: "двадцат", 30: "тридцат"}
_NEUTER_ENDINGS: Final[Mapping[Case, str]] = MappingProxyType(
    {"nom": "ое", "gen": "ого", "dat": "ому", "acc": "ое", "ins": "ым", "prep": "ом"}
)
_THIRD_ENDINGS: Final[Mapping[Case, str]] = MappingProxyType(
    {"nom": "ье", "gen": "ьего", "dat": "ьему", "acc": "ье", "ins": "ьим", "prep": "ьем"}
)


def _ordinal_word(stem: str, case: Case) -> str:
    return stem + (_THIRD_ENDINGS if stem == "трет" else _NEUTER_ENDINGS)[case]


def day_ordinal(day: int, case: Case = "gen") -> list[str]:
    """The day of a month (1..31) as a neuter ordinal («число») in ``case``.

    Only the last word is an ordinal: «двадцать первое», «двадцать первого».
    """
    day = say_ru._check_int(day, "day")
    case = _check_case(case)
    if not 1 <= day <= 31:
        raise ValueError(f"day of month out of range 1..31: {day}")
    if day < 20:
        return [_ordinal_word(_ORD_STEMS[day], case)]
    tens, ones = divmod(day, 10)
    if ones == 0:
        return [_ordinal_word(_ORD_TENS_STEMS[day], case)]
    return [say_ru._TENS[tens], _ordinal_word(_ORD_STEMS[ones], case)]


def date_words(d: date, case: Case = "gen", *, with_year: bool = False) -> list[str]:
    """A date with the day in ``case``; month and year are genitive attributes.

    «на первое марта» (acc), «до первого марта» (gen), «к первому марта» (dat).
    """
    if not isinstance(d, date):
        raise TypeError(f"expected a date, got {type(d).__name__}")
    out = [*day_ordinal(d.day, case), say_ru.MONTHS_GEN[d.month]]
    if with_year:
        out += [*say_ru.ordinal_genitive_tokens(d.year), say_ru._YEAR_WORD]
    return out


# --------------------------------------------------------------------------- time, money


def clock_time(t: time, case: Case = "nom", *, end_of_day: bool = False) -> list[str]:
    """A clock time: «восемь часов тридцать минут», «с восьми часов тридцати минут».

    Zero minutes are not said; midnight is «ноль часов» («с нуля часов»), or
    with ``end_of_day`` «двадцать четыре часа» («до двадцати четырёх часов»).
    """
    if not isinstance(t, time):
        raise TypeError(f"expected a time, got {type(t).__name__}")
    case = _check_case(case)
    if end_of_day:
        if (t.hour, t.minute) != (0, 0):
            raise ValueError(f"end_of_day is midnight, got {t}")
        return quantity(24, "hour", case)
    out = quantity(t.hour, "hour", case)
    if t.minute:
        out += quantity(t.minute, "minute", case)
    return out


def datetime_words(dt: datetime, case: Case = "nom") -> list[str]:
    """The time in ``case`` and the date as its genitive attribute:
    «до семнадцати часов первого марта»."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}")
    return [*clock_time(dt.time(), case), *date_words(dt.date(), "gen")]


def money(
    amount: Decimal | int | str,
    case: Case = "nom",
    *,
    with_kopecks: bool | Literal["always"] = True,
) -> list[str]:
    """Rubles and kopecks in ``case``: «составляет сто двадцать один рубль»,
    «в размере ста двадцати одного рубля пятидесяти копеек».

    The rules of :func:`ivr.say_ru.money_tokens` (no float, no fraction of a
    kopeck, no negative amount, kopecks said only when non-zero by default).
    """
    case = _check_case(case)
    # say_ru validates and splits the amount; the same words in the nominative
    say_ru.money_tokens(amount, with_kopecks=with_kopecks)
    exact = say_ru._to_decimal(amount)
    rubles, kopecks = divmod(int(exact * 100), 100)
    say_kopecks = with_kopecks == "always" or (with_kopecks is True and kopecks != 0)
    out: list[str] = []
    if rubles != 0 or kopecks == 0 or not say_kopecks:
        out += quantity(rubles, "ruble", case)
    if say_kopecks:
        out += quantity(kopecks, "kopeck", case)
    return out


def duration(seconds: int, case: Case = "nom") -> list[str]:
    """A duration in hours, minutes and seconds in ``case``: «в течение двух
    часов тридцати минут», «примерное время ожидания три минуты».

    Zero components are skipped; zero itself is «ноль секунд».
    """
    seconds = say_ru._check_int(seconds, "seconds")
    case = _check_case(case)
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {seconds}")
    if seconds == 0:
        return quantity(0, "second", case)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out: list[str] = []
    if hours:
        out += quantity(hours, "hour", case)
    if minutes:
        out += quantity(minutes, "minute", case)
    if secs:
        out += quantity(secs, "second", case)
    return out


# --------------------------------------------------------------------------- codes

_HOUSE_WORDS: Final[Mapping[str, str]] = MappingProxyType(
    {"/": "дробь", "к": "корпус", "корп": "корпус", "с": "строение", "стр": "строение"}
)
_HOUSE_LETTERS: Final[Mapping[str, str]] = MappingProxyType(
    {"а": "а", "б": "бэ", "в": "вэ", "г": "гэ", "д": "дэ", "е": "е"}
)


def house_tokens(house: str) -> list[str]:
    """A house or flat number as it is dictated: «15» → пятнадцать,
    «15а» → пятнадцать а, «15/2» → пятнадцать дробь два, «15к2» → пятнадцать
    корпус два. The same in every case («в доме пятнадцать а»)."""
    if not isinstance(house, str):
        raise TypeError(f"house number must be a str, got {type(house).__name__}")
    text = house.strip().lower().replace(" ", "")
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isascii() and ch.isdigit():
            j = i
            while j < len(text) and text[j].isascii() and text[j].isdigit():
                j += 1
            number = text[i:j]
            if len(number) > 1 and number.startswith("0"):
                raise ValueError(f"not a house number: {house!r}")
            out += say_ru.number_tokens(int(number))
            i = j
            continue
        for word in sorted(_HOUSE_WORDS, key=len, reverse=True):
            if text.startswith(word, i) and out and i + len(word) < len(text):
                following = text[i + len(word)]
                if following.isascii() and following.isdigit():
                    out.append(_HOUSE_WORDS[word])
                    i += len(word)
                    break
        else:
            if ch in _HOUSE_LETTERS and out:
                out.append(_HOUSE_LETTERS[ch])
                i += 1
                continue
            raise ValueError(f"not a house number: {house!r}")
    if not out:
        raise ValueError(f"empty house number: {house!r}")
    return out


# --------------------------------------------------------------------------- phrases


@dataclass(frozen=True, slots=True)
class Words:
    """One spoken value: journalled as ``say`` with ``what``/``value``."""

    what: str
    value: str
    case: Case
    tokens: tuple[str, ...]

    @property
    def text(self) -> str:
        return say_ru.tokens_to_text(self.tokens)


@dataclass(frozen=True, slots=True)
class Phrase:
    """What a flow speaks: spoken values and, between them, recorded fragments
    (prompt ids, e.g. the prepositions of a range)."""

    parts: tuple[Words | str, ...]

    def words(self) -> list[Words]:
        return [p for p in self.parts if isinstance(p, Words)]

    def text(self, prompt_text: Callable[[str], str] | None = None) -> str:
        """The phrase as text; a fragment by its catalogue text (or its id)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, Words):
                out.append(part.text)
            else:
                out.append(prompt_text(part) if prompt_text else part)
        return " ".join(out)

    def __add__(self, other: Phrase) -> Phrase:
        return Phrase(self.parts + other.parts)


def _parse_date(value: str) -> date:
    return date.fromisoformat(value[:10])


def _parse_time(value: str) -> tuple[time, bool]:
    if value.strip() == "24:00":
        return time(0, 0), True
    return time.fromisoformat(value), False


def _time_value(value: str, case: Case) -> list[str]:
    t, end_of_day = _parse_time(value)
    return clock_time(t, case, end_of_day=end_of_day)


def _code(speak: Callable[[str], list[str]]) -> Callable[[str, Case], list[str]]:
    return lambda value, _case: speak(value)


KINDS: Final[Mapping[str, Callable[[str, Case], list[str]]]] = MappingProxyType(
    {
        "money": lambda v, c: money(Decimal(v), c),
        "date": lambda v, c: date_words(_parse_date(v), c),
        "day": lambda v, c: day_ordinal(int(v), c),
        "time": _time_value,
        "datetime": lambda v, c: datetime_words(datetime.fromisoformat(v), c),
        "number": lambda v, c: cardinal(int(v), c),
        "appeal": lambda v, c: cardinal(int(v), c),
        "reading": lambda v, c: cardinal(int(v), c),
        "duration": lambda v, c: duration(int(v), c),
        "days": lambda v, c: quantity(int(v), "day", c),
        "kwh": lambda v, c: quantity(int(v), "kwh", c),
        "phone": _code(say_ru.phone_tokens),
        "account": _code(say_ru.account_tokens),
        "digits": _code(say_ru.digits_tokens),
        "house": _code(house_tokens),
    }
)
"""Journal kinds of spoken values (``say`` entries' ``what``) -> renderer(value, case)."""

CODE_KINDS: Final = frozenset({"phone", "account", "digits", "house"})
"""Kinds dictated as codes: the same words in every case."""


def tokens_for(what: str, value: str, case: Case) -> list[str]:
    """The words of a journalled value (``what``/``value`` of a ``say``) in ``case``."""
    try:
        render = KINDS[what]
    except KeyError:
        raise ValueError(f"unknown kind of value {what!r}; known: {sorted(KINDS)}") from None
    return render(value, _check_case(case))


def value(what: str, raw: object, case: Case) -> Phrase:
    """One value as a phrase: ``value("money", debt, "nom")``.

    ``raw`` is journalled as ``str(raw)`` (a date/datetime in ISO form, a
    time as ``HH:MM``) and rendered by :data:`KINDS`."""
    if isinstance(raw, datetime):
        text = raw.isoformat(timespec="minutes")
    elif isinstance(raw, time):
        text = raw.strftime("%H:%M")
    elif isinstance(raw, date):
        text = raw.isoformat()
    else:
        text = str(raw)
    return Phrase((Words(what, text, case, tuple(tokens_for(what, text, case))),))


def time_range(start: datetime, end: datetime) -> Phrase:
    """An interval of time (an outage): «первого марта с восьми часов тридцати
    минут до семнадцати часов»; over several days «с восьми часов первого
    марта до семнадцати часов второго марта».

    Both ends are local times of the same zone; an end at midnight of the
    next day keeps the one-day form with «до двадцати четырёх часов»."""
    if end < start:
        raise ValueError(f"range ends before it starts: {start} .. {end}")
    midnight_end = end.time() == time(0, 0) and end.date() == start.date() + timedelta(days=1)
    if end.date() == start.date() or midnight_end:
        end_value = "24:00" if midnight_end else end.strftime("%H:%M")
        return Phrase(
            (
                *value("date", start.date(), "gen").parts,
                P_FROM,
                *value("time", start.time(), "gen").parts,
                P_TO,
                Words("time", end_value, "gen", tuple(_time_value(end_value, "gen"))),
            )
        )
    return Phrase(
        (
            P_FROM,
            *value("datetime", start, "gen").parts,
            P_TO,
            *value("datetime", end, "gen").parts,
        )
    )


def date_range(first: date, last: date) -> Phrase:
    """Days, both included: «с пятнадцатого по двадцать пятое марта»,
    «с двадцать пятого февраля по десятое марта»."""
    if last < first:
        raise ValueError(f"range ends before it starts: {first} .. {last}")
    if (first.year, first.month) == (last.year, last.month):
        start = value("day", first.day, "gen")
    else:
        start = value("date", first, "gen")
    return Phrase((P_FROM, *start.parts, P_THROUGH, *value("date", last, "acc").parts))


async def speak(ch: Channel, phrase: Phrase) -> str | None:
    """Play a phrase; the key that interrupted it is returned (and ends it)."""
    for part in phrase.parts:
        if isinstance(part, Words):
            key = await ch.say(part.what, part.value, part.tokens)
        else:
            key = await ch.play(part)
        if key:
            return key
    return None


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True)
class Frame:
    """A kind of context a value is said in, with an example as heard."""

    name: str
    case: Case
    lead: str
    """The Russian words before the value (the fragment, for the listing)."""
    example: Callable[[], Phrase]
    prompt: str = ""
    """A catalogue fragment of this frame (``then`` = ``case``), if any."""


_D = date(2026, 3, 1)
_START = datetime(2026, 3, 1, 8, 30)
FRAMES: Final[tuple[Frame, ...]] = (
    Frame("debt", "nom", "Ваша задолженность составляет", lambda: value("money", "1234.50", "nom"), "debt/your_debt_is"),
    Frame("overpayment", "gen", "У вас переплата в размере", lambda: value("money", "121.01", "gen"), "debt/overpayment_is"),
    Frame("as-of", "acc", "по состоянию на", lambda: value("date", _D, "acc"), "debt/as_of"),
    Frame("pay-until", "gen", "Пожалуйста, оплатите задолженность до", lambda: value("date", date(2026, 3, 10), "gen"), "debt/pay_until"),
    Frame("paid-on", "gen", "Последний платёж поступил", lambda: value("date", date(2026, 2, 23), "gen"), "debt/last_payment"),
    Frame("sum-of", "acc", "на сумму", lambda: value("money", "1021", "acc"), "debt/amount_of"),
    Frame(
        "outage",
        "gen",
        "По вашему адресу запланировано отключение электроэнергии",
        lambda: time_range(_START, datetime(2026, 3, 1, 17, 0)),
        "outage/planned_at_address",
    ),
    Frame(
        "outage-days",
        "gen",
        "По вашему адресу запланировано отключение электроэнергии",
        lambda: time_range(_START, datetime(2026, 3, 2, 17, 0)),
    ),
    Frame(
        "outage-midnight",
        "gen",
        "По вашему адресу запланировано отключение электроэнергии",
        lambda: time_range(datetime(2026, 3, 1, 20, 0), datetime(2026, 3, 2, 0, 0)),
    ),
    Frame("restore-at", "acc", "Восстановление ориентировочно в", lambda: value("time", time(18, 0), "acc"), "outage/restore_expected_at"),
    Frame("restore-at-day", "acc", "Восстановление ориентировочно в", lambda: value("datetime", datetime(2026, 3, 2, 9, 21), "acc")),
    Frame("restore", "nom", "Ориентировочное время восстановления электроснабжения", lambda: value("datetime", datetime(2026, 3, 1, 21, 21), "nom"), "outage/estimated_restore"),
    Frame("since", "gen", "с", lambda: value("datetime", _START, "gen"), P_FROM),
    Frame("until", "gen", "до", lambda: value("time", time(17, 0), "gen"), P_TO),
    Frame("through", "acc", "по", lambda: value("date", date(2026, 3, 25), "acc"), P_THROUGH),
    Frame("period", "gen", "Показания принимаются", lambda: date_range(date(2026, 3, 15), date(2026, 3, 25))),
    Frame("queue-position", "nom", "Ваш номер в очереди", lambda: value("number", 3, "nom"), "queue/position_is"),
    Frame("queue-wait", "nom", "Примерное время ожидания", lambda: value("duration", 21 * 60, "nom"), "queue/estimated_wait"),
    Frame("callback-day", "gen", "Оператор перезвонит вам", lambda: value("date", date(2026, 3, 2), "gen"), "queue/callback_registered"),
    Frame("callback-time", "acc", "не позже чем в", lambda: value("time", time(14, 21), "acc"), "queue/no_later_than"),
    Frame("callback-number", "acc", "Мы перезвоним вам на номер", lambda: value("phone", "+79001234567", "nom"), "queue/will_call_number"),
    Frame("appeal-number", "nom", "Ваше обращение зарегистрировано под номером", lambda: value("appeal", 15, "nom"), "am/registered_number"),
    Frame("account", "nom", "Номер лицевого счёта", lambda: value("account", "1234567", "nom"), "readings/account_number_is"),
    Frame("meter-tail", "acc", "Прибор учёта с номером, оканчивающимся на", lambda: value("digits", "0451", "acc"), "readings/meter_number"),
    Frame("reading-echo", "acc", "Вы передали", lambda: value("reading", 1201, "acc"), "readings/you_entered"),
    Frame("reading-previous", "nom", "Предыдущие показания", lambda: value("reading", 12345, "nom"), "readings/previous_was"),
    Frame("counts-from", "gen", "будут учтены в расчёте начиная с", lambda: value("date", date(2026, 4, 1), "gen"), "readings/outside_period"),
    Frame("due-date", "gen", "Напоминаем: оплатить электроэнергию необходимо до", lambda: value("date", date(2026, 3, 10), "gen"), "outbound/payment_due"),
    Frame("tariff-from", "gen", "Новые тарифы действуют с", lambda: value("date", date(2026, 7, 1), "gen"), "outbound/tariff_change"),
    Frame("within-days", "gen", "в течение", lambda: value("days", 21, "gen")),
    Frame("within-time", "gen", "в течение", lambda: value("duration", 2 * 3600 + 30 * 60, "gen")),
    Frame("house", "nom", "дом", lambda: value("house", "15а", "nom")),
    Frame("flat", "nom", "квартира", lambda: value("house", "42", "nom")),
    Frame("debt-account", "dat", "По лицевому счёту", lambda: value("account", "1234567", "dat"), "outbound/debt_account"),
)  # fmt: skip
"""Every frame a value is said in, with an example (the listing of the issue)."""


def listing(prompt_text: Callable[[str], str] | None = None) -> list[str]:
    """One line per frame: name, case, and the example as the caller hears it.

    ``prompt_text(prompt_id)`` gives a fragment's words (default: the prompt
    catalogue's text, without a final full stop)."""
    if prompt_text is None:
        from ivr.prompts import PromptCatalogue

        catalogue = PromptCatalogue.load(include_words=False)

        def prompt_text(pid: str) -> str:
            return catalogue.text(pid).rstrip(".")

    lines = []
    for frame in FRAMES:
        lead = prompt_text(frame.prompt) if frame.prompt else frame.lead
        heard = frame.example().text(prompt_text)
        lines.append(f"{frame.name:<17} {frame.case:<4} «{lead} {heard}»")
    return lines


# --------------------------------------------------------------------------- vocabulary


def _build_vocabulary() -> frozenset[str]:
    words: set[str] = set(say_ru.VOCABULARY)
    for case in CASES:
        words.add(_ZERO[case])
        words |= set(_ONE[case]) | set(_TWO[case])
        for n in (*range(1, 20), *range(20, 100, 10), *range(100, 1000, 100)):
            words |= set(_below_thousand(n, case, "m"))
        for noun in (*NOUNS.values(), _THOUSAND, _MILLION):
            words.add(noun.singular[case])
            words.add(noun.plural[case])
        for day in range(1, 32):
            words |= set(day_ordinal(day, case))
    words |= set(_HOUSE_WORDS.values()) | set(_HOUSE_LETTERS.values())
    words.discard("")
    return frozenset(words)


VOCABULARY: Final[frozenset[str]] = _build_vocabulary()
"""Every token this module (and :mod:`ivr.say_ru`) can produce: the word prompts."""


def _main() -> int:
    for line in listing():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
