"""The callback scheduling notice end to end through a real Kannel 1.4.5
and its fake SMSC (issue 18 item 3), on SQLite and PostgreSQL, with the
sender of the gateway fixture (``tests/sms/test_kannel_e2e.py``): a callback
scheduled for the appeal of a customer who chose SMS (REQ-O12) reaches the
phone on file as one text message with its time, Kannel's delivery report
makes the notice ``sent``; the operator moves the callback («перезвонить
позже») and the phone gets the new time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select, update

from crm_bridge.appeals import AppealService
from crm_bridge.db import Database, utcnow
from crm_bridge.models import Account, AppealChannel, ReplyChannel
from ivr.flows.common import create_callback
from shift.callbacks import CallbackResult, CallbackService
from sms.models import OutState, SmsMessage
from sms.notices import callback_text
from supervision.models import AppealEvent, AppealNotice, NoticeKind, NoticeStatus
from tests.e2e.waiting import until
from tests.sms.conftest import MSK, PHONE_SINGLE, SINGLE
from tests.sms.test_kannel_e2e import SERVICE_NUMBER, Gateway, gateway

__all__ = ["gateway"]  # the fixture, shared


class _AlwaysOpen:
    def is_open(self, dt: datetime) -> bool:
        return True

    def next_open(self, dt: datetime) -> datetime | None:
        return dt


def _notices(db: Database) -> list[tuple[str, str]]:
    """(notice status, its message's state) of the callback notices, oldest first."""
    with db.session() as s:
        rows = s.execute(
            select(AppealNotice.status, SmsMessage.state)
            .join(SmsMessage, SmsMessage.notice_id == AppealNotice.id, isouter=True)
            .where(AppealNotice.kind == NoticeKind.CALLBACK.value)
            .order_by(AppealNotice.id)
        ).all()
        return [(str(r[0]), str(r[1] or "")) for r in rows]


async def _all_delivered(db: Database, count: int, timeout: float = 20) -> None:
    """Wait for the delivery reports of ``count`` callback notices."""
    want = [(NoticeStatus.SENT.value, OutState.DELIVERED.value)] * count

    async def delivered() -> bool:
        return await asyncio.to_thread(_notices, db) == want

    await until(delivered, timeout, f"{count} callback notices delivered")


async def test_a_scheduled_callback_reaches_the_phone_and_its_report_is_recorded(
    gateway: Gateway,
) -> None:
    db = gateway.db
    appeals = AppealService(db)

    def schedule() -> tuple[str, int, datetime, datetime]:
        with db.session(write=True) as s:
            s.execute(update(Account).where(Account.number == SINGLE).values(notify_by="sms"))
            account = s.scalars(select(Account.id).where(Account.number == SINGLE)).one()
        appeal = appeals.register(
            channel=AppealChannel.PHONE,
            content="Перезвоните по поводу счёта",
            account_id=account,
            reply_channel=ReplyChannel.PHONE,
        )
        start = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=2)
        callback_id = create_callback(
            db,
            phone=PHONE_SINGLE,
            due_at=start,
            window_start=start,
            window_end=end,
            appeal_id=appeal.id,
            account_id=account,
        )
        return appeal.number, callback_id, start, end

    number, callback_id, start, end = await asyncio.to_thread(schedule)
    # gateway.sender takes the notices on its next tick (every poll seconds)
    received = await gateway.phones.received(timeout=30)
    assert (received.receiver, received.sender) == (PHONE_SINGLE, SERVICE_NUMBER)
    assert received.text == callback_text(number, start, end, MSK)
    assert received.text.startswith(f"Обращение № {number}: перезвоним вам ")
    await _all_delivered(db, 1)

    # the operator moves it: the phone gets the new time, once
    later = start + timedelta(days=1, hours=3)
    service = CallbackService(db, hours=_AlwaysOpen(), appeals=appeals)
    await asyncio.to_thread(service.start, callback_id)
    await asyncio.to_thread(
        service.finish, callback_id, CallbackResult.CALL_BACK_LATER, call_back_at=later
    )
    moved = await gateway.phones.received(timeout=30)
    assert moved.receiver == PHONE_SINGLE
    assert moved.text == callback_text(number, later, later, MSK)
    await _all_delivered(db, 2)
    with db.session() as s:
        events = s.scalars(select(AppealEvent).where(AppealEvent.action == "notice.sent")).all()
        assert [(e.detail["kind"], e.detail["channel"]) for e in events] == [
            ("callback", "sms"),
            ("callback", "sms"),
        ]
