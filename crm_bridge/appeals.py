"""Appeals (обращения): registration, classification, workflow, journal (REQ-A1–A9).

Registration numbers (REQ-A2) are ``<sequence>-<ФЛ|ГЛ|ЮЛ>``, e.g. ``123-ФЛ``.
The sequence is **one global, gapless counter shared by all categories and
never reset** (not per year): the number alone is then unique for ever, the
journal's column 1 can be sorted numerically, and no year boundary logic is
needed when an appeal received on 31 December is registered on 1 January.
The counter is a row of ``counters`` incremented with ``UPDATE … RETURNING``
inside the registering transaction: on PostgreSQL the row lock serialises
concurrent registrations until commit (a rolled-back registration releases
its number, so there are no gaps); on SQLite the write transaction
(``BEGIN IMMEDIATE``) does the same.

Deadlines come from :mod:`crm_bridge.deadlines` (REQ-A5): the routing term
(1 working day), the answer term (10 days; complaints 20; e-mail/web 5;
answering machine 10 with callbacks in working hours; health and safety
immediately), extensions of at most 10 days that require the customer to be
told (REQ-A9) and never pass the overall 21-day cap.

Workflow::

    registered ──► in_progress ──► answered ──► closed
        │  └─────────────────────────┘▲
        └──────► not_considered ──────┴──► closed

An answering-machine message without a reply contact is registered straight
into ``not_considered`` / ``no_contact`` (REQ-T5): marked, never dropped.

Measures on feedback are due within 14 days for oral, telephone, postal,
portal and e-mail appeals (REQ-A12): ``measures_due_at`` is set at
registration. Closing records in whose favour the question was decided
(journal column 11); a decision not in the customer's favour needs a reasoned
refusal (REQ-A6). Every change takes an optional ``after(session, appeal)``
run in the same transaction (the supervision slice writes the appeal's
history there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TextIO, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.export import safe_append, safe_writer
from crm_bridge import deadlines
from crm_bridge.db import Database, utcnow
from crm_bridge.errors import AppealNotFound, CrmError, ExtensionNotAllowed, InvalidTransition
from crm_bridge.identify import account_display_address
from crm_bridge.models import (
    Account,
    Appeal,
    AppealChannel,
    AppealKind,
    AppealStatus,
    Call,
    Category,
    ClassificationCode,
    ComplaintCategory,
    Counter,
    Decision,
    NotConsideredReason,
    ReplyChannel,
)

__all__ = [
    "APPEAL_COUNTER",
    "CHANNEL_RU",
    "FORM_COLUMNS",
    "JOURNAL_COLUMNS",
    "KIND_RU",
    "MEASURES_CHANNELS",
    "MEASURES_DAYS",
    "AppealService",
    "AppealView",
    "JournalRow",
    "RefusalRequired",
    "export_csv",
    "export_xlsx",
    "format_number",
]

logger = logging.getLogger(__name__)

APPEAL_COUNTER: Final = "appeal"
_APPEALS: Final = cast(Table, Appeal.__table__)
_COUNTERS: Final = cast(Table, Counter.__table__)
# Built once, run with parameters: building a statement per call (its
# ``values()`` coerced column by column) cost more than running it.
_INSERT_APPEAL: Final = insert(_APPEALS).returning(_APPEALS.c.id)
_NEXT_SEQ: Final = (
    update(_COUNTERS)
    .where(_COUNTERS.c.name == bindparam("counter"))
    .values(value=_COUNTERS.c.value + 1)
    .returning(_COUNTERS.c.value)
)
_CALL_ID: Final = select(Call.id).where(Call.uniqueid == bindparam("uniqueid"))
OPEN_STATUSES: Final = (AppealStatus.REGISTERED, AppealStatus.IN_PROGRESS)

_TRANSITIONS: Final = MappingProxyType(
    {
        AppealStatus.REGISTERED: frozenset(
            {AppealStatus.IN_PROGRESS, AppealStatus.ANSWERED, AppealStatus.NOT_CONSIDERED}
        ),
        AppealStatus.IN_PROGRESS: frozenset({AppealStatus.ANSWERED, AppealStatus.NOT_CONSIDERED}),
        AppealStatus.ANSWERED: frozenset({AppealStatus.CLOSED}),
        AppealStatus.NOT_CONSIDERED: frozenset({AppealStatus.CLOSED}),
        AppealStatus.CLOSED: frozenset(),
    }
)

_DEFAULT_REPLY: Final = MappingProxyType(
    {
        AppealChannel.PHONE: ReplyChannel.PHONE,
        AppealChannel.ANSWERING_MACHINE: ReplyChannel.PHONE,
        AppealChannel.EMAIL: ReplyChannel.EMAIL,
        AppealChannel.WEB: ReplyChannel.WEB,
        AppealChannel.POST: ReplyChannel.POST,
        AppealChannel.IN_PERSON: ReplyChannel.IN_PERSON,
        AppealChannel.SMS: ReplyChannel.SMS,
    }
)
"""REQ-A7: by default the answer goes back the way the appeal came."""

MEASURES_DAYS: Final = 14
"""REQ-A12: measures on feedback within 14 days (seed 002 §3 п.7)."""
MEASURES_CHANNELS: Final = frozenset(
    {
        AppealChannel.IN_PERSON,  # oral and written in person
        AppealChannel.PHONE,
        AppealChannel.ANSWERING_MACHINE,  # a telephone appeal left after hours
        AppealChannel.POST,
        AppealChannel.WEB,
        AppealChannel.EMAIL,
    }
)
"""The forms of the REQ-A12 table (an SMS is none of them)."""

AfterChange = Callable[[Session, Appeal], None]
"""Run after a change in the same transaction (e.g. writing the history)."""


class RefusalRequired(CrmError, ValueError):
    """A decision not in the customer's favour without a reasoned refusal (REQ-A6)."""


