"""The Russian production calendar (REQ-T2, REQ-T3, REQ-A5, REQ-O4)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_bridge.calendar_ru import (
    MOVED_WORKING_DAYS,
    TRANSFERRED_DAYS_OFF,
    ProductionCalendar,
)

CAL = ProductionCalendar()
MSK = ZoneInfo("Europe/Moscow")

ARTICLE_112_HOLIDAYS = [
    (1, 1),
    (1, 2),
    (1, 3),
    (1, 4),
    (1, 5),
    (1, 6),
    (1, 7),
    (1, 8),
    (2, 23),
    (3, 8),
    (5, 1),
    (5, 9),
    (6, 12),
    (11, 4),
]


@pytest.mark.parametrize("year", [2024, 2025, 2026, 2027])
@pytest.mark.parametrize(("month", "day"), ARTICLE_112_HOLIDAYS)
def test_labour_code_holidays_are_holidays(year: int, month: int, day: int) -> None:
    d = date(year, month, day)
    assert CAL.is_holiday(d)
    assert not CAL.is_working_day(d)
    assert CAL.holiday_name(d)


@pytest.mark.parametrize(
    "d", [date(2024, 4, 27), date(2024, 11, 2), date(2024, 12, 28), date(2025, 11, 1)]
)
def test_moved_working_saturdays_are_working_days(d: date) -> None:
    assert d.weekday() == 5
    assert CAL.is_working_day(d)
    assert CAL.is_moved_working_day(d)
    assert not CAL.is_holiday(d)


@pytest.mark.parametrize(
    "d",
    [
        date(2024, 4, 29),
        date(2024, 4, 30),
        date(2024, 5, 10),
        date(2024, 12, 30),
        date(2024, 12, 31),
        date(2025, 5, 2),
        date(2025, 5, 8),
        date(2025, 6, 13),
        date(2025, 11, 3),
        date(2025, 12, 31),
        date(2026, 1, 9),
        date(2026, 3, 9),
        date(2026, 12, 31),
    ],
)
def test_transferred_days_off_are_holidays(d: date) -> None:
    assert d.weekday() < 5
    assert CAL.is_holiday(d)
    assert not CAL.is_working_day(d)


def test_plain_weekend_is_not_a_holiday_and_not_working() -> None:
    saturday, sunday = date(2025, 3, 15), date(2025, 3, 16)
    for d in (saturday, sunday):
        assert not CAL.is_holiday(d)
        assert not CAL.is_working_day(d)
        assert not CAL.is_moved_working_day(d)
        assert CAL.holiday_name(d) is None
    assert CAL.is_working_day(date(2025, 3, 17))


@pytest.mark.parametrize(
    ("year", "working_days"),
    # Official totals of the production calendar (five-day week).
    [
        (2018, 247),
        (2019, 247),
        (2020, 248),
        (2021, 247),
        (2022, 247),
        (2023, 247),
        (2024, 248),
        (2025, 247),
        (2026, 247),
    ],
)
def test_yearly_working_day_totals_match_the_official_calendar(
    year: int, working_days: int
) -> None:
    assert CAL.working_days_between(date(year - 1, 12, 31), date(year, 12, 31)) == working_days


def test_fallback_tables_agree_with_the_holidays_package() -> None:
    """The explicit tables and the package must tell the same story for 2024–2027,
    so the calendar stays right with an older ``holidays`` release."""
    ru = holidays.country_holidays("RU", years=range(2015, 2029))
    package_workdays = getattr(ru, "weekend_workdays", None)
    if package_workdays is not None:
        assert {d for d in package_workdays if 2016 <= d.year <= 2027} == set(MOVED_WORKING_DAYS)
    for d in TRANSFERRED_DAYS_OFF:
        assert d in ru, d
        assert d.weekday() < 5
    for d in MOVED_WORKING_DAYS:
        assert d.weekday() >= 5


def test_extra_holidays_and_working_days_override() -> None:
    sabantuy = date(2025, 6, 20)  # a regional holiday, a Friday
    cal = ProductionCalendar(
        extra_holidays=frozenset({sabantuy}),
        extra_working_days=frozenset({date(2025, 6, 12), date(2025, 6, 22)}),
    )
    assert cal.is_holiday(sabantuy)
    assert not cal.is_working_day(sabantuy)
    assert cal.holiday_name(sabantuy)
    assert sabantuy in cal.holidays_in(2025)
    # A public holiday forced to be worked.
    assert cal.is_working_day(date(2025, 6, 12))
    assert not cal.is_holiday(date(2025, 6, 12))
    assert date(2025, 6, 12) not in cal.holidays_in(2025)
    # A Sunday forced to be worked is a moved working day.
    assert cal.is_moved_working_day(date(2025, 6, 22))
    assert cal.is_working_day(date(2025, 6, 22))


def test_a_day_cannot_be_both_extra_holiday_and_extra_working_day() -> None:
    d = date(2025, 6, 20)
    with pytest.raises(ValueError, match="2025-06-20"):
        ProductionCalendar(extra_holidays=frozenset({d}), extra_working_days=frozenset({d}))


def test_datetime_arguments_use_their_date() -> None:
    assert CAL.is_holiday(datetime(2025, 1, 7, 12, 0, tzinfo=MSK))
    assert CAL.is_working_day(datetime(2025, 1, 9, 12, 0))


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2025, 3, 14), 1, date(2025, 3, 17)),  # Friday -> Monday
        (date(2025, 3, 15), 1, date(2025, 3, 17)),  # Saturday -> Monday
        (date(2025, 3, 17), 0, date(2025, 3, 17)),
        (date(2025, 3, 16), 0, date(2025, 3, 16)),  # n=0 never moves
        (date(2025, 3, 17), 5, date(2025, 3, 24)),
        (date(2024, 4, 26), 1, date(2024, 4, 27)),  # moved working Saturday
        (date(2024, 4, 27), 1, date(2024, 5, 2)),  # over the May holidays
        (date(2024, 12, 28), 1, date(2025, 1, 9)),  # over the New Year holidays
        (date(2025, 1, 9), -1, date(2024, 12, 28)),
        (date(2025, 3, 17), -1, date(2025, 3, 14)),
    ],
)
def test_add_working_days(start: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(start, n) == expected


def test_working_days_between() -> None:
    assert CAL.working_days_between(date(2025, 3, 14), date(2025, 3, 17)) == 1
    assert CAL.working_days_between(date(2025, 3, 17), date(2025, 3, 17)) == 0
    assert CAL.working_days_between(date(2025, 3, 17), date(2025, 3, 14)) == -1
    # May 2025: 18 working days.
    assert CAL.working_days_between(date(2025, 4, 30), date(2025, 5, 31)) == 18


dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))


@given(d=dates, n=st.integers(min_value=-300, max_value=300))
def test_add_and_between_are_inverse(d: date, n: int) -> None:
    """REQ-A5: counting forward n working days and counting back agree."""
    target = CAL.add_working_days(d, n)
    if n >= 0 or CAL.is_working_day(d):
        assert CAL.working_days_between(d, target) == n
    else:
        # (target, d] holds the working days strictly after target, d excluded.
        assert CAL.working_days_between(d, target) == n + 1
    if n != 0:
        assert CAL.is_working_day(target)
        assert (target > d) == (n > 0)


@given(a=dates, b=dates)
def test_between_is_antisymmetric_and_bounded(a: date, b: date) -> None:
    count = CAL.working_days_between(a, b)
    assert count == -CAL.working_days_between(b, a)
    assert abs(count) <= abs((b - a).days)


@given(d=dates)
def test_working_day_is_weekday_xor_exception(d: date) -> None:
    """A working day is a weekday that is not a holiday, or a moved working day."""
    expected = (d.weekday() < 5 and not CAL.is_holiday(d)) or CAL.is_moved_working_day(d)
    assert CAL.is_working_day(d) == expected
    assert not (CAL.is_holiday(d) and CAL.is_working_day(d))


def test_next_working_moment() -> None:
    hours = (time(8), time(20))
    monday_noon = datetime(2025, 3, 17, 12, 0, tzinfo=MSK)
    assert CAL.next_working_moment(monday_noon, hours) == monday_noon
    assert CAL.next_working_moment(datetime(2025, 3, 17, 7, 0, tzinfo=MSK), hours) == datetime(
        2025, 3, 17, 8, 0, tzinfo=MSK
    )
    # 20:00 is closed (half-open interval): next working morning.
    assert CAL.next_working_moment(datetime(2025, 3, 17, 20, 0, tzinfo=MSK), hours) == datetime(
        2025, 3, 18, 8, 0, tzinfo=MSK
    )
    # Friday evening -> Monday morning.
    assert CAL.next_working_moment(datetime(2025, 3, 14, 21, 0, tzinfo=MSK)) == datetime(
        2025, 3, 17, 8, 0, tzinfo=MSK
    )
    # Saturday before the New Year holidays of 2025 is worked (2024-12-28).
    assert CAL.next_working_moment(datetime(2024, 12, 27, 21, 0, tzinfo=MSK)) == datetime(
        2024, 12, 28, 8, 0, tzinfo=MSK
    )
    assert CAL.next_working_moment(datetime(2024, 12, 28, 21, 0, tzinfo=MSK)) == datetime(
        2025, 1, 9, 8, 0, tzinfo=MSK
    )
    # Naive in, naive out.
    assert CAL.next_working_moment(datetime(2025, 3, 15, 10, 0)) == datetime(2025, 3, 17, 8, 0)
    with pytest.raises(ValueError):
        CAL.next_working_moment(monday_noon, (time(20), time(8)))


@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 20)))
def test_next_working_moment_is_a_working_moment(dt: datetime) -> None:
    moment = CAL.next_working_moment(dt)
    assert moment >= dt
    assert CAL.is_working_day(moment.date())
    assert time(8) <= moment.time() < time(20)
    assert moment - dt < timedelta(days=14)


def test_crm_bridge_modules_import_neither_ivr_nor_autoinformer() -> None:
    """Architecture: crm_bridge is the shared base and imports none of the others."""
    import ast
    from pathlib import Path

    import crm_bridge.calendar_ru
    import crm_bridge.deadlines

    for module in (crm_bridge.calendar_ru, crm_bridge.deadlines):
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("ivr", "autoinformer"), (module.__name__, name)
