"""Tests for ivr.phrases_ru - spoken values in the case their frame requires (REQ-O6).

Exhaustive where cheap, like the money tests of ivr.say_ru: every number
0..999 999 in the genitive (against a reviewed word table), 0..20 000 in every
case and gender against num2words, every day 1..31 in every case, every
minute of a day in the cases the flows use, every ruble amount to 100 000 in
the genitive, «в течение N дней» for N up to 10 000.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from num2words import num2words

from ivr import phrases_ru, say_ru
from ivr.phrases_ru import (
    CASES,
    FRAMES,
    KINDS,
    NOUNS,
    P_FROM,
    P_THROUGH,
    P_TO,
    VOCABULARY,
    Case,
    cardinal,
    clock_time,
    date_range,
    date_words,
    datetime_words,
    day_ordinal,
    duration,
    house_tokens,
    listing,
    money,
    quantity,
    time_range,
    tokens_for,
)
from ivr.prompts import check_word_ids
from ivr.say_ru import Gender

N2W_CASE = {
    "nom": "nominative",
    "gen": "genitive",
    "dat": "dative",
    "acc": "accusative",
    "ins": "instrumental",
    "prep": "prepositional",
}


def text(tokens: list[str]) -> str:
    return say_ru.tokens_to_text(tokens)


# -- cardinals -------------------------------------------------------------------------------

# Reviewed by hand: the genitive of every word a nominative number is made of.
GENITIVE_OF = {
    "ноль": "нуля",
    "один": "одного",
    "одна": "одной",
    "одно": "одного",
    "два": "двух",
    "две": "двух",
    "три": "трёх",
    "четыре": "четырёх",
    "пять": "пяти",
    "шесть": "шести",
    "семь": "семи",
    "восемь": "восьми",
    "девять": "девяти",
    "десять": "десяти",
    "одиннадцать": "одиннадцати",
    "двенадцать": "двенадцати",
    "тринадцать": "тринадцати",
    "четырнадцать": "четырнадцати",
    "пятнадцать": "пятнадцати",
    "шестнадцать": "шестнадцати",
    "семнадцать": "семнадцати",
    "восемнадцать": "восемнадцати",
    "девятнадцать": "девятнадцати",
    "двадцать": "двадцати",
    "тридцать": "тридцати",
    "сорок": "сорока",
    "пятьдесят": "пятидесяти",
    "шестьдесят": "шестидесяти",
    "семьдесят": "семидесяти",
    "восемьдесят": "восьмидесяти",
    "девяносто": "девяноста",
    "сто": "ста",
    "двести": "двухсот",
    "триста": "трёхсот",
    "четыреста": "четырёхсот",
    "пятьсот": "пятисот",
    "шестьсот": "шестисот",
    "семьсот": "семисот",
    "восемьсот": "восьмисот",
    "девятьсот": "девятисот",
}


def genitive_oracle(n: int) -> list[str]:
    """Each word of the nominative in the genitive; «тысяча» singular after a
    final «одна» (not 11), plural otherwise."""
    words = say_ru.number_tokens(n)
    out: list[str] = []
    for i, word in enumerate(words):
        if word in ("тысяча", "тысячи", "тысяч"):
            before = words[i - 1] if i else ""
            out.append("тысячи" if before == "одна" and word == "тысяча" else "тысяч")
        else:
            out.append(GENITIVE_OF[word])
    return out


def test_every_number_0_to_999_999_in_the_genitive() -> None:
    """Against the word table: a thousand part and a rest part (each made
    once from the nominative of say_ru), joined for every number."""
    rests = [genitive_oracle(n) for n in range(1000)]
    thousands = [genitive_oracle(n * 1000) for n in range(1000)]
    for n in range(1_000_000):
        high, low = divmod(n, 1000)
        if high == 0:
            expected = rests[low]
        elif low == 0:
            expected = thousands[high]
        else:
            expected = thousands[high] + rests[low]
        assert cardinal(n, "gen") == expected, n
    assert genitive_oracle(201_021) == cardinal(201_021, "gen")


@pytest.mark.parametrize("case", [c for c in CASES if c != "acc"])
@pytest.mark.parametrize("gender", ["m", "f", "n"])
def test_numbers_0_to_20_000_match_num2words(case: Case, gender: Gender) -> None:
    """num2words declines the accusative as for animate nouns («двух»); the
    IVR counts things (inanimate: «две минуты», «одну тысячу»): the
    accusative is checked in test_accusative_is_the_inanimate_one."""
    for n in range(1, 20_001):
        expected = num2words(n, lang="ru", case=N2W_CASE[case], gender=gender)
        assert text(cardinal(n, case, gender)) == expected, (n, case, gender)


def test_numbers_match_num2words_over_a_random_sample_to_a_billion() -> None:
    rng = random.Random(17)
    for _ in range(3000):
        n = rng.randrange(1, 1_000_000_000)
        case = rng.choice([c for c in CASES if c != "acc"])
        # num2words gives a feminine number of millions («тридцать одна
        # миллион»): the gender of the last word is checked below a million
        genders: list[Gender] = ["m", "f", "n"] if n < 1_000_000 else ["m"]
        gender = rng.choice(genders)
        expected = num2words(n, lang="ru", case=N2W_CASE[case], gender=gender)
        assert text(cardinal(n, case, gender)) == expected, (n, case, gender)


def test_accusative_is_the_inanimate_one() -> None:
    """The nominative, except a final feminine «одна» → «одну» and the noun
    «тысяча» → «тысячу» (num2words' animate accusative differs in 1..4)."""
    for n in range(200_000):
        for gender in ("m", "f", "n"):
            nom = say_ru.number_tokens(n, gender)
            expected = ["тысячу" if w == "тысяча" else w for w in nom]
            if expected[-1] == "одна":
                expected[-1] = "одну"
            for i, word in enumerate(expected[:-1]):
                if word == "одна" and expected[i + 1] == "тысячу":
                    expected[i] = "одну"
            assert cardinal(n, "acc", gender) == expected, (n, gender)
    assert text(cardinal(1021, "acc", "f")) == "одну тысячу двадцать одну"
    assert text(cardinal(2, "acc", "f")) == "две"


def test_zero_in_every_case() -> None:
    assert [cardinal(0, c)[0] for c in CASES] == ["ноль", "нуля", "нулю", "ноль", "нулём", "нуле"]


def test_nominative_is_say_ru() -> None:
    for n in (*range(3000), 21_000, 1_000_001, 999_999_999):
        for gender in ("m", "f", "n"):
            assert cardinal(n, "nom", gender) == say_ru.number_tokens(n, gender)


@pytest.mark.parametrize("bad", [-1, 1_000_000_000])
def test_cardinal_range_and_types(bad: int) -> None:
    with pytest.raises(ValueError):
        cardinal(bad, "gen")
    with pytest.raises(ValueError, match="case"):
        cardinal(5, "genitive")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cardinal(True, "gen")


# -- quantities ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "unit", "case", "heard"),
    [
        (1, "day", "gen", "одного дня"),
        (2, "day", "gen", "двух дней"),
        (5, "day", "gen", "пяти дней"),
        (11, "day", "gen", "одиннадцати дней"),
        (21, "day", "gen", "двадцати одного дня"),
        (22, "day", "gen", "двадцати двух дней"),
        (30, "day", "gen", "тридцати дней"),
        (101, "day", "gen", "ста одного дня"),
        (1, "minute", "acc", "одну минуту"),
        (21, "minute", "acc", "двадцать одну минуту"),
        (2, "minute", "acc", "две минуты"),
        (21, "minute", "gen", "двадцати одной минуты"),
        (1, "hour", "gen", "одного часа"),
        (3, "hour", "gen", "трёх часов"),
        (24, "hour", "gen", "двадцати четырёх часов"),
        (1000, "ruble", "gen", "одной тысячи рублей"),
        (1000, "ruble", "acc", "одну тысячу рублей"),
        (2, "kopeck", "ins", "двумя копейками"),
        (1, "kwh", "dat", "одному киловатт-часу"),
        (5, "kw", "prep", "пяти киловаттах"),
        (12, "month", "nom", "двенадцать месяцев"),
        (4, "second", "nom", "четыре секунды"),
    ],
)
def test_quantity_examples(n: int, unit: str, case: Case, heard: str) -> None:
    assert text(quantity(n, unit, case)) == heard


