"""Appeal deadlines (REQ-A5, REQ-A9, REQ-T6)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_bridge.calendar_ru import ProductionCalendar
from crm_bridge.deadlines import (
    AppealKind,
    Deadline,
    DeadlineError,
    DeadlineRules,
    ExtensionNotNotifiedError,
    Stage,
    compute_deadline,
    due_soon,
    is_overdue,
    remaining,
)

MSK = ZoneInfo("Europe/Moscow")
RULES = DeadlineRules()
CAL = ProductionCalendar()


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


def end_of(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=MSK)


# -- answer terms (REQ-A5) ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "days"),
    [
        (AppealKind.APPEAL, 10),
        (AppealKind.REQUEST, 10),
        (AppealKind.COMPLAINT, 20),
        (AppealKind.EMAIL_QUESTION, 5),
    ],
)
def test_answer_term_in_calendar_days(kind: AppealKind, days: int) -> None:
    """REQ-A5: the term starts the day after receipt and ends at the end of day N."""
    received = msk(2025, 3, 3, 10, 0)  # Monday
    deadline = compute_deadline(kind, received)
    assert deadline.term_days == days
    assert deadline.answer_due_date == date(2025, 3, 3) + timedelta(days=days)
    assert deadline.answer_by == end_of(date(2025, 3, 3) + timedelta(days=days))
    assert deadline.cap_date == date(2025, 3, 24)  # overall cap: 21 days
    assert not deadline.immediate
    assert deadline.extensions == ()


def test_kind_accepts_its_string_value() -> None:
    assert compute_deadline("complaint", msk(2025, 3, 3, 10, 0)).kind is AppealKind.COMPLAINT
    with pytest.raises(ValueError):
        compute_deadline("letter", msk(2025, 3, 3, 10, 0))


def test_days_are_counted_in_the_company_time_zone() -> None:
    """22:30 UTC on 3 March is 01:30 on 4 March in Moscow: day one is 5 March."""
    received = datetime(2025, 3, 3, 22, 30, tzinfo=UTC)
    deadline = compute_deadline(AppealKind.APPEAL, received)
    assert deadline.answer_due_date == date(2025, 3, 14)
    vladivostok = DeadlineRules(tz="Asia/Vladivostok")
    deadline = compute_deadline(
        AppealKind.APPEAL, datetime(2025, 3, 3, 14, 30, tzinfo=UTC), vladivostok
    )
    assert deadline.answer_due_date == date(2025, 3, 14)  # 00:30 on the 4th there
    assert deadline.answer_by == datetime(2025, 3, 15, tzinfo=ZoneInfo("Asia/Vladivostok"))


# -- registration and routing: 1 working day (REQ-A5) ------------------------------


@pytest.mark.parametrize(
    ("received", "route_day"),
    [
        (msk(2025, 3, 3, 10, 0), date(2025, 3, 4)),  # Monday -> Tuesday
        (msk(2025, 3, 7, 19, 0), date(2025, 3, 10)),  # Friday -> Monday
        (msk(2025, 3, 8, 12, 0), date(2025, 3, 10)),  # Saturday (a holiday) -> Monday
        (msk(2024, 4, 26, 12, 0), date(2024, 4, 27)),  # -> moved working Saturday
        (msk(2024, 4, 28, 12, 0), date(2024, 5, 2)),  # over the May holidays
        (msk(2024, 12, 28, 12, 0), date(2025, 1, 9)),  # over the New Year holidays
    ],
)
def test_routing_within_one_working_day(received: datetime, route_day: date) -> None:
    deadline = compute_deadline(AppealKind.APPEAL, received)
    assert deadline.routing_due == end_of(route_day)
    assert deadline.due(Stage.ROUTING) == deadline.routing_due
    assert CAL.is_working_day(route_day)


# -- extension (REQ-A5, REQ-A9) --------------------------------------------------------


def test_extension_requires_customer_notification() -> None:
    """REQ-A9: moving a deadline requires informing the customer."""
    deadline = compute_deadline(AppealKind.APPEAL, msk(2025, 3, 3, 10, 0))
    with pytest.raises(ExtensionNotNotifiedError, match="REQ-A9"):
        deadline.extend(5, at=msk(2025, 3, 10, 9, 0), customer_notified=False)
    assert issubclass(ExtensionNotNotifiedError, DeadlineError)


def test_extension_by_ten_days() -> None:
    deadline = compute_deadline(AppealKind.APPEAL, msk(2025, 3, 3, 10, 0))
    extended = deadline.extend(
        10, at=msk(2025, 3, 12, 9, 0), customer_notified=True, reason="request to the grid company"
    )
    assert extended.answer_due_date == date(2025, 3, 23)
    assert extended.answer_by == end_of(date(2025, 3, 23))
    assert extended.term_days == 20
    assert extended.extended_days == 10
    assert extended.extensions[0].customer_notified
    assert extended.extensions[0].reason == "request to the grid company"
    # The original is untouched (immutable values).
    assert deadline.answer_due_date == date(2025, 3, 13)
    # The routing deadline does not move.
    assert extended.routing_due == deadline.routing_due


def test_extensions_total_at_most_ten_days() -> None:
    deadline = compute_deadline(AppealKind.APPEAL, msk(2025, 3, 3, 10, 0))
    once = deadline.extend(4, at=msk(2025, 3, 10, 9, 0), customer_notified=True)
    twice = once.extend(6, at=msk(2025, 3, 15, 9, 0), customer_notified=True)
    assert twice.extended_days == 10
    assert len(twice.extensions) == 2
    with pytest.raises(DeadlineError, match="more than 10"):
        twice.extend(1, at=msk(2025, 3, 16, 9, 0), customer_notified=True)
    with pytest.raises(DeadlineError, match="more than 10"):
        deadline.extend(11, at=msk(2025, 3, 10, 9, 0), customer_notified=True)


def test_complaint_extension_is_bounded_by_the_overall_cap() -> None:
    """REQ-A5: a complaint has 20 days and the whole handling at most 21."""
    deadline = compute_deadline(AppealKind.COMPLAINT, msk(2025, 3, 3, 10, 0))
    one_day = deadline.extend(1, at=msk(2025, 3, 20, 9, 0), customer_notified=True)
    assert one_day.answer_due_date == date(2025, 3, 24) == deadline.cap_date
    with pytest.raises(DeadlineError, match="overall cap of 21"):
        deadline.extend(2, at=msk(2025, 3, 20, 9, 0), customer_notified=True)


def test_an_expired_term_cannot_be_extended() -> None:
    deadline = compute_deadline(AppealKind.APPEAL, msk(2025, 3, 3, 10, 0))
    with pytest.raises(DeadlineError, match="expired"):
        deadline.extend(5, at=msk(2025, 3, 14, 0, 0), customer_notified=True)
    with pytest.raises(ValueError):
        deadline.extend(0, at=msk(2025, 3, 10, 0, 0), customer_notified=True)


# -- health and safety: immediate (REQ-A5) ----------------------------------------------


def test_health_and_safety_complaint_is_immediate() -> None:
    received = msk(2025, 3, 8, 3, 0)  # a holiday night: no waiting for working days
    deadline = compute_deadline(AppealKind.HEALTH_SAFETY, received)
    assert deadline.immediate
    assert deadline.answer_by == received + timedelta(hours=1)
    assert deadline.routing_due == deadline.answer_by
    assert deadline.cap_date is None
    assert not is_overdue(received + timedelta(minutes=59), deadline)
    assert is_overdue(received + timedelta(hours=1), deadline)
    with pytest.raises(DeadlineError, match="immediately"):
        deadline.extend(1, at=received, customer_notified=True)
    strict = DeadlineRules(immediate_within=timedelta(0))
    assert compute_deadline(AppealKind.HEALTH_SAFETY, received, strict).answer_by == received


# -- answering machine: callback in working hours (REQ-T6) --------------------------------


def test_answering_machine_deadline_is_the_end_of_working_hours() -> None:
    received = msk(2025, 3, 3, 22, 0)  # Monday evening, after hours
    deadline = compute_deadline(AppealKind.ANSWERING_MACHINE, received)
    assert deadline.answer_due_date == date(2025, 3, 13)  # Thursday
    assert deadline.answer_by == msk(2025, 3, 13, 20, 0)


def test_answering_machine_deadline_on_a_weekend_moves_back_to_friday() -> None:
    received = msk(2025, 3, 6, 21, 0)  # Thursday; day 10 is Sunday 16 March
    deadline = compute_deadline(AppealKind.ANSWERING_MACHINE, received)
    assert deadline.answer_due_date == date(2025, 3, 16)
    assert deadline.answer_by == msk(2025, 3, 14, 20, 0)


def test_answering_machine_extension_also_ends_in_working_hours() -> None:
    deadline = compute_deadline(AppealKind.ANSWERING_MACHINE, msk(2025, 3, 3, 22, 0))
    extended = deadline.extend(10, at=msk(2025, 3, 10, 10, 0), customer_notified=True)
    assert extended.answer_due_date == date(2025, 3, 23)  # Sunday
    assert extended.answer_by == msk(2025, 3, 21, 20, 0)  # Friday


def test_answering_machine_over_the_new_year_holidays() -> None:
    """Left on 29 December 2023 at 21:00: every day of the 10-day term is a day off,
    so the earliest callback window is the deadline (9 January, 20:00)."""
    deadline = compute_deadline(AppealKind.ANSWERING_MACHINE, msk(2023, 12, 29, 21, 0))
    assert deadline.answer_due_date == date(2024, 1, 8)
    assert deadline.answer_by == msk(2024, 1, 9, 20, 0)


# -- roll to the next working day (Civil Code art. 193, optional) ---------------------------


def test_roll_to_working_day_is_off_by_default_and_switchable() -> None:
    received = msk(2025, 3, 5, 10, 0)  # day 10 is Saturday 15 March
    assert compute_deadline(AppealKind.APPEAL, received).answer_due_date == date(2025, 3, 15)
    rolled = compute_deadline(AppealKind.APPEAL, received, DeadlineRules(roll_to_working_day=True))
    assert rolled.answer_due_date == date(2025, 3, 17)


# -- due soon / overdue ------------------------------------------------------------------------


def test_due_soon_and_overdue_edges() -> None:
    deadline = compute_deadline(AppealKind.EMAIL_QUESTION, msk(2025, 3, 3, 10, 0))
    due = msk(2025, 3, 9, 0, 0)
    assert deadline.answer_by == due
    day = timedelta(days=1)
    assert not due_soon(due - day - timedelta(seconds=1), deadline, day)
    assert due_soon(due - day, deadline, day)
    assert due_soon(due - timedelta(microseconds=1), deadline, day)
    assert not is_overdue(due - timedelta(microseconds=1), deadline)
    assert is_overdue(due, deadline)
    assert not due_soon(due, deadline, day)  # overdue is not "due soon"
    assert remaining(due - day, deadline) == day
    assert remaining(due + day, deadline) == -day
    # Routing stage.
    assert deadline.routing_due == msk(2025, 3, 5, 0, 0)
    assert is_overdue(msk(2025, 3, 5, 0, 0), deadline, Stage.ROUTING)
    assert due_soon(msk(2025, 3, 4, 18, 0), deadline, timedelta(hours=6), Stage.ROUTING)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_deadline(AppealKind.APPEAL, datetime(2025, 3, 3, 10, 0))
    deadline = compute_deadline(AppealKind.APPEAL, msk(2025, 3, 3, 10, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        is_overdue(datetime(2025, 3, 3, 10, 0), deadline)
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline.extend(1, at=datetime(2025, 3, 4), customer_notified=True)


def test_rules_validation() -> None:
    with pytest.raises(ValueError):
        DeadlineRules(appeal_days=0)
    with pytest.raises(ValueError):
        DeadlineRules(callback_hours=(time(20), time(8)))
    with pytest.raises(Exception):  # noqa: B017 - ZoneInfoNotFoundError or ValueError
        DeadlineRules(tz="Europe/Atlantis")


# -- properties ---------------------------------------------------------------------------------

received_moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 11, 30), timezones=st.just(UTC)
)
term_kinds = st.sampled_from([k for k in AppealKind if k is not AppealKind.HEALTH_SAFETY])


@given(kind=term_kinds, received=received_moments)
def test_every_deadline_is_after_receipt_and_within_the_cap(
    kind: AppealKind, received: datetime
) -> None:
    """REQ-A5: answer after receipt, never beyond 21 days; routing on a working day."""
    deadline = compute_deadline(kind, received)
    local_day = received.astimezone(MSK).date()
    assert deadline.answer_by > received
    assert deadline.routing_due > received
    assert deadline.cap_date is not None
    assert deadline.answer_due_date <= deadline.cap_date == local_day + timedelta(days=21)
    assert CAL.is_working_day(deadline.routing_due.astimezone(MSK).date() - timedelta(days=1))


@given(
    kind=term_kinds,
    received=received_moments,
    steps=st.lists(st.integers(min_value=1, max_value=12), max_size=4),
    notified=st.booleans(),
)
def test_no_extension_chain_passes_the_limits(
    kind: AppealKind, received: datetime, steps: list[int], notified: bool
) -> None:
    """REQ-A5/A9: whatever extensions are attempted, the accepted ones were
    notified, total at most 10 days and stay within the 21-day cap."""
    deadline: Deadline = compute_deadline(kind, received)
    at = received + timedelta(hours=1)
    for days in steps:
        try:
            deadline = deadline.extend(days, at=at, customer_notified=notified)
        except DeadlineError:
            continue
    assert deadline.extended_days <= 10
    assert all(e.customer_notified for e in deadline.extensions)
    assert deadline.cap_date is not None
    assert deadline.answer_due_date <= deadline.cap_date
    if not notified:
        assert deadline.extensions == ()
