"""An incoming message handled against the database (REQ-T14, REQ-A1), on
SQLite and PostgreSQL: readings from a number on file or with the account
number go through the readings rules, the reply says what happened (in one
segment), every message is an appeal of channel SMS, and the outbox follows
the gateway's reports."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from crm_bridge.db import Database
from crm_bridge.models import (
    Appeal,
    AppealChannel,
    AppealKind,
    AppealStatus,
    Meter,
    Reading,
    ReadingSource,
    ReadingStatus,
)
from sms.encoding import segments
from sms.inbound import SmsInbound
from sms.models import InOutcome, OutState, SmsMessage
from sms.outbox import Outbox
from tests.sms.conftest import (
    DOUBLE,
    PHONE_DOUBLE,
    PHONE_SHARED,
    PHONE_SINGLE,
    SHARED_B,
    SINGLE,
    STRANGER,
)


def _last(db: Database, serial: str) -> tuple[Decimal | None, Decimal | None]:
    with db.session() as s:
        m = s.execute(select(Meter).where(Meter.serial == serial)).scalar_one()
        return m.last_t1, m.last_t2


def _appeal(db: Database, appeal_number: str | None) -> Appeal:
    with db.session() as s:
        return s.execute(select(Appeal).where(Appeal.number == appeal_number)).scalar_one()


def test_account_less_from_a_number_on_file(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    done = inbound.receive(sender="8 900 111-00-01", text="12500", gateway_id="g1")
    assert done.outcome is InOutcome.ACCEPTED
    # 3 March is before the reading period (15–25): it counts from the 15th
    assert done.reply == "Приняты показания Т1 12500. Учтём с 15.03."
    assert segments(done.reply) == 1
    assert _last(db, "M-1")[0] == Decimal(12500)
    with db.session() as s:
        reading = s.execute(select(Reading)).scalar_one()
        assert reading.source is ReadingSource.SMS and reading.status is ReadingStatus.ACCEPTED
        rows = s.execute(select(SmsMessage).order_by(SmsMessage.id)).scalars().all()
        assert [(r.direction, r.peer, r.state) for r in rows] == [
            ("in", PHONE_SINGLE, "accepted"),
            ("out", PHONE_SINGLE, "queued"),
        ]
        assert rows[1].reply_to_id == rows[0].id and rows[1].text == done.reply
    appeal = _appeal(db, done.appeal_number)
    assert appeal.channel is AppealChannel.SMS and appeal.kind is AppealKind.METER_READING
    assert appeal.account_id == customers[SINGLE]
    assert appeal.status is AppealStatus.CLOSED  # the reply is the answer
    assert appeal.reply_contact == PHONE_SINGLE


def test_two_zones_with_the_account_number_from_any_phone(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    done = inbound.receive(sender=STRANGER, text="ЛС 1000000002 T1 5100 Т2 2050")
    assert done.outcome is InOutcome.ACCEPTED, done.reply
    assert done.reply.startswith("Приняты показания Т1 5100, Т2 2050.")
    assert _last(db, "M-2") == (Decimal(5100), Decimal(2050))
    assert _appeal(db, done.appeal_number).account_id == customers[DOUBLE]


def test_unlabelled_values_follow_the_meter_zones(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    done = inbound.receive(sender=PHONE_DOUBLE, text="1000000002 5100 2050")
    assert done.outcome is InOutcome.ACCEPTED
    assert _last(db, "M-2") == (Decimal(5100), Decimal(2050))
    labelled = inbound.receive(sender=PHONE_DOUBLE, text="т2 2060 т1 5110")
    assert labelled.outcome is InOutcome.ACCEPTED
    assert _last(db, "M-2") == (Decimal(5110), Decimal(2060))
    one = inbound.receive(sender=PHONE_DOUBLE, text="5200")
    assert one.outcome is InOutcome.REFUSED
    assert one.reply == "Не принято: укажите зоны: Т1 <показание> Т2 <показание>"


def test_a_number_on_several_accounts_is_refused_with_the_reason(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    done = inbound.receive(sender=PHONE_SHARED, text="150")
    assert done.outcome is InOutcome.REFUSED
    assert done.reply == (
        "Не принято: номер указан у нескольких счетов. Пришлите: ЛС <номер> <показание>"
    )
    with db.session() as s:
        assert s.execute(select(Reading)).first() is None
    # naming the account settles it
    named = inbound.receive(sender=PHONE_SHARED, text=f"ЛС {SHARED_B} 250")
    assert named.outcome is InOutcome.ACCEPTED
    assert _appeal(db, named.appeal_number).account_id == customers[SHARED_B]


def test_refusals_say_what_is_wrong(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    cases = {
        "11000": "Не принято: Т1 11000 меньше предыдущего показания.",
        "1234567": "Не принято: в показании Т1 больше 6 цифр.",
        "Т2 13000": "Не принято: у счётчика нет зоны Т2 (есть Т1).",
        "12,5": "Не принято: показание: только целое число, без дробной части.",
    }
    for text, reply in cases.items():
        done = inbound.receive(sender=PHONE_SINGLE, text=text)
        assert (done.outcome, done.reply) == (InOutcome.REFUSED, reply)
        appeal = _appeal(db, done.appeal_number)
        assert appeal.channel is AppealChannel.SMS and text in appeal.content
    stranger = inbound.receive(sender=STRANGER, text="12500")
    assert stranger.reply == "Не принято: номер не найден. Пришлите: ЛС <номер счёта> <показание>"
    unknown = inbound.receive(sender=STRANGER, text="ЛС 999 12500")
    assert unknown.reply == "Не принято: лицевой счёт не найден. Проверьте номер."
    assert _last(db, "M-1")[0] == Decimal(12000)
    with db.session() as s:
        assert s.execute(select(Reading)).first() is None


def test_a_suspicious_jump_is_stored_only_when_sent_again(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    first = inbound.receive(sender=PHONE_SINGLE, text="99000")
    assert first.outcome is InOutcome.CONFIRM
    assert first.reply == "Т1 99000: большой расход. Если верно, пришлите то же ещё раз."
    assert _last(db, "M-1")[0] == Decimal(12000)
    other = inbound.receive(sender=PHONE_SINGLE, text="98000")
    assert other.outcome is InOutcome.CONFIRM  # a different value confirms nothing
    again = inbound.receive(sender=PHONE_SINGLE, text="ЛС 1000000001 Т1 99000")
    assert again.outcome is InOutcome.ACCEPTED
    assert again.reply == "Приняты на проверку показания Т1 99000. Учтём с 15.03."
    with db.session() as s:
        reading = s.execute(select(Reading)).scalar_one()
        assert reading.status is ReadingStatus.FLAGGED


def test_unknown_text_gets_help_and_stays_an_open_appeal(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    done = inbound.receive(sender=PHONE_SINGLE, text="Добрый день, когда дадут свет?")
    assert done.outcome is InOutcome.HELP
    assert (
        done.reply
        == f"Обращение {done.appeal_number} принято. Показания: ЛС 1000000001 Т1 12345 Т2 6789"
    )
    assert segments(done.reply) == 1
    appeal = _appeal(db, done.appeal_number)
    assert appeal.channel is AppealChannel.SMS and appeal.kind is AppealKind.APPEAL
    assert appeal.status is AppealStatus.REGISTERED  # for the operators
    assert appeal.content == "Добрый день, когда дадут свет?"
    assert appeal.account_id == customers[SINGLE]


def test_a_repeated_gateway_id_is_handled_once(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    first = inbound.receive(sender=PHONE_SINGLE, text="12500", gateway_id="kannel-1")
    again = inbound.receive(sender=PHONE_SINGLE, text="12500", gateway_id="kannel-1")
    assert again.duplicate and again.inbound_id == first.inbound_id
    assert again.reply_id == first.reply_id
    with db.session() as s:
        assert len(s.execute(select(SmsMessage)).all()) == 2
        assert len(s.execute(select(Appeal)).all()) == 1


def test_outbox_claims_once_and_follows_reports(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    done = inbound.receive(sender=PHONE_SINGLE, text="12500")
    outbox = Outbox(db)
    claimed = outbox.claim()
    assert [m.id for m in claimed] == [done.reply_id]
    assert outbox.claim() == []  # claimed: not again
    assert done.reply_id is not None
    outbox.sent_many([done.reply_id])
    assert outbox.report(done.reply_id, 8) == OutState.SMSC
    assert outbox.report(done.reply_id, 1) == OutState.DELIVERED
    assert outbox.report(done.reply_id, 8) == OutState.DELIVERED  # a late report undoes nothing
    assert outbox.report(10**6, 1) is None
    failing = outbox.queue(STRANGER, "тест")
    [m] = outbox.claim()
    assert m.id == failing
    assert outbox.retry(m, "gateway unreachable") is False
    assert outbox.state(failing) == OutState.QUEUED
    [m] = Outbox(db, max_tries=1).claim() or [None]  # not due yet: backoff
    assert m is None


def test_reports_arriving_together_are_stored_in_order(
    db: Database, customers: dict[str, int], inbound: SmsInbound
) -> None:
    outbox = Outbox(db)
    first, second, third = (outbox.queue(PHONE_SINGLE, f"тест {i}") for i in range(3))
    outbox.report_many([(first, 8), (first, 1), (second, 1), (second, 8), (third, 16), (10**6, 1)])
    assert outbox.state(first) == OutState.DELIVERED
    assert outbox.state(second) == OutState.DELIVERED  # a late «SMSC accepted» undoes nothing
    assert outbox.state(third) == OutState.FAILED
    with db.session() as s:
        row = s.get(SmsMessage, second)
        assert row is not None and row.report_type == 8 and row.sent_at is not None