def measures_due(channel: AppealChannel, received_at: datetime, zone: ZoneInfo) -> datetime | None:
    """The end of the 14th local day after receipt (exclusive), or None (REQ-A12)."""
    if channel not in MEASURES_CHANNELS:
        return None
    day = received_at.astimezone(zone).date() + timedelta(days=MEASURES_DAYS + 1)
    return datetime.combine(day, time(0), tzinfo=zone)


def format_number(seq: int, category: Category) -> str:
    """``123-ФЛ`` (REQ-A2)."""
    return f"{seq}-{Category(category).value}"


def deadline_kind(
    kind: AppealKind, channel: AppealChannel, *, urgent: bool = False
) -> deadlines.AppealKind:
    """Which term of REQ-A5 applies to an appeal."""
    if urgent:
        return deadlines.AppealKind.HEALTH_SAFETY
    if kind is AppealKind.COMPLAINT:
        return deadlines.AppealKind.COMPLAINT
    if kind is AppealKind.ANSWERING_MACHINE_MESSAGE or channel is AppealChannel.ANSWERING_MACHINE:
        return deadlines.AppealKind.ANSWERING_MACHINE
    if channel in (AppealChannel.EMAIL, AppealChannel.WEB):
        return deadlines.AppealKind.EMAIL_QUESTION
    if kind is AppealKind.REQUEST:
        return deadlines.AppealKind.REQUEST
    return deadlines.AppealKind.APPEAL


@dataclass(frozen=True, slots=True)
class AppealView:
    """A read-only snapshot of one appeal (safe to keep after the session)."""

    id: int
    number: str
    seq: int
    category: Category
    received_at: datetime
    channel: AppealChannel
    kind: AppealKind
    applicant_name: str | None
    company: str | None
    address_text: str | None
    content: str
    classification: ClassificationCode | None
    classification_corrected: bool
    classified_by_id: int | None
    complaint_category: ComplaintCategory | None
    urgent: bool
    passed_to: str | None
    passed_at: datetime | None
    answer_received_at: datetime | None
    answered_at: datetime | None
    closed_at: datetime | None
    note: str | None
    status: AppealStatus
    not_considered_reason: NotConsideredReason | None
    reply_channel: ReplyChannel | None
    reply_contact: str | None
    routing_due_at: datetime | None
    due_at: datetime | None
    extended_due_at: datetime | None
    extended_days: int
    customer_notified: bool
    measures_due_at: datetime | None
    decision: Decision | None
    refusal_reason: str | None
    account_id: int | None
    call_id: int | None
    recordings: tuple[Any, ...]
    transcript: str | None

    @property
    def effective_due_at(self) -> datetime | None:
        return self.extended_due_at or self.due_at

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> AppealView:
        kwargs = {f.name: values[f.name] for f in fields(cls)}
        kwargs["recordings"] = tuple(values["recordings"] or ())
        return cls(**kwargs)

    @classmethod
    def from_model(cls, appeal: Appeal) -> AppealView:
        values = {f.name: getattr(appeal, f.name) for f in fields(cls)}
        values["recordings"] = tuple(appeal.recordings or ())
        return cls(**values)


_SEARCHED: Final = (
    "number",
    "applicant_name",
    "company",
    "address_text",
    "content",
    "note",
    "passed_to",
    "reply_contact",
    "transcript",
)


_ACCOUNT_FOR_JOURNAL: Final = select(
    Account.holder_name,
    Account.category,
    Account.settlement,
    Account.street_type,
    Account.street,
    Account.house,
    Account.building,
    Account.structure,
    Account.flat,
).where(Account.id == bindparam("account_id"))


