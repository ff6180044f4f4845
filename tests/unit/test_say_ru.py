"""Tests for ivr.say_ru - Russian speaking of numbers (REQ-O6, REQ-T14).

Agreement is where other systems fail, so the checks are exhaustive where cheap:
every whole ruble amount 0..1 000 000, every kopeck value, every day of a year,
every minute of a day, every year 1..9999, against independent oracles
(an explicit reviewed table and num2words).
"""

from __future__ import annotations

import random
from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from num2words import num2words

from ivr.say_ru import (
    UNITS,
    VOCABULARY,
    account_token_groups,
    account_tokens,
    date_tokens,
    digits_tokens,
    duration_tokens,
    money_tokens,
    number_tokens,
    ordinal_genitive_tokens,
    phone_token_groups,
    phone_tokens,
    plural_form,
    quantity_tokens,
    time_tokens,
    tokens_to_text,
)

# Reviewed by hand, written out explicitly: the kopeck phrase for every 0..99.
KOPECKS: dict[int, str] = {
    0: "ноль копеек",
    1: "одна копейка",
    2: "две копейки",
    3: "три копейки",
    4: "четыре копейки",
    5: "пять копеек",
    6: "шесть копеек",
    7: "семь копеек",
    8: "восемь копеек",
    9: "девять копеек",
    10: "десять копеек",
    11: "одиннадцать копеек",
    12: "двенадцать копеек",
    13: "тринадцать копеек",
    14: "четырнадцать копеек",
    15: "пятнадцать копеек",
    16: "шестнадцать копеек",
    17: "семнадцать копеек",
    18: "восемнадцать копеек",
    19: "девятнадцать копеек",
    20: "двадцать копеек",
    21: "двадцать одна копейка",
    22: "двадцать две копейки",
    23: "двадцать три копейки",
    24: "двадцать четыре копейки",
    25: "двадцать пять копеек",
    26: "двадцать шесть копеек",
    27: "двадцать семь копеек",
    28: "двадцать восемь копеек",
    29: "двадцать девять копеек",
    30: "тридцать копеек",
    31: "тридцать одна копейка",
    32: "тридцать две копейки",
    33: "тридцать три копейки",
    34: "тридцать четыре копейки",
    35: "тридцать пять копеек",
    36: "тридцать шесть копеек",
    37: "тридцать семь копеек",
    38: "тридцать восемь копеек",
    39: "тридцать девять копеек",
    40: "сорок копеек",
    41: "сорок одна копейка",
    42: "сорок две копейки",
    43: "сорок три копейки",
    44: "сорок четыре копейки",
    45: "сорок пять копеек",
    46: "сорок шесть копеек",
    47: "сорок семь копеек",
    48: "сорок восемь копеек",
    49: "сорок девять копеек",
    50: "пятьдесят копеек",
    51: "пятьдесят одна копейка",
    52: "пятьдесят две копейки",
    53: "пятьдесят три копейки",
    54: "пятьдесят четыре копейки",
    55: "пятьдесят пять копеек",
    56: "пятьдесят шесть копеек",
    57: "пятьдесят семь копеек",
    58: "пятьдесят восемь копеек",
    59: "пятьдесят девять копеек",
    60: "шестьдесят копеек",
    61: "шестьдесят одна копейка",
    62: "шестьдесят две копейки",
    63: "шестьдесят три копейки",
    64: "шестьдесят четыре копейки",
    65: "шестьдесят пять копеек",
    66: "шестьдесят шесть копеек",
    67: "шестьдесят семь копеек",
    68: "шестьдесят восемь копеек",
    69: "шестьдесят девять копеек",
    70: "семьдесят копеек",
    71: "семьдесят одна копейка",
    72: "семьдесят две копейки",
    73: "семьдесят три копейки",
    74: "семьдесят четыре копейки",
    75: "семьдесят пять копеек",
    76: "семьдесят шесть копеек",
    77: "семьдесят семь копеек",
    78: "семьдесят восемь копеек",
    79: "семьдесят девять копеек",
    80: "восемьдесят копеек",
    81: "восемьдесят одна копейка",
    82: "восемьдесят две копейки",
    83: "восемьдесят три копейки",
    84: "восемьдесят четыре копейки",
    85: "восемьдесят пять копеек",
    86: "восемьдесят шесть копеек",
    87: "восемьдесят семь копеек",
    88: "восемьдесят восемь копеек",
    89: "восемьдесят девять копеек",
    90: "девяносто копеек",
    91: "девяносто одна копейка",
    92: "девяносто две копейки",
    93: "девяносто три копейки",
    94: "девяносто четыре копейки",
    95: "девяносто пять копеек",
    96: "девяносто шесть копеек",
    97: "девяносто семь копеек",
    98: "девяносто восемь копеек",
    99: "девяносто девять копеек",
}

