"""The campaign report (REQ-O3; issue 15 item 7): date-time cells (not text)
in the centre's and the customer's zones, the approval time in the centre's
zone in whole seconds, the positive rate as a percent-formatted number,
widths, an auto-filter and a frozen header, a sheet of the contacts still
waiting with why; «Положил трубку на секунде» filled even when the hangup
is seen before the message flow writes its second; the CSV the same rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.models import Attempt
from autoinformer.reports import HEADER, PENDING_HEADER, csv_report, xlsx_report
from autoinformer.store import AttemptStore
from crm_bridge.db import Database
from tests.autoinformer.helpers import always_open, make_accounts

MONDAY_NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 12:00 Moscow, 15:00 Omsk


def test_hangup_second_when_the_hangup_is_seen_first(db: Database) -> None:
    """The dialer's Hangup event usually finalises the attempt before the
    flow's CallerHangup writes its second: the second is then counted from
    the answer, and the flow's own figure, arriving late, is kept."""
    phones = ["+79005556001", "+79005556002"]
    make_accounts(db, phones, prefix="61")
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create("Долги", "debt", start_at=start, end_at=end, created_by="disp")
    ContactListService(db).import_rows(cid, [{"phone": p} for p in phones])
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    store = AttemptStore(db, "n1")
    first, second = store.claim(10, now=MONDAY_NOON)
    answer = MONDAY_NOON + timedelta(seconds=20)
    for cl in (first, second):
        store.mark_answered(cl.channel_id, at=answer)
        store.flow_update(cl.attempt_id, flow_state="playing")
    # Hung up 3 s after the answer; the flow has not written its second yet.
    store.finalise(first.channel_id, hangup_cause=16, now=answer + timedelta(seconds=3))
    store.finalise(second.channel_id, hangup_cause=16, now=answer + timedelta(seconds=5))
    store.flow_update(second.attempt_id, flow_state="hungup", hangup_second=4.6)
    with db.session() as s:
        got = {a.id: (a.result, a.hangup_second) for a in s.scalars(select(Attempt))}
    assert got == {first.attempt_id: ("hungup", 3.0), second.attempt_id: ("hungup", 4.6)}


def test_xlsx_report_cells_zones_formats_and_pending_sheet(db: Database) -> None:
    moscow = ["+79005557001", "+79005557002"]
    omsk = ["+79005557003"]
    make_accounts(db, moscow, prefix="62")
    make_accounts(db, omsk, prefix="63", timezone="Asia/Omsk")
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create(
        "Долги, июнь",
        "debt",
        start_at=start,
        end_at=end,
        created_by="disp",
        retry_delays={"busy": 86400},
    )
    rows = [{"Телефон": p, "ФИО": f"Абонент {p[-2:]}"} for p in moscow + omsk]
    assert ContactListService(db).import_rows(cid, rows).accepted == 3
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    store = AttemptStore(db, "n1")
    a, b = store.claim(2, now=MONDAY_NOON)
    answer = MONDAY_NOON + timedelta(seconds=10)
    store.mark_answered(a.channel_id, at=answer)
    store.flow_update(a.attempt_id, flow_state="completed")
    store.finalise(a.channel_id, hangup_cause=16, now=answer + timedelta(seconds=40))
    store.finalise(b.channel_id, originate_reason=5, now=MONDAY_NOON + timedelta(seconds=30))
    # 17:00 UTC is 23:00 in Omsk: its contact waits for 08:00 there.
    late = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    held = [x for x in store.claim(5, now=late) if x.phone in omsk]
    assert held == []

    wb = load_workbook(io.BytesIO(xlsx_report(cs, cid, "Europe/Moscow")))
    assert wb.sheetnames == ["Итоги", "По часам", "Попытки", "Ожидают звонка"]
    summary = wb["Итоги"]
    assert summary["A3"].value == "Утвердил" and summary["B3"].value == "boss"
    approved = summary["C3"].value
    assert isinstance(approved, datetime) and approved.microsecond == 0
    assert summary["C3"].number_format == "DD.MM.YYYY HH:MM:SS"
    real = cs.get(cid).approved_at
    assert real is not None
    assert abs(approved - real.astimezone().replace(tzinfo=None)) < timedelta(days=1)
    assert (
        summary["A7"].value == "Доля положительных" and summary["B7"].value == 1
    )  # 1 of 1 finished
    assert summary["B7"].number_format == "0.0%"

    attempts = wb["Попытки"]
    header = [c.value for c in attempts[1]]
    assert header == HEADER
    assert attempts.freeze_panes == "A2" and attempts.auto_filter.ref == "A1:S3"
    assert attempts.column_dimensions["H"].width >= 19
    # (A cell starting with «+» is kept from formulas with an apostrophe: core.export.)
    by_phone = {
        str(r[header.index("Телефон / адрес")]).lstrip("'"): r
        for r in attempts.iter_rows(min_row=2, values_only=True)
    }
    done = by_phone[moscow[0]]
    centre_start = done[header.index("Начало (время центра)")]
    assert centre_start == datetime(2026, 6, 1, 12, 0)  # a date-time cell, Moscow time
    assert done[header.index("Ответ (время центра)")] == datetime(2026, 6, 1, 12, 0, 10)
    assert done[header.index("Начало (время абонента)")] == datetime(2026, 6, 1, 12, 0)
    assert done[header.index("Результат")] == "Прослушано до конца"
    assert done[header.index("Абонент")] == "Абонент 01"
    assert attempts.cell(row=2, column=header.index("Начало (время центра)") + 1).number_format == (
        "DD.MM.YYYY HH:MM:SS"
    )
    busy = by_phone[moscow[1]]
    assert busy[header.index("Результат")] == "Занято" and busy[header.index("Причина")] == "занято"
    assert busy[header.index("Ответ (время центра)")] is None

    pending = wb["Ожидают звонка"]
    prow = [[c.value for c in r] for r in pending.iter_rows()]
    assert prow[0] == PENDING_HEADER and pending.freeze_panes == "A2"
    omsk_row = next(r for r in prow[1:] if str(r[2]).lstrip("'") == omsk[0])
    assert omsk_row[4] == "Ожидает звонка"
    assert omsk_row[6] == "вне разрешённых часов (будний день)"
    assert omsk_row[7] == datetime(2026, 6, 2, 8, 0)  # 08:00 in Omsk
    assert omsk_row[8] == datetime(2026, 6, 2, 5, 0)  # 05:00 in Moscow
    assert omsk_row[9] == "Asia/Omsk"

    # The CSV: the same columns and rows, times as ДД.ММ.ГГГГ ЧЧ:ММ:СС.
    text = csv_report(cs, cid, "Europe/Moscow").decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert "100,0%" in lines[1]
    at = lines.index(HEADER)
    body = {r[3].lstrip("'"): r for r in lines[at + 1 :]}  # +7… kept from formulas
    assert set(body) == set(by_phone)
    assert body[moscow[0]][header.index("Начало (время центра)")] == "01.06.2026 12:00:00"
    assert body[moscow[1]][header.index("Ответ (время центра)")] == ""
