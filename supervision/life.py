"""The appeal's whole life (issue 14): every action of the supervisor's and
operator's page as one service, each written to the appeal's history
(``appeal_events``) in the transaction that makes the change.

Actions (REQ-A3 journal columns in brackets):

==================  ===========================================================
pass                to a department or a person, with the date passed (7, 9)
answer_received     the executor's answer came back (10)
answer              the customer answered through the reply channel (8, REQ-A7);
                    by e-mail the answer is queued as a notice
close               what was done and in whose favour (11); a decision not in
                    the customer's favour needs a reasoned refusal (REQ-A6)
complaint           category А/Б and urgency (REQ-A6, A5)
not_considered      with a REQ-A8 reason
contact             the reply channel and contact the customer chose (REQ-A7)
classify            the REQ-A4 code
extend              only with the customer informed (REQ-A9): by e-mail (the
                    letter must be accepted by the server first, see
                    :mod:`supervision.notices`) or, when the customer is
                    reached by phone, who told them and when
==================  ===========================================================

Lists: overdue, due within a day, due soon, and the REQ-A12 measures due.
Blocking (run it through ``run_db``); errors are the CRM's typed errors plus
:class:`LifeError` (bad input, HTTP 400) and :class:`CannotInform` (409).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from crm_bridge import deadlines
from crm_bridge.appeals import OPEN_STATUSES, AppealService, AppealView, deadline_kind
from crm_bridge.db import Database
from crm_bridge.errors import CrmError, ExtensionNotAllowed
from crm_bridge.models import (
    Appeal,
    AppealStatus,
    Call,
    ClassificationCode,
    ComplaintCategory,
    Decision,
    NotConsideredReason,
    Operator,
    ReplyChannel,
)
from supervision.models import AppealEvent, AppealNotice, NoticeChannel, NoticeKind, NoticeStatus
from supervision.notices import NoticeStore, answered_text, extended_text

__all__ = [
    "ACTION_TITLES",
    "AppealLife",
    "AppealPage",
    "CannotInform",
    "EventView",
    "LifeError",
    "NoticeView",
    "Told",
]

log = logging.getLogger(__name__)

ACTION_TITLES: Final = {
    "pass": "передано на исполнение",
    "answer_received": "получен ответ исполнителя",
    "answer": "дан ответ клиенту",
    "close": "закрыто",
    "complaint": "отмечено как жалоба",
    "not_considered": "не рассматривается",
    "contact": "изменён канал ответа",
    "classify": "классифицировано",
    "extend": "срок продлён",
    "extend.refused": "продление не состоялось",
    "notice.sent": "клиенту отправлено уведомление",
}
REPLY_TITLES: Final = {
    ReplyChannel.PHONE: "телефон",
    ReplyChannel.SMS: "СМС",
    ReplyChannel.EMAIL: "электронная почта",
    ReplyChannel.POST: "почта",
    ReplyChannel.WEB: "сайт",
    ReplyChannel.IN_PERSON: "лично",
}
NOTICE_TITLES: Final = {
    NoticeKind.REGISTERED.value: "о регистрации",
    NoticeKind.EXTENDED.value: "о продлении срока",
    NoticeKind.ANSWERED.value: "ответ",
    NoticeKind.CALLBACK.value: "о времени обратного звонка",
}
NOTICE_STATUS_TITLES: Final = {
    NoticeStatus.QUEUED.value: "в очереди",
    NoticeStatus.SENDING.value: "отправляется",
    NoticeStatus.SENT.value: "доставлено на почтовый сервер",
    NoticeStatus.FAILED.value: "не доставлено",
    NoticeStatus.LOST.value: "неизвестно (сбой при отправке)",
}
PHONE_CHANNELS: Final = frozenset({ReplyChannel.PHONE, ReplyChannel.SMS})
"""A customer reached by phone can be told by the operator in a call."""


class LifeError(CrmError, ValueError):
    """Input the page cannot use (HTTP 400, message in Russian)."""


class CannotInform(CrmError):
    """The customer cannot be told, so the term cannot move (REQ-A9; HTTP 409)."""


@dataclass(frozen=True)
class Told:
    """How the customer was told of an extension by phone (REQ-A9)."""

    who: str
    at: datetime


@dataclass(frozen=True)
class EventView:
    at: datetime
    who: str
    action: str
    title: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class NoticeView:
    id: int
    kind: str
    title: str
    channel: str
    status: str
    status_title: str
    tries: int
    sent_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class AppealPage:
    """Everything the appeal's page shows."""

    appeal: AppealView
    events: list[EventView]
    notices: list[NoticeView]
    call_uniqueid: str | None
    call_has_recording: bool


