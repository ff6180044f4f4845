"""Tests for ivr.numparse_ru - understanding spoken meter readings (REQ-T14).

The central property: every number 0..999 999 said in Russian words (num2words as
an independent speaker) parses back to itself.  Then digit-by-digit and group
dictation, leading zeros, fillers, decimals, ambiguity (ask, never guess) and
garbage.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from num2words import num2words

from ivr.numparse_ru import (
    REASON_AMBIGUOUS,
    REASON_BAD_FRACTION,
    REASON_CORRECTION,
    REASON_NO_NUMBER,
    REASON_OK,
    REASON_OK_TRIMMED,
    REASON_SEVERAL_NUMBERS,
    REASON_TOO_LONG,
    REASON_UNEXPECTED_WORD,
    ParseResult,
    digits_grammar_words,
    parse_reading,
)
from ivr.say_ru import account_token_groups, digits_tokens, number_tokens, tokens_to_text

DIGIT_WORDS = "ноль один два три четыре пять шесть семь восемь девять".split()
FILLERS = [
    "э-э",
    "ээ",
    "эм",
    "так",
    "ну",
    "значит",
    "показания",
    "показание",
    "счётчик",
    "[unk]",
    "это",
]


def spoken(n: int) -> str:
    """num2words speaks, normalised as the brief says: lower case, split on spaces/hyphens."""
    return " ".join(num2words(n, lang="ru").lower().replace("-", " ").split())


def assert_value(result: ParseResult, value: int, digits: str | None = None) -> None:
    assert result.value == value, result
    assert result.candidates == (value,), result
    assert result.digits == (digits if digits is not None else str(value)), result
    assert result.reason in (REASON_OK, REASON_OK_TRIMMED), result
    assert result.ok and not result.ambiguous


def assert_rejected(result: ParseResult, reason_prefix: str) -> None:
    assert result.value is None, result
    assert result.candidates == (), result
    assert result.digits is None and result.fraction is None, result
    assert result.reason.startswith(reason_prefix), result
    assert not result.ok


# --------------------------------------------------------------------------- whole numbers


def test_every_number_0_to_999_999_spoken_by_num2words_parses_back() -> None:
    """REQ-T14: the full range a household meter can show, in whole-number words."""
    failures = []
    for n in range(1_000_000):
        result = parse_reading(spoken(n))
        if result.value != n or result.digits != str(n):
            failures.append((n, result))
    assert not failures, failures[:10]


def test_every_number_with_max_digits_6_is_kept() -> None:
    for n in range(0, 1_000_000, 97):
        assert parse_reading(spoken(n), max_digits=6).value == n


@settings(max_examples=1000, deadline=None)
@given(st.integers(min_value=0, max_value=999_999_999), st.sampled_from(["m", "f", "n"]))
def test_round_trip_say_ru_number_tokens(n: int, gender: str) -> None:
    """Whatever the IVR says (say_ru) it can also understand."""
    text = tokens_to_text(number_tokens(n, gender))  # type: ignore[arg-type]
    assert_value(parse_reading(text), n)


def test_round_trip_say_ru_number_tokens_stride() -> None:
    for n in [*range(0, 1_000_000_000, 999_983), *range(999_000, 1_001_000)]:
        assert parse_reading(tokens_to_text(number_tokens(n))).value == n, n


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("двенадцать тысяч триста сорок пять", 12345),
        ("одна тысяча", 1000),
        ("тысяча", 1000),
        ("одну тысячу", 1000),
        ("тысячу двести", 1200),
        ("две тысячи", 2000),
        ("двух тысяч", 2000),
        ("двадцать одна тысяча", 21000),
        ("двадцать одну тысячу пятьсот", 21500),
        ("сто тысяч", 100_000),
        ("сто двадцать три тысячи сорок пять", 123_045),
        ("миллион", 1_000_000),
        ("один миллион двести тысяч", 1_200_000),
        ("два миллиона одна тысяча один", 2_001_001),
        ("трёх тысяч", 3000),
        ("четырёх тысяч", 4000),
        ("сто три", 103),
        ("сто десять", 110),
        ("девятьсот девяносто девять", 999),
        ("нуль", 0),
        ("ноль", 0),
        ("сорока", 40),
        ("девяноста", 90),
    ],
)
def test_whole_numbers_and_inflected_forms(text: str, value: int) -> None:
    assert_value(parse_reading(text), value)


# --------------------------------------------------------------------------- digits and groups


def test_digit_by_digit() -> None:
    assert_value(parse_reading("один два три четыре пять"), 12345)
    assert_value(parse_reading("девять девять девять девять девять девять"), 999_999)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=12))
def test_digit_by_digit_property(digits: str) -> None:
    result = parse_reading(tokens_to_text(digits_tokens(digits)))
    assert_value(result, int(digits), digits)


@pytest.mark.parametrize(
    ("text", "value", "digits"),
    [
        ("сто двадцать три сорок пять", 12345, "12345"),
        ("двенадцать триста сорок пять", 12345, "12345"),
        ("двенадцать тридцать четыре пять", 12345, "12345"),
        ("сто двадцать три четыре", 1234, "1234"),
        ("сто двадцать три четыреста пятьдесят шесть", 123_456, "123456"),
        ("двенадцать ноль пять", 1205, "1205"),
        ("двадцать ноль", 200, "200"),
        ("сорок двенадцать", 4012, "4012"),
        ("пять сто", 5100, "5100"),
        ("ноль ноль один два", 12, "0012"),
        ("ноль двенадцать тысяч триста сорок пять", 12345, "012345"),
        ("ноль ноль ноль", 0, "000"),
        ("ноль сто двадцать три ноль четыре", 12304, "0123" + "04"),
        ("12345", 12345, "12345"),
        ("00 12", 12, "0012"),
        ("12 тысяч 345", 12345, "12345"),
        ("1 2 3 4 5", 12345, "12345"),
        ("123 45", 12345, "12345"),
        ("0 12 345", 12345, "012345"),
    ],
)
def test_groups_and_leading_zeros(text: str, value: int, digits: str) -> None:
    assert_value(parse_reading(text), value, digits)


def _has_merging_groups(groups: list[str]) -> bool:
    """Documented limit: "x00" followed by a group 10..99 is heard as one number."""
    for first, second in itertools.pairwise(groups):
        if len(first) == 3 and first.endswith("00") and first[0] != "0":
            if len(second) == 2 and second[0] != "0":
                return True
    return False


def _account_groups(account: str) -> list[str]:
    """Groups as REQ-O6 account speaking uses: threes, the tail in twos."""
    length = len(account)
    if length <= 3:
        sizes = [length]
    elif length % 3 == 0:
        sizes = [3] * (length // 3)
    elif length % 3 == 2:
        sizes = [3] * (length // 3) + [2]
    else:
        sizes = [3] * (length // 3 - 1) + [2, 2]
    groups, pos = [], 0
    for size in sizes:
        groups.append(account[pos : pos + size])
        pos += size
    return groups


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=14))
def test_round_trip_account_groups(account: str) -> None:
    """Group dictation as say_ru speaks accounts parses back (but see rule 7)."""
    groups = account_token_groups(account)
    assert len(groups) == len(_account_groups(account))
    assume(not _has_merging_groups(_account_groups(account)))
    text = tokens_to_text(t for g in groups for t in g)
    assert_value(parse_reading(text), int(account), account)


def test_documented_group_limit() -> None:
    """Rule 7: "триста сорок пять" is one number; "300" + "45" needs "ноль" or digits."""
    assert_value(parse_reading("триста сорок пять"), 345)
    assert_value(parse_reading("триста ноль сорок пять"), 300045, "300045")


# --------------------------------------------------------------------------- fillers


@pytest.mark.parametrize(
    "text",
    [
        "э-э ну значит показания двенадцать тысяч триста сорок пять",
        "показание счётчика двенадцать тысяч триста сорок пять киловатт-часов",
        "ээ двенадцать [unk] тысяч эм триста так сорок пять",
        "это двенадцать тысяч триста сорок пять вот",
        "Двенадцать ТЫСЯЧ триста, сорок пять.",
        "мои показания на сегодня двенадцать тысяч триста сорок пять",
        "нет двенадцать тысяч триста сорок пять",
    ],
)
def test_fillers_are_ignored(text: str) -> None:
    assert_value(parse_reading(text), 12345)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=999_999),
    st.lists(st.sampled_from(FILLERS), max_size=6),
    st.randoms(use_true_random=False),
)
def test_fillers_anywhere(n: int, fillers: list[str], rng: random.Random) -> None:
    words = spoken(n).split()
    for filler in fillers:
        words.insert(rng.randint(0, len(words)), filler)
    assert_value(parse_reading(" ".join(words)), n)


# --------------------------------------------------------------------------- decimals


@pytest.mark.parametrize(
    ("text", "decimals", "fraction"),
    [
        ("двенадцать тысяч триста сорок пять и шесть", 1, "6"),
        ("двенадцать тысяч триста сорок пять запятая шесть", 1, "6"),
        ("двенадцать тысяч триста сорок пять точка шесть", 2, "6"),
        ("двенадцать тысяч триста сорок пять целых шесть десятых", 1, "6"),
        ("двенадцать тысяч триста сорок пять целых шесть десятых", 2, "6"),
        ("двенадцать тысяч триста сорок пять целых пять сотых", 2, "05"),
        ("двенадцать тысяч триста сорок пять целых двадцать пять сотых", 2, "25"),
        ("двенадцать тысяч триста сорок пять запятая ноль пять", 2, "05"),
        ("двенадцать тысяч триста сорок пять целых", 1, None),
        ("двенадцать тысяч триста сорок пять", 1, None),
    ],
)
def test_decimals_kept(text: str, decimals: int, fraction: str | None) -> None:
    result = parse_reading(text, decimals=decimals)
    assert_value(result, 12345)
    assert result.fraction == fraction


@pytest.mark.parametrize(
    "text",
    [
        "двенадцать тысяч триста сорок пять и шесть",
        "двенадцать тысяч триста сорок пять запятая шесть семь",
        "двенадцать тысяч триста сорок пять целых шесть десятых",
        "двенадцать тысяч триста сорок пять целых сто двадцать три тысячных",
    ],
)
def test_decimals_dropped_when_meter_has_none(text: str) -> None:
    result = parse_reading(text, decimals=0)
    assert_value(result, 12345)
    assert result.fraction is None


def test_fraction_only() -> None:
    result = parse_reading("пять десятых", decimals=1)
    assert_value(result, 0)
    assert result.fraction == "5"


@pytest.mark.parametrize(
    ("text", "decimals"),
    [
        ("двенадцать и шесть семь", 1),  # more decimal digits than the meter has
        ("двенадцать целых пять сотых", 1),
        ("двенадцать и шесть и семь", 2),  # two separators
        ("двенадцать целых шесть десятых семь", 2),  # denominator in the middle
        ("двенадцать целых двенадцать десятых", 2),  # 12 tenths
        ("двенадцать запятая пять тысяч шесть", 3),  # ambiguous fraction
    ],
)
def test_bad_fractions_rejected(text: str, decimals: int) -> None:
    assert_rejected(parse_reading(text, decimals=decimals), REASON_BAD_FRACTION)


def test_separator_words_outside_the_number_are_fillers() -> None:
    assert_value(parse_reading("и двенадцать тысяч и", decimals=1), 12000)
    assert parse_reading("и двенадцать тысяч и", decimals=1).fraction is None


# --------------------------------------------------------------------------- ambiguity


@pytest.mark.parametrize(
    ("text", "candidates"),
    [
        ("двенадцать тысяч триста сорок пять шесть", (123_456, 12345)),
        ("две тысячи двадцать три сорок", (202_340, 2023)),
        ("двенадцать тысяч ноль сорок пять", (12_000_045, 12000)),
        ("пять двенадцать тысяч", (512_000, 12000)),
    ],
)
def test_mixed_cardinal_and_digits_is_ambiguous(text: str, candidates: tuple[int, ...]) -> None:
    """Rule 4: two plausible readings -> both returned, value None: the IVR must ask."""
    result = parse_reading(text)
    assert result.value is None
    assert result.candidates == candidates
    assert result.ambiguous and not result.ok
    assert result.digits is None
    assert result.reason == REASON_AMBIGUOUS


def test_max_digits_narrows_an_ambiguous_reading() -> None:
    result = parse_reading("двенадцать тысяч триста сорок пять шесть", max_digits=5)
    assert_value(result, 12345)
    assert result.reason == REASON_OK_TRIMMED  # read it back for confirmation
    result = parse_reading("двенадцать тысяч триста сорок пять шесть", max_digits=6)
    assert result.candidates == (123_456, 12345)


def test_max_digits_rejects_when_nothing_fits() -> None:
    assert_rejected(parse_reading("один два три четыре пять шесть", max_digits=5), REASON_TOO_LONG)
    assert_rejected(parse_reading("сто тысяч", max_digits=5), REASON_TOO_LONG)
    assert_value(parse_reading("ноль ноль один два", max_digits=2), 12, "0012")
    assert_value(parse_reading("девяносто девять тысяч", max_digits=5), 99000)


def test_restart_is_rejected() -> None:
    assert_rejected(parse_reading("две тысячи три тысячи"), REASON_SEVERAL_NUMBERS)
    assert_rejected(
        parse_reading("двенадцать тысяч двенадцать тысяч триста сорок пять"),
        REASON_SEVERAL_NUMBERS,
    )


@pytest.mark.parametrize(
    "text",
    ["двенадцать нет тринадцать", "двенадцать тысяч ой тринадцать тысяч", "сто вернее двести"],
)
def test_self_correction_is_rejected(text: str) -> None:
    assert_rejected(parse_reading(text), REASON_CORRECTION)


# --------------------------------------------------------------------------- garbage


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "[unk]",
        "[unk] [unk]",
        "алло алло",
        "не знаю",
        "показания",
        "э-э ну",
        "и",
        "целых",
    ],
)
def test_no_number(text: str) -> None:
    assert_rejected(parse_reading(text), REASON_NO_NUMBER)


def test_unknown_word_inside_the_number_is_rejected() -> None:
    assert_rejected(parse_reading("двенадцать вода триста"), REASON_UNEXPECTED_WORD)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        parse_reading("пять", max_digits=0)
    with pytest.raises(ValueError):
        parse_reading("пять", decimals=-1)


def test_result_is_frozen() -> None:
    result = parse_reading("пять")
    with pytest.raises(AttributeError):
        result.value = 6  # type: ignore[misc]


# --------------------------------------------------------------------------- grammar


def test_grammar_words_cover_everything_the_parser_and_speaker_use() -> None:
    words = set(digits_grammar_words())
    assert "[unk]" not in words
    assert len(words) == len(digits_grammar_words())  # no duplicates
    assert digits_grammar_words() == sorted(words)
    for n in [*range(0, 2000), *range(0, 1_000_000, 1009)]:
        assert set(spoken(n).split()) <= words, n
        assert set(number_tokens(n, "f")) <= words, n
    assert {"трёх", "трех", "четырёх", "счётчик", "счетчик", "одну", "тысячу"} <= words
    assert {"запятая", "целых", "десятых", "сотых", "и", "нет"} <= words
    assert all(w == w.lower() and " " not in w for w in words)


def test_every_grammar_word_is_understood() -> None:
    """No grammar word makes the parser reject an utterance as an unexpected word."""
    for word in digits_grammar_words():
        result = parse_reading(f"пять {word} пять")
        assert not result.reason.startswith(REASON_UNEXPECTED_WORD), (word, result)
