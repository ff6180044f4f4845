"""Russian number understanding for voice meter readings (REQ-T14).

Input is recogniser text as Vosk outputs it: lower-case words separated by spaces,
possibly with ``[unk]``.  Output is a :class:`ParseResult`; the IVR must never
guess, so whenever two readings are plausible both are returned as candidates and
``value`` stays ``None`` - the caller asks the customer.

Accepted ways of saying a reading (all may be mixed with fillers such as "э-э",
"ну", "значит", "показания", "счётчик", "[unk]", which are ignored):

* a whole number: "двенадцать тысяч триста сорок пять" -> 12345
  (any case/gender form Vosk may output: тысяча/тысячи/тысяч/тысячу,
  один/одна/одну/одно, два/две, ...);
* digit by digit: "один два три четыре пять" -> 12345;
* groups, each group being a closed number below a thousand:
  "сто двадцать три сорок пять" -> 12345, "двенадцать триста сорок пять" -> 12345;
* leading zeros: "ноль ноль один два" -> digits "0012", value 12;
* digits written as digits ("12345", "12 тысяч 345"), should a recogniser emit them;
* a decimal part after "и", "запятая", "точка" or "целых", optionally ending
  with "десятых"/"сотых"/"тысячных": kept in ``fraction`` when the meter has
  decimals, dropped when ``decimals == 0``.

Grouping rules (how a word sequence becomes digits):

1. Number words are read left to right with *maximal munch*: a word joins the
   current group when Russian allows it there (hundreds, then tens, then units;
   a teen closes the group), otherwise the group closes and a new one starts.
   "сто двадцать три четыре" is therefore "123" + "4" -> 1234 (never 127 and
   never "120" + "3" + "4"); "сто три" is one group -> 103.
2. "тысяча"/"миллион" multiply the group just before them and extend it into a
   full cardinal ("сто двадцать три тысячи сорок пять" -> 123045).
3. The digit strings of consecutive groups are concatenated; zero words are
   digit "0" each.
4. A cardinal containing "тысяча"/"миллион" that is followed or preceded by other
   non-zero groups is ambiguous ("двенадцать тысяч триста сорок пять шесть":
   123456, or 12345 followed by a stray/decimal digit); both readings are
   returned as candidates.  Two such cardinals in one utterance (a restart)
   are rejected.
5. Self-corrections ("нет", "вернее", "ой", ...) after the first number word reject
   the utterance (before it they are ignored: "нет, двенадцать"); words that
   are neither numbers nor fillers are ignored before the first and after the
   last number word, and reject the utterance when they occur inside it.
6. ``max_digits`` drops candidates whose significant digits do not fit the meter;
   when that leaves one reading of an ambiguous utterance, it is returned with
   reason :data:`REASON_OK_TRIMMED` (read it back for confirmation).
7. Known limit of group dictation: a group ending in "00" followed by a two-digit
   group is heard as one number ("триста сорок пять" -> 345, not "300" + "45");
   the customer dictating 30045 says "триста ноль сорок пять" or digit by digit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "REASON_AMBIGUOUS",
    "REASON_BAD_FRACTION",
    "REASON_CORRECTION",
    "REASON_NO_NUMBER",
    "REASON_OK",
    "REASON_OK_TRIMMED",
    "REASON_SEVERAL_NUMBERS",
    "REASON_TOO_LONG",
    "REASON_UNEXPECTED_WORD",
    "ParseResult",
    "digits_grammar_words",
    "ends_closed",
    "parse_reading",
]

REASON_OK: Final = "ok"
REASON_OK_TRIMMED: Final = "ok: digits beyond max_digits after a whole number were ignored"
REASON_NO_NUMBER: Final = "no number recognised"
REASON_AMBIGUOUS: Final = "ambiguous: a number in thousands/millions next to other digits"
REASON_SEVERAL_NUMBERS: Final = "several numbers said (restart?)"
REASON_CORRECTION: Final = "the caller corrected themselves"
REASON_UNEXPECTED_WORD: Final = "unexpected word inside the number"
REASON_TOO_LONG: Final = "more digits than the meter has"
REASON_BAD_FRACTION: Final = "unusable decimal part"


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Outcome of :func:`parse_reading` (REQ-T14).

    * ``value`` - the integer part when exactly one reading is plausible, else None;
    * ``candidates`` - all plausible integer readings; more than one means
      ambiguous (ask, never guess); empty when rejected;
    * ``digits`` - the integer digit string as said, leading zeros included
      (only when ``value`` is set);
    * ``fraction`` - decimal digits when the meter has decimals and some were said;
    * ``reason`` - :data:`REASON_OK` (or :data:`REASON_OK_TRIMMED`) when accepted,
      otherwise why the reading was rejected/ambiguous.
    """

    value: int | None
    candidates: tuple[int, ...] = ()
    digits: str | None = None
    fraction: str | None = None
    reason: str = REASON_OK

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


