"""Campaign messages end to end through a real Kannel 1.4.5 and its fake
SMSC (issue 18 items 3 and 4), on SQLite and PostgreSQL: the component
``sms-campaigns`` (:mod:`sms.campaigns`) with the sender of the gateway
fixture (``tests/sms/test_kannel_e2e.py``).

* A planned-outage campaign over the phone and SMS: the customer who chose
  SMS (REQ-O12) gets the notice as one text message at the fake SMSC's
  phone, Kannel's delivery report reaches ``/sms/kannel/dlr`` and the
  attempt counts as «положительный» (``delivered``), the contact done.
* A survey campaign by SMS: the phone gets the CSI question, replies «5»
  (a number that would otherwise be a meter reading), gets the NPS
  question, replies «9», is thanked; the answers are in the surveys'
  monthly report with the response rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.models import Attempt, Campaign, Contact
from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.models import Account, Reading
from sms.campaigns import CampaignSmsWorker
from sms.service import build_campaign_worker
from surveys.models import SurveyResponse
from surveys.service import SurveyService
from tests.autoinformer.helpers import always_open, daytime_zone
from tests.e2e.waiting import until
from tests.sms.conftest import PHONE_SINGLE, SINGLE
from tests.sms.test_kannel_e2e import SERVICE_NUMBER, Gateway, gateway
from tests.webtools import FakeServices

__all__ = ["gateway"]  # the fixture, shared


@pytest.fixture
async def worker(gateway: Gateway, tmp_path: Path) -> AsyncIterator[CampaignSmsWorker]:
    """The component as ``hotline run`` builds it, woken every 0.2 s."""
    settings = Settings(
        asterisk_root=tmp_path, data_dir=tmp_path / "data", sms_sender=SERVICE_NUMBER
    ).resolve()
    services = FakeServices.create(settings, gateway.db)
    w = build_campaign_worker(services, wake=gateway.sender.wake)
    w.poll = 0.2
    await w.start()
    try:
        yield w
    finally:
        await w.stop()


def _chooses_sms(db: Database) -> str:
    """The customer of PHONE_SINGLE chose SMS; its premises are where it is
    daytime (the zone, picked once: the hour may turn during the test)."""
    zone = daytime_zone()
    with db.session(write=True) as s:
        s.execute(
            update(Account).where(Account.number == SINGLE).values(notify_by="sms", timezone=zone)
        )
    return zone


def _launch(db: Database, kind: str, channels: str, **options: object) -> int:
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create("Кампания", kind, start_at=start, end_at=end, channels=channels, **options)
    res = ContactListService(db).import_rows(cid, [{"account": SINGLE}])
    assert not res.rejected, res.rejected
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    return cid


async def test_an_outage_notice_by_sms_is_delivered_and_positive(
    gateway: Gateway, worker: CampaignSmsWorker
) -> None:
    db = gateway.db
    zone = ZoneInfo(_chooses_sms(db))
    # 10:00–16:00 in the resident's own time, never across its midnight,
    # whatever the hour the test runs (the one-day form of the text)
    day = (datetime.now(UTC) + timedelta(days=2)).astimezone(zone).date()
    start = datetime.combine(day, time(10), tzinfo=zone).astimezone(UTC)
    cid = _launch(
        db,
        "planned_outage",
        "phone,sms",
        outage_start=start,
        outage_end=start + timedelta(hours=6),
        outage_decided_at=datetime.now(UTC) - timedelta(hours=1),
    )
    got = await gateway.phones.received(timeout=30)
    assert got.receiver == PHONE_SINGLE and got.sender == SERVICE_NUMBER
    assert got.text == f"Плановое отключение электроэнергии {day:%d.%m.%Y} с 10:00 до 16:00."
    assert got.parts == 1

    def settled() -> bool:
        with db.session() as s:
            contact = s.scalars(select(Contact).where(Contact.campaign_id == cid)).one()
            return contact.status == "done"

    await until(lambda: asyncio.to_thread(settled), 30, "the delivery report")
    with db.session() as s:
        contact = s.scalars(select(Contact).where(Contact.campaign_id == cid)).one()
        attempts = list(s.scalars(select(Attempt).where(Attempt.campaign_id == cid)))
        campaign = s.get(Campaign, cid)
        assert campaign is not None
    assert [(a.channel, a.result, a.positive) for a in attempts] == [("sms", "delivered", True)]
    assert contact.positive and contact.final_result == "delivered"
    assert contact.channels_left == "phone"  # never called: the SMS reached the customer
    assert campaign.status == "completed"
    stats = CampaignService(db).stats(cid)
    assert stats.positive == 1 and stats.finished == 1


async def test_a_survey_by_sms_reply_is_stored_and_reported(
    gateway: Gateway, worker: CampaignSmsWorker
) -> None:
    db = gateway.db
    _chooses_sms(db)
    _launch(db, "survey", "sms")
    question = await gateway.phones.received(timeout=30)
    assert question.receiver == PHONE_SINGLE
    assert question.text.startswith("Оцените наше обслуживание от 1 до 5") and question.parts == 1

    def offered() -> bool:
        with db.session() as s:
            return s.scalars(select(SurveyResponse)).first() is not None

    await until(lambda: asyncio.to_thread(offered), 30, "the survey's row on delivery")
    nps = await gateway.exchange(PHONE_SINGLE, "5")
    assert nps.text.startswith("Порекомендуете ли нас знакомым?")
    thanks = await gateway.exchange(PHONE_SINGLE, "9")
    assert thanks.text == "Спасибо за вашу оценку!"
    with db.session() as s:
        row = s.scalars(select(SurveyResponse)).one()
        assert s.scalars(select(Reading)).first() is None  # «5» was no meter reading
    assert (row.source, row.channel, row.csi, row.nps) == ("campaign", "sms", 5, 9)
    today = datetime.now(UTC).date()
    report = SurveyService(db).report(today.replace(day=1), today + timedelta(days=1))
    assert report.total.offered == 1 and report.total.response_rate == 100.0
    assert report.total.csi == 5.0 and report.total.nps == 100.0
    assert [m.offered for m in report.months] == [1]
