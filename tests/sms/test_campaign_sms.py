"""SMS as a campaign channel (issue 18 item 3; REQ-O7, REQ-O12, REQ-A13), on
SQLite and PostgreSQL: the channels in the order of the customer's chosen
form, the message as text, the windows and the 230-FZ caps of messages, the
delivery report deciding «положительный», the next channel after a failure,
and the survey campaign by SMS with its replies."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from autoinformer.campaigns import CampaignService
from autoinformer.channels import contact_order, parse_channels
from autoinformer.contacts import ContactListService
from autoinformer.models import Attempt, Campaign, Contact
from autoinformer.reports import xlsx_report
from autoinformer.sms_text import sms_text, written_value
from autoinformer.store import AttemptStore
from crm_bridge.accounts import AccountData
from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.models import Account
from crm_bridge.readings import ReadingService
from sms.campaigns import CampaignSms, SurveyReplies
from sms.inbound import SmsInbound
from sms.models import Direction, InOutcome, SmsMessage
from sms.outbox import Outbox
from surveys.models import SurveyResponse
from surveys.service import SurveyService
from tests.autoinformer.helpers import always_open
from tests.crm.conftest import MSK, NOW, add_accounts

PHONES = ("+79001230001", "+79001230002", "+79001230003")


def _customers(db: Database, notify: tuple[str | None, ...]) -> list[str]:
    numbers = []
    items = []
    for i, phone in enumerate(PHONES[: len(notify)]):
        number = f"55{i:08d}"
        numbers.append(number)
        items.append(
            AccountData(
                number, f"Абонент {i}", phones=(phone,), debt=Decimal("2750.40"), email=None
            )
        )
    add_accounts(db, *items)
    with db.session(write=True) as s:
        for number, chosen in zip(numbers, notify, strict=False):
            s.execute(update(Account).where(Account.number == number).values(notify_by=chosen))
    return numbers


def _campaign(db: Database, kind: str, channels: str, n: int, **options: Any) -> int:
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create("Рассылка", kind, start_at=start, end_at=end, channels=channels, **options)
    res = ContactListService(db).import_rows(
        cid, [{"phone": p, "debt": "2750.40"} for p in PHONES[:n]]
    )
    assert not res.rejected, res.rejected
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    return cid


def _contacts(db: Database, cid: int) -> dict[str, Contact]:
    with db.session() as s:
        return {c.phone: c for c in s.scalars(select(Contact).where(Contact.campaign_id == cid))}


def _messages(db: Database) -> list[SmsMessage]:
    with db.session() as s:
        return list(
            s.scalars(
                select(SmsMessage)
                .where(SmsMessage.direction == Direction.OUT.value)
                .order_by(SmsMessage.id)
            )
        )


def _prompt(pid: str) -> str:
    return f"<{pid}>"


def test_the_order_of_channels_is_the_customers_choice() -> None:
    assert parse_channels("phone, SMS,phone") == ("phone", "sms")
    both = ("phone", "sms", "email")
    assert contact_order(both, "sms", phone_on_file=True, email=True) == ["sms", "phone", "email"]
    assert contact_order(both, None, phone_on_file=True, email=False) == ["phone", "sms"]
    # REQ-O7: a number not in the contract gets neither a call nor an SMS
    assert contact_order(both, "sms", phone_on_file=False, email=True) == ["email"]
    # a form the campaign does not use: the campaign's order
    assert contact_order(("phone", "sms"), "email", phone_on_file=True, email=True) == [
        "phone",
        "sms",
    ]


def test_values_are_written_as_an_sms_says_them() -> None:
    assert written_value("money", "2750.4") == "2 750,40 руб."
    assert written_value("money", "1234567") == "1 234 567,00 руб."
    assert written_value("date", "2026-12-20") == "20.12.2026"
    period = written_value(
        "period", "2026-12-20T07:00:00+00:00", "Europe/Moscow", "2026-12-20T13:00:00+00:00"
    )
    assert period == "20.12.2026 с 10:00 до 16:00"
    assert written_value("period", "2026-03-15", None, "2026-03-25") == "с 15.03.2026 по 25.03.2026"
    with pytest.raises(ValueError):
        written_value("money", "много")


def test_the_outage_notice_fits_one_ucs2_segment(db: Database) -> None:
    cid = CampaignService(db).create(
        "Отключение",
        "planned_outage",
        outage_start=NOW + timedelta(days=2),
        outage_end=NOW + timedelta(days=2, hours=6),
    )
    c = CampaignService(db).get(cid)
    text = sms_text(
        c,
        {"outage_from": "2026-12-20T10:00:00+03:00", "outage_to": "2026-12-20T16:00:00+03:00"},
        "Europe/Moscow",
        _prompt,
    )
    assert text == "Плановое отключение электроэнергии 20.12.2026 с 10:00 до 16:00."
    assert len(text) <= 70
    debt = CampaignService(db).get(CampaignService(db).create("Долг", "debt"))
    text = sms_text(debt, {"account": "5500000000", "debt": "2750.40"}, None, _prompt)
    assert text == ("По лицевому счёту 5500000000 задолженность 2 750,40 руб. Просим оплатить.")


def test_sms_first_for_who_chose_it_then_delivered_is_positive(db: Database) -> None:
    _customers(db, ("sms", None))
    cid = _campaign(
        db,
        "planned_outage",
        "phone,sms",
        2,
        outage_start=NOW + timedelta(days=2),
        outage_end=NOW + timedelta(days=2, hours=6),
        outage_decided_at=NOW - timedelta(hours=1),
        outage_notice="warn",
        max_attempts=1,
    )
    claimed = AttemptStore(db, "n1").claim(10, now=NOW)
    # the dialer calls only who did not choose SMS (REQ-O12)
    assert [c.phone for c in claimed] == [PHONES[1]]
    contacts = _contacts(db, cid)
    assert contacts[PHONES[0]].channel == "sms" and contacts[PHONES[0]].channels_left == "phone"
    store = CampaignSms(db, prompt_text=_prompt, clock=lambda: NOW)
    assert store.take() == 1
    assert store.take() == 0  # queued once
    (msg,) = _messages(db)
    assert msg.peer == PHONES[0] and msg.purpose == "campaign"
    assert msg.text.startswith("Плановое отключение электроэнергии ")
    assert msg.parts == 1
    outbox = Outbox(db, clock=lambda: NOW)
    outbox.report_many([(msg.id, 8)])  # the SMSC accepted it: not yet positive
    assert store.settle() == 0
    outbox.report_many([(msg.id, 1)])  # delivered
    assert store.settle() == 1
    contacts = _contacts(db, cid)
    assert contacts[PHONES[0]].status == "done" and contacts[PHONES[0]].positive
    assert contacts[PHONES[0]].final_result == "delivered"
    with db.session() as s:
        attempt = s.scalars(select(Attempt).where(Attempt.channel == "sms")).one()
    assert attempt.result == "delivered" and attempt.positive
    # the call not answered (one attempt allowed): the SMS is next, and it fails
    AttemptStore(db, "n1").finalise(claimed[0].channel_id, originate_reason=3, now=NOW)
    contacts = _contacts(db, cid)
    assert contacts[PHONES[1]].channel == "sms" and contacts[PHONES[1]].status == "pending"
    assert store.take() == 1
    second = _messages(db)[-1]
    assert second.peer == PHONES[1]
    outbox.report_many([(second.id, 16)])  # SMSC rejected: not delivered
    assert store.settle() == 1
    contacts = _contacts(db, cid)
    assert contacts[PHONES[1]].status == "done" and not contacts[PHONES[1]].positive
    assert contacts[PHONES[1]].final_result == "undelivered"
    with db.session() as s:
        campaign = s.get(Campaign, cid)
        assert campaign is not None and campaign.status == "completed"
    # the monitor's counts and the XLSX report show the SMS beside the call
    stats = CampaignService(db).stats(cid)
    assert stats.results == {"noanswer": 1, "delivered": 1, "undelivered": 1}
    assert stats.positive == 1 and stats.finished == 2
    sheet = load_workbook(io.BytesIO(xlsx_report(CampaignService(db), cid)))
    summary = [[c for c in row if c is not None] for row in sheet["Итоги"].values]
    assert ["СМС", 2, 1, "СМС доставлено: 1, СМС не доставлено: 1"] in summary
    assert ["звонок", 1, 0, "Не ответили: 1"] in summary
    channels_column = [row[5] for row in sheet["Попытки"].values][1:]
    assert sorted(channels_column) == ["СМС", "СМС", "звонок"]


def test_an_undelivered_sms_is_retried_as_the_campaign_says(db: Database) -> None:
    _customers(db, ("sms",))
    cid = _campaign(db, "custom", "sms", 1, retry_delays={"undelivered": 600}, max_attempts=2)
    AttemptStore(db, "n1").claim(10, now=NOW)  # routes the contact
    store = CampaignSms(db, prompt_text=_prompt, clock=lambda: NOW)
    assert store.take() == 1
    Outbox(db).report_many([(_messages(db)[-1].id, 2)])
    store.settle()
    contact = _contacts(db, cid)[PHONES[0]]
    assert contact.status == "pending" and contact.next_at is not None
    assert store.take() == 0  # not before the delay
    assert store.take(now=NOW + timedelta(minutes=11)) == 1
    Outbox(db).report_many([(_messages(db)[-1].id, 1)])
    store.settle()
    contact = _contacts(db, cid)[PHONES[0]]
    assert contact.status == "done" and contact.positive
    with db.session() as s:
        nos = sorted(
            a.attempt_no for a in s.scalars(select(Attempt).where(Attempt.channel == "sms"))
        )
    assert nos == [1, 2]


def test_windows_and_230fz_caps_hold_messages_back(db: Database) -> None:
    _customers(db, ("sms", "sms"))
    cid = _campaign(db, "debt", "sms", 2)
    AttemptStore(db, "n1").claim(10, now=NOW)
    night = NOW.replace(hour=23)  # 23:00 Moscow: outside the working-day window
    store = CampaignSms(db, prompt_text=_prompt, clock=lambda: night)
    assert store.take() == 0
    contacts = _contacts(db, cid)
    held = contacts[PHONES[0]]
    assert held.refusal == "outside_window"
    assert held.next_at is not None and held.next_at.astimezone(MSK).hour == 8
    # two messages today already went to the first account: the third waits (2 a day)
    with db.session(write=True) as s:
        account_id = contacts[PHONES[0]].account_id
        for n in (1, 2):
            s.add(
                Attempt(
                    campaign_id=cid,
                    contact_id=contacts[PHONES[0]].id,
                    account_id=account_id,
                    attempt_no=100 + n,
                    channel="sms",
                    node="other",
                    state="done",
                    result="delivered",
                    created_at=NOW - timedelta(hours=n),
                )
            )
        s.execute(update(Contact).where(Contact.campaign_id == cid).values(next_at=None))
    assert CampaignSms(db, prompt_text=_prompt, clock=lambda: NOW).take() == 1
    contacts = _contacts(db, cid)
    assert contacts[PHONES[0]].refusal == "daily_cap"
    assert contacts[PHONES[1]].status == "dialing"


def test_a_survey_by_sms_stores_the_replies(db: Database, appeals: AppealService) -> None:
    _customers(db, ("sms",))
    cid = _campaign(db, "survey", "sms", 1)
    AttemptStore(db, "n1").claim(10, now=NOW)
    store = CampaignSms(db, prompt_text=_prompt, clock=lambda: NOW)
    assert store.take() == 1
    question = _messages(db)[-1]
    assert question.text.startswith("Оцените наше обслуживание от 1 до 5")
    assert question.parts == 1
    Outbox(db).report_many([(question.id, 1)])
    store.settle()
    inbound = SmsInbound(
        db,
        readings=ReadingService(db, clock=lambda: NOW),
        appeals=appeals,
        service_number="7377",
        clock=lambda: NOW,
        survey=SurveyReplies(db, clock=lambda: NOW),
    )
    first = inbound.receive(sender=PHONES[0], text=" 5 ")
    assert first.outcome is InOutcome.SURVEY
    assert first.reply.startswith("Порекомендуете ли нас знакомым?")
    helped = inbound.receive(sender=PHONES[0], text="не знаю")
    assert helped.reply.startswith("Ответьте числом от 0 до 10")
    last = inbound.receive(sender=PHONES[0], text="10")
    assert last.reply == "Спасибо за вашу оценку!"
    # the survey is over: a number now is a reading again (no meter: refused, not a survey)
    after = inbound.receive(sender=PHONES[0], text="12345")
    assert after.outcome is not InOutcome.SURVEY
    with db.session() as s:
        row = s.scalars(select(SurveyResponse)).one()
    assert (row.source, row.channel, row.csi, row.nps) == ("campaign", "sms", 5, 10)
    report = SurveyService(db).report(NOW.date().replace(day=1), NOW.date())
    assert report.total.offered == 1 and report.total.answered == 1
    assert report.total.nps == 100.0 and report.total.csi == 5.0
    assert [(f.label, f.offered, f.response_rate) for f in report.sources] == [
        ("опрос по СМС", 1, 100.0)
    ]
    # a stranger's «5» is not a survey answer
    assert SurveyReplies(db, clock=lambda: NOW)("+79009999999", "5") is None
    _ = cid


def test_no_delivery_report_in_48_hours_is_not_delivered(db: Database) -> None:
    _customers(db, ("sms",))
    cid = _campaign(db, "custom", "sms,phone", 1)
    store = CampaignSms(db, prompt_text=_prompt, clock=lambda: NOW)
    assert store.take() == 1  # routed here (no dialer), queued
    (msg,) = _messages(db)
    outbox = Outbox(db, clock=lambda: NOW)
    outbox.claim()
    outbox.sent(msg.id)  # Kannel took it; no report ever comes
    assert store.settle(now=NOW + timedelta(hours=47)) == 0
    assert store.settle(now=NOW + timedelta(hours=49)) == 1
    contact = _contacts(db, cid)[PHONES[0]]
    assert contact.channel == "phone" and contact.status == "pending"  # the call is next
    with db.session() as s:
        attempt = s.scalars(select(Attempt).where(Attempt.channel == "sms")).one()
    assert attempt.result == "undelivered" and "нет отчёта о доставке" in (attempt.note or "")


def test_the_survey_kind_asks_csi_and_nps_with_ten_as_1_then_0() -> None:
    from autoinformer.campaigns import default_scenario, validate_scenario

    steps = validate_scenario(default_scenario("survey"))
    assert [s.get("name") for s in steps if "question" in s] == ["csi", "nps"]
    assert steps[2] == {
        "question": "survey/nps",
        "keys": "0123456789",
        "name": "nps",
        "scale": "nps",
    }
    # a question the builder names «nps» gets the 0–10 scale too
    built = validate_scenario([{"question": "survey/nps", "keys": "0123456789", "name": "NPS"}])
    assert built[0]["scale"] == "nps"