# --------------------------------------------------------------------------- lexicon

# Word kinds.
_ZERO: Final = 0
_UNIT: Final = 1  # 1..9
_TEEN: Final = 2  # 10..19
_TEN: Final = 3  # 20..90
_HUNDRED: Final = 4  # 100..900
_MULT: Final = 5  # 1000, 1_000_000

# value -> every form Vosk may output (nominative, accusative, genitive, feminine,
# neuter; "е" spellings are produced by normalisation of "ё").
_NUMBER_FORMS: Final[tuple[tuple[int, int, tuple[str, ...]], ...]] = (
    (_ZERO, 0, ("ноль", "нуль", "ноля", "нуля", "нолей", "нулей")),
    (_UNIT, 1, ("один", "одна", "одно", "одну", "одного", "одной", "одним", "одном")),
    (_UNIT, 2, ("два", "две", "двух", "двум", "двумя")),
    (_UNIT, 3, ("три", "трех", "трем", "тремя")),
    (_UNIT, 4, ("четыре", "четырех", "четырем", "четырьмя")),
    (_UNIT, 5, ("пять", "пяти", "пятью")),
    (_UNIT, 6, ("шесть", "шести", "шестью")),
    (_UNIT, 7, ("семь", "семи", "семью")),
    (_UNIT, 8, ("восемь", "восьми", "восемью", "восьмью")),
    (_UNIT, 9, ("девять", "девяти", "девятью")),
    (_TEEN, 10, ("десять", "десяти", "десятью")),
    (_TEEN, 11, ("одиннадцать", "одиннадцати")),
    (_TEEN, 12, ("двенадцать", "двенадцати")),
    (_TEEN, 13, ("тринадцать", "тринадцати")),
    (_TEEN, 14, ("четырнадцать", "четырнадцати")),
    (_TEEN, 15, ("пятнадцать", "пятнадцати")),
    (_TEEN, 16, ("шестнадцать", "шестнадцати")),
    (_TEEN, 17, ("семнадцать", "семнадцати")),
    (_TEEN, 18, ("восемнадцать", "восемнадцати")),
    (_TEEN, 19, ("девятнадцать", "девятнадцати")),
    (_TEN, 20, ("двадцать", "двадцати")),
    (_TEN, 30, ("тридцать", "тридцати")),
    (_TEN, 40, ("сорок", "сорока")),
    (_TEN, 50, ("пятьдесят", "пятидесяти")),
    (_TEN, 60, ("шестьдесят", "шестидесяти")),
    (_TEN, 70, ("семьдесят", "семидесяти")),
    (_TEN, 80, ("восемьдесят", "восьмидесяти")),
    (_TEN, 90, ("девяносто", "девяноста")),
    (_HUNDRED, 100, ("сто", "ста", "сотня", "сотню")),
    (_HUNDRED, 200, ("двести", "двухсот")),
    (_HUNDRED, 300, ("триста", "трехсот")),
    (_HUNDRED, 400, ("четыреста", "четырехсот")),
    (_HUNDRED, 500, ("пятьсот", "пятисот")),
    (_HUNDRED, 600, ("шестьсот", "шестисот")),
    (_HUNDRED, 700, ("семьсот", "семисот")),
    (_HUNDRED, 800, ("восемьсот", "восьмисот")),
    (_HUNDRED, 900, ("девятьсот", "девятисот")),
    (_MULT, 1000, ("тысяча", "тысячи", "тысяч", "тысячу", "тысячей", "тысячам")),
    (_MULT, 1_000_000, ("миллион", "миллиона", "миллионов", "миллиону")),
)

