"""What the campaign monitor tells the dispatcher (REQ-O3), honestly.

* **Calls in progress by callee** (:func:`call_details`): the name (the
  list's or the account holder's), the number and the account of each call
  the dialer has in flight, with its state in Russian
  (:data:`CALL_STATE_TITLES`) — from the attempt's row, which the message
  flow writes (``flow_state``).
* **Who is held back and why** (:func:`outlook`): the pending contacts the
  call policy holds (``Contact.refusal`` with ``next_at`` in the future, set
  by :meth:`autoinformer.store.AttemptStore.claim`) grouped as the 230-FZ
  caps, the call window, a holiday's window, a retry's delay or the
  campaign's start; the contacts due now whose time zone is outside its
  window at this moment (not yet looked at by the dialer, judged here by
  the same :class:`~autoinformer.policy.CallPolicy`); and those the rules
  refused for good (do-not-call, not on the contract, campaign over).
* **An ETA that knows the windows** (:func:`outlook`): the contacts that can
  be dialled now at the pace of the last minutes; when none can, no count
  down but «продолжится завтра в 09:00 по местному времени» — the earliest
  moment a held contact may be called, in that contact's local time.
* **The hourly chart, live** (:class:`TimelineFeed`): the finished attempts
  per hour, read incrementally (only the attempts that ended since the last
  read), with its legend (:func:`chart_data`).

The counts come from the counters the database's triggers keep
(``ai_contact_counts``, ``ai_attempt_counts``; migration
``0650_campaign_counts``); only the contacts held until a later moment are
counted from the index ``ix_ai_contacts_outlook`` (time, not a write, moves
them): a snapshot of a campaign of 100 000 contacts stays cheap
(``bench/monitor_latency.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from autoinformer.campaigns import RESULT_TITLES, CampaignError, CampaignService, CampaignStats
from autoinformer.models import Attempt, Campaign, Contact, ContactCount, ContactStatus
from autoinformer.policy import Refusal
from autoinformer.reports import CHART_RESULTS, COLOURS, chart
from crm_bridge.db import utcnow
from crm_bridge.models import Account

__all__ = [
    "CALL_STATE_TITLES",
    "HELD_TITLES",
    "TimelineFeed",
    "call_details",
    "call_state_title",
    "chart_data",
    "monitor_view",
    "outlook",
    "resume_phrase",
]

CALL_STATE_TITLES: Final = {
    "dialing": "Набор номера",
    "answered": "Ответил",
    "playing": "Слушает сообщение",
    "completed": "Прослушал сообщение",
    "transferred": "Переведён на оператора",
    "hungup": "Положил трубку",
    "machine": "Автоответчик",
    "machine_left": "Автоответчик: сообщение оставлено",
}
"""A call in progress: the dialer's state, refined by the message flow's."""

HELD_TITLES: Final = {
    "cap": "Лимит звонков 230-ФЗ (1 в день, 2 в неделю, 8 в месяц)",
    "window": "Вне окна звонков (будни 08:00–22:00 по местному времени)",
    "holiday": "Выходной или праздник (09:00–20:00 по местному времени)",
    "retry": "Ждут повторной попытки",
    "not_started": "Кампания ещё не началась",
    "do_not_call": "В списке «не звонить»",
    "not_on_file": "Номера нет в договоре (REQ-O7)",
    "ended": "Срок кампании истёк",
    "outage_late": "Уведомление об отключении опоздало бы (REQ-O9)",
}
"""Why contacts are not being called: the first five wait, the rest never will."""

WAITING: Final = ("cap", "window", "holiday", "retry", "not_started")
NEVER: Final = ("do_not_call", "not_on_file", "ended", "outage_late")

_GROUP_OF_REFUSAL: Final = {
    Refusal.DAILY_CAP.value: "cap",
    Refusal.WEEKLY_CAP.value: "cap",
    Refusal.MONTHLY_CAP.value: "cap",
    Refusal.OUTSIDE_WINDOW.value: "window",
    Refusal.HOLIDAY_WINDOW.value: "holiday",
    Refusal.CAMPAIGN_NOT_STARTED.value: "not_started",
    Refusal.CAMPAIGN_ENDED.value: "ended",
    Refusal.NOT_ON_FILE.value: "not_on_file",
    "do_not_call": "do_not_call",
    "outage_notice_late": "outage_late",
}

COMPACT_ABOVE: Final = 400
"""Rows of a campaign's kept counters (a few dozen groups, one set per
server process that wrote them) above which a snapshot folds them
(:meth:`CampaignService.compact_counts`)."""

PACE_WINDOW: Final = timedelta(minutes=10)
"""The pace of the ETA: contacts finished in the last ten minutes."""

_PROBE: Final = "70000000000"
"""A number "on file" for asking the policy about a zone's window only."""