# The noun form for n depends only on n % 100; derived from the explicit table.
_KOPECK_TO_RUBLE = {"копейка": "рубль", "копейки": "рубля", "копеек": "рублей"}
RUBLE_FORM_BY_LAST_TWO = {k: _KOPECK_TO_RUBLE[text.split()[-1]] for k, text in KOPECKS.items()}


def n2w(n: int, gender: str = "m") -> list[str]:
    """Independent oracle: num2words, normalised to tokens.

    num2words (0.5.14) wrongly applies ``gender`` to the millions too ("одна миллион"),
    so only the part below a thousand is asked with ``gender``.
    """
    high, low = divmod(n, 1000)
    if high and gender != "m":
        return n2w(high * 1000) + (n2w(low, gender) if low else [])
    return num2words(n, lang="ru", gender=gender).lower().replace("-", " ").split()


def n2w_ordinal_genitive(n: int) -> list[str]:
    """Independent oracle: num2words nominative ordinal -> genitive (last word only)."""
    words = num2words(n, lang="ru", to="ordinal").split()
    last = words[-1]
    for nominative, genitive in (
        ("третий", "третьего"),
        ("ый", "ого"),
        ("ой", "ого"),
        ("ий", "его"),
    ):
        if last.endswith(nominative):
            words[-1] = last[: -len(nominative)] + genitive
            break
    else:  # pragma: no cover - oracle sanity
        raise AssertionError(last)
    return words


def assert_in_vocabulary(tokens: list[str]) -> None:
    missing = set(tokens) - VOCABULARY
    assert not missing, f"tokens outside VOCABULARY: {missing} in {tokens}"


# --------------------------------------------------------------------------- plural_form


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "many"),
        (1, "one"),
        (2, "few"),
        (3, "few"),
        (4, "few"),
        (5, "many"),
        (10, "many"),
        (11, "many"),
        (12, "many"),
        (13, "many"),
        (14, "many"),
        (15, "many"),
        (19, "many"),
        (20, "many"),
        (21, "one"),
        (22, "few"),
        (24, "few"),
        (25, "many"),
        (100, "many"),
        (101, "one"),
        (102, "few"),
        (111, "many"),
        (112, "many"),
        (114, "many"),
        (121, "one"),
        (1001, "one"),
        (1011, "many"),
        (1_000_000, "many"),
        (-1, "one"),
        (-12, "many"),
    ],
)
def test_plural_form_rule(n: int, expected: str) -> None:
    """REQ-O6: 1, 21, 101 -> one; 2-4, 22-24 -> few; 0, 5-20, 11-14, 111-114 -> many."""
    assert plural_form(n, "one", "few", "many") == expected


def test_plural_form_matches_table_for_0_to_100_000() -> None:
    names = {"рубль": "one", "рубля": "few", "рублей": "many"}
    for n in range(100_001):
        assert plural_form(n, "one", "few", "many") == names[RUBLE_FORM_BY_LAST_TWO[n % 100]], n


# --------------------------------------------------------------------------- number_tokens


def test_number_tokens_basic() -> None:
    assert number_tokens(0) == ["ноль"]
    assert number_tokens(25) == ["двадцать", "пять"]
    assert number_tokens(100) == ["сто"]
    assert number_tokens(110) == ["сто", "десять"]
    assert number_tokens(999_999_999) == [
        *["девятьсот", "девяносто", "девять", "миллионов"],
        *["девятьсот", "девяносто", "девять", "тысяч"],
        *["девятьсот", "девяносто", "девять"],
    ]


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1000, "одна тысяча"),
        (2000, "две тысячи"),
        (3000, "три тысячи"),
        (4000, "четыре тысячи"),
        (5000, "пять тысяч"),
        (11_000, "одиннадцать тысяч"),
        (12_000, "двенадцать тысяч"),
        (13_000, "тринадцать тысяч"),
        (14_000, "четырнадцать тысяч"),
        (21_000, "двадцать одна тысяча"),
        (22_000, "двадцать две тысячи"),
        (101_000, "сто одна тысяча"),
        (102_000, "сто две тысячи"),
        (111_000, "сто одиннадцать тысяч"),
        (112_000, "сто двенадцать тысяч"),
        (1_001_000, "один миллион одна тысяча"),
        (2_002_002, "два миллиона две тысячи два"),
        (5_000_000, "пять миллионов"),
        (11_000_000, "одиннадцать миллионов"),
        (21_000_001, "двадцать один миллион один"),
    ],
)
def test_feminine_thousands_and_millions(n: int, text: str) -> None:
    """REQ-O6: тысяча is feminine (одна/две), миллион masculine; 11-14 take the many form."""
    assert tokens_to_text(number_tokens(n)) == text


