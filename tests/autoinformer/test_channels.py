"""Campaign channels one after another (REQ-O12) with the e-mail, on SQLite
and PostgreSQL, against a real SMTP server (tests/autoinformer/smtp_server.py):
the customer who chose e-mail gets the letter first and no call; the one who
did not is called first, and the e-mail follows a call not answered; a
refused letter ends the contact not positive."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.email import EmailSender, SmtpConfig
from autoinformer.models import Campaign, Contact
from autoinformer.store import AttemptStore
from crm_bridge.db import Database
from crm_bridge.models import Account
from tests.autoinformer.helpers import always_open, make_accounts
from tests.autoinformer.smtp_server import SmtpServer

NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # a Monday, 12:00 in Moscow
CHOSE_EMAIL, NO_CHOICE = "+79001115501", "+79001115502"


async def _run_db(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


@pytest.fixture
async def smtp() -> Any:
    server = SmtpServer()
    await server.start()
    yield server
    await server.close()


async def test_the_chosen_form_first_then_the_next_channel(
    any_db: Database, smtp: SmtpServer
) -> None:
    db = any_db
    numbers = make_accounts(db, [CHOSE_EMAIL, NO_CHOICE], prefix="66")
    with db.session(write=True) as s:
        s.execute(
            update(Account).where(Account.number == numbers[CHOSE_EMAIL]).values(notify_by="email")
        )
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create(
        "Тариф", "custom", start_at=start, end_at=end, channels="phone,email", max_attempts=1
    )
    assert cs.get(cid).email_enabled  # the e-mail is one of its channels
    ContactListService(db).import_rows(
        cid,
        [
            {"phone": CHOSE_EMAIL, "email": "ivanova@example.ru"},
            {"phone": NO_CHOICE, "email": "reject-me@example.ru"},
        ],
    )
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    claimed = AttemptStore(db, "n1").claim(10, now=NOON)
    assert [c.phone for c in claimed] == [NO_CHOICE]  # who chose e-mail is not called
    sender = EmailSender(
        _run_db, db, SmtpConfig("127.0.0.1", smtp.port, "autoinform@energo.example"), node="n1"
    )
    assert await sender.run_once() == 1  # only the contact on the e-mail now
    assert [m.recipients for m in smtp.received] == [["ivanova@example.ru"]]
    with db.session() as s:
        contacts = {
            c.phone: c for c in s.scalars(select(Contact).where(Contact.campaign_id == cid))
        }
    assert contacts[CHOSE_EMAIL].status == "done" and contacts[CHOSE_EMAIL].positive
    assert contacts[NO_CHOICE].status == "dialing"
    # the call is not answered (one attempt): the e-mail is next, and it is refused
    AttemptStore(db, "n1").finalise(claimed[0].channel_id, originate_reason=3, now=NOON)
    assert await sender.run_once() == 1
    with db.session() as s:
        contacts = {
            c.phone: c for c in s.scalars(select(Contact).where(Contact.campaign_id == cid))
        }
        campaign = s.get(Campaign, cid)
        assert campaign is not None
    assert contacts[NO_CHOICE].status == "done" and not contacts[NO_CHOICE].positive
    assert contacts[NO_CHOICE].final_result == "rejected"
    assert campaign.status == "completed"