def _fill_from_account(conn: Connection, account_id: int, values: dict[str, Any]) -> None:
    """Journal columns 3 and 4 (REQ-A3) from the identified account; what the
    caller said, when different, is kept in the transcript."""
    row = conn.execute(_ACCOUNT_FOR_JOURNAL, {"account_id": account_id}).first()
    if row is None:
        return
    holder_field = "company" if row.category is Category.UL else "applicant_name"
    said: list[str] = []
    for field_name, known, title in (
        (holder_field, row.holder_name, "назвался"),
        ("address_text", account_display_address(cast(Account, row)), "назвал адрес"),
    ):
        given = (values.get(field_name) or "").strip()
        if given and _fold(given) != _fold(known or ""):
            said.append(f"{title}: {given}")
        if known:
            values[field_name] = known
    if said:
        values["transcript"] = "\n".join(p for p in (values.get("transcript"), *said) if p)


def _search_text(appeal: Appeal | Mapping[str, Any]) -> str:
    if isinstance(appeal, Appeal):
        parts = [getattr(appeal, name) for name in _SEARCHED]
    else:
        parts = [appeal.get(name) for name in _SEARCHED]
    return _fold(" ".join(p for p in parts if p))


def _fold(text: str) -> str:
    return text.lower().replace("ё", "е")


