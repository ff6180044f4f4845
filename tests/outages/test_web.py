"""The register's page and API through the whole web application (the edge,
the shell, every slice): dispatchers enter, supervisors read, operators
nothing; preview before saving, the form kept on a refusal; the file import
(UTF-8, Windows-1251, XLSX) and a garbled file's Russian 400 page naming the
row; the API over real HTTP with a client's token (idempotent, JSON errors,
audited)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from crm_bridge.db import Database, utcnow
from crm_bridge.outages import OutageService
from outages.models import OutageEntry
from outages.register import OutageRegister
from tests.crm.conftest import add_accounts
from tests.crm_web.conftest import (  # noqa: F401 - the fixtures, shared
    db,
    log_in,
    migrated_template,
    operators,
    services,
)
from tests.crm_web.test_readings_page import _serve
from tests.outages.conftest import town_accounts
from tests.webtools import FakeServices, root_app


@pytest_asyncio.fixture
async def client(services: FakeServices) -> AsyncIterator[TestClient[Any, Any]]:  # noqa: F811
    async with TestClient(TestServer(root_app(services))) as c:
        yield c


def _town(db: Database) -> dict[str, int]:  # noqa: F811
    return add_accounts(db, *town_accounts())


def _audited(db: Database) -> list[tuple[str, str, str]]:  # noqa: F811
    from webedge.models import AuditEvent

    with db.session() as s:
        rows = s.execute(select(AuditEvent.login, AuditEvent.action, AuditEvent.subject))
        return [(login, action, subject) for login, action, subject in rows]


def _local(delta: timedelta) -> str:
    from zoneinfo import ZoneInfo

    return (utcnow() + delta).astimezone(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%dT%H:%M")


async def test_dispatcher_previews_then_saves_supervisor_reads_operator_is_refused(
    client: TestClient[Any, Any],
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    town = _town(db)
    csrf = await log_in(client, "sidorova")
    form = {
        "csrf": csrf,
        "kind": "emergency",
        "starts_at": _local(timedelta(hours=-1)),
        "ends_at": _local(timedelta(hours=5)),
        "reason": "повреждение кабеля",
        "addresses": "г. Демоград, ул. Ленина, д. 1-3\nул. Ленина, д. 5, кв. 3\n",
        "action": "preview",
    }
    page = await client.post("/outages/new", data=form)
    text = await page.text()
    assert page.status == 200
    assert 'data-accounts="6"' in text and 'data-unparsed="1"' in text
    assert "квартира не указывается" in text and 'id="save"' not in text
    # saving with a line not understood: refused, the form kept
    page = await client.post("/outages/new", data={**form, "action": "save"})
    text = await page.text()
    assert page.status == 400 and "нераспознанные строки" in text
    assert "повреждение кабеля" in text and "ул. Ленина, д. 5, кв. 3" in text
    with db.session() as s:
        assert s.scalars(select(OutageEntry)).all() == []

    form["addresses"] = "г. Демоград, ул. Ленина, д. 1-3"
    page = await client.post("/outages/new", data=form)
    assert 'id="save"' in await page.text()
    saved = await client.post(
        "/outages/new", data={**form, "action": "save"}, allow_redirects=False
    )
    assert saved.status == 303
    outage_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    assert OutageService(db).emergency(town["0000001001"]) is not None

    moved = await client.post(
        f"/outages/{outage_id}/eta",
        data={"csrf": csrf, "ends_at": _local(timedelta(hours=9))},
        allow_redirects=False,
    )
    assert moved.status == 303
    bad = await client.post(f"/outages/{outage_id}/eta", data={"csrf": csrf, "ends_at": "завтра"})
    assert bad.status == 400 and "ДД.ММ.ГГГГ ЧЧ:ММ" in await bad.text()
    detail = await (await client.get(f"/outages/{outage_id}")).text()
    assert "восстановление перенесено" in detail and 'id="accounts-total">6<' in detail

    client.session.cookie_jar.clear()
    csrf_boss = await log_in(client, "boss")
    assert (await client.get(f"/outages/{outage_id}")).status == 200
    assert 'id="form-status"' not in await (await client.get(f"/outages/{outage_id}")).text()
    refused = await client.post(
        f"/outages/{outage_id}/status", data={"csrf": csrf_boss, "status": "restored"}
    )
    assert refused.status == 403  # supervisors read; dispatchers change

    client.session.cookie_jar.clear()
    await log_in(client, "ivanova")
    assert (await client.get("/outages/")).status == 403
    audited = _audited(db)
    assert ("sidorova", "outages.create", f"outage:{outage_id}") in audited
    assert ("boss", "outage.view", f"outage:{outage_id}") in audited


CSV_HEADER = "Вид;Начало;Окончание;Решение;Причина;Адреса\n"


async def test_import_from_csv_in_both_encodings_and_xlsx(
    client: TestClient[Any, Any],
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    _town(db)
    csrf = await log_in(client, "sidorova")
    body = (
        CSV_HEADER + "плановое;10.03.2031 09:00;10.03.2031 17:00;01.03.2031 12:00;ремонт ТП;"
        '"г. Демоград, ул. Садовая; с. Ивановка"\n'
        + "аварийное;03.03.2031 08:00;03.03.2031 20:00;;обрыв провода;ул. Ленина, д. 1-2\n"
    )
    for encoding in ("utf-8", "cp1251"):
        data = aiohttp.FormData()
        data.add_field("csrf", csrf)
        data.add_field("file", body.encode(encoding), filename="отключения.csv")
        resp = await client.post("/outages/import", data=data, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/outages/?imported=2"

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Вид", "Начало", "Окончание", "Причина", "Адреса"])
    ws.append(["аварийное", "03.03.2031 08:00", "03.03.2031 20:00", "", "с. Ивановка"])
    buf = io.BytesIO()
    wb.save(buf)
    data = aiohttp.FormData()
    data.add_field("csrf", csrf)
    data.add_field("file", buf.getvalue(), filename="otkl.xlsx")
    resp = await client.post("/outages/import", data=data, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/outages/?imported=1"
    with db.session() as s:
        entries = s.scalars(select(OutageEntry).order_by(OutageEntry.id)).all()
        assert len(entries) == 5
        assert entries[0].reason == "ремонт ТП" and entries[1].reason == "обрыв провода"
        assert entries[0].addresses == "г. Демоград, ул. Садовая\nс. Ивановка"
        assert entries[0].decided_at.isoformat() == "2031-03-01T09:00:00+00:00"
        assert {e.source for e in entries} == {"import"}
    assert "Загружено отключений: 2" in await (await client.get("/outages/?imported=2")).text()


async def test_a_garbled_file_is_a_russian_400_page_naming_row_and_reason(
    client: TestClient[Any, Any],
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    csrf = await log_in(client, "sidorova")
    cases = [
        (
            (
                CSV_HEADER + "плановое;10.03.2031 09:00;10.03.2031 17:00;;;ул. Садовая\n"
                "плановое;завтра;10.03.2031 17:00;;;ул. Садовая\n"
            ).encode(),
            "строка 3, столбец «Начало»: «завтра»",
        ),
        (
            (CSV_HEADER + "внеплановое;10.03.2031 09:00;10.03.2031 17:00;;;ул. Садовая\n").encode(),
            "строка 2, столбец «Вид»",
        ),
        (
            (
                CSV_HEADER
                + "плановое;10.03.2031 09:00;10.03.2031 17:00;;;ул. Садовая, д. 5, кв. 1\n"
            ).encode(),
            "строка 2, столбец «Адреса»: «ул. Садовая, д. 5, кв. 1» — квартира",
        ),
        (
            (CSV_HEADER + "плановое;10.03.2031 19:00;10.03.2031 17:00;;;ул. Садовая\n").encode(),
            "строка 2: окончание должно быть позже начала",
        ),
        (
            (
                CSV_HEADER + "плановое;10.03.2031 09:00;10.03.2031 17:00;;;ул. Садовая;ул. Мира\n"
            ).encode(),
            "строка 2: лишние ячейки",
        ),
        ("Дата;Что\n1;2\n".encode(), "нет столбцов «Вид», «Начало», «Адреса»"),
        (
            (
                CSV_HEADER
                + "плановое;10.03.2031 09:00;10.03.2031 17:00;;Ремонт подстанции;ул. Садовая\n" * 3
            ).encode("koi8-r"),
            "кодировка файла не распознана",
        ),
        (b"PK\x03\x04garbage", "файл XLSX не читается"),
    ]
    for raw, message in cases:
        data = aiohttp.FormData()
        data.add_field("csrf", csrf)
        data.add_field("file", raw, filename="bad.csv")
        resp = await client.post("/outages/import", data=data, headers={"Accept": "text/html"})
        text = await resp.text()
        assert resp.status == 400, message
        assert "не загружен" in text and message in text, (message, text[-800:])
    with db.session() as s:
        assert s.scalars(select(OutageEntry)).all() == []


async def test_the_api_over_real_http_with_a_clients_token(
    services: FakeServices,  # noqa: F811
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    town = _town(db)
    _, token = OutageRegister(db).add_client("grid-dispatch")
    runner, base = await _serve(root_app(services))
    url = f"{base}/outages/api/v1/outages/AV-2031-17"
    start = utcnow() - timedelta(minutes=20)
    body = {
        "kind": "emergency",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=4)).isoformat(),
        "reason": "авария на ТП-12",
        "addresses": ["г. Демоград, ул. Ленина, д. 1-3"],
    }
    auth = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.put(url, json=body) as resp:
                assert resp.status == 401 and (await resp.json())["status"] == 401
            async with http.put(url, json=body, headers={"Authorization": "Bearer wrong"}) as resp:
                assert resp.status == 401
            async with http.put(url, json=body, headers=auth) as resp:
                assert resp.status == 201, await resp.text()
                created = await resp.json()
            async with http.put(url, json=body, headers=auth) as resp:
                assert resp.status == 200 and (await resp.json())["id"] == created["id"]
            moved = {**body, "ends_at": (start + timedelta(hours=7)).isoformat()}
            async with http.put(url, json=moved, headers=auth) as resp:
                assert resp.status == 200
            found = OutageService(db).emergency(town["0000001005"])
            assert found is not None and found.eta == start + timedelta(hours=7)
            async with http.get(url, headers=auth) as resp:
                got = await resp.json()
                assert got["status"] == "in_progress" and got["addresses"] == body["addresses"]
            async with http.get(url + "-nope", headers=auth) as resp:
                assert resp.status == 404 and "не найдено" in (await resp.json())["error"]
            for bad, message in (
                ({**body, "kind": "sudden"}, "kind"),
                ({**body, "starts_at": "2031-03-03 08:00"}, "часовой пояс"),
                ({**body, "addresses": ["ул. Ленина, д. 5, кв. 3"]}, "квартира"),
                ({**body, "addresses": "ул. Ленина"}, "список строк"),
            ):
                async with http.put(url, json=bad, headers=auth) as resp:
                    error = await resp.json()
                    assert resp.status == 400 and message in error["error"], error
            async with http.put(url, data=b"{not json", headers=auth) as resp:
                assert resp.status == 400 and (await resp.json())["error"].startswith("тело")
            restored = {**moved, "status": "restored"}
            async with http.put(url, json=restored, headers=auth) as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "restored"
            assert OutageService(db).emergency(town["0000001005"]) is None
            OutageRegister(db).revoke_client("grid-dispatch")
            async with http.get(url, headers=auth) as resp:
                assert resp.status == 401
    finally:
        await runner.cleanup()
    audited = _audited(db)
    assert (
        "api:grid-dispatch",
        "outages.api.create",
        f"outage:{created['id']} ext:AV-2031-17",
    ) in (audited)
    assert any(a[0] == "api:grid-dispatch" and a[1] == "outages.api.refused" for a in audited)
    assert token not in repr(audited)
