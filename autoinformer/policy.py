"""Outbound call policy of the autoinformer (REQ-O4, REQ-O7, REQ-O9, 230-FZ).

:class:`CallPolicy` decides whether a call to one customer may be placed at a
given instant, and when the earliest allowed instant is (the dialer schedules
with :meth:`CallPolicy.next_allowed`).

Rules, in the order they are checked:

* **Numbers on file** (REQ-O7): only numbers recorded in the customer's
  contract are called. Numbers are compared after normalisation (digits only,
  a Russian ``8``/``+7``/10-digit number becomes ``7XXXXXXXXXX``).
* **Campaign start and end** (REQ-O4): nothing before the start; nothing at or
  after the end.
* **Daily window in the customer's local time** (Russia has 11 time zones):
  on working days of the production calendar ``[08:00, 22:00)``, on weekends,
  holidays and transferred days off ``[09:00, 20:00)`` — the 230-FZ art. 7
  windows, used by default for every campaign as a courtesy. A moved working
  Saturday is a working day and gets the working-day window.
* **Caps per debtor** (230-FZ art. 7 part 3): at most 1 call per day, 2 per
  week, 8 per month. On by default for debt campaigns
  (:meth:`CallPolicy.for_campaign` with :attr:`CampaignKind.DEBT`), off for
  other campaigns, switchable either way.

How periods are counted: a day, a week and a month are the *calendar* day,
week (Monday–Sunday) and month in the customer's time zone — the reading of
230-FZ used by the FSSP. Every call in ``history`` that falls into the same
calendar period as the candidate instant counts, whether it lies before or
after it, so an allowed call never takes any period over its cap.

What ``history`` holds is the caller's decision: 230-FZ caps "direct
interactions", i.e. calls in which the debtor was reached; pass the answered
calls of this debtor (all contracts, all campaigns) for that reading, or every
attempt for the strictest one.

The planned-outage notice check (REQ-O9) is :func:`check_outage_notice`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from crm_bridge.calendar_ru import ProductionCalendar
from ivr.schedule import Interval

__all__ = [
    "DEBT_CAPS",
    "NON_WORKING_DAY_WINDOW",
    "WORKING_DAY_WINDOW",
    "CallPolicy",
    "CampaignKind",
    "Decision",
    "NoticeCategory",
    "NoticeVerdict",
    "OutageNoticeCheck",
    "Refusal",
    "check_outage_notice",
    "normalize_phone",
]

WORKING_DAY_WINDOW: Final = Interval(8 * 60, 22 * 60)
"""230-FZ: working days 08:00–22:00 local time (22:00 itself is outside)."""
NON_WORKING_DAY_WINDOW: Final = Interval(9 * 60, 20 * 60)
"""230-FZ: weekends and non-working holidays 09:00–20:00 local time."""
DEBT_CAPS: Final = (1, 2, 8)
"""230-FZ: calls per day, per week, per month."""

_MAX_STEPS: Final = 5000
"""Safety bound for :meth:`CallPolicy.next_allowed` (each step moves at least
to the next window start or day boundary)."""


class CampaignKind(StrEnum):
    """What a campaign is about (REQ-O1)."""

    DEBT = "debt"
    PAYMENT_REMINDER = "payment_reminder"
    TARIFF_CHANGE = "tariff_change"
    ACTION_REMINDER = "action_reminder"
    PLANNED_OUTAGE = "planned_outage"


class Refusal(StrEnum):
    """Why a call may not be placed now."""

    OUTSIDE_WINDOW = "outside_window"
    """Outside the working-day window in the customer's local time."""
    HOLIDAY_WINDOW = "holiday_window"
    """Outside the weekend/holiday window in the customer's local time."""
    DAILY_CAP = "daily_cap"
    WEEKLY_CAP = "weekly_cap"
    MONTHLY_CAP = "monthly_cap"
    NOT_ON_FILE = "not_on_file"
    """The number is not among the contract's numbers (REQ-O7)."""
    CAMPAIGN_NOT_STARTED = "campaign_not_started"
    CAMPAIGN_ENDED = "campaign_ended"


