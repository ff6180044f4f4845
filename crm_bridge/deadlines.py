"""Appeal deadlines (REQ-A5, REQ-A9, REQ-T6).

What the seeds say, and how it is counted here
----------------------------------------------
============================  =====================  ===========================
Stage / kind                  Seed wording           Counted as
============================  =====================  ===========================
registration and routing      «не более 1 рабочего   1 working day (production
                              дня» (001 4.3.7)       calendar)
appeal / request answer       «не более 10 дней»     10 calendar days
                              (001 4.2.11, 4.3.7,
                              002 §2 4)
extension                     «не более 10 дней»     up to 10 calendar days,
                                                     customer informed (REQ-A9)
complaint answer              «не более 20 дней»     20 calendar days
e-mail question               «не более 5 дней для   5 calendar days
                              вопроса, обращения»
answering-machine callback    «не более 10 дней»,    10 calendar days, and the
                              calls «в рабочее       deadline is the end of the
                              время» (4.2.10-11)     last working hours before it
overall                       «не более 21 дня»      21 calendar days from
                              (002 §2 4, §3 col.8)   receipt, extension included
health and safety complaint   «рассмотрены           ``immediate_within`` after
                              немедленно» (003)      receipt (default 1 hour)
============================  =====================  ===========================

Where a seed says «рабочего дня» the term is in working days; where it says
only «дней» it is in calendar days. Seed 002 §3 2.3 mentions "10 working days"
for drafting a complaint answer, but the binding figures of both standards'
tables are in plain days, and the 21-day overall cap (1 + 10 + 10) only adds up
with calendar days; calendar days are also the stricter reading, so the system
never promises more time than the standard allows. The law on citizens'
appeals (59-FZ, 30 days) is looser than every figure here.

A term of N days starts the day after receipt (Civil Code art. 191) and ends at
the end of day N in the company's time zone; :attr:`Deadline.answer_by` is the
exclusive instant (midnight after the last day). The Civil Code art. 193 rule
(a term ending on a non-working day moves to the next working day) is *off* by
default and can be switched on with ``DeadlineRules.roll_to_working_day``.

The "immediate" handling of health and safety complaints is not quantified by
seed 003; ``DeadlineRules.immediate_within`` (default 1 hour) is this
project's choice and is configurable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from crm_bridge.calendar_ru import ProductionCalendar

__all__ = [
    "AppealKind",
    "Deadline",
    "DeadlineError",
    "DeadlineRules",
    "Extension",
    "ExtensionNotNotifiedError",
    "Stage",
    "compute_deadline",
    "due_soon",
    "is_overdue",
    "remaining",
]


class AppealKind(StrEnum):
    """What was received; decides the answer term (REQ-A5)."""

    APPEAL = "appeal"
    """Обращение (phone, written, in person): answer within 10 days."""
    REQUEST = "request"
    """Запрос / service request: answer within 10 days, like an appeal."""
    COMPLAINT = "complaint"
    """Жалоба, whatever the channel: answer within 20 days."""
    EMAIL_QUESTION = "email_question"
    """A question or appeal by e-mail / web reception: answer within 5 days."""
    ANSWERING_MACHINE = "answering_machine"
    """Message on the answering machine: callback in working hours within
    10 days (REQ-T3, REQ-T6)."""
    HEALTH_SAFETY = "health_safety"
    """Complaint touching health and safety: handled immediately (seed 003)."""


class Stage(StrEnum):
    """Which deadline of an appeal a question is about."""

    ROUTING = "routing"
    """Registration, classification and passing to a specialist."""
    ANSWER = "answer"
    """The answer to the customer (current term, extension included)."""


class DeadlineError(ValueError):
    """A deadline operation that the standards do not allow."""


class ExtensionNotNotifiedError(DeadlineError):
    """Extension without informing the customer (REQ-A9)."""


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


@dataclass(frozen=True)
class DeadlineRules:
    """The figures of REQ-A5 / REQ-T6, overridable per deployment."""

    tz: str = "Europe/Moscow"
    """IANA name of the company's time zone, where days are counted."""
    calendar: ProductionCalendar = field(default_factory=ProductionCalendar)
    routing_working_days: int = 1
    appeal_days: int = 10
    complaint_days: int = 20
    email_question_days: int = 5
    answering_machine_days: int = 10
    max_extension_days: int = 10
    overall_cap_days: int = 21
    immediate_within: timedelta = timedelta(hours=1)
    callback_hours: tuple[time, time] = (time(8), time(20))
    """Working hours for answering-machine callbacks (REQ-T2, REQ-T6)."""
    roll_to_working_day: bool = False
    """Move a term ending on a non-working day to the next working day."""

    def __post_init__(self) -> None:
        ZoneInfo(self.tz)  # fail early on a misspelt zone
        for name in (
            "routing_working_days",
            "appeal_days",
            "complaint_days",
            "email_question_days",
            "answering_machine_days",
            "overall_cap_days",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_extension_days < 0:
            raise ValueError("max_extension_days must not be negative")
        if self.immediate_within < timedelta(0):
            raise ValueError("immediate_within must not be negative")
        start, end = self.callback_hours
        if not start < end:
            raise ValueError("callback_hours must satisfy start < end")

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.tz)

    def answer_days(self, kind: AppealKind) -> int | None:
        """Base answer term in calendar days; None for immediate handling."""
        match kind:
            case AppealKind.APPEAL | AppealKind.REQUEST:
                return self.appeal_days
            case AppealKind.COMPLAINT:
                return self.complaint_days
            case AppealKind.EMAIL_QUESTION:
                return self.email_question_days
            case AppealKind.ANSWERING_MACHINE:
                return self.answering_machine_days
            case AppealKind.HEALTH_SAFETY:
                return None
        raise ValueError(f"unknown appeal kind {kind!r}")


