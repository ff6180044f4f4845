"""Export of accepted meter readings for billing and the push to billing (REQ-T14).

The sub-app is served behind the one web edge (``tests.webtools.root_app``)
by a real aiohttp server (``TestServer``); billing is a second real aiohttp
server on loopback that checks the signature and can be down, slow or
failing. Nothing may be lost: a failed push leaves every reading pending, a
later push delivers each exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook
from sqlalchemy import select

from crm_bridge.accounts import AccountData, MeterData, upsert_accounts, upsert_meters
from crm_bridge.billing_push import BillingPush
from crm_bridge.db import Database
from crm_bridge.models import Meter, ReadingSource, TariffZone
from crm_bridge.readings import EXPORT_HEADER, ReadingService
from crm_bridge.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign, webhook_secret
from tests.crm_web.conftest import PASSWORD, log_in
from tests.webtools import root_app
from webedge.models import AuditEvent

pytestmark = pytest.mark.usefixtures("operators")


def basic(login: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


BOSS = basic("boss")
JSON = {"Accept": "application/json"}


def _meter(db: Database, number: str, *, last: int = 1000, zones: int = 1) -> int:
    with db.session(write=True) as session:
        upsert_accounts(
            session,
            [
                AccountData(
                    number=number,
                    holder_name="Тестов Т. Т.",
                    settlement="г. Тестоград",
                    street_type="ул.",
                    street="Садовая",
                    house="1",
                    flat="1",
                    phones=(),
                )
            ],
        )
        ids = upsert_meters(
            session,
            [
                MeterData(
                    serial=f"M-{number}",
                    account_number=number,
                    zones=zones,
                    digits=6,
                    last_t1=Decimal(last),
                    last_t2=Decimal(last) if zones > 1 else None,
                )
            ],
        ).ids
        meter = session.get(Meter, ids[f"M-{number}"])
        assert meter is not None
        meter.last_reading_at = datetime.now(UTC) - timedelta(days=30)
        return meter.id


@pytest.fixture
def readings(db: Database) -> dict[str, Any]:
    """Three accepted readings (two meters, one two-zone) and one flagged."""
    service = ReadingService(db)
    m1 = _meter(db, "1000000001")
    m2 = _meter(db, "1000000002", zones=2)
    m3 = _meter(db, "1000000003", last=10)
    stored = [
        service.submit(meter_id=m1, zone="T1", value=1100, source=ReadingSource.KEYPAD),
        service.submit(
            meter_id=m2,
            zone=TariffZone.T1,
            value=1200,
            source=ReadingSource.VOICE,
            recognised_text="тысяча двести",
            confidence=0.93,
            call_uniqueid="1700000000.42",
        ),
        service.submit(meter_id=m2, zone=TariffZone.T2, value=1050, source=ReadingSource.KEYPAD),
        service.submit(
            meter_id=m3,
            zone=TariffZone.T1,
            value=90000,
            source=ReadingSource.KEYPAD,
            confirmed_jump=True,
        ),
    ]
    return {"service": service, "stored": stored, "accepted": [s.id for s in stored[:3]]}


class Billing:
    """A real local billing receiver: checks the signature; can fail or hang."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.status = 200
        self.delay = 0.0
        self.received: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.read()
        assert request.headers[SIGNATURE_HEADER] == sign(self.secret, body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.Response(status=self.status, text="billing is down")
        self.keys.append(request.headers[IDEMPOTENCY_HEADER])
        self.received.append(json.loads(body))
        return web.json_response({"ok": True})

    def reading_ids(self) -> list[int]:
        return [r["reading_id"] for batch in self.received for r in batch["readings"]]


@pytest_asyncio.fixture
async def billing(services: Any) -> AsyncIterator[tuple[Billing, str]]:
    far = Billing(webhook_secret(services.settings))
    app = web.Application()
    app.router.add_post("/billing/readings", far.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield far, f"http://127.0.0.1:{port}/billing/readings"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def rclient(services: Any) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(root_app(services, "/readings/"))) as c:
        yield c


def _configure(services: Any, url: str) -> None:
    services.settings = replace(services.settings, readings_billing_url=url)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- access -------------------------------------------------------------------------------


async def test_only_the_supervisor_gets_in(rclient: TestClient) -> None:
    # no credentials: a script gets 401 JSON with the Basic challenge, a
    # browser goes to the one log-in page
    for headers in (JSON, {}):
        resp = await rclient.get("/readings/export.csv", headers=headers)
        assert resp.status == 401 and (await resp.json())["status"] == 401
        assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    resp = await rclient.get(
        "/readings/export.csv", headers={"Accept": "text/html"}, allow_redirects=False
    )
    assert resp.status == 302
    assert resp.headers["Location"] == "/login?next=/readings/export.csv"
    resp = await rclient.get("/readings/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/login?next=/readings/"
    resp = await rclient.post("/readings/push")
    assert resp.status == 401
    # HTTP Basic: a wrong password is no log-in, an operator is no supervisor
    resp = await rclient.get("/readings/export.csv", headers={**basic("boss", "wrong"), **JSON})
    assert resp.status == 401
    resp = await rclient.post("/readings/push", headers=basic("boss", "wrong"))
    assert resp.status == 401
    resp = await rclient.get("/readings/export.csv", headers=basic("ivanova"))
    assert resp.status == 403 and "Недостаточно прав" in await resp.text()
    resp = await rclient.get("/readings/export.csv", headers={**basic("sidorova"), **JSON})
    assert resp.status == 403 and (await resp.json())["status"] == 403
    resp = await rclient.post("/readings/push", headers=basic("ivanova"))
    assert resp.status == 403


async def test_an_operator_logged_in_gets_403(rclient: TestClient) -> None:
    token = await log_in(rclient, "ivanova")
    resp = await rclient.get("/readings/", allow_redirects=False)
    assert resp.status == 403 and "Недостаточно прав" in await resp.text()
    resp = await rclient.get("/readings/export.csv")
    assert resp.status == 403
    resp = await rclient.post("/readings/push", headers={"X-CSRF-Token": token})
    assert resp.status == 403


async def test_page_after_the_one_log_in(rclient: TestClient, readings: dict[str, Any]) -> None:
    resp = await rclient.post(
        "/login",
        data={"login": "boss", "password": PASSWORD, "next": "/readings/"},
        allow_redirects=False,
    )
    assert resp.status == 302 and resp.headers["Location"] == "/readings/"
    page = await rclient.get("/readings/")
    text = await page.text()
    assert page.status == 200 and "ждут передачи в биллинг: <b>3</b>" in text
    assert "не настроен" in text and 'action="/readings/push"' in text
    assert "nonce-" in page.headers["Content-Security-Policy"]
    token = text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert f'<input type="hidden" name="csrf" value="{token}">' in text


async def test_post_needs_the_csrf_token_and_this_site(
    rclient: TestClient, services: Any, readings: dict[str, Any], billing: tuple[Billing, str]
) -> None:
    far, url = billing
    _configure(services, url)
    token = await log_in(rclient, "boss")
    # POST with the cookie but without the CSRF token (or a wrong one): refused
    resp = await rclient.post("/readings/push")
    assert resp.status == 403 and "CSRF" in await resp.text()
    resp = await rclient.post("/readings/push", data={"csrf": "forged"})
    assert resp.status == 403
    # a cross-site POST: refused even with the token, and even with Basic credentials
    evil = {"Origin": "https://evil.example"}
    resp = await rclient.post("/readings/push", headers={**evil, "X-CSRF-Token": token})
    assert resp.status == 403
    resp = await rclient.post(
        "/readings/push", headers={"Referer": "https://evil.example/x", "X-CSRF-Token": token}
    )
    assert resp.status == 403
    resp = await rclient.post("/readings/push", headers={**BOSS, **evil})
    assert resp.status == 403
    assert far.calls == 0 and readings["service"].pending_export() == 3
    # the token in the header (a script of the page) is enough
    resp = await rclient.post("/readings/push", headers={"X-CSRF-Token": token})
    assert resp.status == 200 and (await resp.json())["sent"] == 3


async def test_export_is_audited(
    rclient: TestClient, db: Database, operators: dict[str, int], readings: dict[str, Any]
) -> None:
    resp = await rclient.get("/readings/export.csv?from=2025-01-01&to=2025-01-31", headers=BOSS)
    assert resp.status == 200
    await log_in(rclient, "boss")
    resp = await rclient.get("/readings/export.xlsx?status=all")
    assert resp.status == 200
    # a person (a cookie session) gets the error page, not JSON
    resp = await rclient.get("/readings/export.csv?from=31.12.2025")
    text = await resp.text()
    assert resp.status == 400 and "ГГГГ-ММ-ДД" in text and "<h1>Ошибка</h1>" in text
    # a refused or bad request exports nothing and is not recorded as an export
    resp = await rclient.get("/readings/export.csv?from=bad", headers=BOSS)
    assert resp.status == 400
    with db.session() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "readings.export").order_by(AuditEvent.id)
        ).all()
        got = [(r.operator_id, r.login, r.subject) for r in rows]
    boss = operators["boss"]
    assert got == [
        (boss, "boss", "2025-01-01..2025-01-31 accepted"),
        (boss, "boss", ".. all"),
    ]