class AppealLife:
    """The actions and lists of the appeal's page (see the module docstring)."""

    def __init__(self, db: Database, appeals: AppealService, *, node: str = "node1") -> None:
        self.db = db
        self.appeals = appeals
        self.zone: ZoneInfo = appeals.rules.zone
        self.notices = NoticeStore(db, node, self.zone)

    def now(self) -> datetime:
        return self.appeals.now()

    # -- reading ------------------------------------------------------------------

    def page(self, appeal_id: int) -> AppealPage:
        appeal = self.appeals.get(appeal_id)
        with self.db.session() as s:
            rows = s.execute(
                select(AppealEvent, Operator.name)
                .outerjoin(Operator, Operator.id == AppealEvent.operator_id)
                .where(AppealEvent.appeal_id == appeal_id)
                .order_by(AppealEvent.at, AppealEvent.id)
            ).all()
            events = [
                EventView(
                    e.at,
                    name or ("система" if e.operator_id is None else f"#{e.operator_id}"),
                    e.action,
                    ACTION_TITLES.get(e.action, e.action),
                    dict(e.detail or {}),
                )
                for e, name in rows
            ]
            notices = [
                NoticeView(
                    n.id,
                    n.kind,
                    NOTICE_TITLES.get(n.kind, n.kind),
                    n.channel,
                    n.status,
                    NOTICE_STATUS_TITLES.get(n.status, n.status),
                    n.tries,
                    n.sent_at,
                    n.error,
                )
                for n in s.scalars(
                    select(AppealNotice)
                    .where(AppealNotice.appeal_id == appeal_id)
                    .order_by(AppealNotice.id)
                )
            ]
            call = None
            if appeal.call_id is not None:
                call = s.execute(
                    select(Call.uniqueid, Call.recording_file).where(Call.id == appeal.call_id)
                ).first()
        return AppealPage(
            appeal,
            events,
            notices,
            call.uniqueid if call else None,
            bool(call and call.recording_file),
        )

    # -- history ------------------------------------------------------------------

    def _record(
        self, who: int | None, action: str, detail: dict[str, Any] | None = None
    ) -> Callable[[Session, Appeal], None]:
        at = self.now()

        def write(session: Session, appeal: Appeal) -> None:
            session.add(
                AppealEvent(
                    appeal_id=appeal.id,
                    at=at,
                    operator_id=who,
                    action=action,
                    detail=detail or {},
                )
            )

        return write

    # -- actions ------------------------------------------------------------------

    def pass_to(self, appeal_id: int, who: int | None, to: str, at: datetime | None) -> AppealView:
        """Journal columns 7 and 9 (the date passed may be given: a paper
        passed yesterday is entered today)."""
        to = to.strip()
        if not to:
            raise LifeError("укажите, кому (куда) передано на исполнение")
        when = at or self.now()
        if when > self.now() + timedelta(minutes=5):
            raise LifeError("дата передачи не может быть в будущем")
        return self.appeals.pass_to(
            appeal_id,
            to[:255],
            at=when,
            after=self._record(who, "pass", {"to": to[:255], "at": when.isoformat()}),
        )

    def answer_received(self, appeal_id: int, who: int | None) -> AppealView:
        return self.appeals.answer_received(appeal_id, after=self._record(who, "answer_received"))

    def answer(
        self,
        appeal_id: int,
        who: int | None,
        *,
        text: str,
        channel: ReplyChannel | str | None = None,
        contact: str | None = None,
    ) -> AppealView:
        """The customer answered through the reply channel the appeal came in
        or the one the customer chose (REQ-A7). By e-mail the answer goes
        into the outbox in the same transaction."""
        text = text.strip()
        if not text:
            raise LifeError("напишите, что ответили клиенту")
        current = self.appeals.get(appeal_id)
        try:
            chosen = ReplyChannel(channel) if channel else current.reply_channel
        except ValueError as exc:
            raise LifeError(f"неизвестный канал ответа «{channel}»") from exc
        address = (contact if contact is not None else current.reply_contact or "").strip()
        if chosen is ReplyChannel.EMAIL and "@" not in address:
            raise LifeError("для ответа по электронной почте нужен адрес клиента")
        record = self._record(
            who,
            "answer",
            {"channel": chosen.value if chosen else None, "text": text[:2000]},
        )

        def after(session: Session, appeal: Appeal) -> None:
            appeal.reply_channel = chosen
            appeal.reply_contact = address or appeal.reply_contact
            record(session, appeal)
            if chosen is ReplyChannel.EMAIL:
                NoticeStore.add(
                    session,
                    appeal,
                    NoticeKind.ANSWERED,
                    NoticeChannel.EMAIL,
                    address,
                    answered_text(AppealView.from_model(appeal), text),
                    dedup=f"answer-{self.now().timestamp():.0f}",
                    now=self.now(),
                )

        return self.appeals.answer(appeal_id, note=text[:4000], after=after)

    def close(
        self,
        appeal_id: int,
        who: int | None,
        *,
        note: str,
        decision: Decision | str | None,
        refusal: str | None,
    ) -> AppealView:
        """Column 11: what was done and in whose favour; not in the
        customer's favour → a reasoned refusal (REQ-A6)."""
        current = self.appeals.get(appeal_id)
        try:
            chosen = Decision(decision) if decision else None
        except ValueError as exc:
            raise LifeError(f"неизвестное решение «{decision}»") from exc
        if chosen is None and current.status is not AppealStatus.NOT_CONSIDERED:
            raise LifeError("укажите, в чью пользу решён вопрос")
        note = note.strip()
        if not note and current.status is not AppealStatus.NOT_CONSIDERED:
            raise LifeError("напишите, что было сделано")
        return self.appeals.close(
            appeal_id,
            note=note or current.note,
            decision=chosen,
            refusal_reason=refusal,
            after=self._record(
                who,
                "close",
                {"decision": chosen.value if chosen else None, "refusal": (refusal or "")[:2000]},
            ),
        )

    def complaint(
        self, appeal_id: int, who: int | None, category: ComplaintCategory | str, urgent: bool
    ) -> AppealView:
        try:
            chosen = ComplaintCategory(category)
        except ValueError as exc:
            raise LifeError("категория жалобы: А или Б") from exc
        return self.appeals.mark_complaint(
            appeal_id,
            chosen,
            urgent=urgent,
            after=self._record(who, "complaint", {"category": chosen.value, "urgent": urgent}),
        )

    def not_considered(
        self, appeal_id: int, who: int | None, reason: NotConsideredReason | str, note: str
    ) -> AppealView:
        try:
            chosen = NotConsideredReason(reason)
        except ValueError as exc:
            raise LifeError("выберите причину, по которой обращение не рассматривается") from exc
        return self.appeals.not_considered(
            appeal_id,
            chosen,
            note=note.strip() or None,
            after=self._record(who, "not_considered", {"reason": chosen.value}),
        )

    def contact(
        self, appeal_id: int, who: int | None, channel: ReplyChannel | str, contact: str
    ) -> AppealView:
        """The reply channel and contact (REQ-A7)."""
        try:
            chosen = ReplyChannel(channel)
        except ValueError as exc:
            raise LifeError(f"неизвестный канал ответа «{channel}»") from exc
        contact = contact.strip()[:255]
        if chosen is ReplyChannel.EMAIL and "@" not in contact:
            raise LifeError("укажите адрес электронной почты клиента")
        if chosen in PHONE_CHANNELS and sum(ch.isdigit() for ch in contact) < 5:
            raise LifeError("укажите номер телефона клиента")
        return self.appeals.update_contact(
            appeal_id,
            reply_channel=chosen,
            reply_contact=contact,
            after=self._record(who, "contact", {"channel": chosen.value}),
        )

    def classify(self, appeal_id: int, who: int | None, code: str) -> AppealView:
        try:
            chosen = ClassificationCode(code)
        except ValueError as exc:
            raise LifeError(f"неизвестный код классификации «{code}»") from exc
        return self.appeals.classify(
            appeal_id,
            chosen,
            by_operator=who,
            after=self._record(who, "classify", {"code": chosen.value}),
        )

    # -- extension (REQ-A5, A6, A9) -------------------------------------------------

    def plan_extension(self, appeal_id: int, days: int) -> tuple[AppealView, datetime]:
        """The new answer deadline, or the reason the term cannot move; nothing
        is changed and nobody is told yet."""
        if not 1 <= days <= self.appeals.rules.max_extension_days:
            raise LifeError(f"продлить можно на 1–{self.appeals.rules.max_extension_days} дней")
        a = self.appeals.get(appeal_id)
        if not a.is_open:
            raise ExtensionNotAllowed(f"обращение {a.number} уже не в работе")
        if a.complaint_category is ComplaintCategory.A:
            raise ExtensionNotAllowed(
                f"обращение {a.number}: типовая жалоба (категория А) не продлевается (REQ-A6)"
            )
        term = deadlines.compute_deadline(
            deadline_kind(a.kind, a.channel, urgent=a.urgent), a.received_at, self.appeals.rules
        )
        try:
            if a.extended_days:
                term = term.extend(a.extended_days, at=a.received_at, customer_notified=True)
            term = term.extend(days, at=self.now(), customer_notified=True)
        except deadlines.DeadlineError as exc:
            raise ExtensionNotAllowed(_deadline_ru(exc, a)) from exc
        return a, term.answer_by

    def email_for_extension(self, appeal_id: int, who: int | None, days: int, reason: str) -> int:
        """Creates the extension letter already claimed by this node (the page
        delivers it and waits); :class:`CannotInform` without an e-mail contact."""
        a, new_due = self.plan_extension(appeal_id, days)
        if a.reply_channel in PHONE_CHANNELS:
            raise CannotInform(
                "клиент ждёт ответ по телефону: позвоните ему и укажите, кто и когда "
                "сообщил о продлении (REQ-A9)"
            )
        if a.reply_channel is not ReplyChannel.EMAIL:
            raise CannotInform(
                "клиента нельзя известить через его канал ответа: срок не продлён (REQ-A9)"
            )
        address = (a.reply_contact or "").strip()
        if "@" not in address:
            raise CannotInform(
                "у клиента нет адреса электронной почты: известить его нельзя, "
                "срок не продлён (REQ-A9). Укажите адрес или канал «телефон»."
            )
        with self.db.session(write=True) as s:
            notice = NoticeStore.add(
                s,
                a,
                NoticeKind.EXTENDED,
                NoticeChannel.EMAIL,
                address,
                extended_text(a, days, new_due, reason, self.zone),
                dedup=f"extend-{self.now().timestamp():.6f}-{who}",
                status=NoticeStatus.SENDING,
                node=self.notices.node,
                now=self.now(),
            )
            return notice.id

    def extend(
        self,
        appeal_id: int,
        who: int | None,
        days: int,
        reason: str,
        *,
        notice_id: int | None = None,
        told: Told | None = None,
    ) -> AppealView:
        """Move the term once the customer has been told (REQ-A9): by the
        delivered letter ``notice_id`` or by phone (``told``)."""
        reason = reason.strip()
        if not reason:
            raise LifeError("укажите причину продления")
        a, _ = self.plan_extension(appeal_id, days)
        detail: dict[str, Any] = {"days": days, "reason": reason[:500]}
        if notice_id is not None:
            with self.db.session() as s:
                n = s.get(AppealNotice, notice_id)
                if n is None or n.appeal_id != appeal_id or n.status != NoticeStatus.SENT.value:
                    raise CannotInform("письмо клиенту не доставлено: срок не продлён")
            detail |= {"informed": "email", "notice": notice_id}
        elif told is not None:
            if a.reply_channel not in PHONE_CHANNELS:
                raise CannotInform(
                    "клиент ждёт ответ не по телефону: известите его через его канал ответа"
                )
            if not told.who.strip():
                raise LifeError("укажите, кто сообщил клиенту о продлении")
            if told.at > self.now() + timedelta(minutes=5):
                raise LifeError("время звонка клиенту не может быть в будущем")
            detail |= {
                "informed": "phone",
                "who": told.who.strip()[:100],
                "at": told.at.isoformat(),
            }
        else:
            raise CannotInform("клиент не извещён о продлении: срок не продлён (REQ-A9)")
        try:
            return self.appeals.extend(
                appeal_id,
                days,
                customer_notified=True,
                reason=reason,
                after=self._record(who, "extend", detail),
            )
        except deadlines.DeadlineError as exc:
            raise ExtensionNotAllowed(_deadline_ru(exc, a)) from exc

    def record_refused_extension(
        self, appeal_id: int, who: int | None, days: int, why: str
    ) -> None:
        """History: an extension the customer could not be told of."""
        with self.db.session(write=True) as s:
            s.add(
                AppealEvent(
                    appeal_id=appeal_id,
                    at=self.now(),
                    operator_id=who,
                    action="extend.refused",
                    detail={"days": days, "why": why[:255]},
                )
            )

    # -- lists ----------------------------------------------------------------------

    def _scoped(self, stmt: Select[Any], worked_by: int | None) -> Select[Any]:
        if worked_by is None:
            return stmt
        taken = select(Call.id).where(Call.operator_id == worked_by)
        return stmt.where((Appeal.classified_by_id == worked_by) | Appeal.call_id.in_(taken))

    def _list(self, stmt: Select[Any], worked_by: int | None, order: Any) -> list[AppealView]:
        stmt = self._scoped(stmt, worked_by).order_by(order, Appeal.seq).limit(500)
        with self.db.session() as s:
            return [AppealView.from_model(a) for a in s.scalars(stmt)]

    def overdue(
        self, *, worked_by: int | None = None, now: datetime | None = None
    ) -> list[AppealView]:
        """Open appeals past their answer deadline (REQ-A5)."""
        when = now or self.now()
        due = func.coalesce(Appeal.extended_due_at, Appeal.due_at)
        stmt = select(Appeal).where(Appeal.status.in_(OPEN_STATUSES), due <= when)
        return self._list(stmt, worked_by, due)

    def due_within(
        self,
        within: timedelta,
        *,
        worked_by: int | None = None,
        now: datetime | None = None,
        after: timedelta = timedelta(0),
    ) -> list[AppealView]:
        """Open appeals whose answer deadline falls in ``(now + after, now + within]``."""
        when = now or self.now()
        due = func.coalesce(Appeal.extended_due_at, Appeal.due_at)
        stmt = select(Appeal).where(
            Appeal.status.in_(OPEN_STATUSES), due > when + after, due <= when + within
        )
        return self._list(stmt, worked_by, due)

    def measures_due(
        self,
        within: timedelta = timedelta(days=1),
        *,
        worked_by: int | None = None,
        now: datetime | None = None,
    ) -> list[AppealView]:
        """REQ-A12: open appeals whose 14-day measures term ends within
        ``within`` or has passed."""
        when = now or self.now()
        stmt = select(Appeal).where(
            Appeal.status.in_(OPEN_STATUSES),
            Appeal.measures_due_at.is_not(None),
            Appeal.measures_due_at <= when + within,
        )
        return self._list(stmt, worked_by, Appeal.measures_due_at)


def _deadline_ru(exc: Exception, a: AppealView) -> str:
    text = str(exc)
    if "immediately" in text:
        why = "жалоба на угрозу жизни и здоровью рассматривается немедленно"
    elif "expired" in text:
        why = "срок ответа уже истёк"
    elif "cap" in text:
        why = "общий срок рассмотрения превысил бы 21 день"
    elif "total" in text:
        why = "продление в сумме превысило бы 10 дней"
    else:
        why = text
    return f"обращение {a.number}: срок продлить нельзя — {why} (REQ-A5)"