def call_state_title(state: str, flow_state: str | None) -> str:
    key = flow_state or state
    return CALL_STATE_TITLES.get(key, CALL_STATE_TITLES.get(state, state))


def call_details(service: CampaignService, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dialer's calls in progress with their callees and Russian states."""
    ids = [int(c["attempt_id"]) for c in calls]
    rows: dict[int, tuple[Any, ...]] = {}
    if ids:
        with service.db.session(readonly=True) as s:
            for attempt_id, flow_state, phone, variables, holder in s.execute(
                select(
                    Attempt.id,
                    Attempt.flow_state,
                    Attempt.phone,
                    Contact.variables,
                    Account.holder_name,
                )
                .join(Contact, Contact.id == Attempt.contact_id)
                .outerjoin(Account, Account.id == Contact.account_id)
                .where(Attempt.id.in_(ids))
            ):
                rows[attempt_id] = (flow_state, phone, variables or {}, holder)
    out = []
    for c in calls:
        flow_state, phone, variables, holder = rows.get(int(c["attempt_id"]), (None, "", {}, None))
        out.append(
            {
                **c,
                "callee": str(variables.get("name") or holder or ""),
                "account": str(variables.get("account") or ""),
                "phone": phone or "",
                "flow_state": flow_state,
                "state_title": call_state_title(str(c.get("state") or ""), flow_state),
            }
        )
    return out


# -- who is held back, and the ETA ------------------------------------------------------


def resume_phrase(when_utc: datetime, tz: str, now_utc: datetime) -> str:
    """«продолжится завтра в 09:00 по местному времени» (the callee's zone)."""
    zone = ZoneInfo(tz)
    local = when_utc.astimezone(zone)
    today = now_utc.astimezone(zone).date()
    days = (local.date() - today).days
    if days <= 0:
        day = "сегодня"
    elif days == 1:
        day = "завтра"
    elif days == 2:
        day = "послезавтра"
    else:
        day = local.strftime("%d.%m.%Y")
    return f"продолжится {day} в {local:%H:%M} по местному времени"


def outlook(
    service: CampaignService,
    campaign_id: int,
    *,
    now: datetime | None = None,
    finished: int | None = None,
    in_flight: int | None = None,
) -> dict[str, Any]:
    """Held-back counts by reason and an ETA (:func:`monitor_view`);
    ``finished``/``in_flight`` replace the database's counts when given."""
    return monitor_view(service, campaign_id, now=now, finished=finished, in_flight=in_flight)[1]


def monitor_view(
    service: CampaignService,
    campaign_id: int,
    *,
    now: datetime | None = None,
    finished: int | None = None,
    in_flight: int | None = None,
    recount: bool = False,
) -> tuple[CampaignStats, dict[str, Any]]:
    """The campaign's counters and what lies ahead: the counts by state, by
    zone and by reason of refusal from the counters the database's triggers
    keep (``ai_contact_counts``, ``ai_attempt_counts``), the contacts held
    until later from the index ``ix_ai_contacts_outlook`` (time moves them,
    not a change of a row). ``recount``: count everything from the contacts
    and attempts themselves instead (what the counters must equal).

    The second item: ``held`` (reason → contacts, see
    :data:`HELD_TITLES`), ``dialable`` (contacts that may be called now),
    ``eta_seconds`` (None without a pace, or when nothing can be dialled
    now), ``resume_at`` (ISO, UTC) and ``resume`` (the Russian phrase) when
    the next call must wait, and ``waiting`` (contacts waiting for a later
    moment)."""
    now = now or utcnow()
    with service.db.session(readonly=True) as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            raise CampaignError(f"кампания {campaign_id} не найдена")
        st = (
            CampaignService.recount(s, campaign_id)
            if recount
            else CampaignService._stats(s, campaign_id)
        )
        policy = service.policy_for(c)
        pending = and_(
            Contact.campaign_id == campaign_id,
            Contact.status == ContactStatus.PENDING.value,
        )
        held: Counter[str] = Counter()
        dialable = 0
        # Held by the dialer until next_at (the policy's reason, or a
        # retry's delay): the few pending contacts with a future next_at,
        # read from the index ix_ai_contacts_outlook alone.
        later_by_zone: Counter[str] = Counter()
        for refusal, tz, n in s.execute(
            select(Contact.refusal, Contact.timezone, func.count())
            .where(pending, Contact.next_at > now)
            .group_by(Contact.refusal, Contact.timezone)
        ):
            held[_GROUP_OF_REFUSAL.get(str(refusal), "retry") if refusal else "retry"] += n
            later_by_zone[tz or ""] += n
        # Due now, by time zone: the pending contacts of each zone (the
        # kept counters) less those held until later.
        due_by_zone: dict[str, int] = {}
        for tz, n in _contacts_by(s, campaign_id, ContactStatus.PENDING, "timezone", recount):
            due = int(n) - later_by_zone[tz or ""]
            if due > 0:
                due_by_zone[tz or ""] = due
        # Refused for good by the rules.
        for refusal, n in _contacts_by(s, campaign_id, ContactStatus.REFUSED, "refusal", recount):
            group = _GROUP_OF_REFUSAL.get(str(refusal))
            if group in NEVER and n:
                held[group] += int(n)
        resume: tuple[datetime, str] | None = None

        def later(when: datetime | None, tz: str) -> None:
            nonlocal resume
            if when is not None and (resume is None or when < resume[0]):
                resume = (when, tz)

        # Due now, by time zone: is the zone's window open at this moment?
        for tz, n in due_by_zone.items():
            decision = policy.check(now, tz, (), _PROBE, (_PROBE,))
            if decision:
                dialable += n
                continue
            held[_GROUP_OF_REFUSAL.get(str(decision.reason), "window")] += n
            later(policy.next_allowed(now, tz, (), _PROBE, (_PROBE,)), tz)
        first = s.execute(
            select(Contact.next_at, Contact.timezone)
            .where(
                Contact.campaign_id == campaign_id,
                Contact.status == ContactStatus.PENDING.value,
                Contact.next_at > now,
            )
            .order_by(Contact.next_at)
            .limit(1)
        ).first()
        if first is not None:
            later(first[0], first[1])
        recent = (
            s.scalar(
                select(func.count()).where(
                    Attempt.campaign_id == campaign_id,
                    Attempt.channel == "phone",
                    Attempt.ended_at >= now - PACE_WINDOW,
                )
            )
            or 0
        )
        launched_at = c.launched_at
    if st.counter_rows > COMPACT_ABOVE:
        service.compact_counts(campaign_id)
    done = st.finished if finished is None else finished
    calls = st.in_flight if in_flight is None else in_flight
    waiting = sum(held[k] for k in WAITING)
    out: dict[str, Any] = {
        "held": {k: held[k] for k in (*WAITING, *NEVER) if held[k]},
        "dialable": dialable,
        "waiting": waiting,
        "eta_seconds": None,
        "resume_at": None,
        "resume": None,
    }
    if st.status == "completed" or (st.status == "stopped" and not calls):
        out["eta_seconds"] = 0.0
        return st, out
    if st.status not in ("running", "paused"):
        return st, out
    if resume is not None and waiting:
        when, tz = resume
        out["resume_at"] = when.astimezone(UTC).isoformat()
        out["resume"] = resume_phrase(when, tz, now)
    if dialable or calls:
        rate = _pace(recent, done, launched_at, now)
        if rate:
            out["eta_seconds"] = round((dialable + calls) / rate, 1)
    return st, out


def _contacts_by(
    s: Session, campaign_id: int, status: ContactStatus, field: str, recount: bool
) -> list[Any]:
    """(value of ``field``, how many) of the campaign's contacts in ``status``:
    from the counters, or counted over the contacts themselves (``recount``)."""
    table: Any = Contact if recount else ContactCount
    column = getattr(table, field)
    n = func.count() if recount else func.sum(ContactCount.n)
    return list(
        s.execute(
            select(column, n)
            .where(table.campaign_id == campaign_id, table.status == status.value)
            .group_by(column)
        )
    )


def _pace(recent: int, finished: int, launched_at: datetime | None, now: datetime) -> float:
    """Attempts per second: of the last minutes, else since the launch."""
    if launched_at is None:
        return 0.0
    running = max(1.0, (now - launched_at).total_seconds())
    if recent:
        return recent / min(running, PACE_WINDOW.total_seconds())
    return finished / running if finished else 0.0


# -- the hourly chart, live -------------------------------------------------------------


class TimelineFeed:
    """The finished attempts of a campaign per hour, kept up to date by
    reading only what ended since the last read (one per monitor socket).

    Attempts are finalised by several threads (and nodes), so one that ends
    a moment earlier may commit a moment later: each read looks back
    ``overlap`` before the newest end it saw and skips the ids it counted."""

    def __init__(
        self,
        service: CampaignService,
        campaign_id: int,
        tz: str,
        *,
        bucket: timedelta = timedelta(hours=1),
        overlap: timedelta = timedelta(seconds=30),
    ) -> None:
        self.service = service
        self.campaign_id = campaign_id
        self.zone = ZoneInfo(tz)
        self.seconds = int(bucket.total_seconds())
        self.overlap = overlap
        self.buckets: dict[datetime, Counter[str]] = {}
        self._mark: datetime | None = None
        self._recent: dict[int, datetime] = {}

    def read(self) -> list[tuple[datetime, Counter[str]]]:
        q = select(Attempt.id, Attempt.ended_at, Attempt.result).where(
            Attempt.campaign_id == self.campaign_id,
            Attempt.ended_at.is_not(None),
            Attempt.result.is_not(None),
        )
        if self._mark is not None:
            q = q.where(Attempt.ended_at >= self._mark - self.overlap)
        with self.service.db.session(readonly=True) as s:
            rows = [(i, at, str(r)) for i, at, r in s.execute(q) if at is not None]
        self._add(rows)
        return sorted(self.buckets.items())

    def _add(self, rows: Iterable[tuple[int, datetime, str]]) -> None:
        newest = self._mark
        for attempt_id, ended_at, result in rows:
            if attempt_id in self._recent:
                continue
            epoch = int(ended_at.timestamp())
            start = datetime.fromtimestamp(epoch - epoch % self.seconds, UTC).astimezone(self.zone)
            self.buckets.setdefault(start, Counter())[result] += 1
            self._recent[attempt_id] = ended_at
            if newest is None or ended_at > newest:
                newest = ended_at
        self._mark = newest
        if newest is not None:
            horizon = newest - self.overlap
            self._recent = {k: v for k, v in self._recent.items() if v >= horizon}


def chart_data(timeline: list[tuple[datetime, Counter[str]]]) -> dict[str, Any] | None:
    """The hourly chart as JSON for the page's script, with its legend:
    each result that occurs, its colour and its total."""
    drawn = chart(timeline)
    if drawn is None:
        return None
    totals: Counter[str] = Counter()
    for _, counts in timeline:
        totals.update(counts)
    data = asdict(drawn)
    data["legend"] = legend(totals)
    return data


def legend(totals: Mapping[str, int]) -> list[dict[str, Any]]:
    return [
        {"result": r, "title": RESULT_TITLES[r], "colour": COLOURS[r], "count": totals[r]}
        for r in CHART_RESULTS
        if totals.get(r)
    ]