# -- export -------------------------------------------------------------------------------


async def test_csv_export(rclient: TestClient, readings: dict[str, Any]) -> None:
    resp = await rclient.get("/readings/export.csv", headers=BOSS)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = await resp.read()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert tuple(rows[0]) == EXPORT_HEADER
    body = [dict(zip(EXPORT_HEADER, r, strict=True)) for r in rows[1:]]
    assert [int(r["reading_id"]) for r in body] == readings["accepted"]
    assert [(r["account"], r["zone"], r["value"], r["source"]) for r in body] == [
        ("1000000001", "T1", "1100", "keypad"),
        ("1000000002", "T1", "1200", "voice"),
        ("1000000002", "T2", "1050", "keypad"),
    ]
    assert body[1]["call"] == "1700000000.42" and body[0]["consumption"] == "100"
    # the flagged reading is exported only on request
    resp = await rclient.get("/readings/export.csv?status=flagged", headers=BOSS)
    flagged = (await resp.read()).decode("utf-8-sig").splitlines()[1:]
    assert len(flagged) == 1 and ";90000;" in flagged[0] and ";flagged;" in flagged[0]


async def test_xlsx_export_and_date_filter(rclient: TestClient, readings: dict[str, Any]) -> None:
    today = readings["service"].local_today().isoformat()
    resp = await rclient.get(f"/readings/export.xlsx?from={today}&to={today}", headers=BOSS)
    assert resp.status == 200
    wb = load_workbook(io.BytesIO(await resp.read()), read_only=True)
    ws = wb["Показания"]
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    assert tuple(values[0]) == EXPORT_HEADER
    assert [v[4] for v in values[1:]] == [1100, 1200, 1050]
    resp = await rclient.get("/readings/export.xlsx?from=2001-01-01&to=2001-01-31", headers=BOSS)
    wb = load_workbook(io.BytesIO(await resp.read()), read_only=True)
    assert len(list(wb["Показания"].iter_rows())) == 1  # the header only


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=31.12.2025", "ГГГГ-ММ-ДД"),
        ("to=2025-02-30", "ГГГГ-ММ-ДД"),
        ("from=2025-03-02&to=2025-03-01", "позже"),
        ("status=everything", "accepted, flagged или all"),
    ],
)
async def test_export_bad_input_is_a_clear_400(
    rclient: TestClient, query: str, message: str
) -> None:
    resp = await rclient.get(f"/readings/export.csv?{query}", headers=BOSS)
    assert resp.status == 400 and message in (await resp.json())["error"]


