"""Working hours of the hotline (REQ-T2, REQ-T3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_bridge.calendar_ru import ProductionCalendar
from ivr.schedule import DEFAULT_SCHEDULE, Interval, WeeklySchedule, WorkingHours

MSK = ZoneInfo("Europe/Moscow")
HOURS = WorkingHours()
FIVE_DAYS = WorkingHours.from_config("mon-fri 08:00-20:00")


def msk(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=MSK)


# -- parsing -------------------------------------------------------------------------


def test_default_is_monday_to_saturday_eight_to_eight() -> None:
    """REQ-T2: at least six days a week, 8:00–20:00."""
    week = WeeklySchedule.default()
    for weekday in range(6):
        assert week.intervals_for(weekday) == (Interval(8 * 60, 20 * 60),)
    assert week.intervals_for(6) == ()
    assert str(week) == DEFAULT_SCHEDULE == HOURS.schedule.to_string()
    assert HOURS.tz == "Europe/Moscow"


def test_compact_form_with_several_intervals_per_day() -> None:
    week = WeeklySchedule.parse("mon-fri 08:00-12:00,13:00-17:00; sat 09:00-15:00")
    assert week.intervals_for(0) == (Interval(480, 720), Interval(780, 1020))
    assert week.intervals_for(4) == week.intervals_for(0)
    assert week.intervals_for(5) == (Interval(540, 900),)
    assert week.intervals_for(6) == ()
    assert WeeklySchedule.parse(week.to_string()) == week


def test_compact_form_variants() -> None:
    assert WeeklySchedule.parse("daily 00:00-24:00").intervals_for(6) == (Interval(0, 1440),)
    wrap = WeeklySchedule.parse("fri-mon 10:00-14:00")
    assert [bool(wrap.intervals_for(d)) for d in range(7)] == [
        True,
        False,
        False,
        False,
        True,
        True,
        True,
    ]
    assert WeeklySchedule.parse("sat,sun 10:00-14:00").intervals_for(5) == (Interval(600, 840),)
    # A later clause replaces the days it names.
    override = WeeklySchedule.parse("mon-sat 08:00-20:00\nsat closed")
    assert override.intervals_for(5) == ()
    assert WeeklySchedule.parse("пн-пт 08:00-17:00").intervals_for(4) == (Interval(480, 1020),)
    assert WeeklySchedule.parse("") == WeeklySchedule.parse("sun closed")
    assert WeeklySchedule.parse("").to_string() == "daily closed"


def test_dict_form() -> None:
    week = WeeklySchedule.from_dict(
        {
            "mon-fri": "08:00-12:00,13:00-17:00",
            "sat": ["09:00-15:00"],
            "sun": None,
            "wed": [(time(10), time(0))],  # until midnight
        }
    )
    assert week.intervals_for(0) == (Interval(480, 720), Interval(780, 1020))
    assert week.intervals_for(2) == (Interval(600, 1440),)
    assert week.intervals_for(5) == (Interval(540, 900),)
    assert week.intervals_for(6) == ()
    from_config = WorkingHours.from_config({"mon-fri": "08:00-17:00"}, tz=ZoneInfo("Asia/Omsk"))
    assert from_config.tz == "Asia/Omsk"
    assert from_config.schedule.intervals_for(5) == ()


@pytest.mark.parametrize(
    "text",
    [
        "mon-fri 20:00-08:00",  # overnight: split it
        "mon 08:00-08:00",
        "mon 8-20",
        "mon 08:00-25:00",
        "mon 08:60-20:00",
        "mon 08:00-12:00,11:00-17:00",  # overlap
        "mon-fri",  # no hours
        "xyz 08:00-20:00",
    ],
)
def test_bad_schedules_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        WeeklySchedule.parse(text)


def test_bad_working_hours_settings() -> None:
    with pytest.raises(ValueError):
        WorkingHours(moved_workday_template=7)
    with pytest.raises(Exception):  # noqa: B017 - unknown zone
        WorkingHours(tz="Europe/Atlantis")


# -- edges of is_open (REQ-T2, REQ-T3) ---------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (msk(2025, 3, 17, 7, 59, 59), False),  # Monday before opening
        (msk(2025, 3, 17, 8, 0, 0), True),  # 8:00 is open
        (msk(2025, 3, 17, 19, 59, 59), True),
        (msk(2025, 3, 17, 20, 0, 0), False),  # 20:00 is closed
        (msk(2025, 3, 15, 12, 0), True),  # Saturday: six days a week
        (msk(2025, 3, 16, 12, 0), False),  # Sunday
        (msk(2025, 1, 7, 12, 0), False),  # Christmas (Tuesday)
        (msk(2025, 6, 12, 12, 0), False),  # Russia Day (Thursday)
        (msk(2025, 3, 8, 12, 0), False),  # Women's Day on a Saturday
        (msk(2024, 4, 29, 12, 0), False),  # transferred day off (Monday)
        (msk(2024, 4, 27, 12, 0), True),  # moved working Saturday
    ],
)
def test_is_open_edges(moment: datetime, open_: bool) -> None:
    assert HOURS.is_open(moment) is open_


def test_moved_working_day_opens_a_five_day_week() -> None:
    """A worked Saturday gets the hours of an ordinary working day."""
    assert not FIVE_DAYS.is_open(msk(2025, 3, 15, 12, 0))  # an ordinary Saturday
    for moved in (date(2024, 4, 27), date(2024, 11, 2), date(2024, 12, 28), date(2025, 11, 1)):
        day = datetime.combine(moved, time(0), tzinfo=MSK)
        assert not FIVE_DAYS.is_open(day + timedelta(hours=7, minutes=59))
        assert FIVE_DAYS.is_open(day + timedelta(hours=8))
        assert FIVE_DAYS.is_open(day + timedelta(hours=19, minutes=59))
        assert not FIVE_DAYS.is_open(day + timedelta(hours=20))


def test_moved_working_day_uses_the_template_weekday() -> None:
    sunday = date(2025, 6, 22)
    hours = WorkingHours.from_config(
        "mon 09:00-18:00; tue-fri 08:00-17:00",
        calendar=ProductionCalendar(extra_working_days=frozenset({sunday})),
    )
    assert hours.intervals_on(sunday) == (Interval(540, 1080),)
    assert hours.is_open(msk(2025, 6, 22, 9, 0))
    assert not hours.is_open(msk(2025, 6, 22, 8, 30))


def test_round_the_clock_assistant_ignores_holidays() -> None:
    always = WorkingHours.from_config("daily 00:00-24:00", closed_on_holidays=False)
    assert always.is_open(msk(2025, 1, 1, 3, 0))
    assert always.next_close(msk(2025, 1, 1, 3, 0)) is None
    usual = WorkingHours.from_config("daily 00:00-24:00")
    assert not usual.is_open(msk(2025, 1, 1, 3, 0))
    assert usual.next_close(msk(2024, 12, 27, 3, 0)) == msk(2024, 12, 30, 0, 0)


# -- time zones -------------------------------------------------------------------------


def test_local_time_is_read_in_the_configured_zone() -> None:
    assert not HOURS.is_open(datetime(2025, 3, 17, 4, 59, 59, tzinfo=UTC))
    assert HOURS.is_open(datetime(2025, 3, 17, 5, 0, tzinfo=UTC))  # 08:00 MSK
    assert not HOURS.is_open(datetime(2025, 3, 17, 17, 0, tzinfo=UTC))  # 20:00 MSK
    vladivostok = WorkingHours.from_config(DEFAULT_SCHEDULE, tz="Asia/Vladivostok")
    # Sunday 22:00 UTC is Monday 08:00 in Vladivostok.
    assert vladivostok.is_open(datetime(2025, 3, 16, 22, 0, tzinfo=UTC))
    assert not HOURS.is_open(datetime(2025, 3, 16, 22, 0, tzinfo=UTC))
    kaliningrad = WorkingHours(tz="Europe/Kaliningrad")
    assert not kaliningrad.is_open(datetime(2025, 3, 17, 5, 30, tzinfo=UTC))  # 07:30 there
    assert kaliningrad.is_open(datetime(2025, 3, 17, 6, 0, tzinfo=UTC))


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        HOURS.is_open(datetime(2025, 3, 17, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        HOURS.next_open(datetime(2025, 3, 17, 12, 0))


# -- next_open / next_close ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (msk(2025, 3, 17, 12, 0), msk(2025, 3, 17, 12, 0)),  # already open
        (msk(2025, 3, 17, 6, 0), msk(2025, 3, 17, 8, 0)),
        (msk(2025, 3, 17, 20, 0), msk(2025, 3, 18, 8, 0)),
        (msk(2025, 3, 15, 20, 0), msk(2025, 3, 17, 8, 0)),  # Saturday night -> Monday
        (msk(2024, 4, 28, 12, 0), msk(2024, 5, 2, 8, 0)),  # over the May holidays
        (msk(2024, 12, 28, 20, 0), msk(2025, 1, 9, 8, 0)),  # over the New Year holidays
    ],
)
def test_next_open(moment: datetime, expected: datetime) -> None:
    assert HOURS.next_open(moment) == expected


def test_next_open_with_a_lunch_break_and_next_close() -> None:
    hours = WorkingHours.from_config("mon-fri 08:00-12:00,13:00-17:00")
    assert hours.next_open(msk(2025, 3, 17, 12, 30)) == msk(2025, 3, 17, 13, 0)
    assert hours.next_close(msk(2025, 3, 17, 9, 0)) == msk(2025, 3, 17, 12, 0)
    assert hours.next_close(msk(2025, 3, 17, 12, 30)) == msk(2025, 3, 17, 12, 30)
    assert hours.next_open(datetime(2025, 3, 17, 10, 0, tzinfo=UTC)) == msk(2025, 3, 17, 13, 0)


def test_next_open_is_none_when_never_open() -> None:
    assert WorkingHours.from_config("").next_open(msk(2025, 3, 17, 12, 0)) is None


@given(
    st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 20), timezones=st.just(UTC)
    ),
    st.sampled_from(
        ["Europe/Moscow", "Asia/Yekaterinburg", "Asia/Kamchatka", "Europe/Kaliningrad"]
    ),
)
def test_next_open_is_the_first_open_moment(moment: datetime, tz: str) -> None:
    hours = WorkingHours(tz=tz)
    opens = hours.next_open(moment)
    assert opens is not None
    assert opens >= moment
    assert hours.is_open(opens)
    if opens > moment:
        assert not hours.is_open(opens - timedelta(microseconds=1))
        closes = hours.next_close(moment)
        assert closes == moment
    else:
        closes = hours.next_close(moment)
        assert closes is not None and closes > moment
        assert not hours.is_open(closes)
        assert hours.is_open(closes - timedelta(microseconds=1))