@pytest.mark.parametrize(
    ("n", "gender", "text"),
    [
        (1, "m", "один"),
        (1, "f", "одна"),
        (1, "n", "одно"),
        (2, "m", "два"),
        (2, "f", "две"),
        (2, "n", "два"),
        (21, "f", "двадцать одна"),
        (1002, "f", "одна тысяча две"),
        (11, "f", "одиннадцать"),
        (12, "f", "двенадцать"),
    ],
)
def test_gender_of_last_word(n: int, gender: str, text: str) -> None:
    assert tokens_to_text(number_tokens(n, gender)) == text  # type: ignore[arg-type]


def test_number_tokens_match_num2words_0_to_20000_all_genders() -> None:
    for gender in ("m", "f", "n"):
        for n in range(20_001):
            assert number_tokens(n, gender) == n2w(n, gender), (n, gender)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=999_999_999), st.sampled_from(["m", "f", "n"]))
def test_number_tokens_match_num2words_random(n: int, gender: str) -> None:
    tokens = number_tokens(n, gender)  # type: ignore[arg-type]
    assert tokens == n2w(n, gender)
    assert_in_vocabulary(tokens)


@pytest.mark.parametrize("bad", [-1, 1_000_000_000])
def test_number_tokens_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError):
        number_tokens(bad)


def test_number_tokens_rejects_bad_gender_and_types() -> None:
    with pytest.raises(ValueError):
        number_tokens(1, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        number_tokens(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        number_tokens(True)


# --------------------------------------------------------------------------- money


def test_all_whole_ruble_amounts_0_to_1_000_000() -> None:
    """REQ-O6: the ruble form for every amount, against the explicit last-two-digits table."""
    for n in range(1_000_001):
        tokens = money_tokens(n)
        assert tokens[-1] == RUBLE_FORM_BY_LAST_TWO[n % 100], (n, tokens)
        assert tokens[:-1] == number_tokens(n, "m"), n


def test_ruble_amounts_number_words_match_num2words_stride() -> None:
    for n in range(0, 1_000_001, 7):
        assert money_tokens(n)[:-1] == n2w(n), n


@pytest.mark.parametrize(("k", "text"), sorted(KOPECKS.items()))
def test_every_kopeck_value(k: int, text: str) -> None:
    """REQ-O6: kopeck is feminine: одна копейка, две копейки, пять копеек, 11-14 копеек."""
    assert money_tokens(f"7.{k:02d}", with_kopecks="always") == ["семь", "рублей", *text.split()]
    if k:
        assert money_tokens(Decimal(k) / 100) == text.split()
        assert money_tokens(f"21.{k:02d}") == ["двадцать", "один", "рубль", *text.split()]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (1, "один рубль"),
        (2, "два рубля"),
        (5, "пять рублей"),
        (11, "одиннадцать рублей"),
        (21, "двадцать один рубль"),
        (Decimal("21.01"), "двадцать один рубль одна копейка"),
        ("0.02", "две копейки"),
        ("0.21", "двадцать одна копейка"),
        ("1 234,50", "одна тысяча двести тридцать четыре рубля пятьдесят копеек"),
        ("1000000", "один миллион рублей"),
        ("2001000.00", "два миллиона одна тысяча рублей"),
        (0, "ноль рублей"),
        (Decimal("12.30"), "двенадцать рублей тридцать копеек"),
        (Decimal("12.300"), "двенадцать рублей тридцать копеек"),
        (Decimal("5.00"), "пять рублей"),
    ],
)
def test_money_examples(amount: Decimal | int | str, text: str) -> None:
    assert tokens_to_text(money_tokens(amount)) == text