# -- push ---------------------------------------------------------------------------------


async def test_push_to_a_real_billing_server(
    rclient: TestClient, services: Any, readings: dict[str, Any], billing: tuple[Billing, str]
) -> None:
    far, url = billing
    _configure(services, url)
    resp = await rclient.post("/readings/push?limit=2", headers=BOSS)
    result = await resp.json()
    assert resp.status == 200, result
    assert result["ok"] and result["sent"] == 3 and result["pending"] == 0
    assert len(result["batches"]) == 2 and far.keys == result["batches"]
    assert far.reading_ids() == readings["accepted"]
    first = far.received[0]
    assert first["count"] == 2 and first["batch"] == far.keys[0]
    assert first["readings"][1]["account"] == "1000000002"
    assert first["readings"][1]["value"] == "1200" and first["readings"][1]["source"] == "voice"
    # nothing left: a second push sends nothing
    resp = await rclient.post("/readings/push", headers=BOSS)
    assert (await resp.json())["sent"] == 0 and far.calls == 2
    # a new reading goes out on the next push, once
    meter = readings["stored"][0].meter_id
    new = readings["service"].submit(meter_id=meter, zone="T1", value=1150, source="keypad")
    resp = await rclient.post("/readings/push", headers=BOSS)
    assert (await resp.json())["sent"] == 1
    assert far.reading_ids() == [*readings["accepted"], new.id]