def test_within_n_days_up_to_10_000() -> None:
    """«в течение N дней»: N genitive, «дня» after a final «один» (not 11)."""
    for n in range(10_001):
        words = quantity(n, "day", "gen")
        assert words[:-1] == cardinal(n, "gen"), n
        single = n % 10 == 1 and n % 100 != 11
        assert words[-1] == ("дня" if single else "дней"), n


@pytest.mark.parametrize("case", CASES)
def test_every_unit_agrees_in_every_case_0_to_2000(case: Case) -> None:
    for unit, noun in NOUNS.items():
        for n in range(2001):
            words = quantity(n, unit, case)
            assert words[:-1] == cardinal(n, case, noun.gender), (n, unit)
            last = words[-1]
            if case in ("nom", "acc"):
                expected = say_ru.plural_form(
                    n, noun.singular[case], noun.singular["gen"], noun.plural["gen"]
                )
            else:
                single = n % 10 == 1 and n % 100 != 11
                expected = (noun.singular if single else noun.plural)[case]
            assert last == expected, (n, unit, case)
            if case == "nom" and unit in say_ru.UNITS:
                assert words == say_ru.quantity_tokens(n, unit), (n, unit)


def test_quantity_errors() -> None:
    with pytest.raises(ValueError, match="unit"):
        quantity(1, "parsec")
    with pytest.raises(ValueError):
        quantity(-1, "day")


