"""The appeal's life at the service level (issue 14): every action with its
history, the rules (REQ-A6 refusal, REQ-A9 extension only with the customer
informed, category А not extended, REQ-A8 reasons), the REQ-A12 measures
term, the SMS channel, and the journal exactly as the form (REQ-A3). Each
test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from crm_bridge.appeals import (
    FORM_COLUMNS,
    JOURNAL_COLUMNS,
    AppealService,
    RefusalRequired,
    export_csv,
    export_xlsx,
)
from crm_bridge.db import Database
from crm_bridge.errors import ExtensionNotAllowed, InvalidTransition
from crm_bridge.models import (
    AppealChannel,
    AppealKind,
    AppealStatus,
    Decision,
    ReplyChannel,
)
from supervision.life import AppealLife, CannotInform, LifeError, Told
from supervision.models import AppealEvent, AppealNotice
from supervision.notices import last_day

from .conftest import MSK, NOW


def _actions(db: Database, appeal_id: int) -> list[str]:
    with db.session() as s:
        return list(
            s.scalars(
                select(AppealEvent.action)
                .where(AppealEvent.appeal_id == appeal_id)
                .order_by(AppealEvent.id)
            )
        )


def _phone_appeal(appeals: AppealService, **kw: object) -> int:
    return appeals.register(
        channel=AppealChannel.PHONE,
        content="Нет света в подъезде",
        applicant_name="Тестов Т. Т.",
        address_text="г. Демоград, ул. Ленина, 5",
        reply_contact="+79001234567",
        **kw,  # type: ignore[arg-type]
    ).id


# -- the journal form (REQ-A3) ---------------------------------------------------------


SEED_FORM = [
    "Входящий регистрационный номер",
    "Дата поступления",
    "ФИО заявителя (наименование предприятия)",
    "Адрес",
    "Краткое содержание",
    "Классификация",
    "Кому (куда) передано на исполнение",
    "Дата предоставления ответа заявителю",
    "Дата отправки на исполнение",
    "Дата получения ответа",
    "Примечание",
]
"""Columns 1–11 of the journal form of seed 002 §3 in their order (Ст.1–Ст.11)."""


def test_the_form_has_exactly_the_eleven_columns_of_the_seed() -> None:
    assert [h for _, h in FORM_COLUMNS] == SEED_FORM
    assert len(JOURNAL_COLUMNS) == 17 and JOURNAL_COLUMNS[:11] == FORM_COLUMNS


def test_form_export_csv_and_xlsx(life: AppealLife, appeals: AppealService, tmp_path: Path) -> None:
    """REQ-A3: the export as the form, column 11 with what was done and in
    whose favour (REQ-A6 refusal included)."""
    aid = _phone_appeal(appeals)
    life.pass_to(aid, None, "РЭС-2, инженер Петров", None)
    life.answer_received(aid, None)
    life.answer(aid, None, text="Свет восстановлен", channel="phone")
    life.close(
        aid, None, note="Заменён автомат", decision="partly", refusal="Перерасчёт не положен"
    )
    rows = appeals.journal_rows([appeals.get(aid)])
    buf = io.StringIO(newline="")
    assert export_csv(rows, buf, columns=FORM_COLUMNS) == 1
    table = list(csv.reader(io.StringIO(buf.getvalue().lstrip("\ufeff")), delimiter=";"))
    assert table[0] == SEED_FORM
    assert len(table[1]) == 11
    assert table[1][0] == "1-ФЛ" and table[1][6] == "РЭС-2, инженер Петров"
    assert "Заменён автомат" in table[1][10]
    assert "частично в пользу клиента" in table[1][10]
    assert "Перерасчёт не положен" in table[1][10]
    path = tmp_path / "j.xlsx"
    assert export_xlsx(rows, path, columns=FORM_COLUMNS) == 1
    ws = load_workbook(path).active
    assert ws is not None
    assert [c.value for c in ws[1]] == SEED_FORM
    assert ws.max_column == 11


# -- SMS (statistics) and REQ-A12 -------------------------------------------------------


def test_sms_channel_replies_by_sms_and_has_its_russian_title(appeals: AppealService) -> None:
    a = appeals.register(channel=AppealChannel.SMS, content="Показания 12345")
    assert a.reply_channel is ReplyChannel.SMS
    row = appeals.journal_rows([a])[0]
    assert row.channel == "СМС"
    assert a.measures_due_at is None  # not one of the REQ-A12 forms


@pytest.mark.parametrize(
    "channel",
    [
        AppealChannel.IN_PERSON,
        AppealChannel.PHONE,
        AppealChannel.POST,
        AppealChannel.WEB,
        AppealChannel.EMAIL,
    ],
)
def test_measures_within_14_days_for_the_forms_of_req_a12(
    appeals: AppealService, channel: AppealChannel
) -> None:
    a = appeals.register(channel=channel, content="Отзыв о работе офиса", reply_contact="x@y.ru")
    assert a.measures_due_at is not None
    # received Monday 03.03.2025 → measures by the end of 17.03.2025 (local)
    assert last_day(a.measures_due_at, MSK) == date(2025, 3, 17)
    assert a.measures_due_at == a.received_at.replace(hour=0) + timedelta(days=15)


def test_measures_list_shows_the_a12_terms_falling_due(
    life: AppealLife, appeals: AppealService
) -> None:
    aid = _phone_appeal(appeals)
    assert life.measures_due(now=NOW) == []
    later = NOW + timedelta(days=14)
    assert [a.id for a in life.measures_due(now=later)] == [aid]
    life.pass_to(aid, None, "РЭС-1", None)
    life.answer(aid, None, text="Сделано", channel="phone")
    assert life.measures_due(now=later) == []  # answered: no longer open


# -- the workflow with its history ------------------------------------------------------


def test_pass_answer_received_answer_close_with_history(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    aid = _phone_appeal(appeals)
    passed_at = NOW - timedelta(hours=3)
    a = life.pass_to(aid, None, "Отдел по работе с клиентами", passed_at)
    assert a.status is AppealStatus.IN_PROGRESS
    assert a.passed_at == passed_at and a.passed_to == "Отдел по работе с клиентами"
    a = life.answer_received(aid, None)
    assert a.answer_received_at == NOW
    a = life.answer(aid, None, text="Перерасчёт сделан", channel="phone")
    assert a.status is AppealStatus.ANSWERED and a.answered_at == NOW
    a = life.close(aid, None, note="Перерасчёт за март", decision="customer", refusal=None)
    assert a.status is AppealStatus.CLOSED
    assert a.decision is Decision.CUSTOMER and a.refusal_reason is None
    assert _actions(db, aid) == ["pass", "answer_received", "answer", "close"]
    page = life.page(aid)
    assert page.events[0].title == "передано на исполнение"
    assert page.events[0].detail["to"] == "Отдел по работе с клиентами"


def test_invalid_transitions_are_refused(life: AppealLife, appeals: AppealService) -> None:
    aid = _phone_appeal(appeals)
    with pytest.raises(InvalidTransition):
        life.close(aid, None, note="x", decision="customer", refusal=None)  # not answered yet
    with pytest.raises(LifeError):
        life.close(aid, None, note="x", decision=None, refusal=None)  # in whose favour?
    life.pass_to(aid, None, "РЭС", None)
    with pytest.raises(InvalidTransition):
        life.close(aid, None, note="Готово", decision="customer", refusal=None)
    life.answer(aid, None, text="Ответ", channel="phone")
    with pytest.raises(InvalidTransition):
        life.pass_to(aid, None, "другой отдел", None)
    with pytest.raises(InvalidTransition):
        life.answer_received(aid, None)


@pytest.mark.parametrize("decision", ["company", "partly"])
def test_a_decision_against_the_customer_needs_a_reasoned_refusal(
    db: Database, life: AppealLife, appeals: AppealService, decision: str
) -> None:
    """REQ-A6."""
    aid = _phone_appeal(appeals)
    life.answer(aid, None, text="Отказ", channel="phone")
    for refusal in (None, "   "):
        with pytest.raises(RefusalRequired):
            life.close(aid, None, note="Проверено", decision=decision, refusal=refusal)
    assert appeals.get(aid).status is AppealStatus.ANSWERED
    assert _actions(db, aid) == ["answer"]  # nothing written for the refused close
    a = life.close(aid, None, note="Проверено", decision=decision, refusal="Счётчик исправен")
    assert a.decision is Decision(decision) and a.refusal_reason == "Счётчик исправен"


def test_not_considered_needs_a_req_a8_reason(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    aid = _phone_appeal(appeals)
    with pytest.raises(LifeError):
        life.not_considered(aid, None, "no_reason_at_all", "")
    a = life.not_considered(aid, None, "obscene_or_threatening", "Угрозы в адрес оператора")
    assert a.status is AppealStatus.NOT_CONSIDERED
    a = life.close(aid, None, note="", decision=None, refusal=None)
    assert a.status is AppealStatus.CLOSED
    assert _actions(db, aid) == ["not_considered", "close"]


def test_reply_channel_and_contact_req_a7(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    aid = _phone_appeal(appeals)
    with pytest.raises(LifeError):
        life.contact(aid, None, "email", "не адрес")
    with pytest.raises(LifeError):
        life.contact(aid, None, "pigeon", "x")
    a = life.contact(aid, None, "email", "client@example.ru")
    assert a.reply_channel is ReplyChannel.EMAIL and a.reply_contact == "client@example.ru"
    # answered by e-mail: the answer goes into the outbox in the same transaction
    life.answer(aid, None, text="Ваш перерасчёт выполнен.")
    with db.session() as s:
        notice = s.scalars(select(AppealNotice).where(AppealNotice.appeal_id == aid)).one()
    assert (notice.kind, notice.channel, notice.status) == ("answered", "email", "queued")
    assert "Ваш перерасчёт выполнен." in notice.body and appeals.get(aid).number in notice.body


def test_answer_by_email_needs_an_address(life: AppealLife, appeals: AppealService) -> None:
    aid = _phone_appeal(appeals)
    with pytest.raises(LifeError):
        life.answer(aid, None, text="Ответ", channel="email", contact="")
    assert appeals.get(aid).status is AppealStatus.REGISTERED


# -- complaints (REQ-A6, A5) -------------------------------------------------------------


def test_complaint_categories_and_urgency(life: AppealLife, appeals: AppealService) -> None:
    aid = _phone_appeal(appeals)
    a = life.complaint(aid, None, "Б", False)
    assert a.kind is AppealKind.COMPLAINT and a.complaint_category is not None
    assert a.due_at is not None and last_day(a.due_at, MSK) == date(2025, 3, 23)  # 20 days
    urgent = life.complaint(_phone_appeal(appeals), None, "А", True)
    assert urgent.due_at is not None and urgent.due_at - urgent.received_at <= timedelta(hours=1)
    with pytest.raises(LifeError):
        life.complaint(aid, None, "В", False)


def test_category_a_is_never_extended(life: AppealLife, appeals: AppealService) -> None:
    aid = _phone_appeal(appeals)
    life.complaint(aid, None, "А", False)
    with pytest.raises(ExtensionNotAllowed):
        life.plan_extension(aid, 5)
    with pytest.raises(ExtensionNotAllowed):
        life.extend(aid, None, 5, "нужна проверка", told=Told("Иванова", NOW))


def test_an_extended_appeal_cannot_become_category_a(
    life: AppealLife, appeals: AppealService
) -> None:
    aid = _phone_appeal(appeals)
    life.extend(aid, None, 1, "запрос в сетевую компанию", told=Told("Иванова", NOW))
    with pytest.raises(ExtensionNotAllowed):
        life.complaint(aid, None, "А", False)
    a = life.complaint(aid, None, "Б", False)
    assert a.extended_days == 1 and a.extended_due_at is not None
    assert last_day(a.extended_due_at, MSK) == date(2025, 3, 24)  # 20 + 1 days
    other = _phone_appeal(appeals)
    life.extend(other, None, 5, "запрос", told=Told("Иванова", NOW))
    with pytest.raises(ExtensionNotAllowed):  # 20 + 5 days would pass the 21-day cap
        life.complaint(other, None, "Б", False)


# -- extension only with the customer informed (REQ-A9) --------------------------------------


def test_extension_without_informing_the_customer_is_refused(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    aid = _phone_appeal(appeals)
    with pytest.raises(CannotInform):
        life.extend(aid, None, 5, "нужна проверка")
    with pytest.raises(LifeError):
        life.extend(aid, None, 5, "", told=Told("Иванова", NOW))
    with pytest.raises(LifeError):
        life.extend(aid, None, 5, "проверка", told=Told("  ", NOW))
    a = appeals.get(aid)
    assert a.extended_days == 0 and a.extended_due_at is None
    assert _actions(db, aid) == []


def test_phone_customer_told_by_a_person_then_extended(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    aid = _phone_appeal(appeals)
    a = life.extend(aid, None, 7, "запрос в сетевую компанию", told=Told("Иванова А.", NOW))
    assert a.extended_days == 7 and a.customer_notified
    assert a.due_at is not None and a.extended_due_at is not None
    assert last_day(a.extended_due_at, MSK) == last_day(a.due_at, MSK) + timedelta(days=7)
    page = life.page(aid)
    assert page.events[-1].action == "extend"
    assert page.events[-1].detail["informed"] == "phone"
    assert page.events[-1].detail["who"] == "Иванова А."


def test_email_customer_without_an_address_cannot_be_told(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    aid = appeals.register(channel=AppealChannel.EMAIL, content="Вопрос по тарифу").id
    with pytest.raises(CannotInform, match="нет адреса"):
        life.email_for_extension(aid, None, 3, "уточняем тариф")
    # a phone call cannot stand in when the customer waits for an e-mail
    with pytest.raises(CannotInform):
        life.extend(aid, None, 3, "уточняем тариф", told=Told("Иванова", NOW))
    with db.session() as s:
        assert s.scalars(select(AppealNotice)).all() == []


def test_an_email_extension_moves_only_after_the_letter_was_sent(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    aid = appeals.register(
        channel=AppealChannel.EMAIL, content="Вопрос", reply_contact="client@example.ru"
    ).id
    notice_id = life.email_for_extension(aid, None, 3, "уточняем тариф")
    with pytest.raises(CannotInform):  # the letter is still "sending"
        life.extend(aid, None, 3, "уточняем тариф", notice_id=notice_id)
    assert life.notices.finish(notice_id, sent=True) == "sent"
    a = life.extend(aid, None, 3, "уточняем тариф", notice_id=notice_id)
    assert a.extended_days == 3
    assert _actions(db, aid) == ["notice.sent", "extend"]


def test_extension_limits_are_said_in_russian(life: AppealLife, appeals: AppealService) -> None:
    aid = _phone_appeal(appeals)
    with pytest.raises(LifeError):
        life.plan_extension(aid, 11)
    life.extend(aid, None, 8, "проверка", told=Told("Иванова", NOW))
    with pytest.raises(ExtensionNotAllowed, match="превысило бы 10 дней"):
        life.plan_extension(aid, 3)


# -- the lists -------------------------------------------------------------------------------


def test_overdue_and_due_within_a_day_lists(life: AppealLife, appeals: AppealService) -> None:
    mail = appeals.register(
        channel=AppealChannel.EMAIL, content="e-mail", reply_contact="a@b.ru"
    )  # 5 days
    phone = appeals.get(_phone_appeal(appeals))  # 10 days
    assert mail.due_at is not None and phone.due_at is not None
    just_before = mail.due_at - timedelta(hours=2)
    assert [a.id for a in life.due_within(timedelta(days=1), now=just_before)] == [mail.id]
    assert life.overdue(now=just_before) == []
    after = mail.due_at + timedelta(minutes=1)
    assert [a.id for a in life.overdue(now=after)] == [mail.id]
    assert [a.id for a in life.overdue(now=phone.due_at)] == [mail.id, phone.id]


def test_operator_lists_hold_only_the_appeals_he_works_with(
    db: Database, life: AppealLife, appeals: AppealService
) -> None:
    from crm_bridge.models import Operator, OperatorRole

    with db.session(write=True) as s:
        op = Operator(login="op", name="Оператор", role=OperatorRole.OPERATOR, password_hash="x")
        s.add(op)
        s.flush()
        op_id = op.id
    mine = _phone_appeal(appeals)
    _phone_appeal(appeals)
    life.classify(mine, op_id, "КЭ")
    later = NOW + timedelta(days=30)
    assert [a.id for a in life.overdue(worked_by=op_id, now=later)] == [mine]
    assert len(life.overdue(now=later)) == 2
