"""The customer's confirmations and reminders (REQ-T11, O12) on SQLite and
PostgreSQL: the reminder of tomorrow's visits queued once however often the
sweep runs (and again for a visit moved to another day), the e-mail sent
through a real SMTP server exactly once, a refusal failed for good, the SMS
handed to the SMS slice's outbox, a claim left by a dead node lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest_asyncio
from sqlalchemy import select

from core.settings import Settings
from crm_bridge.db import Database
from sms.models import SmsMessage
from tests.autoinformer.smtp_server import SmtpServer
from tests.visits.conftest import Clock
from visits.models import NoticeChannel, VisitNotice
from visits.notices import STALE, NoticeStore, VisitNotifier
from visits.service import Contact, OfficeView, VisitService

MSK = ZoneInfo("Europe/Moscow")


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2025, 3, day, hh, mm, tzinfo=MSK)


def rows(db: Database) -> list[tuple[int, str, str, str]]:
    with db.session() as s:
        return [
            (n.visit_id, n.kind, n.state, n.channel)
            for n in s.execute(select(VisitNotice).order_by(VisitNotice.id)).scalars()
        ]


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.close()


class _Services:
    def __init__(self, db: Database, smtp: SmtpServer) -> None:
        self.db = db
        self.settings = Settings(smtp_host=smtp.host, smtp_port=smtp.port, sms_sender="4242")

    async def run_db(self, fn: Any, *args: Any) -> Any:
        return fn(*args)


def test_reminders_of_tomorrow_once(
    db: Database,
    service: VisitService,
    clock: Clock,
    office: OfficeView,
    accounts: dict[str, int],
) -> None:
    tomorrow = service.book(office.id, accounts["2000000001"], at(4, 9), source="ivr", by="ivr")
    later = service.book(office.id, accounts["2000000002"], at(6, 9), source="ivr", by="ivr")
    store = NoticeStore(db, clock=clock)
    clock.advance(hours=-3)  # 07:00 in the office's town: nobody is texted so early
    assert store.queue_reminders() == 0
    clock.advance(hours=3)
    assert store.queue_reminders() == 1
    assert store.queue_reminders() == 0  # idempotent
    assert [(v, k) for v, k, _, _ in rows(db) if k == "reminder"] == [(tomorrow.id, "reminder")]
    # moved to Wednesday 5th: reminded again on Tuesday for the new slot
    service.move(tomorrow.id, at(5, 10), by="ivr")
    clock.advance(days=1)
    assert store.queue_reminders() == 1
    assert store.queue_reminders() == 0
    clock.advance(days=1)  # Wednesday: Thursday 6th's visit
    assert store.queue_reminders() == 1
    reminders = [(v, k) for v, k, _, _ in rows(db) if k == "reminder"]
    assert reminders == [(tomorrow.id, "reminder")] * 2 + [(later.id, "reminder")]


async def test_email_sent_once_refusal_failed_sms_handed_to_the_outbox(
    db: Database,
    service: VisitService,
    clock: Clock,
    office: OfficeView,
    accounts: dict[str, int],
    smtp: SmtpServer,
) -> None:
    by_mail = service.book(office.id, accounts["2000000001"], at(4, 9), source="ivr", by="ivr")
    by_sms = service.book(
        office.id,
        accounts["2000000007"],
        at(4, 10),
        source="operator",
        by="ivanova",
        contact=Contact(NoticeChannel.SMS, "+79001000007"),
    )
    refused = service.book(
        office.id,
        accounts["2000000009"],
        at(4, 11),
        source="operator",
        by="ivanova",
        contact=Contact(NoticeChannel.EMAIL, "reject@example.org"),
    )
    nobody = service.book(office.id, accounts["2000000011"], at(4, 13), source="ivr", by="ivr")
    assert nobody.notify_channel is NoticeChannel.NONE
    notifier = VisitNotifier(_Services(db, smtp))
    notifier.store = NoticeStore(db, clock=clock)
    assert await notifier.run_once() == 6  # three confirmations, three reminders (tomorrow)
    assert await notifier.run_once() == 0
    letters = [(r.recipients, r.message["Subject"]) for r in smtp.received]
    assert sorted(letters) == [
        (["visitor1@example.org"], "Вы записаны на приём"),
        (["visitor1@example.org"], "Напоминание о записи на приём"),
    ]
    body = next(r for r in smtp.received if "записаны" in r.message["Subject"]).message
    text = body.get_content()
    assert "во вторник, 4 марта, в 09:00" in text and f"Номер записи: {by_mail.id}" in text
    states = {(v, k): (st, ch) for v, k, st, ch in rows(db)}
    assert states[(by_mail.id, "booked")] == ("sent", "email")
    assert states[(refused.id, "booked")] == ("failed", "email")
    assert states[(by_sms.id, "booked")] == ("sent", "sms")
    assert states[(by_sms.id, "reminder")] == ("sent", "sms")
    with db.session() as s:
        sms = list(s.execute(select(SmsMessage).order_by(SmsMessage.id)).scalars())
    assert [(m.peer, m.purpose, m.service_number) for m in sms] == [
        ("+79001000007", "visit", "4242")
    ] * 2
    assert "во вторник, 4 марта, в 10:00" in sms[0].text and len(sms[0].text) < 160


def test_a_claim_left_by_a_dead_node_is_lost_not_resent(
    db: Database,
    service: VisitService,
    clock: Clock,
    office: OfficeView,
    accounts: dict[str, int],
) -> None:
    service.book(office.id, accounts["2000000001"], at(4, 9), source="ivr", by="ivr")
    store = NoticeStore(db, clock=clock)
    assert len(store.claim()) == 1
    assert store.recover() == 0  # not stale yet
    clock.advance(seconds=STALE.total_seconds() + 1)
    assert store.recover() == 1
    assert [st for _, _, st, _ in rows(db)] == ["lost"]
    assert store.claim() == []


def test_a_temporary_failure_is_tried_again_later(
    db: Database,
    service: VisitService,
    clock: Clock,
    office: OfficeView,
    accounts: dict[str, int],
) -> None:
    service.book(office.id, accounts["2000000001"], at(4, 9), source="ivr", by="ivr")
    store = NoticeStore(db, clock=clock)
    (out,) = store.claim()
    assert store.finish(out.id, sent=False, error="ConnectionRefusedError") == "queued"
    assert store.claim() == []
    clock.advance(minutes=3)
    (again,) = store.claim()
    assert again.id == out.id
    assert store.finish(again.id, sent=True) == "sent"
    clock.advance(hours=1)
    assert store.claim() == []