def test_money_zero_kopecks_modes() -> None:
    assert money_tokens(5) == ["пять", "рублей"]
    assert money_tokens(5, with_kopecks="always") == ["пять", "рублей", "ноль", "копеек"]
    assert money_tokens(0, with_kopecks="always") == ["ноль", "рублей", "ноль", "копеек"]
    assert money_tokens(5, with_kopecks=False) == ["пять", "рублей"]
    with pytest.raises(ValueError):
        money_tokens("5.50", with_kopecks=False)  # no silent rounding of money


@pytest.mark.parametrize("bad", [-1, "-0.01", Decimal("-100")])
def test_money_negative_is_caller_business(bad: Decimal | int | str) -> None:
    """Overpayment wording is decided by the caller: never "минус"."""
    with pytest.raises(ValueError):
        money_tokens(bad)


@pytest.mark.parametrize("bad", ["1.005", "abc", "", "NaN", "Infinity", "1000000000"])
def test_money_rejects_bad_values(bad: str) -> None:
    with pytest.raises(ValueError):
        money_tokens(bad)


def test_money_rejects_float_and_bool() -> None:
    with pytest.raises(TypeError):
        money_tokens(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        money_tokens(True)
    with pytest.raises(ValueError):
        money_tokens(1, with_kopecks="never")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- dates


def test_every_day_of_a_leap_year() -> None:
    """REQ-O6: ordinal genitive day + genitive month, every day of 2024."""
    months = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря"
    day = date(2024, 1, 1)
    while day.year == 2024:
        tokens = date_tokens(day)
        assert tokens == [*n2w_ordinal_genitive(day.day), months.split()[day.month - 1]], day
        assert_in_vocabulary(tokens)
        day += timedelta(days=1)


def test_date_examples() -> None:
    assert tokens_to_text(date_tokens(date(2026, 11, 25))) == "двадцать пятого ноября"
    assert (
        tokens_to_text(date_tokens(date(2026, 11, 25), with_year=True))
        == "двадцать пятого ноября две тысячи двадцать шестого года"
    )
    assert tokens_to_text(date_tokens(date(2000, 1, 1), with_year=True)) == (
        "первого января двухтысячного года"
    )
    assert tokens_to_text(date_tokens(date(1999, 3, 8), with_year=True)) == (
        "восьмого марта тысяча девятьсот девяносто девятого года"
    )
    assert tokens_to_text(date_tokens(date(2023, 2, 3))) == "третьего февраля"
    assert tokens_to_text(date_tokens(date(2023, 5, 4))) == "четвёртого мая"
    assert tokens_to_text(date_tokens(date(2023, 12, 31))) == "тридцать первого декабря"


def test_every_year_1_to_9999_ordinal_genitive() -> None:
    for year in range(1, 10_000):
        tokens = ordinal_genitive_tokens(year)
        assert tokens == n2w_ordinal_genitive(year), year
        assert_in_vocabulary(tokens)
        assert date_tokens(date(year, 6, 1), with_year=True)[-1] == "года"


def test_date_type_checked() -> None:
    with pytest.raises(TypeError):
        date_tokens("2026-11-25")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ordinal_genitive_tokens(0)


# --------------------------------------------------------------------------- time


HOUR_FORMS = {"one": "час", "few": "часа", "many": "часов"}
MINUTE_FORMS = {"one": "минута", "few": "минуты", "many": "минут"}


def _form_name(n: int) -> str:
    ruble = RUBLE_FORM_BY_LAST_TWO[n % 100]
    return {"рубль": "one", "рубля": "few", "рублей": "many"}[ruble]


def test_all_1440_minutes_of_a_day() -> None:
    """REQ-O6: час is masculine, минута feminine (одна минута, две минуты)."""
    for hour in range(24):
        for minute in range(60):
            tokens = time_tokens(time(hour, minute))
            expected = [*n2w(hour), HOUR_FORMS[_form_name(hour)]]
            if minute:
                expected += [*n2w(minute, "f"), MINUTE_FORMS[_form_name(minute)]]
            assert tokens == expected, (hour, minute)
            assert_in_vocabulary(tokens)


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (time(8, 0), "восемь часов"),
        (time(8, 15), "восемь часов пятнадцать минут"),
        (time(20, 1), "двадцать часов одна минута"),
        (time(21, 2), "двадцать один час две минуты"),
        (time(22, 22), "двадцать два часа двадцать две минуты"),
        (time(0, 0), "ноль часов"),
        (time(1, 11), "один час одиннадцать минут"),
        (time(17, 59, 59), "семнадцать часов пятьдесят девять минут"),
    ],
)
def test_time_examples(t: time, text: str) -> None:
    assert tokens_to_text(time_tokens(t)) == text


