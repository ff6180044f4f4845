"""E-mail autoinforming (REQ-O11) against a real SMTP server started by the
test (tests/autoinformer/smtp_server.py): the letter arrives with the
campaign's text, a refusal is recorded, a temporary failure is retried, a
crash between claim and send never sends twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.email import (
    EmailSender,
    EmailStore,
    Letter,
    SmtpConfig,
    SmtpInsecure,
    send_letter,
)
from autoinformer.models import Attempt, Contact
from crm_bridge.db import Database
from tests.autoinformer.helpers import always_open, make_accounts
from tests.autoinformer.smtp_server import SmtpServer


async def _run_db(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def _campaign(db: Database, rows: list[dict[str, str]], *, email: bool = True) -> int:
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create(
        "Долги",
        "debt",
        start_at=start,
        end_at=end,
        email_enabled=email,
        email_subject="Задолженность за электроэнергию",
    )
    res = ContactListService(db).import_rows(cid, rows)
    assert not res.rejected, res.rejected
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    return cid


@pytest.fixture
async def smtp() -> Any:
    server = SmtpServer()
    await server.start()
    yield server
    await server.close()


async def test_letters_arrive_once_with_the_message(db: Database, smtp: SmtpServer) -> None:
    phones = ["+79001110001", "+79001110002", "+79001110003"]
    make_accounts(db, phones)
    cid = _campaign(
        db,
        [
            {"phone": phones[0], "email": "ivanov@example.ru", "debt": "1500.25"},
            {"phone": phones[1], "email": "reject-me@example.ru", "debt": "10"},
            {"phone": phones[2], "debt": "20"},  # no e-mail: phone only
        ],
    )
    cfg = SmtpConfig("127.0.0.1", smtp.port, "autoinform@energo.example")
    sender = EmailSender(_run_db, db, cfg, node="n1")
    assert await sender.run_once() == 2
    assert await sender.run_once() == 0  # nothing is sent twice
    assert len(smtp.received) == 1
    got = smtp.received[0]
    assert got.recipients == ["ivanov@example.ru"]
    msg = got.message
    assert msg["Subject"] == "Задолженность за электроэнергию"
    body = msg.get_content()
    assert "тысяча пятьсот рублей двадцать пять копеек" in body
    with db.session() as s:
        contacts = {c.phone: c for c in s.query(Contact).filter_by(campaign_id=cid)}
        mails = s.query(Attempt).filter_by(campaign_id=cid, channel="email").all()
    assert contacts[phones[0]].email_status == "sent"
    assert contacts[phones[1]].email_status == "rejected"
    assert contacts[phones[2]].email_status is None
    assert sorted(a.result for a in mails) == ["rejected", "sent"]
    sent = next(a for a in mails if a.result == "sent")
    assert sent.positive and sent.action_id == str(msg["Message-ID"]).strip()
    # The phone channel is untouched: every contact still waits for its call.
    assert {c.status for c in contacts.values()} == {"pending"}


async def test_temporary_failure_is_retried_later(db: Database, smtp: SmtpServer) -> None:
    make_accounts(db, ["+79001110011"], prefix="78")
    cid = _campaign(db, [{"phone": "+79001110011", "email": "later@example.ru"}])
    store = EmailStore(db, "n1")
    cfg = SmtpConfig("127.0.0.1", smtp.port, "autoinform@energo.example")
    sender = EmailSender(_run_db, db, cfg, node="n1")
    assert await sender.run_once() == 1
    assert sender.failed == 1 and not smtp.received
    # Not retried before the delay; retried after it.
    assert store.claim(10) == []
    from datetime import timedelta

    from crm_bridge.db import utcnow

    later = store.claim(10, now=utcnow() + timedelta(hours=1))
    assert [x.attempt_id for x in later] and later[0].to == "later@example.ru"
    with db.session() as s:
        nos = [a.attempt_no for a in s.query(Attempt).filter_by(campaign_id=cid)]
    assert sorted(nos) == [1, 2]


async def test_crash_between_claim_and_send_never_sends_twice(
    db: Database, smtp: SmtpServer
) -> None:
    make_accounts(db, ["+79001110021"], prefix="79")
    _campaign(db, [{"phone": "+79001110021", "email": "petrov@example.ru"}])
    store = EmailStore(db, "n1")
    claimed = store.claim(10)
    assert len(claimed) == 1
    # The process dies here; a new one starts on the same node.
    cfg = SmtpConfig("127.0.0.1", smtp.port, "autoinform@energo.example")
    sender = EmailSender(_run_db, db, cfg, node="n1")
    assert await _run_db(sender.store.recover) == 1
    assert await sender.run_once() == 0
    assert not smtp.received
    with db.session() as s:
        a = s.query(Attempt).filter_by(channel="email").one()
        c = s.get(Contact, a.contact_id)
        assert a.result == "lost" and c is not None and c.email_status == "lost"


async def test_unreachable_server_loses_nothing(db: Database) -> None:
    make_accounts(db, ["+79001110031"], prefix="80")
    _campaign(db, [{"phone": "+79001110031", "email": "sidorov@example.ru"}])
    cfg = SmtpConfig("127.0.0.1", 1, "autoinform@energo.example", timeout=2)
    sender = EmailSender(_run_db, db, cfg, node="n1")
    assert await sender.run_once() == 1
    assert sender.failed == 1
    with db.session() as s:
        c = s.query(Contact).one()
        assert c.email_status is None  # waits for the next try


@pytest.mark.parametrize(
    ("host", "user", "starttls", "refused"),
    [
        ("smtp.example.ru", "robot", False, True),  # a password in clear over a network
        ("smtp.example.ru", "robot", True, False),
        ("smtp.example.ru", "", False, False),  # no AUTH: a relay that trusts the address
        ("127.0.0.1", "robot", False, False),  # a relay on this machine
        ("localhost", "robot", False, False),
    ],
)
def test_auth_without_tls_to_a_remote_relay_is_refused(
    host: str, user: str, starttls: bool, refused: bool
) -> None:
    cfg = SmtpConfig(host, 587, "autoinform@energo.example", user, "secret", starttls=starttls)
    assert (cfg.insecure() is not None) is refused
    if refused:
        letter = Letter(1, 1, "ivanov@example.ru", "Тема", "Текст", "<1@example>")
        with pytest.raises(SmtpInsecure, match="smtp_starttls"):
            send_letter(cfg, letter)  # refused before any connection


async def test_insecure_settings_keep_letters_queued(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Misconfigured AUTH in clear: one clear error at start, the worker does
    not run, the letters wait (nothing sent, nothing lost)."""
    make_accounts(db, ["+79001110041"], prefix="81")
    _campaign(db, [{"phone": "+79001110041", "email": "petrov@example.ru"}])
    cfg = SmtpConfig("smtp.example.ru", 587, "autoinform@energo.example", "robot", "pw")
    sender = EmailSender(_run_db, db, cfg, node="n1")
    await sender.start()
    try:
        assert sender._task is None
        assert "smtp_starttls" in caplog.text
    finally:
        await sender.stop()
    with db.session() as s:
        assert s.query(Contact).one().email_status is None
