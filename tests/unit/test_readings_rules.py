"""Validation rules of meter readings (REQ-T14): crm_bridge.readings rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_bridge.readings import (
    ReadingPolicy,
    Verdict,
    check_reading,
    fits_meter,
    period_status,
    rollover_consumption,
)

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
POLICY = ReadingPolicy(period_start_day=15, period_end_day=25, max_daily_kwh=Decimal(100))


def check(value, previous, *, days=30.0, digits=6, policy=POLICY, previous_at=...):
    at = NOW - timedelta(days=days) if previous_at is ... else previous_at
    return check_reading(
        value, previous=previous, previous_at=at, now=NOW, digits=digits, policy=policy
    )


# -- fits / rollover arithmetic ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "digits", "ok"),
    [(0, 1, True), (9, 1, True), (10, 1, False), (99999, 5, True), (100000, 5, False)],
)
def test_fits_meter(value, digits, ok) -> None:
    assert fits_meter(value, digits) is ok


def test_fits_meter_rejects_a_meter_without_digits() -> None:
    with pytest.raises(ValueError):
        fits_meter(1, 0)


def test_rollover_consumption_of_the_issue_example() -> None:
    assert rollover_consumption(Decimal(99950), 30, 5) == Decimal(80)
    assert rollover_consumption(Decimal("99950.7"), 30, 5) == Decimal(80)


# -- verdicts ----------------------------------------------------------------------------


def test_no_previous_reading_is_ok() -> None:
    result = check(12345, None)
    assert result.verdict is Verdict.OK and result.consumption is None


def test_same_as_previous_is_ok_with_zero_consumption() -> None:
    result = check(12000, Decimal(12000))
    assert result.verdict is Verdict.OK and result.consumption == 0


def test_normal_consumption_is_ok() -> None:
    result = check(12345, Decimal(12000))
    assert result.verdict is Verdict.OK and result.consumption == Decimal(345)
    assert result.days == pytest.approx(30.0)
    assert result.flag_reason is None


def test_fractional_previous_shows_its_integer_part() -> None:
    """12 345.6 stored, 12 345 read: not below (the meter shows 12 345)."""
    result = check(12345, Decimal("12345.6"))
    assert result.verdict is Verdict.OK and result.consumption == 0


def test_below_previous_is_refused() -> None:
    result = check(11000, Decimal(12000))
    assert result.verdict is Verdict.BELOW_PREVIOUS
    assert not result.verdict.acceptable and result.consumption is None


def test_rollover_of_a_five_digit_meter() -> None:
    result = check(30, Decimal(99950), digits=5, days=3)
    assert result.verdict is Verdict.ROLLOVER and result.consumption == Decimal(80)
    assert result.verdict.acceptable


def test_an_implausible_rollover_is_below_previous() -> None:
    """12 345 → 12 000 would be 99 655 kWh over the top of a 5-digit meter."""
    assert check(12000, Decimal(12345), digits=5).verdict is Verdict.BELOW_PREVIOUS


def test_rollover_bound_depends_on_the_days_elapsed() -> None:
    # 1 100 kWh over the top: plausible in 30 days (bound 3 000), not in 5 (bound 500)
    assert check(100, Decimal(99000), digits=5, days=30).verdict is Verdict.ROLLOVER
    assert check(100, Decimal(99000), digits=5, days=5).verdict is Verdict.BELOW_PREVIOUS


def test_rollover_on_a_six_digit_meter() -> None:
    result = check(5, Decimal(999990), digits=6, days=1)
    assert result.verdict is Verdict.ROLLOVER and result.consumption == Decimal(15)


def test_suspicious_jump_above_the_daily_bound() -> None:
    result = check(5000, Decimal(1000), days=1)
    assert result.verdict is Verdict.SUSPICIOUS and result.consumption == Decimal(4000)
    assert result.flag_reason is not None and "kWh/day" in result.flag_reason
    assert result.verdict.acceptable


def test_jump_exactly_at_the_bound_is_ok() -> None:
    assert check(4000, Decimal(1000), days=30).verdict is Verdict.OK  # 3 000 = 100 × 30


def test_jump_just_above_the_bound_is_suspicious() -> None:
    assert check(4001, Decimal(1000), days=30).verdict is Verdict.SUSPICIOUS


def test_at_least_one_day_is_assumed() -> None:
    """A second reading the same hour may still add up to one day's bound."""
    assert check(1100, Decimal(1000), days=0.01).verdict is Verdict.OK
    assert check(1101, Decimal(1000), days=0.01).verdict is Verdict.SUSPICIOUS


def test_unknown_previous_date_assumes_a_month() -> None:
    assert check(4100, Decimal(1000), previous_at=None).verdict is Verdict.OK
    assert check(4101, Decimal(1000), previous_at=None).verdict is Verdict.SUSPICIOUS


