"""The operator web sub-app: roles, CSRF, the appeal journal with its exports,
the monthly waiting/handling report, and appeal actions (REQ-A3, A4, A8, A10,
T12). Log-in, sessions and the route × role matrix: tests/crm_web/test_edge.py."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
from aiohttp.test_utils import TestClient

from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService
from crm_bridge.models import AppealChannel, AppealKind, AppealStatus, ClassificationCode
from tests.crm_web.conftest import log_in


async def test_roles_operator_vs_supervisor(client: TestClient, operators: Any) -> None:
    await log_in(client, "ivanova")
    assert (await client.get("/operator/journal")).status == 200
    assert (await client.get("/operator/reports/wait-handling")).status == 403
    assert (await client.get("/operator/reports/wait-handling.csv")).status == 403
    client.session.cookie_jar.clear()
    await log_in(client, "boss")
    resp = await client.get("/operator/reports/wait-handling?year=2025")
    assert resp.status == 200
    assert "Среднее время ожидания ответа оператора" in await resp.text()


async def test_posts_need_the_csrf_token_and_same_origin(
    client: TestClient, operators: Any, db: Any
) -> None:
    token = await log_in(client, "boss")
    appeal = AppealService(db).register(channel=AppealChannel.PHONE, content="вопрос")
    url = f"/operator/api/appeals/{appeal.id}/classify"
    resp = await client.post(url, json={"code": "Т"})
    assert resp.status == 403
    resp = await client.post(url, json={"code": "Т"}, headers={"X-CSRF-Token": "bad"})
    assert resp.status == 403
    resp = await client.post(
        url, json={"code": "Т"}, headers={"X-CSRF-Token": token, "Origin": "http://evil.example"}
    )
    assert resp.status == 403
    resp = await client.post(url, json={"code": "Т"}, headers={"X-CSRF-Token": token})
    assert resp.status == 200
    assert (await resp.json())["classification"] == "Т"


async def test_operator_acts_only_on_own_calls_appeals(
    client: TestClient, operators: Any, db: Any
) -> None:
    calls = CallService(db)
    calls.upsert("1700000000.11", operator_id=operators["ivanova"])
    calls.upsert("1700000000.12", operator_id=operators["petrov"])
    service = AppealService(db)
    mine = service.register(
        channel=AppealChannel.PHONE, classification="КЭ", call_uniqueid="1700000000.11"
    )
    theirs = service.register(channel=AppealChannel.PHONE, call_uniqueid="1700000000.12")
    token = await log_in(client, "ivanova")
    h = {"X-CSRF-Token": token}
    resp = await client.post(
        f"/operator/api/appeals/{mine.id}/classify", json={"code": "Т"}, headers=h
    )
    assert resp.status == 200
    stored = service.get(mine.id)
    assert stored.classification is ClassificationCode.T
    assert stored.classification_corrected and stored.classified_by_id == operators["ivanova"]
    resp = await client.post(
        f"/operator/api/appeals/{theirs.id}/classify", json={"code": "Т"}, headers=h
    )
    assert resp.status == 403
    assert (await client.get("/operator/api/calls/1700000000.12/card")).status == 403
    assert (await client.get("/operator/api/calls/1700000000.11/card")).status == 200
    # Bad input: a clear error, nothing changed.
    resp = await client.post(
        f"/operator/api/appeals/{mine.id}/classify", json={"code": "XX"}, headers=h
    )
    assert resp.status == 400 and "код" in (await resp.json())["error"]
    # Workflow: answer, close; then a second close is a conflict.
    for action in ("answer", "close"):
        resp = await client.post(
            f"/operator/api/appeals/{mine.id}/{action}", json={"note": "сделано"}, headers=h
        )
        assert resp.status == 200, await resp.text()
    resp = await client.post(f"/operator/api/appeals/{mine.id}/close", json={}, headers=h)
    assert resp.status == 409
    assert service.get(mine.id).status is AppealStatus.CLOSED


async def test_abusive_call_is_recorded_and_appeal_not_considered(
    client: TestClient, operators: Any, db: Any
) -> None:
    calls = CallService(db)
    calls.upsert("1700000000.21", operator_id=operators["ivanova"])
    appeal = AppealService(db).register(channel=AppealChannel.PHONE, call_uniqueid="1700000000.21")
    token = await log_in(client, "ivanova")
    resp = await client.post(
        "/operator/api/calls/1700000000.21/end-abusive",
        json={"kind": "threat"},
        headers={"X-CSRF-Token": token},
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["appeal"]["not_considered_reason"] == "obscene_or_threatening"
    call = calls.get("1700000000.21")
    assert call is not None and call.outcome == "ended-abusive"
    assert [e.kind for e in calls.events("1700000000.21")] == ["ended_abusive"]
    stored = AppealService(db).get(appeal.id)
    assert stored.status is AppealStatus.NOT_CONSIDERED and "угрозы" in (stored.note or "")


async def test_operator_registers_an_appeal_for_a_call_without_one(
    client: TestClient, operators: Any, db: Any
) -> None:
    calls = CallService(db)
    calls.upsert("1700000000.31", operator_id=operators["ivanova"], caller_number="+79001112233")
    calls.upsert("1700000000.32", operator_id=operators["petrov"])
    token = await log_in(client, "ivanova")
    h = {"X-CSRF-Token": token}
    url = "/operator/api/calls/1700000000.31/appeal"
    assert (await client.post(url, json={"content": " "}, headers=h)).status == 400
    bad = await client.post(url, json={"content": "x", "code": "ZZ"}, headers=h)
    assert bad.status == 400
    other = "/operator/api/calls/1700000000.32/appeal"
    assert (await client.post(other, json={"content": "x"}, headers=h)).status == 403
    resp = await client.post(url, json={"content": "Нет света в подъезде", "code": "КЭ"}, headers=h)
    assert resp.status == 200
    body = await resp.json()
    stored = AppealService(db).get(body["id"])
    call = calls.get("1700000000.31")
    assert call is not None and stored.call_id == call.id
    assert stored.content == "Нет света в подъезде" and stored.classification == "КЭ"
    assert stored.reply_contact == "+79001112233"


def _journal_data(db: Any) -> list[Any]:
    service = AppealService(db)
    base = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    made = [
        service.register(
            channel=AppealChannel.PHONE,
            content="Нет света на улице Ёлочной",
            classification="КЭ",
            applicant_name="Сидорова",
            received_at=base,
        ),
        service.register(
            channel=AppealChannel.EMAIL,
            kind=AppealKind.COMPLAINT,
            content="Неверный тариф",
            classification="Т",
            received_at=base + timedelta(days=2),
        ),
        service.register(
            channel=AppealChannel.PHONE,
            content="Подключение дома",
            classification="С",
            received_at=base + timedelta(days=10),
        ),
    ]
    service.answer(made[1].id, note="пересчитано")
    return made


async def test_journal_search_by_text_dates_status_code(
    client: TestClient, operators: Any, db: Any
) -> None:
    made = _journal_data(db)
    await log_in(client, "boss")

    async def numbers(query: str) -> set[str]:
        resp = await client.get(f"/operator/journal?{query}")
        assert resp.status == 200, await resp.text()
        text = await resp.text()
        return {a.number for a in made if f"<td>{a.number}</td>" in text}

    everything = {a.number for a in made}
    assert await numbers("") == everything
    assert await numbers("text=елочной") == {made[0].number}  # case- and ё-insensitive
    assert await numbers("code=Т") == {made[1].number}
    assert await numbers("status=answered") == {made[1].number}
    assert await numbers("from=2025-03-04&to=2025-03-10") == {made[1].number}
    assert await numbers("from=2025-03-03&to=2025-03-03") == {made[0].number}
    resp = await client.get("/operator/journal?from=03.03.2025")
    assert resp.status == 400 and "ГГГГ-ММ-ДД" in await resp.text()
    resp = await client.get("/operator/journal?status=lost")
    assert resp.status == 400


async def test_journal_exports_csv_and_xlsx(client: TestClient, operators: Any, db: Any) -> None:
    made = _journal_data(db)
    await log_in(client, "boss")
    resp = await client.get("/operator/journal.csv?code=КЭ")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][0] == "Входящий регистрационный номер"
    assert [r[0] for r in rows[1:]] == [made[0].number]
    assert rows[1][5] == "КЭ" and rows[1][2] == "Сидорова"
    resp = await client.get("/operator/journal.xlsx")
    assert resp.status == 200
    wb = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    ws = wb.active
    assert ws is not None
    values = [row[0] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert values == [a.number for a in made]  # oldest first
    assert ws.cell(row=2, column=2).value == datetime(2025, 3, 3, 12, 0)  # Moscow time


def _report_calls(db: Any, operator_id: int) -> None:
    calls = CallService(db)
    base = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)
    # January: waits 20 s and 40 s, handling 100 s and 140 s → 0:30 and 2:00.
    # February: wait 65 s, handling 61.4 s → 1:05 and 1:01.
    # A January call without an operator (abandoned) does not count.
    rows = [
        (base, 20, 100, operator_id),
        (base + timedelta(days=3), 40, 140, operator_id),
        (base + timedelta(days=31), 65, 61.4, operator_id),
        (base + timedelta(days=5), 300, 0, None),
    ]
    for i, (entered, wait, handle, op) in enumerate(rows):
        left = entered + timedelta(seconds=wait)
        calls.upsert(
            f"1736930000.{i}",
            started_at=entered - timedelta(seconds=30),
            queue_name="operators",
            queue_entered_at=entered,
            queue_left_at=left,
            ended_at=left + timedelta(seconds=handle),
            operator_id=op,
        )


async def test_monthly_wait_and_handling_report(
    client: TestClient, operators: Any, db: Any
) -> None:
    _report_calls(db, operators["ivanova"])
    await log_in(client, "boss")
    resp = await client.get("/operator/reports/wait-handling?year=2025")
    text = await resp.text()
    assert "<td>Январь</td><td>0:30</td><td>2:00</td>" in text
    assert "<td>Февраль</td><td>1:05</td><td>1:01</td>" in text
    assert "<td>Март</td><td>—</td><td>—</td>" in text
    resp = await client.get("/operator/reports/wait-handling.csv?year=2025")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Период",
        "Среднее время ожидания ответа оператора",
        "Среднее время обслуживания",
    ]
    assert rows[1] == ["Январь", "0:30", "2:00"] and rows[2] == ["Февраль", "1:05", "1:01"]
    assert len(rows) == 13
    resp = await client.get("/operator/reports/wait-handling.xlsx?year=2025")
    ws = openpyxl.load_workbook(io.BytesIO(await resp.read())).active
    assert ws is not None
    table = [r for r in ws.iter_rows(min_row=3, values_only=True)]
    assert table[0] == (
        "Период",
        "Среднее время ожидания ответа оператора",
        "Среднее время обслуживания",
    )
    assert table[1] == ("Январь", "0:30", "2:00")
    resp = await client.get("/operator/reports/wait-handling?year=abc")
    assert resp.status == 400


async def test_a_dispatcher_has_no_operator_workplace(
    client: TestClient, operators: Any, db: Any
) -> None:
    """Dispatchers run campaigns (/dispatcher/); the caller card and the
    appeal journal are for operators and the shift supervisor."""
    from crm_bridge.models import Operator, OperatorRole

    await log_in(client, "sidorova")
    assert (await client.get("/operator/")).status == 403
    assert (await client.get("/operator/api/calls/1.1/card")).status == 403
    client.session.cookie_jar.clear()
    # A session of someone whose role became dispatcher loses the workplace at once.
    await log_in(client, "petrov")
    assert (await client.get("/operator/")).status == 200
    with db.session(write=True) as session:
        session.get(Operator, operators["petrov"]).role = OperatorRole.DISPATCHER
    assert (await client.get("/operator/", allow_redirects=False)).status == 403


async def test_operators_see_only_the_appeals_they_work_with(
    client: TestClient, operators: Any, db: Any
) -> None:
    """An operator's journal holds the appeals of the calls the operator took
    or classified; the journal export is the supervisor's (152-FZ)."""
    calls = CallService(db)
    calls.upsert("1700000000.21", operator_id=operators["ivanova"])
    calls.upsert("1700000000.22", operator_id=operators["petrov"])
    service = AppealService(db)
    mine = service.register(channel=AppealChannel.PHONE, call_uniqueid="1700000000.21")
    theirs = service.register(channel=AppealChannel.PHONE, call_uniqueid="1700000000.22")
    await log_in(client, "ivanova")
    text = await (await client.get("/operator/journal")).text()
    assert f"<td>{mine.number}</td>" in text and f"<td>{theirs.number}</td>" not in text
    assert "journal.csv" not in text
    assert (await client.get("/operator/journal.csv")).status == 403
    assert (await client.get("/operator/journal.xlsx")).status == 403