@dataclass(frozen=True)
class Extension:
    """One recorded extension of the answer term (REQ-A5, REQ-A9)."""

    days: int
    at: datetime
    customer_notified: bool
    reason: str = ""


@dataclass(frozen=True)
class Deadline:
    """The deadlines of one appeal. Build with :func:`compute_deadline`."""

    kind: AppealKind
    received_at: datetime
    routing_due: datetime
    """Exclusive instant by which the appeal is registered and routed."""
    answer_by: datetime
    """Exclusive instant by which the answer is given (extension included)."""
    answer_due_date: date
    """Last local day of the answer term (extension included)."""
    cap_date: date | None
    """Last local day allowed by the overall cap (None when immediate)."""
    term_days: int | None
    """Current answer term in calendar days (None when immediate)."""
    extensions: tuple[Extension, ...] = ()
    rules: DeadlineRules = field(default_factory=DeadlineRules, repr=False, compare=False)

    @property
    def immediate(self) -> bool:
        """Health and safety complaint: handled at once, never extended."""
        return self.term_days is None

    @property
    def extended_days(self) -> int:
        return sum(e.days for e in self.extensions)

    def due(self, stage: Stage = Stage.ANSWER) -> datetime:
        return self.routing_due if stage is Stage.ROUTING else self.answer_by

    def extend(
        self, days: int, *, at: datetime, customer_notified: bool, reason: str = ""
    ) -> Deadline:
        """A new :class:`Deadline` with the answer term extended by ``days``.

        Raises :class:`ExtensionNotNotifiedError` unless the customer has been
        told (REQ-A9), and :class:`DeadlineError` when the appeal is handled
        immediately, the term has already expired at ``at``, the extensions
        would total more than ``max_extension_days`` (10) or the term would pass
        the overall cap (21 days, REQ-A5).
        """
        _require_aware(at, "at")
        if self.immediate:
            raise DeadlineError("health and safety complaints are handled immediately")
        if days < 1:
            raise ValueError("an extension is at least one day")
        if not customer_notified:
            raise ExtensionNotNotifiedError(
                "the customer must be informed before the deadline is moved (REQ-A9)"
            )
        if at >= self.answer_by:
            raise DeadlineError("the answer term has already expired; it cannot be extended")
        rules = self.rules
        if self.extended_days + days > rules.max_extension_days:
            raise DeadlineError(
                f"extensions would total {self.extended_days + days} days, "
                f"more than {rules.max_extension_days}"
            )
        assert self.term_days is not None
        term = self.term_days + days
        if term > rules.overall_cap_days:
            raise DeadlineError(
                f"the term would be {term} days, beyond the overall cap of "
                f"{rules.overall_cap_days} days"
            )
        due_date, answer_by = _answer_term(self.kind, self.received_at, term, rules)
        return replace(
            self,
            answer_by=answer_by,
            answer_due_date=due_date,
            term_days=term,
            extensions=(*self.extensions, Extension(days, at, customer_notified, reason)),
        )