class AppealService:
    """Registration and workflow of appeals (see the module docstring).

    ``rules`` are the deadline figures and the company's time zone
    (:class:`crm_bridge.deadlines.DeadlineRules`); ``clock`` returns the
    current aware time (tests pass a fixed one).
    """

    def __init__(
        self,
        db: Database,
        *,
        rules: deadlines.DeadlineRules | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.rules = rules if rules is not None else deadlines.DeadlineRules()
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    # -- registration ---------------------------------------------------------

    def register(
        self,
        *,
        channel: AppealChannel | str,
        kind: AppealKind | str = AppealKind.APPEAL,
        category: Category | str = Category.FL,
        content: str = "",
        applicant_name: str | None = None,
        company: str | None = None,
        address_text: str | None = None,
        classification: ClassificationCode | str | None = None,
        complaint_category: ComplaintCategory | str | None = None,
        reply_channel: ReplyChannel | str | None = None,
        reply_contact: str | None = None,
        account_id: int | None = None,
        call_id: int | None = None,
        call_uniqueid: str | None = None,
        received_at: datetime | None = None,
        recordings: Sequence[str] = (),
        transcript: str | None = None,
        urgent: bool = False,
        note: str | None = None,
        answered_in_call: str | None = None,
        once: bool = False,
    ) -> AppealView:
        """Register an appeal and give it its number and deadlines (REQ-A1, A2, A5).

        ``classification`` is the IVR menu's pre-filled code (REQ-A4), later
        correctable with :meth:`classify`. ``call_uniqueid`` links the Asterisk
        call when its row exists. An answering-machine message without
        ``reply_contact`` is registered as not considered (REQ-T5).
        ``answered_in_call``: the note of an appeal answered within the call
        that registers it (a consultation the menu gave): registered answered
        and closed at once (issue 14), never to show as overdue.
        ``once``: the appeal of a call is registered once — an appeal of the
        same call (``call_uniqueid``) received at the same ``received_at``
        is returned instead of a second one (a replayed or retried write,
        ``crm_bridge.durable``).
        """
        channel = AppealChannel(channel)
        kind = AppealKind(kind)
        category = Category(category)
        received = received_at or self.now()
        reply = ReplyChannel(reply_channel) if reply_channel else _DEFAULT_REPLY[channel]
        term = deadlines.compute_deadline(
            deadline_kind(kind, channel, urgent=urgent), received, self.rules
        )
        no_contact = (
            channel is AppealChannel.ANSWERING_MACHINE
            or kind is AppealKind.ANSWERING_MACHINE_MESSAGE
        ) and not (reply_contact and reply_contact.strip())
        values: dict[str, Any] = {
            "category": category,
            "received_at": received,
            "channel": channel,
            "kind": kind,
            "applicant_name": applicant_name,
            "company": company,
            "address_text": address_text,
            "content": content,
            "classification": ClassificationCode(classification) if classification else None,
            "classification_corrected": False,
            "classified_by_id": None,
            "complaint_category": ComplaintCategory(complaint_category)
            if complaint_category
            else None,
            "urgent": urgent,
            "passed_to": None,
            "passed_at": None,
            "answer_received_at": None,
            "answered_at": None,
            "closed_at": None,
            "note": note,
            "status": AppealStatus.NOT_CONSIDERED if no_contact else AppealStatus.REGISTERED,
            "not_considered_reason": NotConsideredReason.NO_CONTACT if no_contact else None,
            "reply_channel": reply,
            "reply_contact": reply_contact,
            "routing_due_at": term.routing_due,
            "due_at": term.answer_by,
            "extended_due_at": None,
            "extended_days": 0,
            "customer_notified": False,
            "measures_due_at": measures_due(channel, received, self.rules.zone),
            "decision": None,
            "refusal_reason": None,
            "account_id": account_id,
            "recordings": list(recordings),
            "transcript": transcript,
        }
        if answered_in_call and not no_contact:
            done = self.now()
            values |= {
                "status": AppealStatus.CLOSED,
                "answered_at": done,
                "closed_at": done,
                "note": "\n".join(p for p in (note, answered_in_call) if p),
            }
        with self.db.transaction(write=True) as conn:
            if once and call_uniqueid:
                if self.db.dialect == "postgresql":
                    # Two writers of the same call's appeal (a write that timed
                    # out and its replay) wait for each other here.
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                        {"key": f"appeal:{call_uniqueid}"},
                    )
                existing = conn.execute(
                    select(_APPEALS)
                    .join(Call, Call.id == _APPEALS.c.call_id)
                    .where(Call.uniqueid == call_uniqueid, _APPEALS.c.received_at == received)
                ).first()
                if existing is not None:
                    return AppealView.from_values(dict(existing._mapping))
            if call_id is None and call_uniqueid:
                call_id = conn.execute(_CALL_ID, {"uniqueid": call_uniqueid}).scalar_one_or_none()
            if account_id is not None:
                _fill_from_account(conn, account_id, values)
            seq = self._next_seq(conn)
            values |= {"seq": seq, "number": format_number(seq, category), "call_id": call_id}
            values["search_text"] = _search_text(values)
            now = utcnow()
            # A Core insert: one statement, none of the unit-of-work overhead.
            values["id"] = conn.execute(
                _INSERT_APPEAL, {"created_at": now, "updated_at": now, **values}
            ).scalar_one()
        view = AppealView.from_values(values)
        logger.info(
            "appeal %s registered (channel %s, kind %s, status %s)",
            view.number,
            view.channel,
            view.kind,
            view.status,
        )
        return view

    def _next_seq(self, conn: Connection) -> int:
        """The next registration sequence number, race-free (see module docstring)."""
        value = conn.execute(_NEXT_SEQ, {"counter": APPEAL_COUNTER}).scalar_one_or_none()
        if value is None:
            # The migration creates the row; recreate it if someone truncated
            # the table, without racing a concurrent registration.
            maker = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
            highest = conn.execute(select(func.coalesce(func.max(Appeal.seq), 0))).scalar_one()
            conn.execute(
                maker(_COUNTERS)
                .values(name=APPEAL_COUNTER, value=int(highest))
                .on_conflict_do_nothing(index_elements=["name"])
            )
            value = conn.execute(_NEXT_SEQ, {"counter": APPEAL_COUNTER}).scalar_one()
        return int(value)

    # -- reading --------------------------------------------------------------

    def get(self, appeal_id: int) -> AppealView:
        with self.db.session() as session:
            return AppealView.from_model(self._load(session, appeal_id))

    def get_by_number(self, number: str) -> AppealView:
        with self.db.session() as session:
            appeal = session.execute(
                select(Appeal).where(Appeal.number == number.strip())
            ).scalar_one_or_none()
            if appeal is None:
                raise AppealNotFound(f"no appeal {number!r}")
            return AppealView.from_model(appeal)

    @staticmethod
    def _load(session: Session, appeal_id: int, *, lock: bool = False) -> Appeal:
        stmt = select(Appeal).where(Appeal.id == appeal_id)
        if lock:
            stmt = stmt.with_for_update()
        appeal = session.execute(stmt).scalar_one_or_none()
        if appeal is None:
            raise AppealNotFound(f"no appeal with id {appeal_id}")
        return appeal

    # -- changes --------------------------------------------------------------

    def _change(self, appeal_id: int, change: Any, after: AfterChange | None = None) -> AppealView:
        with self.db.session(write=True) as session:
            appeal = self._load(session, appeal_id, lock=True)
            change(appeal)
            appeal.search_text = _search_text(appeal)
            session.flush()
            if after is not None:
                after(session, appeal)
                appeal.search_text = _search_text(appeal)
                session.flush()
            return AppealView.from_model(appeal)

    @staticmethod
    def _move(appeal: Appeal, to: AppealStatus) -> None:
        if to not in _TRANSITIONS[appeal.status]:
            raise InvalidTransition(
                f"appeal {appeal.number}: {appeal.status.value} → {to.value} is not allowed"
            )
        appeal.status = to

    def classify(
        self,
        appeal_id: int,
        code: ClassificationCode | str,
        *,
        by_operator: int | None = None,
        after: AfterChange | None = None,
    ) -> AppealView:
        """Set or correct the classification (REQ-A4).

        With ``by_operator`` (an operator id) a change of the pre-filled code
        is recorded as an operator correction.
        """
        new = ClassificationCode(code)

        def change(appeal: Appeal) -> None:
            if by_operator is not None and appeal.classification not in (None, new):
                appeal.classification_corrected = True
            if by_operator is not None:
                appeal.classified_by_id = by_operator
            appeal.classification = new

        return self._change(appeal_id, change, after)

    def pass_to(
        self,
        appeal_id: int,
        to: str,
        *,
        at: datetime | None = None,
        after: AfterChange | None = None,
    ) -> AppealView:
        """Pass to an executor (journal columns 7 and 9); status → in progress."""
        when = at or self.now()

        def change(appeal: Appeal) -> None:
            if appeal.status is AppealStatus.REGISTERED:
                self._move(appeal, AppealStatus.IN_PROGRESS)
            elif appeal.status is not AppealStatus.IN_PROGRESS:
                raise InvalidTransition(f"appeal {appeal.number} is {appeal.status.value}")
            appeal.passed_to = to
            appeal.passed_at = when

        return self._change(appeal_id, change, after)

    def start(self, appeal_id: int) -> AppealView:
        """Status → in progress (taken by the person who registered it)."""
        return self._change(appeal_id, lambda a: self._move(a, AppealStatus.IN_PROGRESS))

    def answer_received(
        self, appeal_id: int, *, at: datetime | None = None, after: AfterChange | None = None
    ) -> AppealView:
        """The executor's answer came back (journal column 10)."""
        when = at or self.now()

        def change(appeal: Appeal) -> None:
            if appeal.status not in OPEN_STATUSES:
                raise InvalidTransition(f"appeal {appeal.number} is {appeal.status.value}")
            appeal.answer_received_at = when

        return self._change(appeal_id, change, after)

    def answer(
        self,
        appeal_id: int,
        *,
        note: str | None = None,
        at: datetime | None = None,
        after: AfterChange | None = None,
    ) -> AppealView:
        """The customer was answered (journal column 8; ``note`` is column 11:
        what was done and in whose favour, REQ-A3/A6)."""
        when = at or self.now()

        def change(appeal: Appeal) -> None:
            self._move(appeal, AppealStatus.ANSWERED)
            appeal.answered_at = when
            if note is not None:
                appeal.note = note

        return self._change(appeal_id, change, after)

    def close(
        self,
        appeal_id: int,
        *,
        note: str | None = None,
        decision: Decision | str | None = None,
        refusal_reason: str | None = None,
        after: AfterChange | None = None,
    ) -> AppealView:
        """Close; ``note`` is what was done, ``decision`` in whose favour
        (journal column 11). A decision not in the customer's favour needs
        ``refusal_reason`` (REQ-A6), raising :class:`RefusalRequired`."""
        when = self.now()
        chosen = Decision(decision) if decision else None
        refusal = (refusal_reason or "").strip() or None
        if chosen not in (None, Decision.CUSTOMER) and refusal is None:
            raise RefusalRequired("решение не в пользу клиента: нужен обоснованный отказ (REQ-A6)")

        def change(appeal: Appeal) -> None:
            self._move(appeal, AppealStatus.CLOSED)
            appeal.closed_at = when
            if note is not None:
                appeal.note = note
            if chosen is not None:
                appeal.decision = chosen
                appeal.refusal_reason = refusal if chosen is not Decision.CUSTOMER else None

        return self._change(appeal_id, change, after)

    def mark_complaint(
        self,
        appeal_id: int,
        category: ComplaintCategory | str,
        *,
        urgent: bool = False,
        after: AfterChange | None = None,
    ) -> AppealView:
        """Make it a complaint of category А or Б (REQ-A6), ``urgent`` for
        health and safety (handled immediately, REQ-A5); the answer term is
        counted again from receipt. A typical (А) or urgent complaint cannot
        keep an extension already granted."""
        chosen = ComplaintCategory(category)

        def change(appeal: Appeal) -> None:
            if appeal.status not in OPEN_STATUSES:
                raise InvalidTransition(f"appeal {appeal.number} is {appeal.status.value}")
            if appeal.extended_days and (chosen is ComplaintCategory.A or urgent):
                raise ExtensionNotAllowed(
                    f"appeal {appeal.number}: already extended, cannot become "
                    "a typical (А) or urgent complaint"
                )
            appeal.kind = AppealKind.COMPLAINT
            appeal.complaint_category = chosen
            appeal.urgent = urgent
            term = deadlines.compute_deadline(
                deadline_kind(appeal.kind, appeal.channel, urgent=urgent),
                appeal.received_at,
                self.rules,
            )
            appeal.due_at = term.answer_by
            if appeal.extended_days:
                try:
                    extended = term.extend(
                        appeal.extended_days, at=appeal.received_at, customer_notified=True
                    )
                except deadlines.DeadlineError as exc:
                    raise ExtensionNotAllowed(
                        f"appeal {appeal.number}: already extended by "
                        f"{appeal.extended_days} days, as a complaint: {exc}"
                    ) from exc
                appeal.extended_due_at = extended.answer_by

        return self._change(appeal_id, change, after)

    def not_considered(
        self,
        appeal_id: int,
        reason: NotConsideredReason | str,
        *,
        note: str | None = None,
        after: AfterChange | None = None,
    ) -> AppealView:
        """Mark as not considered for one of the REQ-A8 reasons (customer notified)."""
        value = NotConsideredReason(reason)

        def change(appeal: Appeal) -> None:
            self._move(appeal, AppealStatus.NOT_CONSIDERED)
            appeal.not_considered_reason = value
            if note is not None:
                appeal.note = note

        return self._change(appeal_id, change, after)

    def update_contact(
        self,
        appeal_id: int,
        *,
        reply_channel: ReplyChannel | str | None = None,
        reply_contact: str | None = None,
        after: AfterChange | None = None,
    ) -> AppealView:
        """Where the answer goes (REQ-A7)."""

        def change(appeal: Appeal) -> None:
            if reply_channel is not None:
                appeal.reply_channel = ReplyChannel(reply_channel)
            if reply_contact is not None:
                appeal.reply_contact = reply_contact

        return self._change(appeal_id, change, after)

    def extend(
        self,
        appeal_id: int,
        days: int,
        *,
        customer_notified: bool,
        reason: str = "",
        at: datetime | None = None,
        after: AfterChange | None = None,
    ) -> AppealView:
        """Extend the answer term by ``days`` (REQ-A5, REQ-A9).

        Raises :class:`crm_bridge.deadlines.ExtensionNotNotifiedError` unless
        the customer has been told; :class:`ExtensionNotAllowed` for a closed
        appeal or a typical (category А) complaint (REQ-A6);
        :class:`crm_bridge.deadlines.DeadlineError` past 10 days of extension,
        past the 21-day cap, after expiry, or for immediate handling.
        """
        when = at or self.now()

        def change(appeal: Appeal) -> None:
            if appeal.status not in OPEN_STATUSES:
                raise ExtensionNotAllowed(f"appeal {appeal.number} is {appeal.status.value}")
            if appeal.complaint_category is ComplaintCategory.A:
                raise ExtensionNotAllowed(
                    f"appeal {appeal.number}: typical complaints (category А) are not extended"
                )
            term = deadlines.compute_deadline(
                deadline_kind(appeal.kind, appeal.channel, urgent=appeal.urgent),
                appeal.received_at,
                self.rules,
            )
            if appeal.extended_days:
                term = term.extend(
                    appeal.extended_days, at=appeal.received_at, customer_notified=True
                )
            term = term.extend(days, at=when, customer_notified=customer_notified, reason=reason)
            appeal.extended_due_at = term.answer_by
            appeal.extended_days = term.extended_days
            appeal.customer_notified = True
            if reason:
                appeal.note = f"{appeal.note}\n{reason}" if appeal.note else reason

        view = self._change(appeal_id, change, after)
        logger.info("appeal %s extended by %s days", view.number, days)
        return view

    # -- lists ----------------------------------------------------------------

    def overdue(
        self, *, now: datetime | None = None, stage: deadlines.Stage = deadlines.Stage.ANSWER
    ) -> list[AppealView]:
        """Open appeals past their answer (or routing) deadline, oldest first."""
        when = now or self.now()
        with self.db.session() as session:
            stmt = self._open(stage).where(self._due_column(stage) <= when)
            return self._views(session, stmt)

    def due_soon(
        self,
        within: timedelta = timedelta(days=2),
        *,
        now: datetime | None = None,
        stage: deadlines.Stage = deadlines.Stage.ANSWER,
    ) -> list[AppealView]:
        """Open appeals whose deadline falls in ``(now, now + within]``."""
        when = now or self.now()
        due = self._due_column(stage)
        with self.db.session() as session:
            stmt = self._open(stage).where(due > when, due <= when + within)
            return self._views(session, stmt)

    @staticmethod
    def _due_column(stage: deadlines.Stage) -> Any:
        if stage is deadlines.Stage.ROUTING:
            return Appeal.routing_due_at
        return func.coalesce(Appeal.extended_due_at, Appeal.due_at)

    def _open(self, stage: deadlines.Stage) -> Select[Any]:
        stmt = select(Appeal)
        if stage is deadlines.Stage.ROUTING:
            return stmt.where(Appeal.status == AppealStatus.REGISTERED, Appeal.passed_at.is_(None))
        return stmt.where(Appeal.status.in_(OPEN_STATUSES))

    @staticmethod
    def _views(session: Session, stmt: Select[Any]) -> list[AppealView]:
        stmt = stmt.order_by(func.coalesce(Appeal.extended_due_at, Appeal.due_at), Appeal.seq)
        return [AppealView.from_model(a) for a in session.execute(stmt).scalars()]

    def search(
        self,
        *,
        text: str | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        status: AppealStatus | str | Iterable[AppealStatus | str] | None = None,
        code: ClassificationCode | str | None = None,
        channel: AppealChannel | str | None = None,
        category: Category | str | None = None,
        kind: AppealKind | str | None = None,
        account_id: int | None = None,
        worked_by: int | None = None,
        newest_first: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AppealView]:
        """The journal, filtered. ``text`` matches the number, applicant,
        company, address, content, note, executor, contact and transcript
        (case and ё-insensitive, every word must occur); dates bound
        ``received_at`` as ``[date_from, date_to)``; ``worked_by``: only the
        appeals this operator works with (of a call the operator took, or
        classified by the operator)."""
        stmt = select(Appeal)
        if worked_by is not None:
            from crm_bridge.models import Call

            taken = select(Call.id).where(Call.operator_id == worked_by)
            stmt = stmt.where((Appeal.classified_by_id == worked_by) | Appeal.call_id.in_(taken))
        if text:
            for word in _fold(text).split():
                escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                stmt = stmt.where(Appeal.search_text.like(f"%{escaped}%", escape="\\"))
        if date_from is not None:
            stmt = stmt.where(Appeal.received_at >= date_from)
        if date_to is not None:
            stmt = stmt.where(Appeal.received_at < date_to)
        if status is not None:
            statuses = (
                [AppealStatus(status)]
                if isinstance(status, str)
                else [AppealStatus(s) for s in status]
            )
            stmt = stmt.where(Appeal.status.in_(statuses))
        if code is not None:
            stmt = stmt.where(Appeal.classification == ClassificationCode(code))
        if channel is not None:
            stmt = stmt.where(Appeal.channel == AppealChannel(channel))
        if category is not None:
            stmt = stmt.where(Appeal.category == Category(category))
        if kind is not None:
            stmt = stmt.where(Appeal.kind == AppealKind(kind))
        if account_id is not None:
            stmt = stmt.where(Appeal.account_id == account_id)
        order = Appeal.seq.desc() if newest_first else Appeal.seq.asc()
        stmt = stmt.order_by(order).limit(limit).offset(offset)
        with self.db.session() as session:
            return [AppealView.from_model(a) for a in session.execute(stmt).scalars()]

    def count_by(self, column: str, *, date_from: datetime, date_to: datetime) -> dict[str, int]:
        """Appeal counts grouped by ``channel``, ``kind``, ``classification``
        or ``status`` over ``[date_from, date_to)`` (REQ-A10 reports)."""
        allowed = {"channel", "kind", "classification", "status", "category"}
        if column not in allowed:
            raise ValueError(f"cannot group by {column!r}; choose from {sorted(allowed)}")
        col = getattr(Appeal, column)
        stmt = (
            select(col, func.count())
            .where(Appeal.received_at >= date_from, Appeal.received_at < date_to)
            .group_by(col)
        )
        with self.db.session() as session:
            return {
                (str(key.value) if key is not None else ""): int(n)
                for key, n in session.execute(stmt).all()
            }

    def journal_rows(self, appeals: Iterable[AppealView]) -> list[JournalRow]:
        """Rows of the registration journal (REQ-A3) in the company's time zone."""
        return [JournalRow.from_view(a, self.rules.zone) for a in appeals]