async def test_recordings_play_for_those_who_work_with_them(
    client: TestClient, operators: Any, db: Any, services: Any
) -> None:
    """Issue 12: the whole call's recording and the caller's message play in
    the browser (range requests) for the call's operator; another operator is
    refused; downloads are for supervisors; every listen is audited; nothing
    outside the recordings directory is served."""
    from sqlalchemy import select

    from webedge.models import AuditEvent

    spool = services.settings.spool_dir
    spool.mkdir(parents=True, exist_ok=True)
    whole = spool / "call-1700000000.41.wav"
    whole.write_bytes(b"RIFF" + bytes(400))
    message = spool / "am-1700000000.41-message.wav"
    message.write_bytes(b"RIFF" + bytes(200))
    outside = services.settings.data / "hotline-agi.toml"
    outside.write_text("db = secret")
    calls = CallService(db)
    calls.upsert(
        "1700000000.41",
        operator_id=operators["ivanova"],
        recording_file=services.settings.ast_path(whole),
    )
    call = calls.get("1700000000.41")
    assert call is not None
    appeal = AppealService(db).register(
        channel=AppealChannel.PHONE, call_id=call.id, recordings=[str(message), str(outside)]
    )
    await log_in(client, "ivanova")
    ranged = await client.get(
        "/operator/api/calls/1700000000.41/recording", headers={"Range": "bytes=0-99"}
    )
    assert ranged.status == 206 and ranged.headers["Content-Type"] == "audio/wav"
    assert len(await ranged.read()) == 100
    base = f"/operator/api/appeals/{appeal.id}/recordings"
    assert (await client.get(f"{base}/call")).status == 200
    assert (await client.get(f"{base}/0")).status == 200
    assert (await client.get(f"{base}/1")).status == 404  # not under the recordings
    assert (await client.get(f"{base}/0?download=1")).status == 403
    client.session.cookie_jar.clear()
    await log_in(client, "petrov")
    assert (await client.get("/operator/api/calls/1700000000.41/recording")).status == 403
    assert (await client.get(f"{base}/0")).status == 403
    client.session.cookie_jar.clear()
    await log_in(client, "boss")
    got = await client.get(f"{base}/call?download=1")
    assert got.status == 200 and "attachment" in got.headers["Content-Disposition"]
    with db.session() as s:
        audited = list(s.execute(select(AuditEvent.login, AuditEvent.action)))
    assert ("ivanova", "recording.listen") in audited and ("boss", "recording.download") in audited
