"""The callback scheduling notice by SMS (issue 18 item 3; REQ-O12 the form
of notification, REQ-O7 only numbers in the contract), on SQLite and
PostgreSQL: a callback scheduled for an appeal is announced once by SMS with
its time in the company's zone, only to a customer who chose SMS (or whose
reply channel is SMS) and only on a mobile number on file; a moved callback
gets a new notice with the new time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from crm_bridge.appeals import AppealService, AppealView
from crm_bridge.db import Database
from crm_bridge.models import Account, AccountPhone, AppealChannel, ReplyChannel
from ivr.flows.common import create_callback
from shift.callbacks import CallbackResult, CallbackService
from sms.encoding import segments
from sms.models import OutState, SmsMessage
from sms.notices import NODE, NoticeBridge, callback_text
from sms.outbox import Outbox
from supervision.models import AppealEvent, AppealNotice, NoticeKind, NoticeStatus
from tests.sms.conftest import DOUBLE, MSK, NOW, PHONE_DOUBLE, PHONE_SINGLE, SINGLE, STRANGER

START = datetime(2025, 3, 4, 10, 0, tzinfo=MSK)
END = datetime(2025, 3, 4, 12, 0, tzinfo=MSK)


class _AlwaysOpen:
    """Working hours without a close (the result recording needs them)."""

    def is_open(self, dt: datetime) -> bool:
        return True

    def next_open(self, dt: datetime) -> datetime | None:
        return dt


def _choose(db: Database, account: int, form: str | None) -> None:
    with db.session(write=True) as s:
        s.execute(update(Account).where(Account.id == account).values(notify_by=form))


def _appeal(
    appeals: AppealService, account: int, reply: ReplyChannel = ReplyChannel.PHONE
) -> AppealView:
    return appeals.register(
        channel=AppealChannel.PHONE,
        content="Перезвоните, пожалуйста",
        account_id=account,
        reply_channel=reply,
        reply_contact=PHONE_SINGLE if reply is ReplyChannel.SMS else None,
    )


def _callback(db: Database, appeal: AppealView, phone: str = PHONE_SINGLE) -> int:
    return create_callback(
        db,
        phone=phone,
        due_at=START,
        window_start=START,
        window_end=END,
        appeal_id=appeal.id,
        account_id=appeal.account_id,
    )


def _notices(db: Database) -> list[AppealNotice]:
    with db.session() as s:
        return list(
            s.scalars(
                select(AppealNotice)
                .where(AppealNotice.kind == NoticeKind.CALLBACK.value)
                .order_by(AppealNotice.id)
            )
        )


def _texts(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return [
            (m.peer, m.text)
            for m in s.scalars(
                select(SmsMessage).where(SmsMessage.purpose == "notice").order_by(SmsMessage.id)
            )
        ]


def test_a_scheduled_callback_is_announced_once_by_sms_and_counts_when_delivered(
    db: Database, appeals: AppealService, customers: dict[str, int]
) -> None:
    _choose(db, customers[SINGLE], "sms")
    appeal = _appeal(appeals, customers[SINGLE])
    _callback(db, appeal)
    bridge = NoticeBridge(db, zone=MSK, clock=lambda: NOW)
    assert bridge.take() == 1
    # again, and from a second node after a restart: no second notice
    assert bridge.take() == 0
    assert NoticeBridge(db, zone=MSK, clock=lambda: NOW).queue_callbacks() == 0
    text = f"Обращение № {appeal.number}: перезвоним вам 04.03.2025 с 10:00 до 12:00"
    assert _texts(db) == [(PHONE_SINGLE, text)]
    assert len(text) <= 70 and segments(text) == 1
    [notice] = _notices(db)
    assert (notice.contact, notice.status, notice.node) == (
        PHONE_SINGLE,
        NoticeStatus.SENDING.value,
        NODE,
    )
    outbox = Outbox(db)
    [msg] = outbox.claim()
    outbox.sent_many([msg.id])
    outbox.report_many([(msg.id, 1)])  # the phone got it
    [notice] = _notices(db)
    assert notice.status == NoticeStatus.SENT.value
    with db.session() as s:
        event = s.scalars(select(AppealEvent).where(AppealEvent.action == "notice.sent")).one()
        assert event.detail["kind"] == "callback" and event.detail["sms"] == msg.id
        assert s.get(SmsMessage, msg.id).state == OutState.DELIVERED.value  # type: ignore[union-attr]


def test_only_the_chosen_form_and_a_mobile_number_in_the_contract(
    db: Database, appeals: AppealService, customers: dict[str, int]
) -> None:
    bridge = NoticeBridge(db, zone=MSK, clock=lambda: NOW)
    single, double = customers[SINGLE], customers[DOUBLE]
    # no form chosen, reply by phone: no SMS
    _callback(db, _appeal(appeals, single))
    assert bridge.queue_callbacks() == 0
    # e-mail chosen: no SMS
    _choose(db, single, "email")
    assert bridge.queue_callbacks() == 0
    # SMS chosen, but the callback is to a number not on file (REQ-O7)
    _choose(db, double, "sms")
    _callback(db, _appeal(appeals, double), phone=STRANGER)
    assert bridge.queue_callbacks() == 0
    # … or on file but not in the contract
    with db.session(write=True) as s:
        s.execute(update(AccountPhone).values(in_contract=False))
    _callback(db, _appeal(appeals, double), phone=PHONE_DOUBLE)
    assert bridge.queue_callbacks() == 0
    with db.session(write=True) as s:
        s.execute(update(AccountPhone).values(in_contract=True))
    # … or a landline on file
    with db.session(write=True) as s:
        s.add(AccountPhone(account_id=double, phone="+74951234567", in_contract=True))
    _callback(db, _appeal(appeals, double), phone="+74951234567")
    assert bridge.queue_callbacks() == 1  # only the mobile one above, now in the contract
    assert [n.contact for n in _notices(db)] == [PHONE_DOUBLE]
    # the reply channel SMS is a choice of SMS too (no notify_by)
    reply_sms = _appeal(appeals, single, ReplyChannel.SMS)
    _callback(db, reply_sms, phone="89001110001")
    assert bridge.queue_callbacks() == 1
    assert [(n.appeal_id, n.contact) for n in _notices(db)][-1] == (reply_sms.id, PHONE_SINGLE)
    # a callback already over (window closed) is not announced
    _choose(db, single, "sms")
    appeal = _appeal(appeals, single)
    create_callback(
        db,
        phone=PHONE_SINGLE,
        due_at=NOW - timedelta(hours=3),
        window_end=NOW - timedelta(hours=1),
        appeal_id=appeal.id,
    )
    before = len(_notices(db))
    bridge.queue_callbacks()
    assert all(n.appeal_id != appeal.id for n in _notices(db)[before:])


def test_a_moved_callback_gets_a_new_notice_with_the_new_time(
    db: Database, appeals: AppealService, customers: dict[str, int]
) -> None:
    _choose(db, customers[SINGLE], "sms")
    appeal = _appeal(appeals, customers[SINGLE])
    callback_id = _callback(db, appeal)
    bridge = NoticeBridge(db, zone=MSK, clock=lambda: NOW)
    assert bridge.take() == 1
    service = CallbackService(db, hours=_AlwaysOpen(), appeals=appeals)
    service.start(callback_id, now=START)
    assert bridge.queue_callbacks(START) == 0  # in progress: nothing to announce
    later = datetime(2025, 3, 5, 15, 30, tzinfo=MSK)
    service.finish(callback_id, CallbackResult.CALL_BACK_LATER, call_back_at=later, now=START)
    assert bridge.queue_callbacks(START) == 1
    assert bridge.queue_callbacks(START) == 0
    first, moved = _notices(db)
    assert first.dedup != moved.dedup
    assert moved.body == f"Обращение № {appeal.number}: перезвоним вам 05.03.2025 в 15:30"


def test_the_text_stays_in_one_ucs2_segment() -> None:
    utc_start = START.astimezone(MSK)
    for number, end in [
        ("1234567-ФЛ", END),
        ("1234567-ЮЛ", None),
        ("1234567-ГЛ", START + timedelta(days=14)),
    ]:
        text = callback_text(number, utc_start, end, MSK)
        assert len(text) <= 70 and segments(text) == 1, text
    assert (
        callback_text("12-ФЛ", START, START + timedelta(days=14), MSK)
        == "Обращение № 12-ФЛ: перезвоним вам с 04.03 10:00 до 18.03.2025"
    )


def test_the_answering_machines_callback_takes_the_account_of_its_appeal(
    db: Database, appeals: AppealService, customers: dict[str, int]
) -> None:
    """The answering machine's callback names no account (ivr/flows/
    answering_machine.py): the appeal's account decides, over several days."""
    _choose(db, customers[SINGLE], "sms")
    appeal = _appeal(appeals, customers[SINGLE])
    create_callback(
        db,
        phone=PHONE_SINGLE,
        due_at=START,
        window_start=START,
        window_end=START + timedelta(days=14),
        appeal_id=appeal.id,
    )
    assert NoticeBridge(db, zone=MSK, clock=lambda: NOW).take() == 1
    assert _texts(db) == [
        (PHONE_SINGLE, f"Обращение № {appeal.number}: перезвоним вам с 04.03 10:00 до 18.03.2025")
    ]