# -- the registration journal (REQ-A3) -------------------------------------------

JOURNAL_COLUMNS: Final = (
    ("number", "Входящий регистрационный номер"),
    ("received_at", "Дата поступления"),
    ("applicant", "ФИО заявителя (наименование предприятия)"),
    ("address", "Адрес"),
    ("content", "Краткое содержание"),
    ("classification", "Классификация"),
    ("passed_to", "Кому (куда) передано на исполнение"),
    ("answered_at", "Дата предоставления ответа заявителю"),
    ("passed_at", "Дата отправки на исполнение"),
    ("answer_received_at", "Дата получения ответа"),
    ("note", "Примечание"),
    ("channel", "Канал поступления"),
    ("kind", "Вид обращения"),
    ("complaint_category", "Категория жалобы"),
    ("status", "Статус"),
    ("due_at", "Срок ответа"),
    ("not_considered_reason", "Причина нерассмотрения"),
)
"""(field, Russian header): columns 1–11 of the journal form of seed 002 §3 in
its order, then the fields this system adds (the «расширенный» journal)."""

FORM_COLUMNS: Final = JOURNAL_COLUMNS[:11]
"""Exactly the 11 columns of the journal form of seed 002 §3, in its order (REQ-A3)."""

CHANNEL_RU: Final = MappingProxyType(
    {
        AppealChannel.PHONE: "телефон",
        AppealChannel.ANSWERING_MACHINE: "автоответчик",
        AppealChannel.EMAIL: "электронная почта",
        AppealChannel.WEB: "сайт",
        AppealChannel.POST: "почта",
        AppealChannel.IN_PERSON: "личный приём",
        AppealChannel.SMS: "СМС",
    }
)
KIND_RU: Final = MappingProxyType(
    {
        AppealKind.APPEAL: "обращение",
        AppealKind.COMPLAINT: "жалоба",
        AppealKind.REQUEST: "заявка",
        AppealKind.METER_READING: "показания счётчика",
        AppealKind.ANSWERING_MACHINE_MESSAGE: "сообщение на автоответчик",
        AppealKind.CONSULTATION: "консультация",
    }
)
_STATUS_RU: Final = MappingProxyType(
    {
        AppealStatus.REGISTERED: "зарегистрировано",
        AppealStatus.IN_PROGRESS: "в работе",
        AppealStatus.ANSWERED: "дан ответ",
        AppealStatus.CLOSED: "закрыто",
        AppealStatus.NOT_CONSIDERED: "не рассматривается",
    }
)
DATE_FORMAT: Final = "%d.%m.%Y %H:%M"