# --------------------------------------------------------------------------- quantities and durations


@pytest.mark.parametrize(
    ("n", "unit", "text"),
    [
        (1, "kwh", "один киловатт-час"),
        (2, "kwh", "два киловатт-часа"),
        (5, "kwh", "пять киловатт-часов"),
        (12, "kwh", "двенадцать киловатт-часов"),
        (12345, "kwh", "двенадцать тысяч триста сорок пять киловатт-часов"),
        (1, "day", "один день"),
        (3, "day", "три дня"),
        (10, "day", "десять дней"),
        (21, "day", "двадцать один день"),
        (1, "minute", "одна минута"),
        (2, "hour", "два часа"),
        (1, "call", "один звонок"),
        (3, "call", "три звонка"),
        (1, "appeal", "одно обращение"),
        (2, "appeal", "два обращения"),
        (5, "person", "пять человек"),
        (2, "person", "два человека"),
        (2, "kw", "два киловатта"),
        (1, "second", "одна секунда"),
        (4, "month", "четыре месяца"),
    ],
)
def test_quantity_examples(n: int, unit: str, text: str) -> None:
    assert tokens_to_text(quantity_tokens(n, unit)) == text


def test_quantity_every_unit_agrees_0_to_2000() -> None:
    for unit, (gender, one, few, many) in UNITS.items():
        forms = {"one": one, "few": few, "many": many}
        for n in range(2001):
            tokens = quantity_tokens(n, unit)
            assert tokens == [*n2w(n, gender), forms[_form_name(n)]], (unit, n)
            assert_in_vocabulary(tokens)


def test_quantity_errors() -> None:
    with pytest.raises(ValueError):
        quantity_tokens(1, "parsec")
    with pytest.raises(ValueError):
        quantity_tokens(-1, "kwh")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "ноль секунд"),
        (1, "одна секунда"),
        (30, "тридцать секунд"),
        (60, "одна минута"),
        (150, "две минуты тридцать секунд"),
        (122, "две минуты две секунды"),
        (3600, "один час"),
        (3605, "один час пять секунд"),
        (7322, "два часа две минуты две секунды"),
        (5 * 3600 + 21 * 60, "пять часов двадцать одна минута"),
    ],
)
def test_duration_examples(seconds: int, text: str) -> None:
    assert tokens_to_text(duration_tokens(seconds)) == text


def test_duration_all_values_up_to_two_hours() -> None:
    for seconds in range(7201):
        tokens = duration_tokens(seconds)
        assert_in_vocabulary(tokens)
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        said = tokens_to_text(tokens)
        assert ("минут" in said) == bool(minutes), seconds
        assert ("секунд" in said) == bool(secs) or seconds == 0, seconds
        assert ("час" in said) == bool(hours), seconds
    with pytest.raises(ValueError):
        duration_tokens(-1)


# --------------------------------------------------------------------------- digit strings


def test_digits_tokens() -> None:
    assert digits_tokens("007") == ["ноль", "ноль", "семь"]
    assert digits_tokens("1234567890") == (
        "один два три четыре пять шесть семь восемь девять ноль".split()
    )
    assert digits_tokens("12-34 5") == ["один", "два", "три", "четыре", "пять"]
    for bad in ("", "12a", "١٢", "  "):
        with pytest.raises(ValueError):
            digits_tokens(bad)


@pytest.mark.parametrize(
    ("account", "groups"),
    [
        ("7", ["семь"]),
        ("12", ["двенадцать"]),
        ("123", ["сто двадцать три"]),
        ("1234", ["двенадцать", "тридцать четыре"]),
        ("12345", ["сто двадцать три", "сорок пять"]),
        ("123456", ["сто двадцать три", "четыреста пятьдесят шесть"]),
        ("1234567", ["сто двадцать три", "сорок пять", "шестьдесят семь"]),
        (
            "0012345678",
            ["ноль ноль один", "двести тридцать четыре", "пятьдесят шесть", "семьдесят восемь"],
        ),
        ("000", ["ноль ноль ноль"]),
        ("050", ["ноль пятьдесят"]),
        ("100-05", ["сто", "ноль пять"]),
    ],
)
def test_account_tokens(account: str, groups: list[str]) -> None:
    assert [tokens_to_text(g) for g in account_token_groups(account)] == groups
    assert tokens_to_text(account_tokens(account)) == " ".join(groups)