# -- ordinals and dates -------------------------------------------------------------------------

# Reviewed by hand: every day in every case (nom, gen, dat, acc, ins, prep).
DAYS_1_TO_3 = {
    1: ("первое", "первого", "первому", "первое", "первым", "первом"),
    2: ("второе", "второго", "второму", "второе", "вторым", "втором"),
    3: ("третье", "третьего", "третьему", "третье", "третьим", "третьем"),
}


def test_every_day_1_to_31_in_every_case() -> None:
    for day in range(1, 32):
        for case in CASES:
            expected = num2words(day, lang="ru", to="ordinal", case=N2W_CASE[case], gender="n")
            assert text(day_ordinal(day, case)) == expected, (day, case)
        if day in DAYS_1_TO_3:
            assert tuple(text(day_ordinal(day, c)) for c in CASES) == DAYS_1_TO_3[day]
        # the genitive is the one ivr.say_ru always knew
        assert day_ordinal(day, "gen") == say_ru.ordinal_genitive_tokens(day)


def test_every_date_of_a_leap_year_in_every_case() -> None:
    d = date(2024, 1, 1)
    while d.year == 2024:
        for case in CASES:
            words = date_words(d, case)
            assert words[:-1] == day_ordinal(d.day, case)
            assert words[-1] == say_ru.date_tokens(d)[-1]  # the month: genitive
        assert date_words(d, "gen") == say_ru.date_tokens(d)
        d = date.fromordinal(d.toordinal() + 1)


@pytest.mark.parametrize(
    ("d", "case", "heard"),
    [
        (date(2026, 3, 1), "acc", "первое марта"),
        (date(2026, 3, 1), "gen", "первого марта"),
        (date(2026, 3, 23), "dat", "двадцать третьему марта"),
        (date(2026, 3, 30), "ins", "тридцатым марта"),
        (date(2026, 12, 31), "prep", "тридцать первом декабря"),
    ],
)
def test_date_examples(d: date, case: Case, heard: str) -> None:
    assert text(date_words(d, case)) == heard


def test_date_with_year_keeps_the_year_genitive() -> None:
    assert (
        text(date_words(date(2026, 3, 1), "acc", with_year=True))
        == "первое марта две тысячи двадцать шестого года"
    )


def test_day_out_of_range() -> None:
    for bad in (0, 32):
        with pytest.raises(ValueError):
            day_ordinal(bad)
    with pytest.raises(TypeError):
        date_words("2026-03-01")  # type: ignore[arg-type]