@dataclass(frozen=True)
class Decision:
    """Result of :meth:`CallPolicy.check`; truthy when the call is allowed."""

    allowed: bool
    reason: Refusal | None = None
    detail: str = ""

    def __bool__(self) -> bool:
        return self.allowed


_ALLOWED: Final = Decision(True)


@dataclass(frozen=True)
class CallPolicy:
    """Per-campaign outbound call rules (REQ-O4, REQ-O7, 230-FZ)."""

    working_day_window: Interval = WORKING_DAY_WINDOW
    non_working_day_window: Interval = NON_WORKING_DAY_WINDOW
    calendar: ProductionCalendar = field(default_factory=ProductionCalendar)
    daily_cap: int | None = None
    weekly_cap: int | None = None
    monthly_cap: int | None = None
    campaign_start: datetime | None = None
    """Aware instant the campaign starts (REQ-O4); None: no limit."""
    campaign_end: datetime | None = None
    """Aware instant the campaign ends, exclusive (REQ-O4); None: no limit."""

    def __post_init__(self) -> None:
        for name in ("daily_cap", "weekly_cap", "monthly_cap"):
            cap = getattr(self, name)
            if cap is not None and cap < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("campaign_start", "campaign_end"):
            moment = getattr(self, name)
            if moment is not None:
                _require_aware(moment, name)
        if (
            self.campaign_start is not None
            and self.campaign_end is not None
            and self.campaign_end <= self.campaign_start
        ):
            raise ValueError("campaign_end must be after campaign_start")

    @classmethod
    def for_campaign(
        cls,
        kind: CampaignKind | str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        calendar: ProductionCalendar | None = None,
        enforce_230fz_caps: bool | None = None,
    ) -> CallPolicy:
        """Defaults for a campaign of ``kind``.

        The 230-FZ caps (1/2/8) apply to debt campaigns unless
        ``enforce_230fz_caps=False``; other kinds get them only with
        ``enforce_230fz_caps=True``. The windows are the 230-FZ ones for all.
        """
        kind = CampaignKind(kind)
        caps = kind is CampaignKind.DEBT if enforce_230fz_caps is None else enforce_230fz_caps
        daily, weekly, monthly = DEBT_CAPS if caps else (None, None, None)
        return cls(
            calendar=calendar if calendar is not None else ProductionCalendar(),
            daily_cap=daily,
            weekly_cap=weekly,
            monthly_cap=monthly,
            campaign_start=start,
            campaign_end=end,
        )

    # -- public API -------------------------------------------------------------

    def window_on(self, day: date) -> Interval:
        """The call window of a local calendar day."""
        if self.calendar.is_working_day(day):
            return self.working_day_window
        return self.non_working_day_window

    def check(
        self,
        now_utc: datetime,
        contact_tz: str | tzinfo,
        history: Sequence[datetime],
        phone: str,
        numbers_on_file: Iterable[str],
    ) -> Decision:
        """May ``phone`` be called at ``now_utc``? See the module docstring."""
        ctx = _Context.build(now_utc, contact_tz, history, phone, numbers_on_file)
        decision, _ = self._evaluate(now_utc, ctx)
        return decision

    def next_allowed(
        self,
        now_utc: datetime,
        contact_tz: str | tzinfo,
        history: Sequence[datetime],
        phone: str,
        numbers_on_file: Iterable[str],
    ) -> datetime | None:
        """The earliest instant at or after ``now_utc`` that :meth:`check` allows.

        Returned in UTC; ``now_utc`` itself when a call is allowed now. None
        when no call will ever be allowed: the number is not on file, the
        campaign has ended, or it ends before the next allowed moment.
        """
        ctx = _Context.build(now_utc, contact_tz, history, phone, numbers_on_file)
        moment = now_utc.astimezone(UTC)
        for _ in range(_MAX_STEPS):
            decision, candidate = self._evaluate(moment, ctx)
            if decision.allowed:
                return moment
            if candidate is None:
                return None
            # Every step must make progress, whatever a time zone does.
            moment = max(candidate, moment + timedelta(microseconds=1))
        return None

    # -- internals ------------------------------------------------------------------

    def _evaluate(self, moment: datetime, ctx: _Context) -> tuple[Decision, datetime | None]:
        """The decision at ``moment`` and, if refused, the next instant worth
        trying (None: never)."""
        if not ctx.on_file:
            return Decision(False, Refusal.NOT_ON_FILE, "number is not in the contract"), None
        if self.campaign_end is not None and moment >= self.campaign_end:
            return Decision(False, Refusal.CAMPAIGN_ENDED), None
        if self.campaign_start is not None and moment < self.campaign_start:
            return Decision(False, Refusal.CAMPAIGN_NOT_STARTED), self.campaign_start

        zone = ctx.zone
        local = moment.astimezone(zone)
        day = local.date()
        tomorrow = _local_midnight(day + timedelta(days=1), zone)

        window = self.window_on(day)
        seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        if not window.contains(seconds):
            working = self.calendar.is_working_day(day)
            reason = Refusal.OUTSIDE_WINDOW if working else Refusal.HOLIDAY_WINDOW
            detail = f"local time {local:%H:%M} outside {window}"
            if seconds < window.start * 60:
                opens = datetime.combine(
                    day, time(window.start // 60, window.start % 60), tzinfo=zone
                ).astimezone(UTC)
                return Decision(False, reason, detail), opens
            return Decision(False, reason, detail), tomorrow

        if self.monthly_cap is not None:
            count = ctx.in_month(day)
            if count + 1 > self.monthly_cap:
                first = date(day.year + day.month // 12, day.month % 12 + 1, 1)
                return (
                    Decision(False, Refusal.MONTHLY_CAP, f"{count} calls this month"),
                    _local_midnight(first, zone),
                )
        if self.weekly_cap is not None:
            count = ctx.in_week(day)
            if count + 1 > self.weekly_cap:
                monday = day + timedelta(days=7 - day.weekday())
                return (
                    Decision(False, Refusal.WEEKLY_CAP, f"{count} calls this week"),
                    _local_midnight(monday, zone),
                )
        if self.daily_cap is not None:
            count = ctx.on_day(day)
            if count + 1 > self.daily_cap:
                return Decision(False, Refusal.DAILY_CAP, f"{count} calls today"), tomorrow
        return _ALLOWED, None


@dataclass(frozen=True)
class _Context:
    """The per-customer inputs of one check, prepared once."""

    zone: tzinfo
    on_file: bool
    days: tuple[date, ...]
    """Local dates of the calls in the history."""

    @classmethod
    def build(
        cls,
        now_utc: datetime,
        contact_tz: str | tzinfo,
        history: Sequence[datetime],
        phone: str,
        numbers_on_file: Iterable[str],
    ) -> _Context:
        _require_aware(now_utc, "now_utc")
        zone = ZoneInfo(contact_tz) if isinstance(contact_tz, str) else contact_tz
        for call in history:
            _require_aware(call, "history entries")
        wanted = normalize_phone(phone)
        on_file = bool(wanted) and any(normalize_phone(n) == wanted for n in numbers_on_file)
        days = tuple(call.astimezone(zone).date() for call in history)
        return cls(zone=zone, on_file=on_file, days=days)

    def on_day(self, day: date) -> int:
        return sum(1 for d in self.days if d == day)

    def in_week(self, day: date) -> int:
        week = day.isocalendar()[:2]
        return sum(1 for d in self.days if d.isocalendar()[:2] == week)

    def in_month(self, day: date) -> int:
        return sum(1 for d in self.days if (d.year, d.month) == (day.year, day.month))


def normalize_phone(raw: str) -> str:
    """Digits of a phone number, Russian numbers as ``7XXXXXXXXXX`` (REQ-O7).

    ``+7 (912) 345-67-89``, ``8 912 345 67 89`` and ``9123456789`` all give
    ``79123456789``. Anything else is returned as its digits.
    """
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 11 and digits[0] == "8":
        return "7" + digits[1:]
    if len(digits) == 10:
        return "7" + digits
    return digits


# -- planned outage notices (REQ-O9) -------------------------------------------------


class NoticeCategory(StrEnum):
    """Whom a planned-outage notice goes to (REQ-O9)."""

    HOUSEHOLD = "household"
    """Физические лица: within 3 days of the decision, ≥ 24 h before."""
    LEGAL_ENTITY = "legal_entity"
    """Юридические лица: by phone message, fax or autoinformer as the
    contract says; the seed sets no term, so only a warning below 24 h."""


class NoticeVerdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    """Compliant, but within ``warn_margin`` of a limit (or, for legal
    entities, less than 24 h ahead)."""
    REFUSE = "refuse"
    """The notice cannot meet REQ-O9 at that moment: it is not to be sent as
    a compliant notice; the dispatcher must move the outage (or notify by
    another means and record the breach)."""


@dataclass(frozen=True)
class OutageNoticeCheck:
    verdict: NoticeVerdict
    reasons: tuple[str, ...] = ()
    latest: datetime | None = None
    """The last instant a compliant notice can be delivered (households)."""


def check_outage_notice(
    now: datetime,
    outage_start: datetime,
    decided_at: datetime,
    category: NoticeCategory | str,
    *,
    tz: str | tzinfo = "Europe/Moscow",
    lead_time: timedelta = timedelta(hours=24),
    decision_days: int = 3,
    warn_margin: timedelta = timedelta(hours=12),
) -> OutageNoticeCheck:
    """Check a planned-outage notice delivered at ``now`` (REQ-O9).

    Households must be notified «в течение 3 дней с даты принятия решения …,
    но не позднее чем за 24 часа до введения указанных мер» (seed 002 ch.3
    §1 2.1): ``now`` must be no later than ``outage_start - lead_time`` and
    before the end of the third day after the decision's date in ``tz`` (the
    term starts the day after the decision, Civil Code art. 191). Failing
    either is REFUSE; passing with less than ``warn_margin`` to spare is WARN.
    A notice after the outage has started is REFUSE for every category.
    """
    for name, moment in (("now", now), ("outage_start", outage_start), ("decided_at", decided_at)):
        _require_aware(moment, name)
    if decided_at > now:
        raise ValueError("decided_at is after the notice: a notice follows the decision")
    category = NoticeCategory(category)
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz

    if now >= outage_start:
        return OutageNoticeCheck(NoticeVerdict.REFUSE, ("the outage has already started",))

    lead_limit = outage_start - lead_time
    if category is NoticeCategory.LEGAL_ENTITY:
        if now > lead_limit:
            return OutageNoticeCheck(
                NoticeVerdict.WARN,
                (f"less than {_hours(lead_time)} h before the outage; check the contract",),
            )
        return OutageNoticeCheck(NoticeVerdict.OK)

    decision_day = decided_at.astimezone(zone).date()
    decision_end = _local_midnight(decision_day + timedelta(days=decision_days + 1), zone)
    # decision_end is exclusive, lead_limit inclusive; express both as the
    # last allowed instant for the report.
    latest = min(lead_limit, decision_end - timedelta(microseconds=1))

    refusals: list[str] = []
    if now > lead_limit:
        refusals.append(f"later than {_hours(lead_time)} h before the outage")
    if now >= decision_end:
        refusals.append(f"more than {decision_days} days after the decision")
    if refusals:
        return OutageNoticeCheck(NoticeVerdict.REFUSE, tuple(refusals), latest)

    warnings: list[str] = []
    if lead_limit - now < warn_margin:
        warnings.append(f"close to the {_hours(lead_time)} h limit before the outage")
    if decision_end - now < warn_margin:
        warnings.append(f"close to the {decision_days}-day limit after the decision")
    if warnings:
        return OutageNoticeCheck(NoticeVerdict.WARN, tuple(warnings), latest)
    return OutageNoticeCheck(NoticeVerdict.OK, (), latest)


# -- helpers ---------------------------------------------------------------------


def _require_aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g}"