def test_previous_in_the_future_counts_as_no_time() -> None:
    result = check(1050, Decimal(1000), days=-2)
    assert result.verdict is Verdict.OK and result.days == 0.0


def test_configurable_bound() -> None:
    strict = ReadingPolicy(max_daily_kwh=Decimal(10))
    assert check(1400, Decimal(1000), days=30, policy=strict).verdict is Verdict.SUSPICIOUS


def test_too_many_digits() -> None:
    result = check(1234567, Decimal(1000), digits=6)
    assert result.verdict is Verdict.TOO_MANY_DIGITS and not result.verdict.acceptable


@pytest.mark.parametrize("bad", [-1, Decimal("1.5")])
def test_non_integer_or_negative_value_is_a_programming_error(bad) -> None:
    with pytest.raises(ValueError):
        check(bad, Decimal(0))


@given(
    previous=st.integers(min_value=0, max_value=99999),
    value=st.integers(min_value=0, max_value=99999),
    days=st.floats(min_value=0, max_value=400),
)
def test_verdicts_are_consistent(previous: int, value: int, days: float) -> None:
    """Property: never accepted below the previous value unless a bounded rollover;
    consumption is never negative; the verdict matches the arithmetic."""
    result = check(value, Decimal(previous), digits=5, days=days)
    bound = Decimal(100) * Decimal(str(max(1.0, days)))
    if value >= previous:
        assert result.consumption == value - previous
        expected = Verdict.SUSPICIOUS if value - previous > bound else Verdict.OK
        assert result.verdict is expected
    else:
        over = 100000 - previous + value
        if over <= bound:
            assert result.verdict is Verdict.ROLLOVER and result.consumption == over
        else:
            assert result.verdict is Verdict.BELOW_PREVIOUS and result.consumption is None
    assert result.consumption is None or result.consumption >= 0


# -- reading period ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "in_period", "counts_from"),
    [
        (date(2026, 3, 14), False, date(2026, 3, 15)),
        (date(2026, 3, 15), True, date(2026, 3, 15)),
        (date(2026, 3, 20), True, date(2026, 3, 20)),
        (date(2026, 3, 25), True, date(2026, 3, 25)),
        (date(2026, 3, 26), False, date(2026, 4, 15)),
        (date(2026, 12, 31), False, date(2027, 1, 15)),
        (date(2026, 1, 1), False, date(2026, 1, 15)),
    ],
)
def test_default_period_15_to_25(today, in_period, counts_from) -> None:
    status = period_status(today, POLICY)
    assert (status.in_period, status.counts_from) == (in_period, counts_from)


@pytest.mark.parametrize(
    ("today", "in_period", "counts_from"),
    [
        (date(2026, 3, 23), True, date(2026, 3, 23)),
        (date(2026, 3, 31), True, date(2026, 3, 31)),
        (date(2026, 4, 1), True, date(2026, 4, 1)),
        (date(2026, 4, 3), True, date(2026, 4, 3)),
        (date(2026, 4, 4), False, date(2026, 4, 23)),
        (date(2026, 4, 22), False, date(2026, 4, 23)),
    ],
)
def test_period_wrapping_the_month_end(today, in_period, counts_from) -> None:
    policy = ReadingPolicy(period_start_day=23, period_end_day=3)
    status = period_status(today, policy)
    assert (status.in_period, status.counts_from) == (in_period, counts_from)


def test_period_days_are_clamped_to_short_months() -> None:
    policy = ReadingPolicy(period_start_day=30, period_end_day=31)
    assert period_status(date(2026, 2, 28), policy).in_period
    status = period_status(date(2026, 2, 10), policy)
    assert status.counts_from == date(2026, 2, 28)
    assert period_status(date(2026, 3, 1), policy).counts_from == date(2026, 3, 30)


def test_one_day_period() -> None:
    policy = ReadingPolicy(period_start_day=1, period_end_day=1)
    assert period_status(date(2026, 5, 1), policy).in_period
    assert period_status(date(2026, 5, 2), policy).counts_from == date(2026, 6, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"period_start_day": 0},
        {"period_end_day": 32},
        {"max_daily_kwh": Decimal(0)},
    ],
)
def test_policy_rejects_bad_settings(kwargs) -> None:
    with pytest.raises(ValueError):
        ReadingPolicy(**kwargs)


def test_policy_from_settings() -> None:
    from core.settings import Settings

    s = Settings(
        readings_period_start_day=10, readings_period_end_day=20, readings_max_daily_kwh=50
    )
    assert ReadingPolicy.from_settings(s) == ReadingPolicy(10, 20, Decimal(50))


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_counts_from_is_never_in_the_past(today: date) -> None:
    for policy in (POLICY, ReadingPolicy(23, 3), ReadingPolicy(31, 31)):
        status = period_status(today, policy)
        assert status.counts_from >= today
        assert status.in_period == (status.counts_from == today)
        assert status.counts_from - today < timedelta(days=62)
