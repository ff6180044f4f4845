"""The SMS channel end to end through a real Kannel 1.4.5 (bearerbox +
smsbox from Debian's ``kannel``) and its fake SMSC (``kannel-extras``'
``fakesmsc`` as the customers' phones), on SQLite and PostgreSQL.

A phone sends a message → the SMSC → bearerbox → smsbox's SMS service
calls ``/sms/kannel/mo`` on the hotline's web edge → the readings are
checked and stored, the appeal registered, the reply queued → the sender
hands it to ``sendsms`` (UCS-2, concatenated when long) → the phone
receives it at fakesmsc, where the test reads it → Kannel's delivery
reports reach ``/sms/kannel/dlr`` and the message is ``delivered``. An
appeal notice of channel SMS goes the same way and counts as sent once
delivered.

Fails (never skips) when Kannel is not installed (``scripts/bootstrap.sh
test`` installs ``kannel kannel-extras``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from core.settings import Settings
from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.models import Appeal, AppealChannel, Meter, Reading, ReplyChannel
from sms.fakesmsc import FAKESMSC, FakeSmsc, PhoneMessage
from sms.kannel import KannelConf, KannelProcess, SmscFake, smsc_online
from sms.models import Direction, OutState, SmsMessage
from sms.outbox import Outbox
from sms.sender import SmsSender
from sms.service import build_sender
from supervision.models import AppealEvent, AppealNotice, NoticeChannel, NoticeKind, NoticeStatus
from supervision.notices import NoticeStore, registered_text
from tests.conftest import _free_port
from tests.sms.conftest import MSK, PHONE_SINGLE, STRANGER
from tests.webtools import FakeServices, root_app

SERVICE_NUMBER = "7377"


@dataclass
class Gateway:
    phones: FakeSmsc
    db: Database
    sender: SmsSender
    web_url: str
    key: str

    async def exchange(self, phone: str, text: str) -> PhoneMessage:
        """``phone`` sends ``text``; the reply as it arrives at the phone."""
        await self.phones.send(phone, SERVICE_NUMBER, text)
        reply = await self.phones.received(timeout=30)
        assert reply.receiver == phone and reply.sender == SERVICE_NUMBER
        return reply


def _require_kannel() -> None:
    why = KannelProcess.available()
    if why or not Path(FAKESMSC).exists():
        pytest.fail(
            f"Kannel is required: {why or FAKESMSC + ' is missing'} "
            "(scripts/bootstrap.sh test installs kannel kannel-extras)",
            pytrace=False,
        )


@pytest.fixture
async def gateway(
    db: Database, customers: dict[str, int], tmp_path: Path
) -> AsyncIterator[Gateway]:
    _require_kannel()
    admin, smsbox, sendsms, fake, web_port = (_free_port() for _ in range(5))
    settings = Settings(
        asterisk_root=tmp_path,
        data_dir=tmp_path / "data",
        web_host="127.0.0.1",
        web_port=web_port,
        sms_kannel_url=f"http://127.0.0.1:{sendsms}/cgi-bin/sendsms",
        sms_sender=SERVICE_NUMBER,
    ).resolve()
    services = FakeServices.create(settings, db)
    sender = build_sender(services)
    runner = web.AppRunner(
        root_app(services, "/sms/", runtime=SimpleNamespace(extra={"sms": sender})),
        access_log=None,
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", web_port).start()
    key = settings.generated_secret("sms-inbound")
    web_url = f"http://127.0.0.1:{web_port}"
    conf = KannelConf(
        workdir=tmp_path / "kannel",
        admin_port=admin,
        smsbox_port=smsbox,
        sendsms_port=sendsms,
        admin_password="admin-secret",
        sendsms_user=settings.sms_kannel_user,
        sendsms_password=settings.generated_secret("kannel-sendsms"),
        mo_url=f"{web_url}/sms/kannel/mo?key={key}",
        smsc=SmscFake(fake),
    )
    try:
        async with KannelProcess(conf), FakeSmsc(fake) as phones:
            await smsc_online(conf)
            await sender.start()
            try:
                yield Gateway(phones, db, sender, web_url, key)
            finally:
                await sender.stop()
    finally:
        await runner.cleanup()


async def _state_becomes(db: Database, message_id: int, state: str, timeout: float = 20) -> None:
    outbox = Outbox(db)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (now := await asyncio.to_thread(outbox.state, message_id)) != state:
        assert loop.time() < deadline, f"message {message_id} stayed {now}, not {state}"
        await asyncio.sleep(0.05)


def _replies(db: Database) -> list[SmsMessage]:
    with db.session() as s:
        return list(
            s.execute(
                select(SmsMessage)
                .where(SmsMessage.direction == Direction.OUT.value)
                .order_by(SmsMessage.id)
            ).scalars()
        )


async def test_readings_refusal_and_help_through_kannel(gateway: Gateway) -> None:
    db = gateway.db
    # 1. a reading from the number on file: accepted, stored, replied
    accepted = await gateway.exchange(PHONE_SINGLE, "12500")
    assert accepted.text.startswith("Приняты показания Т1 12500."), accepted.text
    with db.session() as s:
        meter = s.execute(select(Meter).where(Meter.serial == "M-1")).scalar_one()
        assert meter.last_t1 == Decimal(12500)
        assert len(s.execute(select(Reading)).all()) == 1
    # 2. a wrong one (below the previous reading): refused with the reason, nothing stored
    refused = await gateway.exchange(PHONE_SINGLE, "ЛС 1000000001 Т1 11000")
    assert refused.text == "Не принято: Т1 11000 меньше предыдущего показания."
    assert refused.parts == 1
    # 3. an unknown text (Cyrillic: UCS-2 from the phone): help, never silence
    helped = await gateway.exchange(STRANGER, "Когда включат свет?")
    assert "Показания: ЛС 1000000001 Т1 12345 Т2 6789" in helped.text
    assert helped.text.startswith("Обращение ")
    with db.session() as s:
        assert len(s.execute(select(Reading)).all()) == 1
        appeals = s.execute(select(Appeal).order_by(Appeal.id)).scalars().all()
        assert [a.channel for a in appeals] == [AppealChannel.SMS] * 3
        assert appeals[2].content == "Когда включат свет?"
    # every reply was delivered to the phone and Kannel reported it
    replies = _replies(db)
    assert [r.text for r in replies] == [accepted.text, refused.text, helped.text]
    for reply in replies:
        await _state_becomes(db, reply.id, OutState.DELIVERED.value)


async def test_a_long_reply_is_concatenated_and_reported_once(gateway: Gateway) -> None:
    text = (
        "Уважаемый абонент! Плановое отключение электроэнергии 10.12 с 10:00 до 16:00 "
        "по улице Ленина, дома 1-15. Приносим извинения за неудобства."
    )
    message_id = await asyncio.to_thread(Outbox(gateway.db).queue, PHONE_SINGLE, text)
    gateway.sender.wake()
    received = await gateway.phones.received(timeout=30)
    assert received.text == text and received.parts == 3
    await _state_becomes(gateway.db, message_id, OutState.DELIVERED.value)


async def test_kannel_calls_are_refused_without_the_key(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        for path in (
            "/sms/kannel/mo?from=%2B79001110001&text=12500",
            "/sms/kannel/dlr?id=1&type=1",
        ):
            async with http.get(gateway.web_url + path + "&key=wrong") as resp:
                assert resp.status == 404
    with gateway.db.session() as s:
        assert s.execute(select(SmsMessage)).first() is None


async def test_an_appeal_notice_goes_by_sms_and_counts_once_delivered(gateway: Gateway) -> None:
    db = gateway.db
    appeal = await asyncio.to_thread(
        AppealService(db).register,
        channel=AppealChannel.PHONE,
        content="Нет света",
        reply_channel=ReplyChannel.SMS,
        reply_contact=PHONE_SINGLE,
    )

    def queue() -> int:
        with db.session(write=True) as s:
            return NoticeStore.add(
                s,
                appeal,
                NoticeKind.REGISTERED,
                NoticeChannel.SMS,
                PHONE_SINGLE,
                registered_text(appeal, MSK),
            ).id

    notice_id = await asyncio.to_thread(queue)
    received = await gateway.phones.received(timeout=30)  # taken on the sender's next tick
    assert received.receiver == PHONE_SINGLE
    assert received.text.startswith(
        f"Обращение № {appeal.number} зарегистрировано. Ответ не позднее "
    )

    def notice_status() -> str:
        with db.session() as s:
            notice = s.get(AppealNotice, notice_id)
            assert notice is not None
            return notice.status

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while (status := await asyncio.to_thread(notice_status)) != NoticeStatus.SENT:
        assert loop.time() < deadline, f"the notice stayed {status}"
        await asyncio.sleep(0.05)
    with db.session() as s:
        event = s.execute(
            select(AppealEvent).where(AppealEvent.action == "notice.sent")
        ).scalar_one()
        assert event.appeal_id == appeal.id and event.detail["channel"] == "sms"