# -- clock times --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_every_minute_of_a_day(case: Case) -> None:
    for minute in range(24 * 60):
        t = time(minute // 60, minute % 60)
        words = clock_time(t, case)
        expected = quantity(t.hour, "hour", case)
        if t.minute:
            expected += quantity(t.minute, "minute", case)
        assert words == expected, t
        if case == "nom":
            assert words == say_ru.time_tokens(t)


@pytest.mark.parametrize(
    ("t", "case", "heard"),
    [
        (time(8, 30), "gen", "восьми часов тридцати минут"),
        (time(17, 0), "gen", "семнадцати часов"),
        (time(0, 0), "gen", "нуля часов"),
        (time(1, 1), "gen", "одного часа одной минуты"),
        (time(14, 21), "acc", "четырнадцать часов двадцать одну минуту"),
        (time(21, 2), "nom", "двадцать один час две минуты"),
        (time(22, 22), "gen", "двадцати двух часов двадцати двух минут"),
    ],
)
def test_time_examples(t: time, case: Case, heard: str) -> None:
    assert text(clock_time(t, case)) == heard


def test_end_of_day_is_twenty_four_hours() -> None:
    assert text(clock_time(time(0, 0), "gen", end_of_day=True)) == "двадцати четырёх часов"
    with pytest.raises(ValueError):
        clock_time(time(0, 30), "gen", end_of_day=True)


def test_datetime_is_the_time_in_case_and_the_date_genitive() -> None:
    dt = datetime(2026, 3, 1, 8, 30)
    assert text(datetime_words(dt, "gen")) == "восьми часов тридцати минут первого марта"
    assert text(datetime_words(dt, "nom")) == "восемь часов тридцать минут первого марта"
    assert text(datetime_words(dt, "acc")) == "восемь часов тридцать минут первого марта"


# -- money and durations ------------------------------------------------------------------------


def test_every_whole_ruble_amount_to_100_000_in_the_genitive() -> None:
    for rubles in range(100_001):
        words = money(rubles, "gen")
        assert words == quantity(rubles, "ruble", "gen"), rubles


def test_every_kopeck_value_in_every_case() -> None:
    for case in CASES:
        for k in range(1, 100):
            amount = Decimal(k) / 100
            assert money(amount, case) == quantity(k, "kopeck", case), (k, case)


@pytest.mark.parametrize(
    ("amount", "case", "heard"),
    [
        ("1543.20", "nom", "одна тысяча пятьсот сорок три рубля двадцать копеек"),
        ("121.01", "gen", "ста двадцати одного рубля одной копейки"),
        ("1021", "acc", "одну тысячу двадцать один рубль"),
        ("0", "gen", "нуля рублей"),
        ("0.50", "gen", "пятидесяти копеек"),
    ],
)
def test_money_examples(amount: str, case: Case, heard: str) -> None:
    assert text(money(amount, case)) == heard


def test_money_keeps_say_ru_rules() -> None:
    for amount in range(0, 3000, 7):
        assert money(amount) == say_ru.money_tokens(amount)
    for bad in ("-1", "1.005", "abc"):
        with pytest.raises(ValueError):
            money(bad, "gen")
    with pytest.raises(TypeError):
        money(1.5, "gen")  # type: ignore[arg-type]


def test_durations() -> None:
    assert text(duration(2 * 3600 + 30 * 60, "gen")) == "двух часов тридцати минут"
    assert text(duration(61, "gen")) == "одной минуты одной секунды"
    assert text(duration(0, "gen")) == "нуля секунд"
    for seconds in range(0, 3 * 3600, 13):
        assert duration(seconds) == say_ru.duration_tokens(seconds)
    with pytest.raises(ValueError):
        duration(-1)


# -- codes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("house", "heard"),
    [
        ("15", "пятнадцать"),
        ("15а", "пятнадцать а"),
        ("15Б", "пятнадцать бэ"),
        ("15/2", "пятнадцать дробь два"),
        ("15к2", "пятнадцать корпус два"),
        ("15 корп 2", "пятнадцать корпус два"),
        ("7стр1", "семь строение один"),
        ("142", "сто сорок два"),
    ],
)
def test_house_numbers(house: str, heard: str) -> None:
    assert text(house_tokens(house)) == heard


@pytest.mark.parametrize("bad", ["", "а", "15ж", "015", "15/", "к2"])
def test_bad_house_numbers(bad: str) -> None:
    with pytest.raises(ValueError):
        house_tokens(bad)


def test_codes_are_the_same_in_every_case() -> None:
    for what, raw in (("phone", "+79001234567"), ("account", "1000000001"), ("digits", "0451")):
        said = {text(tokens_for(what, raw, c)) for c in CASES}
        assert len(said) == 1, (what, said)


# -- ranges -------------------------------------------------------------------------------------