async def test_failing_billing_loses_nothing(
    rclient: TestClient, services: Any, readings: dict[str, Any], billing: tuple[Billing, str]
) -> None:
    far, url = billing
    _configure(services, url)
    far.status = 503
    resp = await rclient.post("/readings/push", headers=BOSS)
    result = await resp.json()
    assert resp.status == 502 and not result["ok"] and "HTTP 503" in result["error"]
    assert result["sent"] == 0 and result["pending"] == 3
    # still exportable, still pending
    assert readings["service"].pending_export() == 3
    far.status = 200
    resp = await rclient.post("/readings/push", headers=BOSS)
    assert (await resp.json())["sent"] == 3
    assert sorted(far.reading_ids()) == readings["accepted"]


async def test_billing_down_loses_nothing(
    rclient: TestClient, services: Any, readings: dict[str, Any]
) -> None:
    _configure(services, f"http://127.0.0.1:{_closed_port()}/billing")
    resp = await rclient.post("/readings/push", headers=BOSS)
    result = await resp.json()
    assert resp.status == 502 and "недоступен" in result["error"] and result["pending"] == 3


async def test_slow_billing_times_out_and_keeps_the_readings(
    services: Any, readings: dict[str, Any], billing: tuple[Billing, str]
) -> None:
    far, url = billing
    far.delay = 2.0
    service: ReadingService = readings["service"]
    push = BillingPush(
        service, url, secret=far.secret, run_db=services.run_db, timeout=0.3, batch_size=10
    )
    result = await push.push()
    assert not result.ok and "не ответил" in (result.error or "") and result.pending == 3
    far.delay = 0.0
    result = await push.push()
    assert result.ok and result.sent == 3


async def test_push_bad_configuration_and_input(
    rclient: TestClient, services: Any, readings: dict[str, Any]
) -> None:
    resp = await rclient.post("/readings/push", headers=BOSS)
    assert resp.status == 409 and "не настроен" in (await resp.json())["error"]
    _configure(services, "ftp://billing.example/readings")
    resp = await rclient.post("/readings/push", headers=BOSS)
    assert resp.status == 400 and "http://" in (await resp.json())["error"]
    _configure(services, "http://127.0.0.1:9/x")
    resp = await rclient.post("/readings/push?limit=0", headers=BOSS)
    assert resp.status == 400 and "limit" in (await resp.json())["error"]
    assert readings["service"].pending_export() == 3


async def test_push_from_the_page(
    rclient: TestClient, services: Any, readings: dict[str, Any], billing: tuple[Billing, str]
) -> None:
    far, url = billing
    _configure(services, url)
    token = await log_in(rclient, "boss")
    resp = await rclient.post("/readings/push", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/readings/"
    resp = await rclient.get("/readings/")
    text = await resp.text()
    assert "Отправлено в биллинг: 3." in text and "биллинг: <b>0</b>" in text
    assert re.search(r"\(\d\d\.\d\d\.\d{4} \d\d:\d\d, Boss\)", text), text
    assert len(far.reading_ids()) == 3
