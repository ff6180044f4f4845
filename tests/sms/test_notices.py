"""Appeal notices by SMS (REQ-A7, A9, A11), on SQLite and PostgreSQL: the
notices of channel ``sms`` that the supervision slice's outbox holds are
taken by the SMS slice, shortened to a text message, and count as sent only
when the phone got them (the delivery report)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crm_bridge.appeals import AppealService, AppealView
from crm_bridge.db import Database
from crm_bridge.models import AppealChannel, ReplyChannel
from sms.models import OutState, SmsMessage
from sms.notices import NODE, NoticeBridge
from sms.outbox import Outbox
from supervision.models import AppealEvent, AppealNotice, NoticeChannel, NoticeKind, NoticeStatus
from supervision.notices import NoticeStore, answered_text, extended_text, registered_text
from tests.sms.conftest import MSK, NOW, PHONE_SINGLE


def _appeal(appeals: AppealService, contact: str = PHONE_SINGLE) -> AppealView:
    return appeals.register(
        channel=AppealChannel.PHONE,
        content="Нет света",
        reply_channel=ReplyChannel.SMS,
        reply_contact=contact,
    )


def _notice(
    db: Database, appeal: AppealView, kind: NoticeKind, text: tuple[str, str], contact: str
) -> int:
    with db.session(write=True) as s:
        return NoticeStore.add(
            s, appeal, kind, NoticeChannel.SMS, contact, text, dedup=kind.value, now=NOW
        ).id


def _sms_of(db: Database, notice_id: int) -> SmsMessage:
    with db.session() as s:
        return s.execute(select(SmsMessage).where(SmsMessage.notice_id == notice_id)).scalar_one()


def _status(db: Database, notice_id: int) -> str:
    with db.session() as s:
        notice = s.get(AppealNotice, notice_id)
        assert notice is not None
        return notice.status


def test_notices_become_short_messages_and_are_sent_only_when_delivered(
    db: Database, appeals: AppealService
) -> None:
    appeal = _appeal(appeals)
    registered = _notice(
        db, appeal, NoticeKind.REGISTERED, registered_text(appeal, MSK), PHONE_SINGLE
    )
    assert appeal.due_at is not None
    new_due = appeal.due_at + timedelta(days=10)
    extended = _notice(
        db,
        appeal,
        NoticeKind.EXTENDED,
        extended_text(appeal, 10, new_due, "запрос в сетевую организацию", MSK),
        PHONE_SINGLE,
    )
    answered = _notice(
        db,
        appeal,
        NoticeKind.ANSWERED,
        answered_text(appeal, "Линия восстановлена 05.03."),
        "8 900 111-00-01",
    )
    bridge = NoticeBridge(db, zone=MSK, clock=lambda: NOW)
    assert bridge.take() == 3
    assert bridge.take() == 0  # taken: not again
    texts = {n: _sms_of(db, n).text for n in (registered, extended, answered)}
    assert (
        texts[registered]
        == f"Обращение № {appeal.number} зарегистрировано. Ответ не позднее 13.03.2025."
    )
    assert texts[extended].startswith(f"Срок ответа на обращение № {appeal.number} продлён до ")
    assert texts[answered] == f"Ответ на обращение № {appeal.number}: Линия восстановлена 05.03."
    assert all(_status(db, n) == NoticeStatus.SENDING for n in texts)
    with db.session() as s:
        assert {n.node for n in s.scalars(select(AppealNotice))} == {NODE}
    outbox = Outbox(db)
    claimed = {m.id for m in outbox.claim()}
    ids = {n: _sms_of(db, n).id for n in texts}
    assert set(ids.values()) <= claimed
    outbox.sent_many(sorted(claimed))
    # the SMSC took them: not yet «sent»
    outbox.report_many([(ids[registered], 8), (ids[extended], 8), (ids[answered], 8)])
    assert _status(db, registered) == NoticeStatus.SENDING
    outbox.report_many([(ids[registered], 1), (ids[answered], 2)])
    outbox.report(ids[extended], 16)
    assert _status(db, registered) == NoticeStatus.SENT
    assert _status(db, answered) == NoticeStatus.FAILED
    assert _status(db, extended) == NoticeStatus.FAILED
    with db.session() as s:
        events = s.scalars(select(AppealEvent).where(AppealEvent.action == "notice.sent")).all()
        assert [(e.detail["notice"], e.detail["channel"]) for e in events] == [(registered, "sms")]


def test_a_contact_that_is_no_phone_fails_the_notice_with_the_reason(
    db: Database, appeals: AppealService
) -> None:
    appeal = _appeal(appeals, contact="по почте")
    notice = _notice(db, appeal, NoticeKind.REGISTERED, registered_text(appeal, MSK), "по почте")
    assert NoticeBridge(db, zone=MSK, clock=lambda: NOW).take() == 0
    assert _status(db, notice) == NoticeStatus.FAILED
    with db.session() as s:
        assert s.execute(select(SmsMessage)).first() is None
        n = s.get(AppealNotice, notice)
        assert n is not None and n.error == "номер телефона для СМС не распознан"


def test_a_message_the_gateway_gives_up_on_fails_its_notice(
    db: Database, appeals: AppealService
) -> None:
    appeal = _appeal(appeals)
    notice = _notice(db, appeal, NoticeKind.REGISTERED, registered_text(appeal, MSK), PHONE_SINGLE)
    NoticeBridge(db, zone=MSK, clock=lambda: NOW).take()
    [m] = Outbox(db).claim()
    assert Outbox(db).retry(m, "gateway 403: Authorization failed", permanent=True)
    assert _sms_of(db, notice).state == OutState.FAILED
    assert _status(db, notice) == NoticeStatus.FAILED


def test_registrations_with_an_sms_reply_contact_are_notified_by_sms(
    db: Database, appeals: AppealService
) -> None:

    by_phone = _appeal(appeals)
    by_sms = appeals.register(
        channel=AppealChannel.SMS, content="Когда дадут свет?", reply_contact=PHONE_SINGLE
    )
    assert by_sms.reply_channel is ReplyChannel.SMS
    assert NoticeStore(db, "n1", MSK).queue_registrations(NOW) == 1
    with db.session() as s:
        [notice] = s.scalars(select(AppealNotice)).all()
    # the appeal that came by SMS had its number in the reply: no second message
    assert (notice.appeal_id, notice.channel, notice.contact) == (by_phone.id, "sms", PHONE_SINGLE)
    assert NoticeBridge(db, zone=MSK, clock=lambda: NOW).take() == 1
    assert _sms_of(db, notice.id).text.startswith(
        f"Обращение № {by_phone.number} зарегистрировано."
    )
