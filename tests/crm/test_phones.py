"""Phone normalisation to E.164 (caller identification, REQ-T15; contract numbers, REQ-O7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_bridge.phones import InvalidPhone, e164_candidate, normalize_phone, try_normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "89001234567",
        "+79001234567",
        "79001234567",
        "9001234567",
        "8 (900) 123-45-67",
        "+7 (900) 123-45-67",
        "+7 900 123 45 67",
        "8-900-123-45-67",
        "8.900.123.45.67",
        " 8 900 1234567 ",
        "8\u00a0900\u00a0123\u00a045\u00a067",
    ],
)
def test_mobile_forms(raw: str) -> None:
    assert normalize_phone(raw) == "+79001234567"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8 (391) 212-34-56", "+73912123456"),
        ("8-800-100-00-00", "+78001000000"),
        ("+375 29 123-45-67", "+375291234567"),
    ],
)
def test_landline_tollfree_and_foreign(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "не указан"),
        ("12345", "короткий"),
        ("8900123456789", "длинный"),
        ("8900abc4567", "недопустимые символы"),
        ("+7900123456", "11 цифр"),
        ("+70001234567", "не существует"),
        ("0001234567", "начинаться"),
        ("89+001234567", "только в начале"),
        ("anonymous", "скрыт"),
    ],
)
def test_malformed_numbers_have_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhone) as info:
        normalize_phone(raw)
    assert reason in info.value.reason
    assert try_normalize_phone(raw) is None


@given(st.from_regex(r"9[0-9]{9}", fullmatch=True))
def test_all_forms_agree(national: str) -> None:
    forms = [f"8{national}", f"+7{national}", f"7{national}", national]
    results = {try_normalize_phone(f) for f in forms}
    assert len(results) == 1
    value = results.pop()
    assert value is None or value == f"+7{national}"


@pytest.mark.parametrize(
    "raw",
    ["8 (900) 123-45-67", "+7 900 123 45 67", "9001234567", "79001234567", "+7 (812) 555-01-02"],
)
def test_a_valid_numbers_candidate_is_its_e164_form(raw: str) -> None:
    """The list import's shortcut (a candidate found among the contracts'
    normalised phones is taken as is) rests on this."""
    assert e164_candidate(raw) == normalize_phone(raw)
    assert normalize_phone(e164_candidate(raw)) == e164_candidate(raw)


@pytest.mark.parametrize("raw", ["", "anonymous", "8 900 12", "+7 900 123", "8-900-abc"])
def test_the_candidate_refuses_what_the_rules_refuse(raw: str) -> None:
    with pytest.raises(InvalidPhone) as candidate:
        e164_candidate(raw)
    with pytest.raises(InvalidPhone) as full:
        normalize_phone(raw)
    assert candidate.value.reason == full.value.reason
