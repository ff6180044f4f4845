"""Appeals: numbering (REQ-A2), journal (REQ-A3), classification (REQ-A4),
deadlines (REQ-A5, A9), complaint categories (REQ-A6), reply channel (REQ-A7),
not-considered reasons (REQ-A8, REQ-T5), reports (REQ-A10)."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from crm_bridge import deadlines
from crm_bridge.appeals import (
    JOURNAL_COLUMNS,
    AppealService,
    export_csv,
    export_xlsx,
)
from crm_bridge.db import Database
from crm_bridge.errors import ExtensionNotAllowed, InvalidTransition
from crm_bridge.models import (
    AppealChannel,
    AppealKind,
    AppealStatus,
    ClassificationCode,
    NotConsideredReason,
    ReplyChannel,
)

from .conftest import MSK, NOW

# -- numbering (REQ-A2) ---------------------------------------------------------


def test_number_is_sequence_plus_category_letters(appeals: AppealService) -> None:
    a = appeals.register(channel="phone", category="ФЛ", content="нет света")
    b = appeals.register(channel="post", category="ЮЛ", content="акт сверки")
    c = appeals.register(channel="email", category="ГЛ", content="жильцы дома")
    assert [a.number, b.number, c.number] == ["1-ФЛ", "2-ЮЛ", "3-ГЛ"]
    assert [a.seq, b.seq, c.seq] == [1, 2, 3]
    for view in (a, b, c):
        assert re.fullmatch(r"\d+-(ФЛ|ГЛ|ЮЛ)", view.number)
    assert appeals.get_by_number("2-ЮЛ").id == b.id


def test_numbering_is_gapless_after_a_failed_registration(appeals: AppealService) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the FK violation type differs per driver
        appeals.register(channel="phone", account_id=999_999)
    assert appeals.register(channel="phone").number == "1-ФЛ"


def test_numbers_unique_under_concurrent_registrations(db: Database) -> None:
    """REQ-A2 on a shared database: 8 workers register at once, no number twice, no gap."""
    service = AppealService(db, clock=lambda: NOW)
    threads, per_thread = 8, 25
    numbers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(i: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(per_thread):
                view = service.register(channel="phone", category="ФЛ" if i % 2 else "ЮЛ")
                with lock:
                    numbers.append(view.number)
        except BaseException as exc:  # collected and re-raised in the test thread
            with lock:
                errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
        assert not t.is_alive()
    assert not errors, errors
    seqs = sorted(int(n.split("-")[0]) for n in numbers)
    assert seqs == list(range(1, threads * per_thread + 1))
    assert len(set(numbers)) == len(numbers)


# -- deadlines (REQ-A5, REQ-A9) ---------------------------------------------------


def test_phone_appeal_deadlines(appeals: AppealService) -> None:
    a = appeals.register(channel="phone", content="перерасчёт")
    # Received Monday 3 March 2025: routed within 1 working day (by the end of
    # Tuesday), answered within 10 days (by the end of 13 March), Moscow time.
    assert a.routing_due_at == datetime(2025, 3, 5, 0, 0, tzinfo=MSK)
    assert a.due_at == datetime(2025, 3, 14, 0, 0, tzinfo=MSK)
    assert a.extended_due_at is None


@pytest.mark.parametrize(
    ("kw", "due"),
    [
        ({"channel": "phone", "kind": "complaint"}, datetime(2025, 3, 24, tzinfo=MSK)),
        ({"channel": "email"}, datetime(2025, 3, 9, tzinfo=MSK)),
        ({"channel": "web"}, datetime(2025, 3, 9, tzinfo=MSK)),
        ({"channel": "post"}, datetime(2025, 3, 14, tzinfo=MSK)),
        ({"channel": "phone", "kind": "complaint", "urgent": True}, NOW + timedelta(hours=1)),
    ],
)
def test_deadline_by_kind_and_channel(
    appeals: AppealService, kw: dict[str, object], due: datetime
) -> None:
    a = appeals.register(**kw)  # type: ignore[arg-type]
    assert a.due_at == due


def test_answering_machine_deadline_is_in_working_hours(appeals: AppealService) -> None:
    a = appeals.register(
        channel="answering_machine", kind="answering_machine_message", reply_contact="+79001234567"
    )
    # 10 days → 13 March (Thursday); callbacks end at 20:00 (REQ-T6).
    assert a.due_at == datetime(2025, 3, 13, 20, 0, tzinfo=MSK)


def test_extension_requires_customer_notification(appeals: AppealService) -> None:
    a = appeals.register(channel="phone")
    with pytest.raises(deadlines.ExtensionNotNotifiedError):
        appeals.extend(a.id, 5, customer_notified=False)
    unchanged = appeals.get(a.id)
    assert unchanged.extended_due_at is None
    assert not unchanged.customer_notified

    extended = appeals.extend(a.id, 5, customer_notified=True, reason="запрос в филиал")
    assert extended.customer_notified
    assert extended.extended_days == 5
    assert extended.extended_due_at == a.due_at + timedelta(days=5)  # type: ignore[operator]
    assert extended.effective_due_at == extended.extended_due_at
    assert extended.due_at == a.due_at
    assert "запрос в филиал" in (extended.note or "")


def test_extension_limits(appeals: AppealService) -> None:
    a = appeals.register(channel="phone")
    appeals.extend(a.id, 6, customer_notified=True)
    with pytest.raises(deadlines.DeadlineError):
        appeals.extend(a.id, 5, customer_notified=True)  # 11 > 10 days of extension
    second = appeals.extend(a.id, 4, customer_notified=True)
    assert second.extended_days == 10
    complaint = appeals.register(channel="phone", kind="complaint")
    with pytest.raises(deadlines.DeadlineError):
        appeals.extend(complaint.id, 2, customer_notified=True)  # 22 > 21 days overall


def test_typical_complaint_is_not_extended(appeals: AppealService) -> None:
    """REQ-A6: category А has a short typical answer; only Б may be extended."""
    a = appeals.register(channel="phone", kind="complaint", complaint_category="А")
    with pytest.raises(ExtensionNotAllowed):
        appeals.extend(a.id, 1, customer_notified=True)
    b = appeals.register(channel="post", kind="appeal", complaint_category="Б")
    assert appeals.extend(b.id, 3, customer_notified=True).extended_days == 3


def test_closed_appeal_is_not_extended(appeals: AppealService) -> None:
    a = appeals.register(channel="phone")
    appeals.answer(a.id, note="разъяснено")
    with pytest.raises(ExtensionNotAllowed):
        appeals.extend(a.id, 1, customer_notified=True)


def test_overdue_and_due_soon(db: Database) -> None:
    service = AppealService(db, clock=lambda: NOW)
    old = service.register(channel="phone", received_at=NOW - timedelta(days=12), content="старое")
    soon = service.register(channel="phone", received_at=NOW - timedelta(days=9), content="скоро")
    fresh = service.register(channel="phone", content="новое")
    answered = service.register(channel="phone", received_at=NOW - timedelta(days=15))
    service.answer(answered.id)
    extended = service.register(channel="phone", received_at=NOW - timedelta(days=10, hours=1))
    service.extend(extended.id, 5, customer_notified=True, at=NOW - timedelta(hours=2))

    assert [a.id for a in service.overdue()] == [old.id]
    assert [a.id for a in service.due_soon(timedelta(days=2))] == [soon.id]
    assert fresh.id not in {a.id for a in service.due_soon(timedelta(days=2))}
    later = NOW + timedelta(days=30)
    assert {a.id for a in service.overdue(now=later)} == {old.id, soon.id, fresh.id, extended.id}
    # routing: registered and not passed on within one working day
    routing = service.overdue(now=NOW + timedelta(days=3), stage=deadlines.Stage.ROUTING)
    assert fresh.id in {a.id for a in routing}
    service.pass_to(fresh.id, "Сетевой участок №2")
    routing = service.overdue(now=NOW + timedelta(days=3), stage=deadlines.Stage.ROUTING)
    assert fresh.id not in {a.id for a in routing}


# -- workflow -------------------------------------------------------------------


def test_full_workflow_fills_journal_columns(appeals: AppealService) -> None:
    a = appeals.register(
        channel="phone",
        kind="complaint",
        applicant_name="Тестов Т. Т.",
        address_text="г. Демоград, ул. Ленина, 5-12",
        content="Скачки напряжения",
        classification="КЭ",
    )
    assert a.status is AppealStatus.REGISTERED
    t1, t2, t3 = (NOW + timedelta(days=d) for d in (1, 3, 4))
    b = appeals.pass_to(a.id, "Начальник РЭС", at=t1)
    assert (b.status, b.passed_to, b.passed_at) == (AppealStatus.IN_PROGRESS, "Начальник РЭС", t1)
    assert appeals.answer_received(a.id, at=t2).answer_received_at == t2
    c = appeals.answer(a.id, note="Заменён ввод; в пользу потребителя", at=t3)
    assert (c.status, c.answered_at) == (AppealStatus.ANSWERED, t3)
    d = appeals.close(a.id)
    assert d.status is AppealStatus.CLOSED
    assert d.closed_at is not None


@pytest.mark.parametrize(
    ("steps", "bad"),
    [
        ([], "close"),
        (["answer", "close"], "answer"),
        (["answer"], "start"),
        (["close_nc"], "answer"),
    ],
)
def test_invalid_transitions(appeals: AppealService, steps: list[str], bad: str) -> None:
    a = appeals.register(channel="phone")
    actions = {
        "answer": lambda: appeals.answer(a.id),
        "close": lambda: appeals.close(a.id),
        "start": lambda: appeals.start(a.id),
        "close_nc": lambda: appeals.not_considered(a.id, "unreadable"),
    }
    for step in steps:
        actions[step]()
    with pytest.raises(InvalidTransition):
        actions[bad]()


@pytest.mark.parametrize("reason", list(NotConsideredReason))
def test_not_considered_reasons(appeals: AppealService, reason: NotConsideredReason) -> None:
    """REQ-A8: every reason is recorded, and the appeal can then be closed."""
    a = appeals.register(channel="post")
    b = appeals.not_considered(a.id, reason, note="уведомлён письмом")
    assert b.status is AppealStatus.NOT_CONSIDERED
    assert b.not_considered_reason is reason
    assert reason.title_ru
    assert appeals.close(b.id).status is AppealStatus.CLOSED


def test_answering_machine_without_contact_is_marked_not_dropped(
    appeals: AppealService,
) -> None:
    """REQ-T5: no reply contact → registered as not considered (no_contact)."""
    a = appeals.register(
        channel="answering_machine",
        kind="answering_machine_message",
        applicant_name="Иванов",
        recordings=["am/1700000000.1.wav"],
    )
    assert a.status is AppealStatus.NOT_CONSIDERED
    assert a.not_considered_reason is NotConsideredReason.NO_CONTACT
    assert a.number == "1-ФЛ"
    assert a.recordings == ("am/1700000000.1.wav",)
    ok = appeals.register(
        channel="answering_machine",
        kind="answering_machine_message",
        reply_contact="+79001234567",
    )
    assert ok.status is AppealStatus.REGISTERED
    assert ok.reply_channel is ReplyChannel.PHONE


def test_reply_channel_defaults_to_incoming_channel(appeals: AppealService) -> None:
    """REQ-A7."""
    assert appeals.register(channel="email").reply_channel is ReplyChannel.EMAIL
    assert appeals.register(channel="post").reply_channel is ReplyChannel.POST
    chosen = appeals.register(channel="phone", reply_channel="sms", reply_contact="+79001234567")
    assert chosen.reply_channel is ReplyChannel.SMS
    changed = appeals.update_contact(chosen.id, reply_channel="email", reply_contact="a@b.ru")
    assert (changed.reply_channel, changed.reply_contact) == (ReplyChannel.EMAIL, "a@b.ru")


def test_classification_prefilled_and_corrected(appeals: AppealService) -> None:
    """REQ-A4: the IVR menu pre-fills, the operator corrects, and it shows."""
    a = appeals.register(channel="phone", classification="Э")
    assert a.classification is ClassificationCode.E
    assert not a.classification_corrected
    same = appeals.classify(a.id, "Э", by_operator=None)
    assert not same.classification_corrected
    fixed = appeals.classify(a.id, ClassificationCode.KE, by_operator=None)
    assert fixed.classification is ClassificationCode.KE
    assert not fixed.classification_corrected  # automatic reclassification
    by_op = appeals.classify(a.id, "Т", by_operator=None)
    assert not by_op.classification_corrected
    with pytest.raises(ValueError):
        appeals.classify(a.id, "XX")


def test_operator_correction_is_recorded(db: Database, appeals: AppealService) -> None:
    from crm_bridge.models import Operator

    with db.session() as session:
        op = Operator(login="op1", name="Оператор 1", password_hash="x")
        session.add(op)
        session.flush()
        op_id = op.id
    a = appeals.register(channel="phone", classification="Пр")
    b = appeals.classify(a.id, "С", by_operator=op_id)
    assert b.classification is ClassificationCode.S
    assert b.classification_corrected
    assert b.classified_by_id == op_id
    c = appeals.register(channel="phone")
    assert not appeals.classify(c.id, "Об", by_operator=op_id).classification_corrected


def test_every_classification_code(appeals: AppealService) -> None:
    codes = {c.value for c in ClassificationCode}
    assert codes == {"КЭ", "С", "Се", "Об", "Ог", "Т", "Пр", "Э"}
    for code in ClassificationCode:
        assert appeals.register(channel="phone", classification=code).classification is code


# -- journal search and export (REQ-A3, REQ-A10) ------------------------------------


@pytest.fixture
def journal(appeals: AppealService) -> AppealService:
    appeals.register(
        channel="phone",
        applicant_name="Ёлкина Мария",
        content="Нет света в подъезде",
        classification="КЭ",
        received_at=NOW - timedelta(days=3),
    )
    appeals.register(
        channel="email",
        category="ЮЛ",
        company="ООО «Демо-Энерго»",
        content="Тариф для предприятия",
        classification="Т",
        received_at=NOW - timedelta(days=1),
    )
    x = appeals.register(
        channel="post",
        applicant_name="Петров",
        content="Подключение гаража",
        classification="С",
        address_text="пос. Южный, пер. Почтовый, 3а",
    )
    appeals.answer(x.id, note="Выданы ТУ; в пользу заявителя")
    return appeals


def test_search_text_is_case_and_yo_insensitive(journal: AppealService) -> None:
    assert [a.number for a in journal.search(text="елкина")] == ["1-ФЛ"]
    assert [a.number for a in journal.search(text="СВЕТА")] == ["1-ФЛ"]
    assert [a.number for a in journal.search(text="демо-энерго тариф")] == ["2-ЮЛ"]
    assert [a.number for a in journal.search(text="2-ЮЛ")] == ["2-ЮЛ"]
    assert journal.search(text="100%") == []


def test_search_filters(journal: AppealService) -> None:
    assert [a.number for a in journal.search(code="Т")] == ["2-ЮЛ"]
    assert [a.number for a in journal.search(status="answered")] == ["3-ФЛ"]
    assert [a.number for a in journal.search(status=["registered"], newest_first=False)] == [
        "1-ФЛ",
        "2-ЮЛ",
    ]
    assert [a.number for a in journal.search(date_from=NOW - timedelta(days=2))] == [
        "3-ФЛ",
        "2-ЮЛ",
    ]
    assert [a.number for a in journal.search(date_to=NOW - timedelta(days=2))] == ["1-ФЛ"]
    assert [a.number for a in journal.search(channel="email", category="ЮЛ")] == ["2-ЮЛ"]
    assert len(journal.search(limit=2)) == 2


def test_counts_by_channel(journal: AppealService) -> None:
    """REQ-A10: appeal counts by channel."""
    counts = journal.count_by(
        "channel", date_from=NOW - timedelta(days=30), date_to=NOW + timedelta(days=1)
    )
    assert counts == {"phone": 1, "email": 1, "post": 1}


def test_export_csv_round_trip(journal: AppealService) -> None:
    rows = journal.journal_rows(journal.search(newest_first=False))
    buffer = io.StringIO(newline="")
    assert export_csv(rows, buffer) == 3
    data = buffer.getvalue()
    assert data.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(data.lstrip("\ufeff")), delimiter=";"))
    assert parsed[0] == [h for _, h in JOURNAL_COLUMNS]
    assert parsed[0][:11] == [
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
    assert [r[0] for r in parsed[1:]] == ["1-ФЛ", "2-ЮЛ", "3-ФЛ"]
    first = dict(zip(parsed[0], parsed[1], strict=True))
    assert first["Дата поступления"] == "28.02.2025 10:00"
    assert first["ФИО заявителя (наименование предприятия)"] == "Ёлкина Мария"
    assert first["Классификация"] == "КЭ"
    third = dict(zip(parsed[0], parsed[3], strict=True))
    assert third["Примечание"] == "Выданы ТУ; в пользу заявителя"
    assert third["Статус"] == "дан ответ"


def test_export_xlsx_round_trip(journal: AppealService, tmp_path: Path) -> None:
    rows = journal.journal_rows(journal.search(newest_first=False))
    path = tmp_path / "journal.xlsx"
    assert export_xlsx(rows, path) == 3
    ws = load_workbook(path).active
    assert ws is not None
    values = list(ws.iter_rows(values_only=True))
    assert list(values[0]) == [h for _, h in JOURNAL_COLUMNS]
    assert [v[0] for v in values[1:]] == ["1-ФЛ", "2-ЮЛ", "3-ФЛ"]
    assert values[1][1] == datetime(2025, 2, 28, 10, 0)
    assert values[2][2] == "ООО «Демо-Энерго»"
    for row, original in zip(values[1:], rows, strict=True):
        assert [v if v is not None else "" for v in row] == [
            v if v is not None else "" for v in original.values()
        ]


def test_call_link(appeals: AppealService, db: Database) -> None:
    from crm_bridge.calls import CallService

    calls = CallService(db)
    call = calls.upsert("1741000000.42", caller_number="89001234567")
    a = appeals.register(
        channel="phone", call_uniqueid="1741000000.42", kind=AppealKind.CONSULTATION
    )
    assert a.call_id == call.id
    assert appeals.register(channel=AppealChannel.PHONE, call_uniqueid="no.such").call_id is None


HOSTILE = ('=HYPERLINK("http://evil.invalid","клик")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)")


def test_exports_neutralise_formula_cells(journal: AppealService, tmp_path: Path) -> None:
    """Issue 11: text a caller or an operator typed (a name, an address, a
    message) never becomes a formula in the journal's CSV or XLSX: cells
    starting with = + - @ (or a tab, a CR) are prefixed with an apostrophe."""
    import dataclasses

    rows = journal.journal_rows(journal.search(newest_first=False))[:1]
    hostile = [
        dataclasses.replace(rows[0], applicant=text, address=text, content=text) for text in HOSTILE
    ]
    buffer = io.StringIO(newline="")
    export_csv(hostile, buffer)
    parsed = list(csv.reader(io.StringIO(buffer.getvalue().lstrip("\ufeff")), delimiter=";"))
    for line, text in zip(parsed[1:], HOSTILE, strict=True):
        row = dict(zip(parsed[0], line, strict=True))
        assert row["ФИО заявителя (наименование предприятия)"] == "'" + text
        assert row["Адрес"] == "'" + text and row["Краткое содержание"] == "'" + text
    path = tmp_path / "journal.xlsx"
    export_xlsx(hostile, path)
    ws = load_workbook(path).active
    assert ws is not None
    for cells, text in zip(ws.iter_rows(min_row=2), HOSTILE, strict=True):
        applicant = cells[2]
        assert applicant.data_type == "s" and applicant.value == "'" + text
    # Ordinary text is untouched.
    assert parsed[0][0] == "Входящий регистрационный номер"


def test_the_journal_takes_the_applicant_and_address_from_the_account(
    appeals: AppealService, town: dict[str, int]
) -> None:
    """Issue 14, REQ-A3 columns 3–4: an appeal of an identified caller shows
    the account's holder and address; what the caller said, when different,
    is kept in the transcript."""
    flat = town["0012345678"]
    view = appeals.register(channel="phone", account_id=flat)
    assert view.applicant_name == "Тестов Тест Тестович"
    assert view.address_text == "г. Демоград, ул. Ленина, д. 5, кв. 12"
    assert view.transcript is None
    said = appeals.register(
        channel="answering_machine",
        account_id=flat,
        applicant_name="Тестова Мария",
        address_text="г. Демоград, ул. Ленина, д. 5, кв. 12",
        reply_contact="+79001234567",
        transcript="ФИО: Тестова Мария",
    )
    assert said.applicant_name == "Тестов Тест Тестович"
    assert said.transcript == "ФИО: Тестова Мария\nназвался: Тестова Мария"
    assert appeals.search(text="Тестов Ленина")[0].id == said.id
    # A legal entity's name goes to the company column.
    firm = appeals.register(channel="phone", account_id=town["777000"], category="ЮЛ")
    assert firm.company == "ООО «Демо-Энерго»" and not firm.applicant_name
    assert firm.address_text and "мира" in firm.address_text.lower()