def heard(phrase: phrases_ru.Phrase) -> str:
    names = {P_FROM: "с", P_TO: "до", P_THROUGH: "по"}
    return phrase.text(names.__getitem__)


def test_one_day_outage_names_the_day_once() -> None:
    phrase = time_range(datetime(2026, 3, 1, 8, 30), datetime(2026, 3, 1, 17, 0))
    assert heard(phrase) == "первого марта с восьми часов тридцати минут до семнадцати часов"
    kinds = [p if isinstance(p, str) else f"{p.what}:{p.value}:{p.case}" for p in phrase.parts]
    assert kinds == ["date:2026-03-01:gen", P_FROM, "time:08:30:gen", P_TO, "time:17:00:gen"]


def test_outage_over_several_days_names_both() -> None:
    phrase = time_range(datetime(2026, 3, 1, 8, 30), datetime(2026, 3, 2, 17, 0))
    assert heard(phrase) == (
        "с восьми часов тридцати минут первого марта до семнадцати часов второго марта"
    )


def test_outage_to_midnight_ends_at_twenty_four_hours() -> None:
    phrase = time_range(datetime(2026, 3, 31, 20, 0), datetime(2026, 4, 1, 0, 0))
    assert heard(phrase) == "тридцать первого марта с двадцати часов до двадцати четырёх часов"


def test_range_backwards_is_refused() -> None:
    with pytest.raises(ValueError):
        time_range(datetime(2026, 3, 2), datetime(2026, 3, 1))
    with pytest.raises(ValueError):
        date_range(date(2026, 3, 2), date(2026, 3, 1))


def test_date_ranges() -> None:
    assert heard(date_range(date(2026, 3, 15), date(2026, 3, 25))) == (
        "с пятнадцатого по двадцать пятое марта"
    )
    assert heard(date_range(date(2026, 2, 25), date(2026, 3, 10))) == (
        "с двадцать пятого февраля по десятое марта"
    )


# -- journal values, vocabulary, listing ------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "raw"),
    [
        ("money", "1543.20"),
        ("date", "2025-03-01"),
        ("day", "21"),
        ("time", "08:30"),
        ("time", "24:00"),
        ("datetime", "2025-03-06T09:00+03:00"),
        ("number", "3"),
        ("appeal", "15"),
        ("reading", "12400"),
        ("duration", "180"),
        ("days", "21"),
        ("kwh", "101"),
        ("phone", "+79001234567"),
        ("account", "1000000001"),
        ("digits", "0451"),
        ("house", "15а"),
    ],
)
def test_every_kind_renders_its_journal_value_in_every_case(what: str, raw: str) -> None:
    for case in CASES:
        words = tokens_for(what, raw, case)
        assert words and set(words) <= VOCABULARY, (what, case, words)
        phrase = phrases_ru.value(what, raw, case)
        assert [w.tokens for w in phrase.words()] == [tuple(words)]
    assert what in KINDS


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        tokens_for("colour", "red", "nom")


def test_vocabulary_covers_every_form_and_ids_do_not_collide() -> None:
    rng = random.Random(5)
    samples = [*range(1000), *(rng.randrange(1_000_000_000) for _ in range(2000))]
    for case in CASES:
        for n in samples:
            for gender in ("m", "f", "n"):
                assert set(cardinal(n, case, gender)) <= VOCABULARY, (n, case)
        for unit in NOUNS:
            assert set(quantity(21, unit, case)) <= VOCABULARY
            assert set(quantity(22, unit, case)) <= VOCABULARY
        for day in range(1, 32):
            assert set(day_ordinal(day, case)) <= VOCABULARY
    assert VOCABULARY >= say_ru.VOCABULARY
    check_word_ids(VOCABULARY)  # one word prompt file per token, no two sharing one


def test_listing_has_every_frame_with_an_example() -> None:
    lines = listing()
    assert len(lines) == len(FRAMES) == len({f.name for f in FRAMES})
    joined = "\n".join(lines)
    for expected in (
        "по состоянию на первое марта",
        "первого марта с восьми часов тридцати минут до семнадцати часов",
        "в течение двадцати одного дня",
        "составляет одна тысяча двести тридцать четыре рубля пятьдесят копеек",
        "в размере ста двадцати одного рубля одной копейки",
    ):
        assert expected in joined, joined
