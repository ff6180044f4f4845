"""The SMS readings parser (REQ-T14): formats, spaces, Cyrillic and Latin
«Т»/«T», what is not a readings message, and malformed ones with a reason."""

from __future__ import annotations

import pytest

from crm_bridge.models import TariffZone
from sms.encoding import GSM7, UCS2, coding_of, segments
from sms.parser import FormatError, ReadingsMessage, ZoneValue, parse

T1, T2, T3 = TariffZone.T1, TariffZone.T2, TariffZone.T3


@pytest.mark.parametrize(
    ("text", "account", "values"),
    [
        ("1000000001 12345", "1000000001", ((None, 12345),)),
        ("ЛС 1000000001 Т1 12345 Т2 6789", "1000000001", ((T1, 12345), (T2, 6789))),
        ("12345", None, ((None, 12345),)),
        ("Т1 12345 Т2 6789", None, ((T1, 12345), (T2, 6789))),
        ("1000000001 Т1 12345", "1000000001", ((T1, 12345),)),
        ("1000000001 12345 6789", "1000000001", ((None, 12345), (None, 6789))),
        ("ЛС1000000001 Т1 5", "1000000001", ((T1, 5),)),
        ("Л/С 0001234 Т3 7", "0001234", ((T3, 7),)),
        ("лицевой счет 1000000001 т1 100", "1000000001", ((T1, 100),)),
    ],
)
def test_formats(
    text: str, account: str | None, values: tuple[tuple[TariffZone | None, int], ...]
) -> None:
    assert parse(text) == ReadingsMessage(account, tuple(ZoneValue(z, v) for z, v in values))


@pytest.mark.parametrize(
    "text",
    [
        "  ЛС   1000000001\tТ1  12345 \n Т2 6789  ",
        "ЛС 1000000001, Т1: 12345; Т2 = 6789",
        "ЛС:1000000001 Т1-12345 Т2-6789",
        "лс 1000000001 т1 12345 т2 6789",
    ],
)
def test_spaces_and_separators(text: str) -> None:
    assert parse(text) == ReadingsMessage("1000000001", (ZoneValue(T1, 12345), ZoneValue(T2, 6789)))


@pytest.mark.parametrize(
    "text",
    [
        "LS 1000000001 T1 12345 T2 6789",  # Latin letters throughout
        "ЛС 1000000001 T1 12345 Т2 6789",  # Latin T, Cyrillic Т mixed
        "ls 1000000001 t1 12345 т2 6789",
    ],
)
def test_cyrillic_and_latin_t(text: str) -> None:
    assert parse(text) == ReadingsMessage("1000000001", (ZoneValue(T1, 12345), ZoneValue(T2, 6789)))


@pytest.mark.parametrize(
    "text",
    ["", "   ", "Добрый день, нет света", "hello", "Т5 12", "СТОП", "1000000001 кВт"],
)
def test_not_a_readings_message(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ЛС", "после «ЛС» укажите номер лицевого счёта"),
        ("ЛС Т1 5", "после «ЛС» укажите номер лицевого счёта"),
        ("Т1", "после «Т1» укажите показание"),
        ("Т1 1 Т1 2", "зона Т1 указана дважды"),
        ("12345,5", "показание: только целое число, без дробной части"),
        ("Т2 12.5", "показание Т2: только целое число, без дробной части"),
        ("1 2 3 4 5", "слишком много чисел в сообщении"),
        ("Т1 5 6", "укажите зону перед каждым показанием: Т1 12345 Т2 6789"),
        ("1 2 Т1 5", "укажите показания с зонами: Т1 12345 Т2 6789"),
        ("ЛС 1 ЛС 2 Т1 5", "лицевой счёт указан дважды"),
        ("ЛС 1000000001", "в сообщении нет показаний"),
        ("Т1 1234567890", "показание Т1: слишком много цифр"),
    ],
)
def test_malformed_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(FormatError) as err:
        parse(text)
    assert err.value.reason == reason


def test_segments_and_coding() -> None:
    assert coding_of("1000000001 12345") == GSM7
    assert coding_of("Приняты показания") == UCS2
    assert segments("x" * 160) == 1 and segments("x" * 161) == 2
    assert segments("я" * 70) == 1 and segments("я" * 71) == 2 and segments("я" * 134) == 2
    assert segments("я" * 135) == 3
    assert segments("{" * 80) == 1 and segments("{" * 81) == 2  # the extension table counts twice
