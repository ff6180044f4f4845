"""The Russian production calendar (производственный календарь).

Used by the working hours of the hotline (REQ-T2, REQ-T3), by appeal deadlines
counted in working days (REQ-A5) and by the autoinformer's call windows, which
differ on working and non-working days (REQ-O4 and the 230-FZ section of the
requirements).

Sources, in order of precedence (the first that speaks decides):

1. ``extra_working_days`` / ``extra_holidays`` given to :class:`ProductionCalendar`
   (a regional holiday such as Tatarstan's Sabantuy, a company day off, a
   correction for a decree the installed ``holidays`` package does not know);
2. moved working days (рабочие субботы/воскресенья, «переносы»): the
   ``holidays`` package's ``weekend_workdays`` when it exposes them, united with
   :data:`MOVED_WORKING_DAYS`, a table copied from the government decrees;
3. public holidays and transferred days off: ``holidays.country_holidays("RU")``
   (non-working holidays of Labour Code art. 112 and the days off moved by the
   yearly decree), united with :data:`TRANSFERRED_DAYS_OFF`;
4. otherwise Monday–Friday work, Saturday and Sunday are days off.

The fallback tables cover 2016–2027, so the calendar stays right for 2024–2027
even with an old ``holidays`` release (``pyproject`` allows ``>=0.50``).

Pre-holiday shortened days (Labour Code art. 95) are not modelled: the hotline's
hours do not change on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final

import holidays

__all__ = [
    "MOVED_WORKING_DAYS",
    "TRANSFERRED_DAYS_OFF",
    "ProductionCalendar",
]

MOVED_WORKING_DAYS: Final[frozenset[date]] = frozenset(
    {
        # Weekend days that are working days by the yearly decree of the
        # Government of the Russian Federation on moving days off.
        date(2016, 2, 20),
        date(2018, 4, 28),
        date(2018, 6, 9),
        date(2018, 12, 29),
        date(2021, 2, 20),
        date(2022, 3, 5),
        date(2024, 4, 27),
        date(2024, 11, 2),
        date(2024, 12, 28),
        date(2025, 11, 1),
        # 2026 has no working Saturdays.
        date(2027, 2, 20),
    }
)
"""Moved working days (a Saturday or Sunday that is worked), 2016–2027."""

TRANSFERRED_DAYS_OFF: Final[frozenset[date]] = frozenset(
    {
        # 2024
        date(2024, 4, 29),
        date(2024, 4, 30),
        date(2024, 5, 10),
        date(2024, 12, 30),
        date(2024, 12, 31),
        # 2025
        date(2025, 5, 2),
        date(2025, 5, 8),
        date(2025, 6, 13),
        date(2025, 11, 3),
        date(2025, 12, 31),
        # 2026 (and holidays falling on a weekend, moved to the next weekday)
        date(2026, 1, 9),
        date(2026, 3, 9),
        date(2026, 5, 11),
        date(2026, 12, 31),
        # 2027 (and holidays falling on a weekend)
        date(2027, 2, 22),
        date(2027, 5, 3),
        date(2027, 5, 10),
        date(2027, 6, 14),
        date(2027, 11, 5),
        date(2027, 12, 31),
    }
)
"""Weekdays that are days off because a day off was moved onto them, 2024–2027.

