"""Slot arithmetic (pure, REQ-T11): weekly hours with a lunch break, a slot
that would end after closing, holidays of the production calendar, the
office's own days off, a working Saturday by decree, and the Russian errors
of bad hours."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.calendar_ru import ProductionCalendar
from visits.slots import HoursError, OfficeHours, parse_hours

MSK = ZoneInfo("Europe/Moscow")
CAL = ProductionCalendar()


def hours(**kw: object) -> OfficeHours:
    base: dict[str, object] = {
        "hours": {"0": "08:00-12:00, 13:00-17:00", "4": "09:00-10:40"},
        "slot_minutes": 30,
        "capacity": 2,
        "zone": "Europe/Moscow",
    }
    base.update(kw)
    return OfficeHours.from_stored(**base)  # type: ignore[arg-type]


def test_a_day_with_a_lunch_break() -> None:
    slots = hours().slots(date(2025, 3, 3), CAL)  # a Monday
    starts = [a.astimezone(MSK).time() for a, _ in slots]
    assert len(starts) == 16
    assert starts[0] == time(8, 0) and starts[7] == time(11, 30)
    assert starts[8] == time(13, 0) and starts[-1] == time(16, 30)
    assert all(b - a == slots[0][1] - slots[0][0] for a, b in slots)


def test_a_slot_that_would_end_after_closing_is_not_offered() -> None:
    slots = hours().slots(date(2025, 3, 7), CAL)  # Friday 09:00-10:40
    assert [a.astimezone(MSK).strftime("%H:%M") for a, _ in slots] == ["09:00", "09:30", "10:00"]


def test_closed_on_its_weekday_on_holidays_and_on_its_own_days_off() -> None:
    h = hours(days_off=[date(2025, 3, 10)])
    assert h.slots(date(2025, 3, 4), CAL) == []  # Tuesday: no hours
    assert h.closed_reason(date(2025, 3, 4), CAL) == "офис не работает в этот день недели"
    assert h.slots(date(2025, 1, 6), CAL) == []  # Monday of the New Year holidays
    assert h.closed_reason(date(2025, 1, 6), CAL)
    assert h.slots(date(2025, 3, 10), CAL) == []
    assert h.closed_reason(date(2025, 3, 10), CAL) == "выходной день офиса"
    assert h.slots(date(2025, 3, 17), CAL)  # the next Monday is open


def test_a_working_saturday_by_decree_has_the_monday_hours() -> None:
    assert CAL.is_moved_working_day(date(2025, 11, 1))
    assert len(hours().slots(date(2025, 11, 1), CAL)) == 16
    assert hours().slots(date(2025, 11, 8), CAL) == []  # an ordinary Saturday


def test_is_slot() -> None:
    from datetime import datetime

    h = hours()
    assert h.is_slot(datetime(2025, 3, 3, 13, 0, tzinfo=MSK), CAL)
    assert not h.is_slot(datetime(2025, 3, 3, 12, 0, tzinfo=MSK), CAL)  # lunch
    assert not h.is_slot(datetime(2025, 3, 3, 8, 15, tzinfo=MSK), CAL)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("8-17", "нужен интервал вида 08:00-17:00"),
        ("17:00-08:00", "конец раньше начала"),
        ("25:00-26:00", "такого времени нет"),
        ("08:00-13:00, 12:00-17:00", "пересекаются"),
    ],
)
def test_bad_hours_are_refused_in_russian(text: str, error: str) -> None:
    with pytest.raises(HoursError, match=error):
        parse_hours(text, day="понедельник")


def test_empty_or_day_off_is_closed() -> None:
    assert parse_hours("") == () and parse_hours("выходной") == ()
    assert parse_hours("8.00 - 12.30") == ((time(8, 0), time(12, 30)),)
