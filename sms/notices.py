"""SMS as the transport of the appeal notices (REQ-A7, A9, A11).

The supervision slice keeps the outbox of notices (``appeal_notices``,
:mod:`supervision.notices`) and sends its e-mails itself; rows of channel
``sms`` wait there for a transport. :meth:`NoticeBridge.take` claims them
(``FOR UPDATE SKIP LOCKED``; the notice becomes ``sending`` on node
``sms``) and queues each as a text message in ``sms_messages`` in the same
transaction, shortened to what a phone shows: the number and the date for
a registration or an extension, the answer's text for an answer (up to
``max_parts`` segments). The notice's fate then follows the delivery
reports (:meth:`sms.outbox.Outbox.report_many`): ``sent`` only when the
phone got it (report «delivered»), ``failed`` when the report says it was
not delivered or the gateway refused it for good — a notice counts as
given only when delivered. A contact that is not a phone number fails the
notice at once, with the reason.

Callback notices (issue 18 item 3, kind ``callback``) are queued here, by
:meth:`NoticeBridge.queue_callbacks`, a sweep run before each take, like
supervision's registration sweep: a pending callback of an appeal (the
answering machine's, the queue's callback offer, an operator's «перезвонить
позже») gets «Обращение № N: перезвоним вам 07.12.2026 с 10:00 до 12:00»
(company zone, one UCS-2 segment) when the customer chose SMS as the form
of notification (``accounts.notify_by``, REQ-O12) or the appeal's reply
channel is SMS, and only when the number to call is a mobile number in the
account's contract (REQ-O7). ``dedup`` is the callback and its due time:
exactly once per time (the unique key holds across nodes and restarts), and
a callback moved to another time gets a new notice. Only callbacks not yet
over are looked at (pending, window still open): no texts for the back
catalogue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_bridge.db import Database, utcnow
from crm_bridge.models import (
    Account,
    AccountPhone,
    Appeal,
    Callback,
    CallbackStatus,
    ReplyChannel,
)
from crm_bridge.phones import try_normalize_phone
from sms.encoding import coding_of, segments
from sms.models import Direction, OutState, SmsMessage
from supervision.models import AppealEvent, AppealNotice, NoticeChannel, NoticeKind, NoticeStatus
from supervision.notices import NoticeStore, claim_due, last_day

__all__ = ["NODE", "NoticeBridge", "callback_text", "notice_text", "settle_notices"]

log = logging.getLogger(__name__)

NODE: Final = "sms"
"""The ``node`` of notices the SMS slice took (supervision's restart
recovery marks only its own node's ``sending`` notices lost)."""
UCS2_PART: Final = 67


def _dmy(when: datetime, zone: ZoneInfo) -> str:
    return last_day(when, zone).strftime("%d.%m.%Y")


def callback_text(number: str, due: datetime, window_end: datetime | None, zone: ZoneInfo) -> str:
    """«Обращение № N: перезвоним вам 07.12.2026 с 10:00 до 12:00» — the
    callback's time in the company's zone, short enough for one UCS-2 SMS."""
    start = due.astimezone(zone)
    day = start.strftime("%d.%m.%Y")
    if window_end is None or window_end <= due:
        when = f"{day} в {start:%H:%M}"
    elif window_end.astimezone(zone).date() == start.date():
        when = f"{day} с {start:%H:%M} до {window_end.astimezone(zone):%H:%M}"
    else:  # a window over several days (the answering machine's: until the term)
        when = f"с {start:%d.%m %H:%M} до {last_day(window_end, zone):%d.%m.%Y}"
    return f"Обращение № {number}: перезвоним вам {when}"


@dataclass(frozen=True)
class _Due:
    """A pending callback, as the sweep reads it."""

    id: int
    appeal_id: int
    due_at: datetime
    window_end: datetime | None
    phone: str
    account_id: int


def callback_dedup(callback_id: int, due: datetime) -> str:
    """One callback notice per callback and due time (a moved callback: a new one)."""
    return f"cb{callback_id}@{due.astimezone(UTC):%Y%m%dT%H%M%S}"


def is_mobile(phone: str) -> bool:
    """A Russian mobile number in E.164 (only those get SMS)."""
    return len(phone) == 12 and phone.startswith("+79") and phone[1:].isdigit()


def _answer_of(body: str) -> str:
    """The answer's text inside the letter :func:`supervision.notices.answered_text` writes."""
    parts = [p.strip() for p in body.split("\n\n") if p.strip()]
    # «Здравствуйте!», «Ответ на ваше обращение № …:», the answer…, the company
    middle = parts[2:-1] if len(parts) >= 4 else parts
    return " ".join(" ".join(p.split()) for p in middle)


def notice_text(notice: AppealNotice, appeal: Appeal, zone: ZoneInfo, max_parts: int = 4) -> str:
    """The notice as one text message (concatenated up to ``max_parts``)."""
    due = appeal.extended_due_at or appeal.due_at
    if notice.kind == NoticeKind.REGISTERED.value:
        text = f"Обращение № {appeal.number} зарегистрировано."
        if due is not None:
            text += f" Ответ не позднее {_dmy(due, zone)}."
    elif notice.kind == NoticeKind.EXTENDED.value and due is not None:
        text = f"Срок ответа на обращение № {appeal.number} продлён до {_dmy(due, zone)}."
    elif notice.kind == NoticeKind.ANSWERED.value:
        text = f"Ответ на обращение № {appeal.number}: {_answer_of(notice.body)}"
    elif notice.kind == NoticeKind.CALLBACK.value:
        text = notice.body
    else:
        text = notice.subject
    limit = max_parts * UCS2_PART
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class NoticeBridge:
    def __init__(
        self,
        db: Database,
        *,
        zone: ZoneInfo,
        service_number: str = "",
        max_parts: int = 4,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.zone = zone
        self.service_number = service_number
        self.max_parts = max_parts
        self._clock = clock

    def queue_callbacks(self, now: datetime | None = None, limit: int = 100) -> int:
        """Queue a callback notice for every scheduled callback that should
        have one and has none for its time yet (see the module docstring)."""
        now = now or self._clock()
        with self.db.session() as s:
            if not self._pending_callbacks(s, now, limit=1):
                return 0  # the idle sweep takes no write lock
        queued = 0
        try:
            with self.db.session(write=True) as s:
                for cb, appeal, phone in self._pending_callbacks(s, now, limit=limit):
                    text = callback_text(appeal.number, cb.due_at, cb.window_end, self.zone)
                    NoticeStore.add(
                        s,
                        appeal,
                        NoticeKind.CALLBACK,
                        NoticeChannel.SMS,
                        phone,
                        (text, text),
                        dedup=callback_dedup(cb.id, cb.due_at),
                        now=now,
                    )
                    queued += 1
        except IntegrityError:
            # Another node queued the same notices first (the unique key
            # (appeal, kind, dedup)): nothing to do here.
            return 0
        if queued:
            log.info("sms: %d callback notices queued", queued)
        return queued

    @staticmethod
    def _pending_callbacks(
        s: Session, now: datetime, *, limit: int
    ) -> list[tuple[_Due, Appeal, str]]:
        """Pending callbacks not yet over whose customer takes notices by SMS,
        with the mobile number in the contract to send to, lacking a notice
        for their current time. Plain columns, no entities: the sweep runs
        on every tick of the sender and mostly finds nothing."""
        account_id = func.coalesce(Callback.account_id, Appeal.account_id)
        open_callbacks = (
            select(
                Callback.id,
                Callback.appeal_id,
                Callback.due_at,
                Callback.window_end,
                Callback.phone,
                account_id.label("account_id"),
            )
            .join(Appeal, Appeal.id == Callback.appeal_id)
            .join(Account, Account.id == account_id)
            .where(
                Callback.status == CallbackStatus.PENDING,
                func.coalesce(Callback.window_end, Callback.due_at) > now,
                (Account.notify_by == "sms") | (Appeal.reply_channel == ReplyChannel.SMS),
            )
        )
        rows = [
            _Due(int(i), int(a or 0), due, end, phone, int(acc))
            for i, a, due, end, phone, acc in s.execute(open_callbacks.order_by(Callback.id))
        ]
        if not rows:
            return []
        of_open = open_callbacks.subquery()
        done = {
            (int(a), str(d))
            for a, d in s.execute(
                select(AppealNotice.appeal_id, AppealNotice.dedup).where(
                    AppealNotice.kind == NoticeKind.CALLBACK.value,
                    AppealNotice.appeal_id.in_(select(of_open.c.appeal_id)),
                )
            )
        }
        missing = [r for r in rows if (r.appeal_id, callback_dedup(r.id, r.due_at)) not in done]
        if not missing:
            return []
        on_file = {
            (int(a), str(p))
            for a, p in s.execute(
                select(AccountPhone.account_id, AccountPhone.phone).where(
                    AccountPhone.account_id.in_(sorted({r.account_id for r in missing})),
                    AccountPhone.in_contract.is_(True),
                )
            )
        }
        out: list[tuple[_Due, Appeal, str]] = []
        for r in missing:
            phone = try_normalize_phone(r.phone)
            # REQ-O7: only the number the customer called from, when it is in the contract
            if phone is None or not is_mobile(phone) or (r.account_id, phone) not in on_file:
                continue
            appeal = s.get(Appeal, r.appeal_id)
            if appeal is not None:
                out.append((r, appeal, phone))
            if len(out) >= limit:
                break
        return out

    def take(self, limit: int = 50) -> int:
        """Queue due SMS notices as text messages; how many were taken."""
        now = self._clock()
        self.queue_callbacks(now)
        taken = 0

        def take(s: Session, notice: AppealNotice) -> None:
            nonlocal taken
            phone = try_normalize_phone(notice.contact)
            appeal = s.get(Appeal, notice.appeal_id)
            if phone is None or appeal is None:
                notice.status = NoticeStatus.FAILED.value
                notice.error = "номер телефона для СМС не распознан"
                return
            text = notice_text(notice, appeal, self.zone, self.max_parts)
            s.add(
                SmsMessage(
                    direction=Direction.OUT.value,
                    peer=phone,
                    service_number=self.service_number,
                    text=text,
                    parts=segments(text),
                    coding=coding_of(text),
                    state=OutState.QUEUED.value,
                    purpose="notice",
                    appeal_id=appeal.id,
                    account_id=appeal.account_id,
                    notice_id=notice.id,
                    tries=0,
                    next_try_at=now,
                    created_at=now,
                )
            )
            notice.status = NoticeStatus.SENDING.value
            taken += 1

        claim_due(self.db, [NoticeChannel.SMS.value], now, limit, node=NODE, take=take)
        return taken


def settle_notices(session: Session, message_ids: list[int], now: datetime) -> None:
    """The notices carried by these messages follow their final state
    (in the caller's transaction): delivered → ``sent``, failed → ``failed``."""
    rows: list[Any] = list(
        session.execute(
            select(SmsMessage.notice_id, SmsMessage.state, SmsMessage.id).where(
                SmsMessage.id.in_(message_ids),
                SmsMessage.notice_id.is_not(None),
                SmsMessage.state.in_((OutState.DELIVERED.value, OutState.FAILED.value)),
            )
        ).all()
    )
    for notice_id, state, message_id in rows:
        notice = session.get(AppealNotice, notice_id, with_for_update=True)
        if notice is None or notice.status != NoticeStatus.SENDING.value:
            continue
        if state == OutState.DELIVERED.value:
            notice.status = NoticeStatus.SENT.value
            notice.sent_at = now
            notice.error = None
            session.add(
                AppealEvent(
                    appeal_id=notice.appeal_id,
                    at=now,
                    operator_id=None,
                    action="notice.sent",
                    detail={
                        "notice": notice.id,
                        "kind": notice.kind,
                        "channel": "sms",
                        "sms": message_id,
                    },
                )
            )
        else:
            notice.status = NoticeStatus.FAILED.value
            notice.error = "СМС не доставлено"