@dataclass(frozen=True, slots=True)
class JournalRow:
    """One journal row; dates are naive local wall time (as printed)."""

    number: str
    received_at: datetime | None
    applicant: str
    address: str
    content: str
    classification: str
    passed_to: str
    answered_at: datetime | None
    passed_at: datetime | None
    answer_received_at: datetime | None
    note: str
    channel: str
    kind: str
    complaint_category: str
    status: str
    due_at: datetime | None
    not_considered_reason: str

    @classmethod
    def from_view(cls, a: AppealView, zone: ZoneInfo) -> JournalRow:
        def local(dt: datetime | None) -> datetime | None:
            return dt.astimezone(zone).replace(tzinfo=None, microsecond=0) if dt else None

        applicant = ", ".join(p for p in (a.applicant_name, a.company) if p)
        return cls(
            number=a.number,
            received_at=local(a.received_at),
            applicant=applicant,
            address=a.address_text or "",
            content=a.content or "",
            classification=a.classification.value if a.classification else "",
            passed_to=a.passed_to or "",
            answered_at=local(a.answered_at),
            passed_at=local(a.passed_at),
            answer_received_at=local(a.answer_received_at),
            note=_note(a),
            channel=CHANNEL_RU[a.channel],
            kind=KIND_RU[a.kind],
            complaint_category=a.complaint_category.value if a.complaint_category else "",
            status=_STATUS_RU[a.status],
            due_at=local(a.effective_due_at),
            not_considered_reason=a.not_considered_reason.title_ru
            if a.not_considered_reason
            else "",
        )

    def values(
        self, columns: Sequence[tuple[str, str]] = JOURNAL_COLUMNS
    ) -> list[str | datetime | None]:
        return [getattr(self, name) for name, _ in columns]


