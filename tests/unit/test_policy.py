"""Outbound call policy (REQ-O4, REQ-O7, REQ-O9 and the 230-FZ section)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinformer.policy import (
    CallPolicy,
    CampaignKind,
    Decision,
    NoticeCategory,
    NoticeVerdict,
    Refusal,
    check_outage_notice,
    normalize_phone,
)
from crm_bridge.calendar_ru import ProductionCalendar
from ivr.schedule import Interval

RUSSIAN_ZONES = [
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Omsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Yakutsk",
    "Asia/Vladivostok",
    "Asia/Magadan",
    "Asia/Kamchatka",
]
MSK = ZoneInfo("Europe/Moscow")
PHONE = "+7 (912) 345-67-89"
ON_FILE = ("8 912 345 67 89", "+7 495 000-00-00")
DEBT = CallPolicy.for_campaign(CampaignKind.DEBT)
NOTICE = CallPolicy.for_campaign(CampaignKind.PLANNED_OUTAGE)


def msk(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=MSK)


def check(
    policy: CallPolicy,
    now: datetime,
    history: list[datetime] | None = None,
    tz: str = "Europe/Moscow",
) -> Decision:
    return policy.check(now.astimezone(UTC), tz, history or [], PHONE, ON_FILE)


def next_allowed(
    policy: CallPolicy,
    now: datetime,
    history: list[datetime] | None = None,
    tz: str = "Europe/Moscow",
) -> datetime | None:
    return policy.next_allowed(now.astimezone(UTC), tz, history or [], PHONE, ON_FILE)


# -- windows (230-FZ art. 7) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "reason"),
    [
        (msk(2025, 3, 17, 7, 59, 59), Refusal.OUTSIDE_WINDOW),  # Monday
        (msk(2025, 3, 17, 8, 0), None),
        (msk(2025, 3, 17, 21, 59, 59), None),
        (msk(2025, 3, 17, 22, 0), Refusal.OUTSIDE_WINDOW),
        (msk(2025, 3, 15, 8, 59, 59), Refusal.HOLIDAY_WINDOW),  # Saturday
        (msk(2025, 3, 15, 9, 0), None),
        (msk(2025, 3, 16, 19, 59, 59), None),  # Sunday
        (msk(2025, 3, 16, 20, 0), Refusal.HOLIDAY_WINDOW),
        (msk(2025, 6, 12, 8, 30), Refusal.HOLIDAY_WINDOW),  # Russia Day, a Thursday
        (msk(2025, 6, 12, 21, 0), Refusal.HOLIDAY_WINDOW),
        (msk(2024, 4, 29, 8, 30), Refusal.HOLIDAY_WINDOW),  # transferred day off
        (msk(2025, 11, 1, 8, 30), None),  # moved working Saturday: working-day window
        (msk(2025, 11, 1, 21, 30), None),
    ],
)
def test_daily_windows(moment: datetime, reason: Refusal | None) -> None:
    decision = check(DEBT, moment)
    assert decision.allowed is (reason is None)
    assert bool(decision) is decision.allowed
    assert decision.reason is reason


def test_window_is_in_the_customers_time_zone() -> None:
    """Russia spans 11 zones: 08:00 Moscow is 17:00 on Kamchatka, 07:00 in Kaliningrad."""
    moment = msk(2025, 3, 17, 8, 0)
    assert check(DEBT, moment, tz="Europe/Moscow").allowed
    assert check(DEBT, moment, tz="Asia/Kamchatka").allowed
    assert check(DEBT, moment, tz="Europe/Kaliningrad").reason is Refusal.OUTSIDE_WINDOW
    late = msk(2025, 3, 17, 13, 0)  # 22:00 on Kamchatka (UTC+12)
    assert check(DEBT, late, tz="Asia/Kamchatka").reason is Refusal.OUTSIDE_WINDOW
    assert (
        DEBT.check(late, ZoneInfo("Asia/Kamchatka"), [], PHONE, ON_FILE).reason
        is Refusal.OUTSIDE_WINDOW
    )


def test_custom_windows_and_regional_holidays() -> None:
    sabantuy = date(2025, 6, 20)
    policy = CallPolicy(
        working_day_window=Interval.parse("09:00-18:00"),
        non_working_day_window=Interval.parse("10:00-16:00"),
        calendar=ProductionCalendar(extra_holidays=frozenset({sabantuy})),
    )
    assert check(policy, msk(2025, 6, 19, 8, 30)).reason is Refusal.OUTSIDE_WINDOW
    assert check(policy, msk(2025, 6, 20, 9, 30)).reason is Refusal.HOLIDAY_WINDOW
    assert check(policy, msk(2025, 6, 20, 10, 0)).allowed


# -- caps (230-FZ art. 7 part 3) -------------------------------------------------------------


def test_daily_cap() -> None:
    history = [msk(2025, 3, 17, 9, 0)]
    assert check(DEBT, msk(2025, 3, 17, 15, 0), history).reason is Refusal.DAILY_CAP
    assert check(DEBT, msk(2025, 3, 18, 8, 0), history).allowed


def test_weekly_cap_counts_the_calendar_week() -> None:
    history = [msk(2025, 3, 17, 9, 0), msk(2025, 3, 18, 9, 0)]  # Monday, Tuesday
    assert check(DEBT, msk(2025, 3, 21, 10, 0), history).reason is Refusal.WEEKLY_CAP
    assert check(DEBT, msk(2025, 3, 23, 10, 0), history).reason is Refusal.WEEKLY_CAP  # Sunday
    assert check(DEBT, msk(2025, 3, 24, 8, 0), history).allowed  # next Monday
    # Saturday and Sunday do not stop a call on the following Monday.
    weekend = [msk(2025, 3, 22, 10, 0), msk(2025, 3, 23, 10, 0)]
    assert check(DEBT, msk(2025, 3, 24, 8, 0), weekend).allowed


def test_monthly_cap_counts_the_calendar_month() -> None:
    # Two calls in each of four weeks of March 2025.
    days = [3, 4, 10, 11, 17, 18, 24, 25]
    history = [msk(2025, 3, d, 10, 0) for d in days]
    assert check(DEBT, msk(2025, 3, 31, 10, 0), history).reason is Refusal.MONTHLY_CAP
    assert check(DEBT, msk(2025, 4, 1, 8, 0), history).allowed


def test_later_calls_in_the_history_count_too() -> None:
    """A call already placed later the same day (e.g. a retry recorded first) counts."""
    assert (
        check(DEBT, msk(2025, 3, 17, 9, 0), [msk(2025, 3, 17, 15, 0)]).reason is Refusal.DAILY_CAP
    )


def test_days_are_counted_in_the_customers_time_zone() -> None:
    # 23:30 Moscow on Monday is already Tuesday 06:30 in Vladivostok.
    history = [msk(2025, 3, 17, 23, 30)]
    tuesday_vl = datetime(2025, 3, 18, 9, 0, tzinfo=ZoneInfo("Asia/Vladivostok"))
    assert check(DEBT, tuesday_vl, history, tz="Asia/Vladivostok").reason is Refusal.DAILY_CAP
    assert check(DEBT, tuesday_vl, history, tz="Europe/Moscow").reason is Refusal.OUTSIDE_WINDOW
    assert check(DEBT, msk(2025, 3, 18, 9, 0), history, tz="Europe/Moscow").allowed


def test_caps_are_switchable() -> None:
    history = [msk(2025, 3, 17, 9, 0)]
    relaxed = CallPolicy.for_campaign(CampaignKind.DEBT, enforce_230fz_caps=False)
    assert check(relaxed, msk(2025, 3, 17, 15, 0), history).allowed
    assert check(NOTICE, msk(2025, 3, 17, 15, 0), history).allowed
    strict_notice = CallPolicy.for_campaign("planned_outage", enforce_230fz_caps=True)
    assert check(strict_notice, msk(2025, 3, 17, 15, 0), history).reason is Refusal.DAILY_CAP
    # The windows apply to every campaign.
    assert check(NOTICE, msk(2025, 3, 17, 7, 0)).reason is Refusal.OUTSIDE_WINDOW


# -- numbers on file (REQ-O7) -----------------------------------------------------------------


def test_only_numbers_on_file() -> None:
    now = msk(2025, 3, 17, 12, 0).astimezone(UTC)
    assert DEBT.check(now, "Europe/Moscow", [], "89123456789", ON_FILE).allowed
    assert DEBT.check(now, "Europe/Moscow", [], "9123456789", ON_FILE).allowed
    refused = DEBT.check(now, "Europe/Moscow", [], "+7 912 345-67-80", ON_FILE)
    assert refused.reason is Refusal.NOT_ON_FILE
    assert DEBT.check(now, "Europe/Moscow", [], "", ["", "-"]).reason is Refusal.NOT_ON_FILE
    assert DEBT.next_allowed(now, "Europe/Moscow", [], "+7 912 345-67-80", ON_FILE) is None


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("+7 (912) 345-67-89", "79123456789"),
        ("8 912 345 67 89", "79123456789"),
        ("9123456789", "79123456789"),
        ("+375 29 123-45-67", "375291234567"),
        ("", ""),
    ],
)
def test_normalize_phone(raw: str, normal: str) -> None:
    assert normalize_phone(raw) == normal


# -- campaign start and end (REQ-O4) ------------------------------------------------------------


def test_campaign_start_and_end() -> None:
    start, end = msk(2025, 3, 17, 10, 0), msk(2025, 3, 19, 18, 0)
    policy = CallPolicy.for_campaign(CampaignKind.DEBT, start=start, end=end)
    assert check(policy, start - timedelta(seconds=1)).reason is Refusal.CAMPAIGN_NOT_STARTED
    assert check(policy, start).allowed
    assert check(policy, end - timedelta(seconds=1)).allowed
    assert check(policy, end).reason is Refusal.CAMPAIGN_ENDED
    assert next_allowed(policy, msk(2025, 3, 16, 12, 0)) == start.astimezone(UTC)
    assert next_allowed(policy, end) is None
    # Last call today, cap reached, and the campaign ends before tomorrow's window.
    short = CallPolicy.for_campaign(CampaignKind.DEBT, start=start, end=msk(2025, 3, 18, 7, 0))
    assert next_allowed(short, msk(2025, 3, 17, 12, 0), [msk(2025, 3, 17, 11, 0)]) is None


def test_campaign_times_must_be_aware_and_ordered() -> None:
    with pytest.raises(ValueError):
        CallPolicy(campaign_start=datetime(2025, 3, 17, 10, 0))
    with pytest.raises(ValueError):
        CallPolicy(campaign_start=msk(2025, 3, 17), campaign_end=msk(2025, 3, 17))
    with pytest.raises(ValueError):
        CallPolicy(daily_cap=-1)


def test_naive_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DEBT.check(datetime(2025, 3, 17, 12, 0), "Europe/Moscow", [], PHONE, ON_FILE)
    with pytest.raises(ValueError, match="timezone-aware"):
        DEBT.check(msk(2025, 3, 17, 12), "Europe/Moscow", [datetime(2025, 3, 17)], PHONE, ON_FILE)


# -- next_allowed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "history", "expected"),
    [
        (msk(2025, 3, 17, 12, 0), [], msk(2025, 3, 17, 12, 0)),  # allowed now
        (msk(2025, 3, 17, 7, 0), [], msk(2025, 3, 17, 8, 0)),
        (msk(2025, 3, 17, 22, 0), [], msk(2025, 3, 18, 8, 0)),
        (msk(2025, 3, 15, 21, 0), [], msk(2025, 3, 16, 9, 0)),  # Saturday -> Sunday 9:00
        (msk(2025, 3, 17, 12, 0), [msk(2025, 3, 17, 9, 0)], msk(2025, 3, 18, 8, 0)),  # daily
        (  # weekly cap: next Monday
            msk(2025, 3, 19, 12, 0),
            [msk(2025, 3, 17, 9, 0), msk(2025, 3, 18, 9, 0)],
            msk(2025, 3, 24, 8, 0),
        ),
        (  # weekly cap over the May holidays: Monday 5 May 2025 is a working day
            msk(2025, 4, 30, 12, 0),
            [msk(2025, 4, 28, 9, 0), msk(2025, 4, 29, 9, 0)],
            msk(2025, 5, 5, 8, 0),
        ),
        (  # monthly cap: the 1st of April 2025 is a Tuesday
            msk(2025, 3, 27, 12, 0),
            [msk(2025, 3, d, 10, 0) for d in (3, 4, 10, 11, 17, 18, 24, 25)],
            msk(2025, 4, 1, 8, 0),
        ),
        (
            msk(2024, 12, 31, 12, 0),
            [msk(2024, 12, 31, 9, 0)],
            msk(2025, 1, 1, 9, 0),
        ),  # holiday window
    ],
)
def test_next_allowed(now: datetime, history: list[datetime], expected: datetime) -> None:
    moment = next_allowed(DEBT, now, history)
    assert moment == expected
    assert moment is not None and moment.tzinfo == UTC
    assert check(DEBT, moment, history).allowed


def test_zero_cap_never_allows() -> None:
    never = CallPolicy(daily_cap=0)
    assert check(never, msk(2025, 3, 17, 12, 0)).reason is Refusal.DAILY_CAP
    assert next_allowed(never, msk(2025, 3, 17, 12, 0)) is None


# -- planned outage notices (REQ-O9) ------------------------------------------------------------------


def test_household_notice_ok() -> None:
    result = check_outage_notice(
        now=msk(2025, 3, 17, 10, 0),
        outage_start=msk(2025, 3, 20, 9, 0),
        decided_at=msk(2025, 3, 16, 15, 0),
        category=NoticeCategory.HOUSEHOLD,
    )
    assert result.verdict is NoticeVerdict.OK
    assert result.latest == msk(2025, 3, 19, 9, 0)


def test_household_notice_later_than_24_hours_before_is_refused() -> None:
    outage = msk(2025, 3, 20, 9, 0)
    decided = msk(2025, 3, 18, 10, 0)
    assert check_outage_notice(
        outage - timedelta(hours=24), outage, decided, "household"
    ).verdict in (
        NoticeVerdict.OK,
        NoticeVerdict.WARN,
    )
    late = check_outage_notice(
        outage - timedelta(hours=23, minutes=59), outage, decided, "household"
    )
    assert late.verdict is NoticeVerdict.REFUSE
    assert "24 h" in late.reasons[0]


def test_household_notice_more_than_three_days_after_decision_is_refused() -> None:
    decided = msk(2025, 3, 10, 15, 0)  # term: 11, 12, 13 March
    outage = msk(2025, 3, 25, 9, 0)
    on_time = check_outage_notice(msk(2025, 3, 13, 23, 59), outage, decided, "household")
    assert on_time.verdict is NoticeVerdict.WARN  # within 12 h of the limit
    assert check_outage_notice(msk(2025, 3, 12, 9, 0), outage, decided, "household").verdict is (
        NoticeVerdict.OK
    )
    late = check_outage_notice(msk(2025, 3, 14, 0, 0), outage, decided, "household")
    assert late.verdict is NoticeVerdict.REFUSE
    assert "3 days" in late.reasons[0]
    assert late.latest == msk(2025, 3, 14, 0, 0) - timedelta(microseconds=1)


def test_notice_near_the_24_hour_limit_warns() -> None:
    outage = msk(2025, 3, 20, 9, 0)
    result = check_outage_notice(
        msk(2025, 3, 19, 0, 0), outage, msk(2025, 3, 18, 8, 0), "household"
    )
    assert result.verdict is NoticeVerdict.WARN


def test_legal_entity_notice() -> None:
    outage = msk(2025, 3, 20, 9, 0)
    decided = msk(2025, 3, 1, 9, 0)  # the 3-day rule is for households only
    ok = check_outage_notice(msk(2025, 3, 15, 9, 0), outage, decided, NoticeCategory.LEGAL_ENTITY)
    assert ok.verdict is NoticeVerdict.OK
    short = check_outage_notice(msk(2025, 3, 19, 12, 0), outage, decided, "legal_entity")
    assert short.verdict is NoticeVerdict.WARN


def test_notice_after_the_outage_started_is_refused() -> None:
    outage = msk(2025, 3, 20, 9, 0)
    for category in NoticeCategory:
        assert check_outage_notice(outage, outage, msk(2025, 3, 19), category).verdict is (
            NoticeVerdict.REFUSE
        )


def test_notice_before_the_decision_is_an_error() -> None:
    with pytest.raises(ValueError):
        check_outage_notice(msk(2025, 3, 1), msk(2025, 3, 20), msk(2025, 3, 2), "household")
    with pytest.raises(ValueError):
        check_outage_notice(datetime(2025, 3, 3), msk(2025, 3, 20), msk(2025, 3, 2), "household")


# -- properties over all 11 Russian time zones -------------------------------------------------------

ORACLE = holidays.country_holidays("RU", years=range(2023, 2030))
"""Independent working-day oracle taken straight from the ``holidays`` package."""

zones = st.sampled_from(RUSSIAN_ZONES)
moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)
)


@st.composite
def histories(draw: st.DrawFn, around: datetime) -> list[datetime]:
    offsets = draw(
        st.lists(st.integers(min_value=-40 * 24 * 60, max_value=40 * 24 * 60), max_size=14)
    )
    # Cluster some calls close to ``around`` so that daily/weekly caps are hit.
    near = draw(st.lists(st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60), max_size=4))
    return [around + timedelta(minutes=m) for m in offsets + near]


def in_window(moment: datetime, tz: str) -> bool:
    local = moment.astimezone(ZoneInfo(tz))
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    if ORACLE.is_working_day(local.date()):
        return 8 * 3600 <= seconds < 22 * 3600
    return 9 * 3600 <= seconds < 20 * 3600


def within_caps(moment: datetime, history: list[datetime], tz: str) -> bool:
    zone = ZoneInfo(tz)
    day = moment.astimezone(zone).date()
    days = [h.astimezone(zone).date() for h in [*history, moment]]
    per_day = Counter(days)[day]
    per_week = sum(1 for d in days if d.isocalendar()[:2] == day.isocalendar()[:2])
    per_month = sum(1 for d in days if (d.year, d.month) == (day.year, day.month))
    return per_day <= 1 and per_week <= 2 and per_month <= 8


@settings(max_examples=300, deadline=None)
@given(tz=zones, now=moments, data=st.data())
def test_property_never_outside_the_window(tz: str, now: datetime, data: st.DataObject) -> None:
    """230-FZ: whatever the zone and moment, an allowed call is inside the local window."""
    history = data.draw(histories(now))
    decision = DEBT.check(now, tz, history, PHONE, ON_FILE)
    if decision.allowed:
        assert in_window(now, tz)
    if not in_window(now, tz):
        assert decision.reason in (Refusal.OUTSIDE_WINDOW, Refusal.HOLIDAY_WINDOW)
    notice = NOTICE.check(now, tz, history, PHONE, ON_FILE)
    assert notice.allowed == in_window(now, tz)


@settings(max_examples=300, deadline=None)
@given(tz=zones, now=moments, data=st.data())
def test_property_never_exceeds_the_caps(tz: str, now: datetime, data: st.DataObject) -> None:
    """230-FZ: an allowed call never takes a day, week or month over 1/2/8."""
    history = data.draw(histories(now))
    decision = DEBT.check(now, tz, history, PHONE, ON_FILE)
    if decision.allowed:
        assert within_caps(now, history, tz)
    elif decision.reason in (Refusal.DAILY_CAP, Refusal.WEEKLY_CAP, Refusal.MONTHLY_CAP):
        assert not within_caps(now, history, tz)
    # Inside the window, the only reason to refuse is a cap.
    if in_window(now, tz):
        assert decision.allowed == within_caps(now, history, tz)


@settings(max_examples=300, deadline=None)
@given(tz=zones, now=moments, data=st.data(), bounded=st.booleans())
def test_property_next_allowed_is_allowed_and_earliest(
    tz: str, now: datetime, data: st.DataObject, bounded: bool
) -> None:
    """The dialer's next moment is one check() allows, and nothing earlier is."""
    history = data.draw(histories(now))
    policy = DEBT
    if bounded:
        start = now + timedelta(minutes=data.draw(st.integers(-3000, 3000)))
        end = start + timedelta(minutes=data.draw(st.integers(1, 20000)))
        policy = CallPolicy.for_campaign(CampaignKind.DEBT, start=start, end=end)
    moment = policy.next_allowed(now, tz, history, PHONE, ON_FILE)
    if moment is None:
        assert bounded, "an unbounded campaign always gets a next moment"
        assert not policy.check(now, tz, history, PHONE, ON_FILE).allowed
        return
    assert moment >= now
    assert policy.check(moment, tz, history, PHONE, ON_FILE).allowed
    assert in_window(moment, tz)
    assert within_caps(moment, history, tz)
    just_before = moment - timedelta(microseconds=1)
    if just_before >= now:
        assert not policy.check(just_before, tz, history, PHONE, ON_FILE).allowed
    # Spot-check that no earlier moment in between is allowed.
    if moment > now:
        probe = now + (moment - now) * data.draw(st.floats(0, 1, exclude_max=True))
        if probe < moment:  # timedelta * float rounds to microseconds
            assert not policy.check(probe, tz, history, PHONE, ON_FILE).allowed
