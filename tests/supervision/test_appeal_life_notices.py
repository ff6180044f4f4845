"""Notices to the customer (REQ-A11, A9, A7) through the real test SMTP
server, and the daily digest once a day (REQ-A5, A12). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from autoinformer.email import SmtpConfig
from core.settings import Settings
from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.models import AppealChannel, Counter
from crm_bridge.services import CrmServices
from supervision.digest import DigestComponent, DigestStore, build_digest, deliver_digest
from supervision.life import AppealLife
from supervision.models import AppealNotice
from supervision.notices import MAX_TRIES, NoticeSender
from tests.autoinformer.smtp_server import SmtpServer

from .conftest import NOW, run_db


def _cfg(port: int) -> SmtpConfig:
    return SmtpConfig("127.0.0.1", port, "hotline@energo.example", timeout=5.0)


def _notices(db: Database) -> list[AppealNotice]:
    with db.session() as s:
        return list(s.scalars(select(AppealNotice).order_by(AppealNotice.id)))


def _email_appeal(appeals: AppealService, contact: str = "client@example.ru") -> int:
    return appeals.register(
        channel=AppealChannel.EMAIL, content="Вопрос о тарифе", reply_contact=contact
    ).id


# -- REQ-A11: the registration notice ------------------------------------------------------


async def test_registration_notice_with_the_number_arrives_once(
    db: Database, life: AppealLife, appeals: AppealService, smtp: SmtpServer
) -> None:
    aid = _email_appeal(appeals)
    phone = appeals.register(channel=AppealChannel.PHONE, content="x", reply_contact="+79001112233")
    sender = NoticeSender(run_db, life.notices, _cfg(smtp.port), clock=lambda: NOW)
    assert await sender.run_once() == 1
    assert await sender.run_once() == 0  # queued once, sent once
    assert len(smtp.received) == 1
    got = smtp.received[0]
    assert got.recipients == ["client@example.ru"]
    number = appeals.get(aid).number
    assert number in str(got.message["Subject"])
    body = got.message.get_content()
    assert f"зарегистрировано под номером {number}" in body
    assert "Ответ будет дан не позднее 08.03.2025" in body  # 5 days for e-mail (REQ-A5)
    [notice] = _notices(db)
    assert (notice.appeal_id, notice.kind, notice.status, notice.tries) == (
        aid,
        "registered",
        "sent",
        1,
    )
    assert notice.sent_at is not None
    assert phone.id not in {n.appeal_id for n in _notices(db)}
    assert life.page(aid).events[-1].action == "notice.sent"


def test_the_back_catalogue_gets_no_registration_notices(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    old = _email_appeal(appeals)
    with db.session(write=True) as s:
        s.merge(Counter(name="appeal_notices_from", value=old))  # the migration's watermark
    new = _email_appeal(appeals, "other@example.ru")
    assert life.notices.queue_registrations(NOW) == 1
    assert [n.appeal_id for n in _notices(db)] == [new]


async def test_notice_retries_while_the_server_is_down_then_arrives(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    server = SmtpServer()
    await server.start()
    port = server.port
    await server.close()  # the mail server is down
    aid = _email_appeal(appeals)
    clock = [NOW]
    sender = NoticeSender(run_db, life.notices, _cfg(port), clock=lambda: clock[0])
    assert await sender.run_once() == 1
    [n] = _notices(db)
    assert (n.status, n.tries) == ("queued", 1)
    assert n.next_try_at is not None and n.next_try_at > NOW
    assert await sender.run_once() == 0  # not before its next try
    clock[0] = NOW + timedelta(minutes=1)
    assert await sender.run_once() == 1
    [n] = _notices(db)
    assert (n.status, n.tries) == ("queued", 2)
    server = SmtpServer(port=port)
    await server.start()  # the server is back
    try:
        clock[0] = NOW + timedelta(minutes=10)
        assert await sender.run_once() == 1
        [n] = _notices(db)
        assert (n.status, n.tries, n.error) == ("sent", 3, None)
        assert len(server.received) == 1
        assert appeals.get(aid).number in server.received[0].message.get_content()
    finally:
        await server.close()


async def test_a_notice_gives_up_after_max_tries_and_a_refusal_at_once(
    db: Database, life: AppealLife, appeals: AppealService, smtp: SmtpServer
) -> None:
    _email_appeal(appeals, "reject-me@example.ru")  # 550: permanent
    _email_appeal(appeals, "later@example.ru")  # 451: temporary, every time
    clock = [NOW]
    sender = NoticeSender(run_db, life.notices, _cfg(smtp.port), clock=lambda: clock[0])
    for _ in range(MAX_TRIES):
        await sender.run_once()
        clock[0] += timedelta(hours=1)
    rejected, later = _notices(db)
    assert (rejected.status, rejected.tries) == ("failed", 1)
    assert (later.status, later.tries) == ("failed", MAX_TRIES)
    assert "@" not in (rejected.error or "") and "@" not in (later.error or "")  # 152-FZ
    assert smtp.received == []


def test_a_crash_while_sending_leaves_the_letter_lost_not_resent(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    _email_appeal(appeals)
    life.notices.queue_registrations(NOW)
    [claimed] = life.notices.claim(10, NOW)
    assert life.notices.claim(10, NOW) == []  # nobody else takes it
    assert life.notices.recover() == 1
    [n] = _notices(db)
    assert n.id == claimed.id and n.status == "lost"
    assert life.notices.claim(10, NOW + timedelta(days=1)) == []


def test_sms_notices_wait_for_their_gateway(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    from supervision.models import NoticeChannel, NoticeKind
    from supervision.notices import NoticeStore

    a = appeals.get(_email_appeal(appeals))
    with db.session(write=True) as s:
        NoticeStore.add(s, a, NoticeKind.ANSWERED, NoticeChannel.SMS, "+79001234567", ("т", "т"))
    life.notices.queue_registrations(NOW)
    claimed = life.notices.claim(10, NOW)
    assert [c.channel for c in claimed] == ["email"]
    assert {n.channel: n.status for n in _notices(db)}["sms"] == "queued"


# -- the daily digest ------------------------------------------------------------------------


def test_digest_lists_what_falls_due(life: AppealLife, appeals: AppealService) -> None:
    mail = appeals.get(_email_appeal(appeals))
    appeals.register(channel=AppealChannel.PHONE, content="y", applicant_name="Тестов Т. Т.")
    assert mail.due_at is not None
    digest = build_digest(life, mail.due_at - timedelta(hours=3))
    assert "Просрочены: 0" in digest.body
    assert "Срок ответа истекает в течение суток: 1" in digest.body
    assert f"№ {mail.number}, срок 08.03.2025" in digest.body
    assert "Тестов" not in digest.body and "client@example.ru" not in digest.body


async def test_digest_is_sent_once_a_day_whatever_the_nodes(
    db: Database, life: AppealLife, appeals: AppealService, smtp: SmtpServer
) -> None:
    _email_appeal(appeals)
    cfg = _cfg(smtp.port)
    to = ["boss@energo.example", "deputy@energo.example"]
    node1, node2 = DigestStore(db, "n1"), DigestStore(db, "n2")
    first = await asyncio.to_thread(lambda: deliver_digest(life, node1, cfg, to, now=NOW))
    assert first is not None and "Сроки обращений на 03.03.2025" in first.subject
    again = await asyncio.to_thread(lambda: deliver_digest(life, node2, cfg, to, now=NOW))
    assert again is None
    assert sorted(r.recipients[0] for r in smtp.received) == sorted(to)
    assert node1.was_sent(NOW.date())
    tomorrow = NOW + timedelta(days=1)
    assert await asyncio.to_thread(lambda: deliver_digest(life, node2, cfg, to, now=tomorrow))
    assert len(smtp.received) == 4


async def test_a_failed_digest_releases_the_day(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    server = SmtpServer()
    await server.start()
    port = server.port
    await server.close()
    store = DigestStore(db, "n1")
    with pytest.raises(OSError):
        await asyncio.to_thread(
            lambda: deliver_digest(life, store, _cfg(port), ["boss@energo.example"], now=NOW)
        )
    assert not store.was_sent(NOW.date())
    assert store.claim(NOW.date())  # free again for the retry


@dataclass
class _Services:
    settings: Settings
    db: Database
    crm: CrmServices

    async def run_db(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    run_db_background = run_db


async def test_the_component_sends_at_the_configured_local_time(
    db: Database, smtp: SmtpServer, tmp_path: Path
) -> None:
    settings = Settings(
        asterisk_root=tmp_path,
        data_dir=tmp_path / "data",
        smtp_port=smtp.port,
        digest_time="08:00",
        digest_to="boss@energo.example",
    ).resolve()
    clock = [NOW.replace(hour=7, minute=59)]
    component = DigestComponent(
        _Services(settings, db, CrmServices.from_settings(db, settings)), clock=lambda: clock[0]
    )
    assert await component.digest_once() is None  # not yet 08:00 local
    clock[0] = NOW.replace(hour=8, minute=0)
    assert await component.digest_once() is not None
    clock[0] = NOW.replace(hour=9)
    assert await component.digest_once() is None  # once a day
    assert [r.recipients for r in smtp.received] == [["boss@energo.example"]]
    # From the same hour, once a day: the statistics keep this year's closed months.
    from sqlalchemy import func, select

    from supervision.models import StatsRollup

    clock[0] = NOW.replace(hour=7, minute=59)
    assert not await component.rollup_once()
    clock[0] = NOW.replace(hour=8, minute=1)
    assert await component.rollup_once()
    assert not await component.rollup_once()
    with db.session() as session:
        kept = session.scalar(select(func.count()).select_from(StatsRollup))
    assert kept == 3 * 2  # 3 March 2025: January and February closed (two days on), 3 queries
    await component.start()  # the loops start and stop cleanly
    await component.stop()


def test_digest_off_without_recipients(db: Database, tmp_path: Path) -> None:
    settings = Settings(asterisk_root=tmp_path, data_dir=tmp_path / "d").resolve()
    component = DigestComponent(_Services(settings, db, CrmServices.from_settings(db, settings)))
    assert settings.digest_to == "" and not component.due(NOW.replace(hour=23))