def _note(a: AppealView) -> str:
    """Column 11: what was done, and in whose favour (with the refusal, REQ-A6)."""
    parts = [a.note or ""]
    if a.decision is not None:
        decided = f"Решено {a.decision.title_ru}"
        if a.refusal_reason:
            decided += f"; обоснование отказа: {a.refusal_reason}"
        parts.append(decided)
    return "\n".join(p for p in parts if p)


def export_csv(
    rows: Iterable[JournalRow],
    fp: TextIO,
    *,
    delimiter: str = ";",
    columns: Sequence[tuple[str, str]] = JOURNAL_COLUMNS,
) -> int:
    """Write the journal as CSV with Russian headers (Excel-friendly: ``;``
    and a BOM, so open ``fp`` with ``newline=""``). Returns the row count.
    ``columns``: :data:`JOURNAL_COLUMNS` (extended) or :data:`FORM_COLUMNS`
    (exactly the form of seed 002 §3)."""
    fp.write("\ufeff")
    writer = safe_writer(fp, delimiter=delimiter)
    writer.writerow([header for _, header in columns])
    count = 0
    for row in rows:
        writer.writerow(
            [
                v.strftime(DATE_FORMAT) if isinstance(v, datetime) else (v or "")
                for v in row.values(columns)
            ]
        )
        count += 1
    return count


def export_xlsx(
    rows: Iterable[JournalRow],
    path: str | Path,
    *,
    columns: Sequence[tuple[str, str]] = JOURNAL_COLUMNS,
) -> int:
    """Write the journal as an XLSX workbook (dates as real date cells);
    ``columns`` as in :func:`export_csv`."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook(write_only=False)
    ws = wb.active
    assert ws is not None
    ws.title = "Журнал обращений"
    safe_append(ws, [header for _, header in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    count = 0
    for row in rows:
        safe_append(ws, row.values(columns))
        count += 1
    for column_cells in ws.iter_cols(min_row=2):
        for cell in column_cells:
            if isinstance(cell.value, datetime):
                cell.number_format = "DD.MM.YYYY HH:MM"
    widths = [18, 17, 30, 30, 40, 8, 25, 17, 17, 17, 30, 16, 18, 8, 16, 17, 25]
    for index, width in enumerate(widths[: len(columns)], start=1):
        ws.column_dimensions[ws.cell(row=1, column=index).column_letter].width = width
    ws.freeze_panes = "A2"
    wb.save(str(path))
    return count