# Slot of a word inside a group below a thousand: hundreds, tens, units/teens.
_SLOTS: Final[Mapping[int, int]] = MappingProxyType(
    {_ZERO: 0, _UNIT: 3, _TEEN: 3, _TEN: 2, _HUNDRED: 1, _MULT: 0}
)

# form -> (kind, value, slot)
_LEXICON: Final[Mapping[str, tuple[int, int, int]]] = MappingProxyType(
    {form: (kind, value, _SLOTS[kind]) for kind, value, forms in _NUMBER_FORMS for form in forms}
)

_FILLERS: Final = frozenset(
    {
        "[unk]",
        "<unk>",
        "э",
        "ээ",
        "эээ",
        "э-э",
        "э-э-э",
        "эм",
        "эмм",
        "м",
        "мм",
        "ммм",
        "а",
        "ааа",
        "так",
        "ну",
        "вот",
        "значит",
        "это",
        "щас",
        "сейчас",
        "там",
        "у",
        "меня",
        "мои",
        "мой",
        "наши",
        "показания",
        "показание",
        "показаний",
        "счетчик",
        "счетчика",
        "счетчике",
        "киловатт",
        "киловатт-час",
        "киловатт-часа",
        "киловатт-часов",
        "квт",
    }
)

_CORRECTIONS: Final = frozenset(
    {
        "нет",
        "не",
        "вернее",
        "точнее",
        "ой",
        "извините",
        "простите",
        "ошибся",
        "ошиблась",
        "неправильно",
        "заново",
        "сначала",
    }
)

# Words separating the integer and the decimal part.  "и" is a separator only
# between number words; elsewhere it is a filler.
_DECIMAL_POINTS: Final = frozenset({"и", "запятая", "точка", "целых", "целая", "целое", "целой"})

# "шесть десятых" -> one decimal digit, "пять сотых" -> two, ...
_DENOMINATORS: Final[Mapping[str, int]] = MappingProxyType(
    {
        **dict.fromkeys(("десятых", "десятая", "десятые", "десятой"), 1),
        **dict.fromkeys(("сотых", "сотая", "сотые", "сотой"), 2),
        **dict.fromkeys(("тысячных", "тысячная", "тысячные", "тысячной"), 3),
    }
)


def digits_grammar_words() -> list[str]:
    """Words for a Vosk grammar capturing meter readings (REQ-T14).

    All number forms (with both "е" and "ё" spellings where they differ), the
    decimal words, fillers and correction words; the caller appends ``"[unk]"``.
    Words missing from the model vocabulary are merely skipped by Vosk.
    """
    words: set[str] = set()
    for _kind, _value, forms in _NUMBER_FORMS:
        words.update(forms)
    words |= set(_DECIMAL_POINTS) | set(_DENOMINATORS) | set(_CORRECTIONS)
    words |= {w for w in _FILLERS if not w.startswith(("[", "<"))}
    with_yo = {_yo_variant(w) for w in words}
    return sorted(words | with_yo)


def _yo_variant(word: str) -> str:
    """The usual "ё" spelling of a word stored with "е" (трех -> трёх, счетчик -> счётчик)."""
    for plain, yo in (("трех", "трёх"), ("четырех", "четырёх"), ("счетчик", "счётчик")):
        if word.startswith(plain):
            return yo + word[len(plain) :]
    return word


# --------------------------------------------------------------------------- tokenising

_NUMBER: Final = 1
_LITERAL: Final = 2  # digits written as digits, e.g. "123"
_POINT: Final = 3
_DENOM: Final = 4
_CORRECTION: Final = 5
_OTHER: Final = 6