def test_account_group_sizes_are_2_or_3() -> None:
    for length in range(4, 40):
        account = "".join(str((i * 7 + 3) % 10) for i in range(length))
        groups = account_token_groups(account)
        assert sum(1 for _ in groups) >= 2
    with pytest.raises(ValueError):
        account_tokens("12A45")


@pytest.mark.parametrize(
    ("phone", "groups"),
    [
        (
            "8 800 123-45-67",
            ["восемь", "восемьсот", "сто двадцать три", "сорок пять", "шестьдесят семь"],
        ),
        (
            "+7 (912) 012-03-00",
            ["плюс семь", "девятьсот двенадцать", "ноль двенадцать", "ноль три", "ноль ноль"],
        ),
        (
            "79121234567",
            ["семь", "девятьсот двенадцать", "сто двадцать три", "сорок пять", "шестьдесят семь"],
        ),
        (
            "9121234567",
            ["девятьсот двенадцать", "сто двадцать три", "сорок пять", "шестьдесят семь"],
        ),
        ("123-45-67", ["сто двадцать три", "сорок пять", "шестьдесят семь"]),
        ("12-34-56", ["двенадцать", "тридцать четыре", "пятьдесят шесть"]),
        ("1-23-45", ["один", "двадцать три", "сорок пять"]),
        ("1234", ["двенадцать", "тридцать четыре"]),
        ("112", ["сто двенадцать"]),
        ("01", ["ноль один"]),
        (
            "+375 29 123-45-67",
            [
                "плюс",
                "триста семьдесят пять",
                "двести девяносто один",
                "двести тридцать четыре",
                "пятьсот шестьдесят семь",
            ],
        ),
    ],
)
def test_phone_tokens(phone: str, groups: list[str]) -> None:
    """REQ-O6: 8 800 123-45-67 -> восемь / восемьсот / сто двадцать три / ..."""
    assert [tokens_to_text(g) for g in phone_token_groups(phone)] == groups
    assert tokens_to_text(phone_tokens(phone)) == " ".join(groups)


@pytest.mark.parametrize("bad", ["", "+", "8 800 CALL-NOW", "12+34"])
def test_phone_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        phone_tokens(bad)


# --------------------------------------------------------------------------- vocabulary


def test_vocabulary_covers_every_token_over_a_broad_sample() -> None:
    """Prompts are recorded from VOCABULARY (REQ-O6), so nothing may fall outside it."""
    rng = random.Random(20261125)
    produced: set[str] = set()
    for n in [*range(2000), *(rng.randrange(1_000_000_000) for _ in range(20_000))]:
        for gender in ("m", "f", "n"):
            produced.update(number_tokens(n, gender))
        for unit in UNITS:
            produced.update(quantity_tokens(n, unit))
        produced.update(money_tokens(f"{n}.{n % 100:02d}", with_kopecks="always"))
        produced.update(duration_tokens(n))
    for year in range(1, 10_000, 3):
        produced.update(date_tokens(date(year, 1 + year % 12, 1 + year % 28), with_year=True))
    for minute in range(1440):
        produced.update(time_tokens(time(minute // 60, minute % 60)))
    for _ in range(2000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 15)))
        produced.update(digits_tokens(digits))
        produced.update(account_tokens(digits))
        produced.update(phone_tokens(digits))
        produced.update(phone_tokens("+" + digits))
    assert produced <= VOCABULARY, produced - VOCABULARY


def test_vocabulary_has_no_unused_junk() -> None:
    assert "" not in VOCABULARY
    assert all(t == t.lower() and " " not in t for t in VOCABULARY)
    assert "минус" not in VOCABULARY


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=16))
def test_digit_string_functions_stay_in_vocabulary(digits: str) -> None:
    for tokens in (digits_tokens(digits), account_tokens(digits), phone_tokens(digits)):
        assert tokens
        assert_in_vocabulary(tokens)


def test_tokens_to_text() -> None:
    assert tokens_to_text(["двадцать", "пять", "рублей"]) == "двадцать пять рублей"
    assert tokens_to_text([]) == ""