Copied from the yearly government decrees on moving days off (the same
sources the ``holidays`` package cites); a test checks that both agree.
"""

_SEARCH_LIMIT_DAYS: Final = 3660
"""Safety bound for day-by-day searches (ten years)."""


@dataclass(frozen=True)
class _Year:
    """Immutable calendar data of one year (built once per calendar instance)."""

    holidays: dict[date, str]
    moved_working_days: frozenset[date]


@dataclass(frozen=True)
class ProductionCalendar:
    """The Russian production calendar with optional local corrections.

    A day is a *working day* (рабочий день) when it is worked by a five-day
    week employee: Monday–Friday unless a public holiday or a transferred day
    off, plus the moved working Saturdays/Sundays. A *holiday* is a public
    non-working holiday or a transferred day off (ordinary weekends are not
    holidays).

    Instances are immutable as far as callers can tell; the per-year data is
    computed lazily and cached on the instance.
    """

    extra_holidays: frozenset[date] = frozenset()
    """Additional non-working days (regional holidays, company days off)."""
    extra_working_days: frozenset[date] = frozenset()
    """Days forced to be working days (e.g. a decree unknown to ``holidays``)."""
    language: str = "ru"
    """Language of :meth:`holiday_name` (``holidays`` supports ru, en_US)."""
    _years: dict[int, _Year] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        # Accept any iterable of dates from configuration code.
        object.__setattr__(self, "extra_holidays", frozenset(self.extra_holidays))
        object.__setattr__(self, "extra_working_days", frozenset(self.extra_working_days))
        both = self.extra_holidays & self.extra_working_days
        if both:
            days = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"days configured both as holiday and as working day: {days}")

    # -- per-year data ------------------------------------------------------

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        # Substitutions may cross a year boundary (a January weekend day moved
        # into the previous December), so the neighbours are populated too.
        ru = holidays.country_holidays(
            "RU", years=(year - 1, year, year + 1), language=self.language
        )
        days = {d: name for d, name in ru.items() if d.year == year}
        for d in TRANSFERRED_DAYS_OFF:
            if d.year == year and d not in days:
                days[d] = "Выходной (перенос)" if self.language == "ru" else "Day off (moved)"
        package_workdays: set[date] = set(getattr(ru, "weekend_workdays", set()))
        moved = frozenset(
            d for d in package_workdays | MOVED_WORKING_DAYS if d.year == year and d not in days
        )
        data = _Year(holidays=days, moved_working_days=moved)
        self._years[year] = data
        return data

    # -- single days ----------------------------------------------------------

    def is_holiday(self, d: date) -> bool:
        """True for a public holiday or transferred day off (not a plain weekend).

        ``extra_holidays`` count as holidays; ``extra_working_days`` never do.
        """
        d = _as_date(d)
        if d in self.extra_working_days:
            return False
        if d in self.extra_holidays:
            return True
        return d in self._year(d.year).holidays

    def is_moved_working_day(self, d: date) -> bool:
        """True for a Saturday or Sunday that is a working day («перенос»).

        Includes weekend days listed in ``extra_working_days``.
        """
        d = _as_date(d)
        if d.weekday() < 5:
            return False
        if d in self.extra_working_days:
            return True
        if d in self.extra_holidays:
            return False
        return d in self._year(d.year).moved_working_days

    def is_working_day(self, d: date) -> bool:
        """True when ``d`` is a working day of the five-day week."""
        d = _as_date(d)
        if d in self.extra_working_days:
            return True
        if self.is_holiday(d):
            return False
        if d.weekday() >= 5:
            return self.is_moved_working_day(d)
        return True

    def holiday_name(self, d: date) -> str | None:
        """Name of the holiday on ``d`` (in :attr:`language`), or None."""
        d = _as_date(d)
        if not self.is_holiday(d):
            return None
        name = self._year(d.year).holidays.get(d)
        if name is not None:
            return name
        return "Дополнительный выходной" if self.language == "ru" else "Additional day off"

    def holidays_in(self, year: int) -> list[date]:
        """All holidays (as :meth:`is_holiday` defines them) of ``year``, sorted."""
        days = set(self._year(year).holidays) | {d for d in self.extra_holidays if d.year == year}
        return sorted(d for d in days if self.is_holiday(d))

    # -- arithmetic -----------------------------------------------------------

    def add_working_days(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (before it for negative ``n``).

        ``d`` itself is never counted, so ``add_working_days(friday, 1)`` is the
        next Monday and ``add_working_days(saturday, 1)`` is Monday too (on an
        ordinary week). ``n == 0`` returns ``d`` unchanged, even on a day off.
        Inverse of :meth:`working_days_between`:
        ``working_days_between(d, add_working_days(d, n)) == n`` for
        ``n >= 0``, and for negative ``n`` when ``d`` is a working day.
        """
        d = _as_date(d)
        if n == 0:
            return d
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        current = d
        for _ in range(remaining * 7 + _SEARCH_LIMIT_DAYS):
            current += step
            if self.is_working_day(current):
                remaining -= 1
                if remaining == 0:
                    return current
        raise ValueError(f"no {n} working days from {d} within the search limit")

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in the half-open range ``(a, b]``; negative if ``b < a``.

        That is how many working days elapse after ``a`` up to and including
        ``b``: from Friday to the next Monday is 1, from a day to itself 0.
        """
        a, b = _as_date(a), _as_date(b)
        if b < a:
            return -self.working_days_between(b, a)
        return sum(1 for day in _days(a + timedelta(days=1), b) if self.is_working_day(day))

    def next_working_day(self, d: date, *, include_today: bool = True) -> date:
        """``d`` if it is a working day (and ``include_today``), else the next one."""
        d = _as_date(d)
        if include_today and self.is_working_day(d):
            return d
        return self.add_working_days(d, 1)

    def next_working_moment(
        self, dt: datetime, hours: tuple[time, time] = (time(8), time(20))
    ) -> datetime:
        """Earliest moment at or after ``dt`` inside working hours of a working day.

        ``hours`` is the half-open daily interval ``[start, end)`` in the wall
        time of ``dt`` (its ``tzinfo`` is kept; naive stays naive). Used for
        callbacks on answering-machine messages, which are made in working
        hours (REQ-T6). For a weekly schedule with several intervals per day
        use ``ivr.schedule.WorkingHours`` instead.
        """
        start, end = hours
        if not start < end:
            raise ValueError(f"working hours must satisfy start < end, got {start}-{end}")
        day = dt.date()
        if self.is_working_day(day):
            wall = dt.time().replace(tzinfo=None)
            if start <= wall < end:
                return dt
            if wall < start:
                return _at(dt, day, start)
        return _at(dt, self.next_working_day(day, include_today=False), start)


def _as_date(d: date) -> date:
    """A datetime is reduced to its own (wall-clock) date; a datetime never
    equals a date, so set look-ups with it would silently miss."""
    if isinstance(d, datetime):
        return d.date()
    return d


def _days(first: date, last: date) -> Iterator[date]:
    current = first
    while current <= last:
        yield current
        current += timedelta(days=1)


def _at(like: datetime, day: date, wall: time) -> datetime:
    return datetime.combine(day, wall, tzinfo=like.tzinfo)