def compute_deadline(
    kind: AppealKind | str, received_at: datetime, rules: DeadlineRules | None = None
) -> Deadline:
    """Deadlines of an appeal of ``kind`` received at ``received_at`` (aware)."""
    _require_aware(received_at, "received_at")
    kind = AppealKind(kind)
    rules = rules if rules is not None else DeadlineRules()
    days = rules.answer_days(kind)
    if days is None:
        due = received_at + rules.immediate_within
        return Deadline(
            kind=kind,
            received_at=received_at,
            routing_due=due,
            answer_by=due,
            answer_due_date=due.astimezone(rules.zone).date(),
            cap_date=None,
            term_days=None,
            rules=rules,
        )
    local_day = received_at.astimezone(rules.zone).date()
    routing_day = rules.calendar.add_working_days(local_day, rules.routing_working_days)
    due_date, answer_by = _answer_term(kind, received_at, days, rules)
    cap_date = _roll(local_day + timedelta(days=rules.overall_cap_days), rules)
    return Deadline(
        kind=kind,
        received_at=received_at,
        routing_due=_end_of(routing_day, rules.zone),
        answer_by=answer_by,
        answer_due_date=due_date,
        cap_date=cap_date,
        term_days=days,
        rules=rules,
    )


def is_overdue(now: datetime, deadline: Deadline, stage: Stage = Stage.ANSWER) -> bool:
    """True once ``now`` has reached the (exclusive) deadline of ``stage``."""
    _require_aware(now, "now")
    return now >= deadline.due(stage)


def due_soon(
    now: datetime, deadline: Deadline, within: timedelta, stage: Stage = Stage.ANSWER
) -> bool:
    """True when the deadline of ``stage`` is not yet reached but is ``within`` away."""
    _require_aware(now, "now")
    due = deadline.due(stage)
    return now < due and due - now <= within


def remaining(now: datetime, deadline: Deadline, stage: Stage = Stage.ANSWER) -> timedelta:
    """Time left until the deadline of ``stage`` (negative when overdue)."""
    _require_aware(now, "now")
    return deadline.due(stage) - now


# -- internals ----------------------------------------------------------------


def _require_aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _end_of(day: date, zone: ZoneInfo) -> datetime:
    """The exclusive end of a local day: midnight that starts the next one."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def _roll(day: date, rules: DeadlineRules) -> date:
    if rules.roll_to_working_day:
        return rules.calendar.next_working_day(day)
    return day


def _answer_term(
    kind: AppealKind, received_at: datetime, term_days: int, rules: DeadlineRules
) -> tuple[date, datetime]:
    """Last local day and exclusive instant of an answer term of ``term_days``."""
    zone = rules.zone
    local_day = received_at.astimezone(zone).date()
    due_date = _roll(local_day + timedelta(days=term_days), rules)
    if kind is not AppealKind.ANSWERING_MACHINE:
        return due_date, _end_of(due_date, zone)
    return due_date, _last_callback_end(received_at, due_date, rules)


def _last_callback_end(received_at: datetime, due_date: date, rules: DeadlineRules) -> datetime:
    """End of the last callback window (working hours of a working day) that
    closes after ``received_at`` and on or before ``due_date`` (REQ-T6).

    When the whole term is non-working (a message left on the evening before
    the New Year holidays with a 10-day term), there is no such window; the
    end of the first window after receipt is used instead — the earliest a
    callback in working hours can be made.
    """
    zone = rules.zone
    start, end = rules.callback_hours
    day = due_date
    first_day = received_at.astimezone(zone).date()
    while day >= first_day:
        if rules.calendar.is_working_day(day):
            closes = datetime.combine(day, end, tzinfo=zone)
            if closes > received_at:
                return closes
        day -= timedelta(days=1)
    opens = rules.calendar.next_working_moment(received_at.astimezone(zone), (start, end))
    return datetime.combine(opens.date(), end, tzinfo=zone)