def _classify(word: str) -> list[tuple[int, str]]:
    if word in _LEXICON:
        return [(_NUMBER, word)]
    if word in _FILLERS:
        return []
    if word in _DECIMAL_POINTS:
        return [(_POINT, word)]
    if word in _DENOMINATORS:
        return [(_DENOM, word)]
    if word in _CORRECTIONS:
        return [(_CORRECTION, word)]
    if word.isascii() and word.isdigit():
        return [(_LITERAL, word)]
    stripped = word.strip(".,;:!?\"'«»()")
    if stripped != word:
        return _classify(stripped) if stripped else []
    if "-" in word:
        parts = [p for p in word.split("-") if p]
        if parts:
            return [c for p in parts for c in _classify(p)]
        return []
    return [(_OTHER, word)]


def _tokenise(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for word in text.lower().replace("ё", "е").split():
        out += _classify(word)
    return out


# --------------------------------------------------------------------------- grouping


@dataclass(frozen=True, slots=True)
class _Group:
    digits: str
    has_multiplier: bool
    is_zero: bool


def _groups(words: list[tuple[int, str]]) -> list[_Group]:
    """Split number words/literals into groups by maximal munch (rules 1-3)."""
    groups: list[_Group] = []
    # Current cardinal: big = value of closed multiplier parts; small = value of
    # the group below a thousand; stage = last slot filled in small
    # (0 empty, 1 hundreds, 2 tens, 3 units/teen); last_mult = smallest multiplier
    # used so far (for ordering: миллион before тысяча).
    big = 0
    small = 0
    stage = 0
    last_mult = 0

    def close() -> None:
        nonlocal big, small, stage, last_mult
        if stage or last_mult:
            groups.append(_Group(str(big + small), bool(last_mult), False))
        big = small = stage = last_mult = 0

    for kind, word in words:
        if kind == _LITERAL:
            if len(word) <= 3 and word[0] != "0":
                # "12 тысяч 345": a short literal behaves like a closed group below 1000.
                if stage or not last_mult:
                    close()
                small, stage = int(word), 3
            else:
                close()
                groups.append(_Group(word, False, word.strip("0") == ""))
            continue
        wkind, value, slot = _LEXICON[word]
        if wkind == _ZERO:
            close()
            groups.append(_Group("0", False, True))
        elif wkind == _MULT:
            if last_mult and value >= last_mult:
                # "две тысячи три тысячи": the current small part starts a new cardinal.
                carried = small if stage else 0
                small = stage = 0
                close()
                big = (carried or 1) * value
            else:
                big += (small if stage else 1) * value
                small = stage = 0
            last_mult = value
        else:
            can_attach = slot > stage and not (wkind == _TEEN and stage == 2)
            if not can_attach:
                close()
            small += value
            stage = slot
    close()
    return groups


# --------------------------------------------------------------------------- parsing


def _integer_candidates(words: list[tuple[int, str]]) -> tuple[list[str], str]:
    """Digit-string candidates for the integer part, and a reason."""
    groups = _groups(words)
    if not groups:
        return [], REASON_NO_NUMBER
    prefix = ""
    index = 0
    while index < len(groups) and groups[index].is_zero:
        prefix += groups[index].digits
        index += 1
    rest = groups[index:]
    if not rest:
        return [prefix], REASON_OK
    concatenated = prefix + "".join(g.digits for g in rest)
    multiplied = [g for g in rest if g.has_multiplier]
    if len(rest) == 1 or not multiplied:
        return [concatenated], REASON_OK
    if len(multiplied) > 1:
        return [], REASON_SEVERAL_NUMBERS
    alone = (prefix if rest[0] is multiplied[0] else "") + multiplied[0].digits
    return [concatenated, alone], REASON_AMBIGUOUS


def _fraction_digits(words: list[tuple[int, str]], denominator: int | None) -> str | None:
    """Digits of the decimal part, or None when it cannot be read unambiguously."""
    candidates, _reason = _integer_candidates(words)
    if len(candidates) != 1:
        return None
    digits = candidates[0]
    if denominator is not None:
        if len(digits.lstrip("0")) > denominator:
            return None
        digits = digits.lstrip("0").zfill(denominator)
    return digits


def _reject(reason: str) -> ParseResult:
    return ParseResult(value=None, candidates=(), digits=None, fraction=None, reason=reason)


def ends_closed(text: str) -> bool:
    """The last number word said closes its group: a unit, a teen or zero
    («…сорок пять», «…двенадцать»), after which only a new group can follow;
    «…сорок», «…триста», «…тысяч» still expect more. Fillers are skipped."""
    for word in reversed(text.split()):
        for kind, token in _classify(word):
            return kind == _NUMBER and _LEXICON[token][0] in (_ZERO, _UNIT, _TEEN)
    return False


def parse_reading(text: str, *, max_digits: int | None = None, decimals: int = 0) -> ParseResult:
    """Parse a spoken meter reading (REQ-T14); see the module docstring for the rules.

    ``max_digits`` - number of integer drums of the meter (candidates whose value
    needs more digits are dropped); ``decimals`` - number of decimal drums: 0 drops
    any decimal part said, otherwise the decimal digits are returned in
    ``fraction`` and more digits than ``decimals`` reject the reading.
    """
    if max_digits is not None and max_digits < 1:
        raise ValueError(f"max_digits must be positive, got {max_digits}")
    if decimals < 0:
        raise ValueError(f"decimals must not be negative, got {decimals}")
    tokens = _tokenise(text)
    numeric = [i for i, (kind, _) in enumerate(tokens) if kind in (_NUMBER, _LITERAL)]
    if not numeric:
        return _reject(REASON_NO_NUMBER)
    first, last = numeric[0], numeric[-1]
    # "нет, двенадцать тысяч" answers a question; "двенадцать, нет, тринадцать" does not.
    if any(kind == _CORRECTION for kind, _ in tokens[first:]):
        return _reject(REASON_CORRECTION)
    # Trailing denominator ("... шесть десятых") belongs to the number.
    end = last + 1
    denominator: int | None = None
    if end < len(tokens) and tokens[end][0] == _DENOM:
        denominator = _DENOMINATORS[tokens[end][1]]
        end += 1
    span = tokens[first:end]

    integer_words: list[tuple[int, str]] = []
    fraction_words: list[tuple[int, str]] = []
    seen_point = False
    for position, (kind, word) in enumerate(span):
        if kind == _OTHER:
            return _reject(f"{REASON_UNEXPECTED_WORD}: {word!r}")
        if kind == _POINT:
            if seen_point:
                return _reject(f"{REASON_BAD_FRACTION}: two decimal separators")
            seen_point = True
        elif kind == _DENOM:
            if position != len(span) - 1:
                return _reject(f"{REASON_BAD_FRACTION}: {word!r} in the middle")
        elif seen_point:
            fraction_words.append((kind, word))
        else:
            integer_words.append((kind, word))
    if denominator is not None and not fraction_words:
        # "пять десятых" with no integer part: nothing before the point.
        if not seen_point:
            fraction_words, integer_words = integer_words, [(_NUMBER, "ноль")]
        else:
            return _reject(f"{REASON_BAD_FRACTION}: denominator without digits")

    candidates, reason = _integer_candidates(integer_words)
    if not candidates:
        return _reject(reason)

    fraction: str | None = None
    if fraction_words and decimals > 0:
        fraction = _fraction_digits(fraction_words, denominator)
        if fraction is None:
            return _reject(f"{REASON_BAD_FRACTION}: cannot read the decimal part")
        if len(fraction) > decimals:
            return _reject(
                f"{REASON_BAD_FRACTION}: {len(fraction)} decimal digits, the meter has {decimals}"
            )

    if max_digits is not None:
        fitting = [d for d in candidates if len(d.lstrip("0") or "0") <= max_digits]
        if not fitting:
            return _reject(f"{REASON_TOO_LONG}: {max_digits} allowed")
        candidates = fitting

    values: list[int] = []
    for digits in candidates:
        if int(digits) not in values:
            values.append(int(digits))
    if len(values) > 1:
        return ParseResult(
            value=None, candidates=tuple(values), digits=None, fraction=None, reason=reason
        )
    return ParseResult(
        value=values[0],
        candidates=(values[0],),
        digits=candidates[0],
        fraction=fraction,
        # An ambiguous reading narrowed by max_digits: the extra words were dropped,
        # so the caller should read the value back for confirmation.
        reason=REASON_OK if reason == REASON_OK else REASON_OK_TRIMMED,
    )
