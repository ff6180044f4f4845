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
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_bridge.db import Database, utcnow
from crm_bridge.models import Appeal
from crm_bridge.phones import try_normalize_phone
from sms.encoding import coding_of, segments
from sms.models import Direction, OutState, SmsMessage
from supervision.models import AppealEvent, AppealNotice, NoticeChannel, NoticeKind, NoticeStatus
from supervision.notices import claim_due, last_day

__all__ = ["NODE", "NoticeBridge", "notice_text", "settle_notices"]

NODE: Final = "sms"
"""The ``node`` of notices the SMS slice took (supervision's restart
recovery marks only its own node's ``sending`` notices lost)."""
UCS2_PART: Final = 67


def _dmy(when: datetime, zone: ZoneInfo) -> str:
    return last_day(when, zone).strftime("%d.%m.%Y")


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

    def take(self, limit: int = 50) -> int:
        """Queue due SMS notices as text messages; how many were taken."""
        now = self._clock()
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
