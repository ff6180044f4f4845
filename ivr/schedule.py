"""Working hours of the hotline operators (REQ-T2, REQ-T3).

Operators take calls at least six days a week from 8:00 to 20:00 (seed 001
4.1.3); seed 002 says five days in working hours, so the week is configurable.
Outside working hours the dialplan sends the caller to the answering machine
(REQ-T3); callbacks on those messages are made in working hours (REQ-T6).

:class:`WeeklySchedule` is the ordinary week: for each weekday a tuple of
half-open intervals ``[start, end)`` in local wall time (8:00 is open, 20:00 is
closed). It is written compactly as ``"mon-sat 08:00-20:00"`` or
``"mon-fri 08:00-12:00,13:00-17:00; sat 09:00-15:00"``, or as a dict
``{"mon-fri": "08:00-17:00", "sat": ["09:00-15:00"], "sun": []}``.

:class:`WorkingHours` combines the week with the production calendar and the
time zone:

* a public holiday or transferred day off is closed (unless
  ``closed_on_holidays`` is off, e.g. for a 24/7 interactive assistant);
* a moved working day (a worked Saturday or Sunday, «перенос») is open with
  the hours of an ordinary working day (``moved_workday_template``, Monday by
  default), even when the week closes on that weekday;
* any other day uses the week's hours for its weekday.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Final
from zoneinfo import ZoneInfo

from crm_bridge.calendar_ru import ProductionCalendar

__all__ = [
    "DEFAULT_SCHEDULE",
    "Interval",
    "WeeklySchedule",
    "WorkingHours",
]

DEFAULT_SCHEDULE: Final = "mon-sat 08:00-20:00"
"""REQ-T2: at least six days a week, 8:00–20:00 (seed 001 4.1.3)."""

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES: Final[Mapping[str, int]] = {
    **{name: i for i, name in enumerate(DAY_NAMES)},
    "пн": 0,
    "вт": 1,
    "ср": 2,
    "чт": 3,
    "пт": 4,
    "сб": 5,
    "вс": 6,
}
_MINUTES_PER_DAY: Final = 24 * 60
_SEARCH_LIMIT_DAYS: Final = 400
_TIME_RE: Final = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open interval of the day ``[start, end)`` in minutes after midnight.

    ``end`` may be 1440 (written ``24:00``): open until midnight.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= _MINUTES_PER_DAY:
            raise ValueError(
                f"bad interval {_fmt(self.start)}-{_fmt(self.end)}: need 00:00 <= start < end "
                "<= 24:00 (split an overnight interval over two days)"
            )

    @classmethod
    def parse(cls, text: str) -> Interval:
        """``"08:00-20:00"`` → ``Interval(480, 1200)``."""
        parts = text.strip().split("-")
        if len(parts) != 2:
            raise ValueError(f"bad interval {text!r}: expected HH:MM-HH:MM")
        return cls(_parse_minutes(parts[0]), _parse_minutes(parts[1]))

    @classmethod
    def of(cls, start: time, end: time) -> Interval:
        """From two times; ``end == time(0)`` means midnight at the end of the day."""
        end_min = end.hour * 60 + end.minute
        return cls(start.hour * 60 + start.minute, end_min or _MINUTES_PER_DAY)

    def contains(self, seconds: float) -> bool:
        """Is a time of day, in seconds after midnight, inside the interval?"""
        return self.start * 60 <= seconds < self.end * 60

    def __str__(self) -> str:
        return f"{_fmt(self.start)}-{_fmt(self.end)}"


DayIntervals = tuple[Interval, ...]


@dataclass(frozen=True)
class WeeklySchedule:
    """Opening intervals for each weekday (Monday = 0), sorted, non-overlapping."""

    days: tuple[
        DayIntervals,
        DayIntervals,
        DayIntervals,
        DayIntervals,
        DayIntervals,
        DayIntervals,
        DayIntervals,
    ]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError("a weekly schedule has exactly seven days")
        normalised = tuple(_normalise(day) for day in self.days)
        object.__setattr__(self, "days", normalised)

    # -- construction -------------------------------------------------------

    @classmethod
    def default(cls) -> WeeklySchedule:
        """Monday–Saturday 08:00–20:00 (REQ-T2)."""
        return cls.parse(DEFAULT_SCHEDULE)

    @classmethod
    def parse(cls, text: str) -> WeeklySchedule:
        """Parse the compact form.

        Clauses are separated by ``;`` or new lines; each clause is a day spec
        and a comma-separated list of intervals: ``"mon-fri 08:00-17:00"``,
        ``"sat,sun 10:00-14:00"``, ``"daily 00:00-24:00"``, ``"sun closed"``.
        Days not mentioned are closed; a later clause replaces the intervals of
        the days it names.
        """
        week: list[list[Interval]] = [[] for _ in range(7)]
        for raw in re.split(r"[;\n]", text):
            clause = raw.strip()
            if not clause:
                continue
            head, _, rest = clause.partition(" ")
            if not rest.strip():
                raise ValueError(f"no hours in {clause!r}: give intervals or 'closed'")
            days = _parse_days(head)
            intervals = _parse_intervals(rest)
            for d in days:
                week[d] = list(intervals)
        return cls._of(week)

    @classmethod
    def from_dict(
        cls, spec: Mapping[str, str | Sequence[str] | Sequence[tuple[time, time]] | None]
    ) -> WeeklySchedule:
        """Parse a dict form: keys are day specs (``"mon"``, ``"mon-fri"``,
        ``"sat,sun"``, ``"daily"``), values an interval string
        (``"08:00-12:00,13:00-17:00"``), a list of interval strings, a list of
        ``(time, time)`` pairs, or ``None`` / ``[]`` / ``"closed"``.
        """
        week: list[list[Interval]] = [[] for _ in range(7)]
        for key, value in spec.items():
            intervals: list[Interval]
            if value is None:
                intervals = []
            elif isinstance(value, str):
                intervals = _parse_intervals(value)
            else:
                intervals = []
                for item in value:
                    if isinstance(item, str):
                        intervals.extend(_parse_intervals(item))
                    else:
                        start, end = item
                        intervals.append(Interval.of(start, end))
            for d in _parse_days(key):
                week[d] = list(intervals)
        return cls._of(week)

    @classmethod
    def _of(cls, week: Sequence[Iterable[Interval]]) -> WeeklySchedule:
        d = [tuple(day) for day in week]
        return cls((d[0], d[1], d[2], d[3], d[4], d[5], d[6]))

    # -- queries ------------------------------------------------------------

    def intervals_for(self, weekday: int) -> DayIntervals:
        """Intervals of a weekday, Monday = 0."""
        return self.days[weekday]

    def to_string(self) -> str:
        """The compact form (round-trips through :meth:`parse`)."""
        clauses: list[str] = []
        i = 0
        while i < 7:
            j = i
            while j + 1 < 7 and self.days[j + 1] == self.days[i]:
                j += 1
            if self.days[i]:
                head = DAY_NAMES[i] if i == j else f"{DAY_NAMES[i]}-{DAY_NAMES[j]}"
                clauses.append(f"{head} {','.join(str(iv) for iv in self.days[i])}")
            i = j + 1
        return "; ".join(clauses) if clauses else "daily closed"

    def __str__(self) -> str:
        return self.to_string()


@dataclass(frozen=True)
class WorkingHours:
    """The weekly schedule + production calendar + time zone (REQ-T2, REQ-T3)."""

    schedule: WeeklySchedule = field(default_factory=WeeklySchedule.default)
    calendar: ProductionCalendar = field(default_factory=ProductionCalendar)
    tz: str = "Europe/Moscow"
    """IANA time zone of the call centre; local wall time is read in it."""
    closed_on_holidays: bool = True
    moved_workday_template: int = 0
    """Weekday (Monday = 0) whose hours a moved working day gets."""

    def __post_init__(self) -> None:
        ZoneInfo(self.tz)  # fail early on a misspelt zone
        if not 0 <= self.moved_workday_template <= 6:
            raise ValueError("moved_workday_template is a weekday number 0..6")

    @classmethod
    def from_config(
        cls,
        schedule: str
        | Mapping[str, str | Sequence[str] | None]
        | WeeklySchedule = DEFAULT_SCHEDULE,
        *,
        tz: str | ZoneInfo = "Europe/Moscow",
        calendar: ProductionCalendar | None = None,
        closed_on_holidays: bool = True,
    ) -> WorkingHours:
        """Build from settings: a compact string, a dict, or a schedule."""
        if isinstance(schedule, str):
            week = WeeklySchedule.parse(schedule)
        elif isinstance(schedule, WeeklySchedule):
            week = schedule
        else:
            week = WeeklySchedule.from_dict(schedule)
        return cls(
            schedule=week,
            calendar=calendar if calendar is not None else ProductionCalendar(),
            tz=tz.key if isinstance(tz, ZoneInfo) else tz,
            closed_on_holidays=closed_on_holidays,
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def intervals_on(self, day: date) -> DayIntervals:
        """Opening intervals of a local calendar day."""
        if self.closed_on_holidays and self.calendar.is_holiday(day):
            return ()
        if self.calendar.is_moved_working_day(day):
            return self.schedule.intervals_for(self.moved_workday_template)
        return self.schedule.intervals_for(day.weekday())

    def is_open(self, dt: datetime) -> bool:
        """Are operators taking calls at the aware instant ``dt``?"""
        local = self._local(dt)
        seconds = _seconds_of_day(local)
        return any(iv.contains(seconds) for iv in self.intervals_on(local.date()))

    def next_open(self, dt: datetime) -> datetime | None:
        """The earliest open moment at or after ``dt``, in the local zone.

        ``dt`` itself when open. None if nothing opens within about a year
        (a schedule with no hours at all).
        """
        local = self._local(dt)
        if self.is_open(local):
            return local
        seconds = _seconds_of_day(local)
        day = local.date()
        for offset in range(_SEARCH_LIMIT_DAYS):
            current = day + timedelta(days=offset)
            for iv in self.intervals_on(current):
                if offset > 0 or iv.start * 60 > seconds:
                    return self._at(current, iv.start)
        return None

    def next_close(self, dt: datetime) -> datetime | None:
        """When the current opening period ends (``dt`` itself if closed).

        Intervals that touch across midnight (``...-24:00`` then ``00:00-...``)
        count as one period. None if it never closes within about a year.
        """
        local = self._local(dt)
        if not self.is_open(local):
            return local
        seconds = _seconds_of_day(local)
        day = local.date()
        end: int | None = None
        for iv in self.intervals_on(day):
            if iv.contains(seconds):
                end = iv.end
        assert end is not None
        for offset in range(_SEARCH_LIMIT_DAYS):
            current = day + timedelta(days=offset)
            ivs = self.intervals_on(current)
            if offset > 0:
                if not ivs or ivs[0].start != 0:
                    return self._at(current, 0)
                end = ivs[0].end
            # Extend through intervals that touch the current end.
            for iv in ivs:
                if iv.start == end:
                    end = iv.end
            if end < _MINUTES_PER_DAY:
                return self._at(current, end)
        return None

    # -- internals ------------------------------------------------------------

    def _local(self, dt: datetime) -> datetime:
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError("working hours need a timezone-aware datetime")
        return dt.astimezone(self.zone)

    def _at(self, day: date, minutes: int) -> datetime:
        if minutes >= _MINUTES_PER_DAY:
            day, minutes = day + timedelta(days=1), minutes - _MINUTES_PER_DAY
        return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)


# -- parsing helpers -------------------------------------------------------------


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_minutes(text: str) -> int:
    m = _TIME_RE.match(text.strip())
    if m is None:
        raise ValueError(f"bad time {text!r}: expected HH:MM")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes != 0):
        raise ValueError(f"bad time {text!r}")
    return hours * 60 + minutes


def _parse_days(spec: str) -> list[int]:
    """``"mon-fri"``, ``"sat,sun"``, ``"daily"``, ``"fri-mon"`` (wraps) → weekdays."""
    spec = spec.strip().lower()
    if spec in ("daily", "all", "mon-sun", "ежедневно"):
        return list(range(7))
    days: list[int] = []
    for part in spec.split(","):
        first, sep, last = part.strip().partition("-")
        a = _day(first)
        if not sep:
            days.append(a)
            continue
        b = _day(last)
        days.extend((a + k) % 7 for k in range((b - a) % 7 + 1))
    return days


def _day(name: str) -> int:
    key = name.strip().lower()[:3]
    if key in _DAY_ALIASES:
        return _DAY_ALIASES[key]
    key = name.strip().lower()[:2]
    if key in _DAY_ALIASES:
        return _DAY_ALIASES[key]
    raise ValueError(f"unknown day {name!r}: use mon..sun")


def _parse_intervals(text: str) -> list[Interval]:
    text = text.strip()
    if text.lower() in ("", "closed", "off", "выходной"):
        return []
    return [Interval.parse(part) for part in text.split(",") if part.strip()]


def _normalise(intervals: Iterable[Interval]) -> DayIntervals:
    ordered = sorted(intervals)
    for a, b in pairwise(ordered):
        if b.start < a.end:
            raise ValueError(f"overlapping intervals {a} and {b}")
    return tuple(ordered)


def _seconds_of_day(local: datetime) -> float:
    return local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
