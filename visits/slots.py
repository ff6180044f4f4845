"""Slot arithmetic of an office's day (pure; REQ-T11).

An office is open on a day by its weekly hours (``"08:00-12:00, 13:00-17:00"``
per weekday), unless the production calendar makes the day a holiday
(:class:`crm_bridge.calendar_ru.ProductionCalendar`: public holidays and the
days off moved by decree) or the office has a day off of its own. A weekend
day the decree makes a working day (a «рабочая суббота») is open with the
office's Monday hours when its own weekday has none.

Each open interval is cut into slots of ``slot_minutes`` from its opening; a
slot that would end after the interval closes is not offered. A slot holds
``capacity`` visitors at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from crm_bridge.calendar_ru import ProductionCalendar

__all__ = [
    "WEEKDAYS_RU",
    "HoursError",
    "Interval",
    "OfficeHours",
    "format_hours",
    "parse_hours",
]

WEEKDAYS_RU: Final = (
    "понедельник",
    "вторник",
    "среда",
    "четверг",
    "пятница",
    "суббота",
    "воскресенье",
)

_RANGE = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*[-–—]\s*(\d{1,2})[:.](\d{2})\s*$")

Interval = tuple[time, time]


class HoursError(ValueError):
    """Opening hours that cannot be understood (the message is Russian)."""


def parse_hours(text: str, *, day: str = "") -> tuple[Interval, ...]:
    """``"08:00-12:00, 13:00-17:00"`` → the intervals; empty or «выходной»: closed."""
    raw = (text or "").strip().lower()
    where = f"{day}: " if day else ""
    if raw in ("", "-", "выходной", "нет"):
        return ()
    out: list[Interval] = []
    for part in raw.replace(";", ",").split(","):
        m = _RANGE.match(part)
        if m is None:
            raise HoursError(f"{where}«{part.strip()[:30]}» — нужен интервал вида 08:00-17:00")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise HoursError(f"{where}«{part.strip()}» — такого времени нет")
        start = time(h1, m1)
        end = time(23, 59) if h2 == 24 else time(h2, m2)
        if end <= start:
            raise HoursError(f"{where}«{part.strip()}» — конец раньше начала")
        if out and start < out[-1][1]:
            raise HoursError(f"{where}интервалы пересекаются или идут не по порядку")
        out.append((start, end))
    return tuple(out)


def format_hours(intervals: Iterable[Interval]) -> str:
    return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in intervals)


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """What decides an office's slots: its week, slot length, capacity, zone,
    its own days off, and the production calendar."""

    week: Mapping[int, tuple[Interval, ...]]
    """Weekday (Monday = 0) → opening intervals (missing: closed)."""
    slot_minutes: int
    capacity: int
    zone: ZoneInfo
    days_off: frozenset[date] = frozenset()

    @classmethod
    def from_stored(
        cls,
        hours: Mapping[str, str],
        *,
        slot_minutes: int,
        capacity: int,
        zone: str,
        days_off: Iterable[date] = (),
    ) -> OfficeHours:
        week = {int(k): parse_hours(v) for k, v in hours.items() if str(k).isdigit()}
        return cls(week, slot_minutes, capacity, ZoneInfo(zone), frozenset(days_off))

    def intervals(self, day: date, calendar: ProductionCalendar) -> tuple[Interval, ...]:
        """The day's opening intervals (empty: closed)."""
        if day in self.days_off or calendar.is_holiday(day):
            return ()
        own = self.week.get(day.weekday(), ())
        if not own and calendar.is_moved_working_day(day):
            return self.week.get(0, ())
        return own

    def closed_reason(self, day: date, calendar: ProductionCalendar) -> str | None:
        """Why the office does not receive on ``day`` (Russian), or None."""
        if day in self.days_off:
            return "выходной день офиса"
        if calendar.is_holiday(day):
            return calendar.holiday_name(day) or "нерабочий праздничный день"
        if not self.intervals(day, calendar):
            return "офис не работает в этот день недели"
        return None

    def slots(self, day: date, calendar: ProductionCalendar) -> list[tuple[datetime, datetime]]:
        """The day's slots as aware datetimes in the office's zone."""
        step = timedelta(minutes=self.slot_minutes)
        out: list[tuple[datetime, datetime]] = []
        for opens, closes in self.intervals(day, calendar):
            at = datetime.combine(day, opens, self.zone)
            end = datetime.combine(day, closes, self.zone)
            while at + step <= end:
                out.append((at, at + step))
                at += step
        return out

    def is_slot(self, starts_at: datetime, calendar: ProductionCalendar) -> bool:
        local = starts_at.astimezone(self.zone)
        return any(s == local for s, _ in self.slots(local.date(), calendar))
