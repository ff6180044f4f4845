"""Russian postal addresses: parse to parts and to a lookup key.

Callers and import files write the same address in many ways; all of these
give the same key ``ленина|5|12``::

    ул. Ленина д 5 кв 12
    Ленина 5-12
    улица Ленина, дом 5, квартира 12
    г. Демоград, ул Ленина, д.5, кв.12

The key is ``street|house|flat`` where *street* is the street name without its
type (``ул``, ``проспект``…), *house* is number + letter + fraction + корпус +
строение (``5а/2 к1 с3``) and *flat* is the flat (or office) number, all
lower-cased, ``ё`` → ``е``, leading zeros dropped. The settlement and the
street type are kept out of the key on purpose: callers often omit them, and a
key that includes them would make «Ленина 5-12» match nothing. They are used
afterwards to narrow a set of candidates (:meth:`ParsedAddress.compatible`).
The :attr:`ParsedAddress.house_key` (``street|house``) finds every account of
one house, for an address given without a flat.

The parser is a small hand-written tokenizer and state machine, not a
gazetteer: it knows the abbreviations of street and settlement types, the
house/корпус/строение/квартира markers and the compact forms (``5-12``,
``5к2``, ``5с1``, ``5/2``, ``5А``), and nothing about which streets exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final

__all__ = [
    "SETTLEMENT_TYPES",
    "STREET_TYPES",
    "ParsedAddress",
    "from_parts",
    "normalize_text",
    "parse_address",
    "short_type",
]

STREET_TYPES: Final = MappingProxyType(
    {
        "ул": "улица",
        "улица": "улица",
        "у": "улица",
        "пр-т": "проспект",
        "пр-кт": "проспект",
        "просп": "проспект",
        "проспект": "проспект",
        "пр": "проспект",
        "пер": "переулок",
        "переулок": "переулок",
        "пр-д": "проезд",
        "проезд": "проезд",
        "ш": "шоссе",
        "шос": "шоссе",
        "шоссе": "шоссе",
        "б-р": "бульвар",
        "бул": "бульвар",
        "бульв": "бульвар",
        "бульвар": "бульвар",
        "пл": "площадь",
        "площадь": "площадь",
        "наб": "набережная",
        "набережная": "набережная",
        "мкр": "микрорайон",
        "мкрн": "микрорайон",
        "мкр-н": "микрорайон",
        "микрорайон": "микрорайон",
        "кв-л": "квартал",
        "квартал": "квартал",
        "туп": "тупик",
        "тупик": "тупик",
        "ал": "аллея",
        "аллея": "аллея",
        "тракт": "тракт",
        "линия": "линия",
        "тер": "территория",
        "территория": "территория",
        "снт": "снт",
    }
)
"""Street-type words and abbreviations → canonical street type."""

SETTLEMENT_TYPES: Final = MappingProxyType(
    {
        "г": "город",
        "гор": "город",
        "город": "город",
        "пгт": "пгт",
        "рп": "рабочий поселок",
        "п": "поселок",
        "пос": "поселок",
        "поселок": "поселок",
        "с": "село",
        "село": "село",
        "д": "деревня",
        "дер": "деревня",
        "деревня": "деревня",
        "ст-ца": "станица",
        "станица": "станица",
        "х": "хутор",
        "хутор": "хутор",
        "аул": "аул",
    }
)
"""Settlement-type words → canonical type. ``д``/``с``/``п`` are settlement
types only when a word follows (``д Ивановка``); before a number they are
house/строение markers (``д 5``, ``с 1``)."""

_REGION_TYPES: Final = frozenset(
    {"обл", "область", "край", "респ", "республика", "ао", "автономный", "округ"}
)
_DISTRICT_TYPES: Final = frozenset({"р-н", "район", "мо", "го"})
_HOUSE_MARKERS: Final = frozenset({"д", "дом", "домовладение", "двлд", "влд", "владение"})
_BUILDING_MARKERS: Final = frozenset({"к", "корп", "корпус", "кор"})
_STRUCTURE_MARKERS: Final = frozenset({"с", "стр", "строение", "сооружение", "соор"})
_FLAT_MARKERS: Final = frozenset(
    {"кв", "квартира", "оф", "офис", "пом", "помещение", "комн", "комната", "ком"}
)
_NUMBER_MARKERS: Final = _HOUSE_MARKERS | _BUILDING_MARKERS | _STRUCTURE_MARKERS | _FLAT_MARKERS
_IGNORED: Final = frozenset({"россия", "рф", "им", "имени", "n", "no"})
_ORDINAL_SUFFIXES: Final = frozenset(
    {"я", "й", "ий", "ый", "ой", "ая", "ья", "го", "ого", "его", "ое", "ые", "ых"}
)
_LATIN_LETTERS: Final = MappingProxyType(
    {"a": "а", "b": "б", "c": "с", "e": "е", "k": "к", "m": "м", "o": "о", "p": "р", "x": "х"}
)

_TOKEN_RE: Final = re.compile(r"\d+|[a-zа-я]+|[,/\-]|\S")
_DASHES_RE: Final = re.compile(r"[‐‑‒–—―]")


def normalize_text(text: str) -> str:
    """Lower case, ``ё`` → ``е``, unified dashes, ``№`` and quotes removed."""
    text = text.lower().replace("ё", "е")
    text = _DASHES_RE.sub("-", text)
    for ch in "№\"'«»“”„()":
        text = text.replace(ch, " ")
    return text


@dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    kind: str  # "num", "word", "punct"
    glued: bool  # no whitespace before it


def _tokenize(text: str) -> list[_Tok]:
    raw: list[_Tok] = []
    end = -1
    for m in _TOKEN_RE.finditer(normalize_text(text)):
        s = m.group()
        kind = "num" if s.isdigit() else "word" if s[0].isalpha() else "punct"
        raw.append(_Tok(s, kind, m.start() == end))
        end = m.end()
    # Join hyphenated words (пр-т, б-р, нижне-садовая, ростов-на-дону) and
    # ordinals (2-я, 1-й) into one token.
    out: list[_Tok] = []
    i = 0
    while i < len(raw):
        t = raw[i]
        if (
            t.kind == "word"
            and i + 2 < len(raw)
            and raw[i + 1].text == "-"
            and raw[i + 1].glued
            and raw[i + 2].kind == "word"
            and raw[i + 2].glued
        ):
            merged = _Tok(f"{t.text}-{raw[i + 2].text}", "word", t.glued)
            raw[i + 2] = merged
            i += 2
            continue
        out.append(t)
        i += 1
    return out


def _strip_zeros(num: str) -> str:
    stripped = num.lstrip("0")
    return stripped or "0"


def _house_letter(word: str) -> str:
    return _LATIN_LETTERS.get(word, word)


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    """The parts of an address, normalised (lower case, ``ё`` → ``е``)."""

    region: str | None = None
    settlement_type: str | None = None
    settlement: str | None = None
    street_type: str | None = None
    street: str | None = None
    house: str | None = None
    """Number, letter and fraction: ``5``, ``5а``, ``5/2``, ``12б/1``."""
    building: str | None = None
    """Корпус."""
    structure: str | None = None
    """Строение."""
    flat: str | None = None

    @property
    def house_full(self) -> str | None:
        if self.house is None:
            return None
        out = self.house
        if self.building:
            out += f" к{self.building}"
        if self.structure:
            out += f" с{self.structure}"
        return out

    @property
    def house_key(self) -> str | None:
        """``street|house`` — every flat of one house; None when incomplete."""
        if not self.street or self.house is None:
            return None
        return f"{self.street}|{self.house_full}"

    @property
    def key(self) -> str | None:
        """``street|house|flat`` (empty flat for a private house)."""
        house_key = self.house_key
        if house_key is None:
            return None
        return f"{house_key}|{self.flat or ''}"

    @property
    def settlement_key(self) -> str | None:
        return self.settlement

    @property
    def complete(self) -> bool:
        """Street and house are known (a key exists)."""
        return self.house_key is not None

    def alternatives(self) -> list[ParsedAddress]:
        """Other readings of a street name that may start with the settlement.

        «Демоград Ленина 5-12» (no commas, no types) parses as street
        «демоград ленина»; the alternatives move leading words to the
        settlement: settlement «демоград», street «ленина». Only offered when
        neither a settlement nor a street type was recognised.
        """
        if self.settlement or self.street_type or not self.street:
            return []
        words = self.street.split()
        return [
            replace(self, settlement=" ".join(words[:k]), street=" ".join(words[k:]))
            for k in range(1, len(words))
            if not words[k].isdigit()
        ]

    def compatible(self, other: ParsedAddress) -> bool:
        """False only when both sides name a settlement / street type and differ.

        Used to narrow candidates that share a key: «пр-т Ленина 5» does not
        match an account on «ул. Ленина 5», but «Ленина 5» matches both.
        """
        if self.settlement and other.settlement and self.settlement != other.settlement:
            return False
        return not (
            self.street_type and other.street_type and self.street_type != other.street_type
        )

    def display(self) -> str:
        """A readable form: ``г. демоград, ул. ленина, д. 5а, корп. 2, кв. 12``."""
        parts: list[str] = []
        if self.settlement:
            parts.append(f"{_SHORT.get(self.settlement_type or '', '')}{self.settlement}".strip())
        if self.street:
            parts.append(f"{_SHORT.get(self.street_type or '', '')}{self.street}".strip())
        if self.house:
            parts.append(f"д. {self.house}")
        if self.building:
            parts.append(f"корп. {self.building}")
        if self.structure:
            parts.append(f"стр. {self.structure}")
        if self.flat:
            parts.append(f"кв. {self.flat}")
        return ", ".join(parts)


_SHORT: Final = MappingProxyType(
    {
        "город": "г. ",
        "поселок": "пос. ",
        "пгт": "пгт ",
        "село": "с. ",
        "деревня": "д. ",
        "улица": "ул. ",
        "проспект": "пр-т ",
        "переулок": "пер. ",
        "шоссе": "ш. ",
        "бульвар": "б-р ",
        "площадь": "пл. ",
        "набережная": "наб. ",
        "микрорайон": "мкр ",
        "проезд": "пр-д ",
    }
)


@dataclass(slots=True)
class _State:
    region: str | None = None
    settlement_type: str | None = None
    settlement: list[str] | None = None
    settlement_closed: bool = False
    street_type: str | None = None
    street: list[str] | None = None
    house: str | None = None
    building: str | None = None
    structure: str | None = None
    flat: str | None = None
    pending: list[str] = field(default_factory=list)
    segments: list[list[str]] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0
        self.s = _State()

    # -- token helpers ------------------------------------------------------

    def next_index(self, start: int) -> int:
        """Index of the next meaningful token at or after ``start`` (dots skipped)."""
        j = start
        while j < len(self.toks) and self.toks[j].kind == "punct" and self.toks[j].text in ".:#":
            j += 1
        return j

    def tok_at(self, j: int) -> _Tok | None:
        return self.toks[j] if j < len(self.toks) else None

    # -- main loop ------------------------------------------------------------

    def parse(self) -> ParsedAddress:
        s = self.s
        while self.i < len(self.toks):
            t = self.toks[self.i]
            if t.kind == "punct":
                if t.text == ",":
                    self.flush_segment()
                self.i += 1
                continue
            if t.kind == "word":
                self.on_word(t)
            else:
                self.on_number(t)
        self.flush_segment()
        return self.finish(s)

    def flush_segment(self) -> None:
        s = self.s
        if s.settlement is not None:
            s.settlement_closed = True
        if s.pending:
            s.segments.append(s.pending)
            s.pending = []

    def collect_name(self) -> list[str]:
        """Words (and name numbers such as «8 марта») up to a comma or marker."""
        words: list[str] = []
        while self.i < len(self.toks):
            t = self.toks[self.i]
            if t.kind == "punct":
                if t.text in ".:#":
                    self.i += 1
                    continue
                break
            if t.kind == "word":
                if t.text in _IGNORED:
                    self.i += 1
                    continue
                if self.is_marker_word(t.text) and (words or t.text not in _FLAT_MARKERS):
                    break
                words.append(t.text)
                self.i += 1
                continue
            # a number: part of the name only if a plain word follows it
            if self.number_is_name_part():
                words.append(self.take_ordinal())
                continue
            break
        return words

    def is_marker_word(self, w: str) -> bool:
        if w in STREET_TYPES or w in _REGION_TYPES or w in _DISTRICT_TYPES:
            return True
        if w in _NUMBER_MARKERS:
            nxt = self.tok_at(self.next_index(self.i + 1))
            return nxt is not None and nxt.kind == "num"
        if w in SETTLEMENT_TYPES:
            nxt = self.tok_at(self.next_index(self.i + 1))
            return nxt is not None and nxt.kind == "word"
        return False

    def number_is_name_part(self) -> bool:
        """«60 лет октября», «8 марта», «2-я кирпичная», «1 мая».

        A number is part of a street name when it is followed by a plain word
        (not a marker and not a single house letter), or is an ordinal.
        """
        t = self.toks[self.i]
        nxt = self.tok_at(self.i + 1)
        if nxt is None:
            return False
        if nxt.text == "-" and nxt.glued:
            suffix = self.tok_at(self.i + 2)
            return (
                suffix is not None
                and suffix.kind == "word"
                and suffix.glued
                and suffix.text in _ORDINAL_SUFFIXES
            )
        if nxt.kind != "word" or nxt.text in _IGNORED:
            return False
        if len(nxt.text) == 1:
            return False  # house letter (5 а) or marker (5 к 2)
        if nxt.glued and t.kind == "num":
            return False  # 5корп2, 5стр1
        saved = self.i
        self.i += 1
        marker = self.is_marker_word(nxt.text)
        self.i = saved
        return not marker and nxt.text not in _NUMBER_MARKERS

    def take_ordinal(self) -> str:
        """Consume a number (with an optional ``-я`` ordinal suffix)."""
        num = _strip_zeros(self.toks[self.i].text)
        self.i += 1
        dash = self.tok_at(self.i)
        suffix = self.tok_at(self.i + 1)
        if (
            dash is not None
            and dash.text == "-"
            and dash.glued
            and suffix is not None
            and suffix.kind == "word"
            and suffix.glued
            and suffix.text in _ORDINAL_SUFFIXES
        ):
            self.i += 2
        return num

    # -- words ----------------------------------------------------------------

    def on_word(self, t: _Tok) -> None:
        s = self.s
        w = t.text
        if w in _IGNORED:
            self.i += 1
            return
        nxt_i = self.next_index(self.i + 1)
        nxt = self.tok_at(nxt_i)
        nxt_is_num = nxt is not None and nxt.kind == "num"
        nxt_is_word = nxt is not None and nxt.kind == "word"

        if w in _REGION_TYPES:
            self.i += 1
            if s.pending:
                s.region = " ".join(s.pending)
                s.pending = []
            else:
                s.region = " ".join(self.collect_name()) or s.region
            return
        if w in _DISTRICT_TYPES:
            self.i += 1
            if s.pending:
                s.pending = []
            else:
                self.collect_name()
            return
        if w in _HOUSE_MARKERS and nxt_is_num:
            self.i = nxt_i
            self.take_house(explicit=True)
            return
        if w in _FLAT_MARKERS and nxt_is_num:
            self.i = nxt_i
            s.flat = self.take_simple()
            return
        if w in _BUILDING_MARKERS and nxt_is_num and s.house is not None:
            self.i = nxt_i
            s.building = self.take_simple()
            return
        if w in _STRUCTURE_MARKERS and nxt_is_num and s.house is not None:
            self.i = nxt_i
            s.structure = self.take_simple()
            return
        if w in SETTLEMENT_TYPES and (nxt_is_word or (not nxt_is_num and s.pending)):
            self.i += 1
            s.settlement_type = SETTLEMENT_TYPES[w]
            name = self.collect_name()
            if not name and s.pending:
                name, s.pending = s.pending, []
            s.settlement = name
            s.settlement_closed = False
            return
        if w in STREET_TYPES and (w not in ("у", "пр", "ал", "линия") or nxt_is_word or s.pending):
            self.i += 1
            if s.street is not None and s.street_type in ("микрорайон", "квартал", "территория"):
                s.street = None  # a street inside a microdistrict: the street wins
            s.street_type = STREET_TYPES[w]
            name = self.collect_name()
            if not name and s.pending:
                name, s.pending = s.pending, []
            if name:
                s.street = name
            return
        if len(w) == 1 and s.house is not None and s.flat is None and self.i > 0:
            prev = self.toks[self.i - 1]
            if prev.kind == "num" and not nxt_is_num:
                # «5 а»: a detached house letter
                s.house = _append_letter(s.house, _house_letter(w))
                self.i += 1
                return
        # A plain word: part of a name not yet assigned.
        if s.settlement is not None and not s.settlement_closed and s.street is None:
            s.settlement.append(w)
        else:
            s.pending.append(w)
        self.i += 1

    # -- numbers --------------------------------------------------------------

    def on_number(self, t: _Tok) -> None:
        s = self.s
        if s.house is None:
            if s.street is None and self.number_is_name_part():
                s.pending.append(self.take_ordinal())
                return
            if (
                len(t.text) == 6
                and s.street is None
                and not s.pending
                and s.settlement is None
                and not s.segments
            ):
                self.i += 1  # postcode
                return
            self.take_house(explicit=False)
            return
        if s.flat is None:
            s.flat = self.take_simple()
            return
        self.i += 1  # a stray number after the flat: ignored

    def take_simple(self) -> str:
        """A flat / корпус / строение value: number with an optional letter."""
        value = _strip_zeros(self.toks[self.i].text)
        self.i += 1
        nxt = self.tok_at(self.i)
        if nxt is not None and nxt.kind == "word" and nxt.glued and len(nxt.text) == 1:
            value += _house_letter(nxt.text)
            self.i += 1
        return value

    def take_house(self, *, explicit: bool) -> None:
        """``5``, ``5а``, ``5/2``, ``5-12``, ``5к2``, ``5с1``, ``5а-12``, ``5/2-12``."""
        s = self.s
        if s.street is None and (s.pending or s.segments):
            s.street = s.pending or s.segments.pop()
            s.pending = []
        if s.settlement is not None:
            s.settlement_closed = True
        house = _strip_zeros(self.toks[self.i].text)
        self.i += 1
        while self.i < len(self.toks):
            t = self.toks[self.i]
            if not t.glued:
                break
            nxt = self.tok_at(self.i + 1)
            if (
                t.kind == "word"
                and len(t.text) == 1
                and not (
                    t.text in ("к", "с", "д")
                    and nxt is not None
                    and nxt.kind == "num"
                    and nxt.glued
                )
            ):
                house = _append_letter(house, _house_letter(t.text))
                self.i += 1
                continue
            if (
                t.kind == "word"
                and len(t.text) > 1
                and t.text[1:] in _BUILDING_MARKERS | _STRUCTURE_MARKERS | _FLAT_MARKERS
                and t.text[0] not in "кс"
                and nxt is not None
                and nxt.kind == "num"
                and nxt.glued
            ):
                # «5бк1», «5астр2»: a house letter glued to a marker
                house = _append_letter(house, _house_letter(t.text[0]))
                self.toks[self.i] = _Tok(t.text[1:], "word", True)
                continue
            if t.kind == "word" and nxt is not None and nxt.kind == "num" and nxt.glued:
                if t.text in _BUILDING_MARKERS:
                    self.i += 1
                    s.building = self.take_simple()
                    continue
                if t.text in _STRUCTURE_MARKERS:
                    self.i += 1
                    s.structure = self.take_simple()
                    continue
                if t.text in _FLAT_MARKERS:
                    self.i += 1
                    s.flat = self.take_simple()
                    continue
                break
            if t.text == "/" and nxt is not None and nxt.kind == "num":
                self.i += 1
                house += "/" + self.take_simple()
                continue
            if t.text == "-" and nxt is not None:
                if nxt.kind == "word" and len(nxt.text) == 1 and nxt.glued:
                    house = _append_letter(house, _house_letter(nxt.text))  # 5-а
                    self.i += 2
                    continue
                if nxt.kind == "num" and s.flat is None:
                    self.i += 1
                    s.flat = self.take_simple()  # 5-12
                    continue
            break
        s.house = house
        del explicit  # the form is the same with or without «дом»

    # -- result ---------------------------------------------------------------

    def finish(self, s: _State) -> ParsedAddress:
        street = s.street
        settlement = s.settlement
        if street is None and s.segments and s.house is None:
            street = s.segments.pop()
        if street is None and settlement and len(settlement) > 1 and s.house is not None:
            # «г Демоград Ленина 5»: no comma after the town, the last word is the street
            street, settlement = settlement[-1:], settlement[:-1]
        if settlement is None and s.segments:
            settlement = s.segments[-1]
        return ParsedAddress(
            region=s.region,
            settlement_type=s.settlement_type,
            settlement=_name_key(settlement),
            street_type=s.street_type,
            street=_name_key(street),
            house=s.house,
            building=s.building,
            structure=s.structure,
            flat=s.flat,
        )


def _append_letter(house: str, letter: str) -> str:
    if "/" in house:
        return house  # 5/2а: letters after a fraction are not modelled
    return house + letter


def _name_key(words: list[str] | None) -> str | None:
    """Street or settlement name: numbers first (ordinals), hyphens dropped."""
    if not words:
        return None
    numbers = [w for w in words if w.isdigit()]
    rest = [w.replace("-", "") for w in words if not w.isdigit()]
    return " ".join(numbers + rest) or None


def short_type(kind: str | None) -> str:
    """Abbreviation of a canonical street/settlement type (``улица`` → ``ул.``)."""
    if not kind:
        return ""
    return _SHORT.get(kind, f"{kind} ").strip()


def parse_address(text: str) -> ParsedAddress:
    """Parse a free-text Russian address (see the module docstring)."""
    return _Parser(text or "").parse()


def from_parts(
    *,
    settlement: str | None = None,
    street_type: str | None = None,
    street: str | None = None,
    house: str | None = None,
    building: str | None = None,
    structure: str | None = None,
    flat: str | None = None,
    region: str | None = None,
) -> ParsedAddress:
    """Normalise an address given as separate fields (import files, the database).

    Each field goes through the same parser as free text, so the key of an
    account and the key of what a caller says agree.
    """
    street_part = parse_address(f"{street_type or ''} {street or ''}".strip() + " 1")
    house_part = parse_address(f"x {house}") if house else ParsedAddress()
    settlement_part = parse_address(f"{settlement}, x 1") if settlement else ParsedAddress()
    building_value = _simple_value(building)
    structure_value = _simple_value(structure)
    flat_value = _simple_value(flat)
    return ParsedAddress(
        region=normalize_text(region).strip() or None if region else None,
        settlement_type=settlement_part.settlement_type,
        settlement=settlement_part.settlement,
        street_type=street_part.street_type
        or (STREET_TYPES.get(normalize_text(street_type).strip(" .")) if street_type else None),
        street=street_part.street,
        house=house_part.house,
        building=building_value or house_part.building,
        structure=structure_value or house_part.structure,
        flat=flat_value or house_part.flat,
    )


def _simple_value(value: str | None) -> str | None:
    """A flat / корпус / строение field: ``"кв. 012"`` → ``"12"``, ``"2А"`` → ``"2а"``."""
    if value is None:
        return None
    words = [
        w
        for w in re.findall(r"[a-zа-я]+|\d+|[/-]", normalize_text(str(value)))
        if w not in _NUMBER_MARKERS or len(w) == 1
    ]
    if words and words[0] in _NUMBER_MARKERS and len(words) > 1 and words[1].isdigit():
        words = words[1:]  # «к 2», «с 1»
    text = "".join(words)
    if not text:
        return None
    if len(text) == 1:
        return _house_letter(text)
    m = re.fullmatch(r"(\d+)-?([a-zа-я])?", text)
    if m:
        return _strip_zeros(m.group(1)) + (_house_letter(m.group(2)) if m.group(2) else "")
    return text
