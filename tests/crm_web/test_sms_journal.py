"""The staff's SMS journal (``/sms/``, issue 18 item 3): supervisors only,
numbers masked in the list (and the long digit runs of a text), filters by
direction, state and a customer's number, every read audited without the
number searched for, a bad filter a Russian 400 — over HTTP and in headless
Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_bridge.db import Database
from sms.journal import mask_phone, mask_text
from sms.outbox import Outbox
from tests.browser import chromium, logged_in_page
from tests.crm_web.conftest import PASSWORD, log_in
from tests.webtools import root_app
from webedge.models import AuditEvent

DELIVERED_TO = "+79001117701"
FAILED_TO = "+79001117702"


def _messages(db: Database) -> None:
    outbox = Outbox(db)
    ok = outbox.queue(DELIVERED_TO, "Ответ по ЛС 1000000001: приняты показания Т1 12500.")
    bad = outbox.queue(FAILED_TO, "Плановое отключение электроэнергии 20.12.2026 с 10:00 до 16:00.")
    outbox.report_many([(ok, 1), (bad, 16)])


def test_masks() -> None:
    assert mask_phone("+79001117701") == "+79*******01"
    assert mask_text("ЛС 1000000001 Т1 12500") == "ЛС 10******01 Т1 12500"


async def test_the_journal_masks_filters_and_audits(
    client: TestClient, operators: Any, db: Database
) -> None:
    _messages(db)
    await log_in(client, "ivanova")
    assert (await client.get("/sms/")).status == 403  # an operator: not for them
    client.session.cookie_jar.clear()
    await log_in(client, "boss")
    page = await (await client.get("/sms/")).text()
    assert DELIVERED_TO not in page and "1000000001" not in page
    assert "+79*******01" in page and "ЛС 10******01" in page
    assert "доставлено: <b>1</b>" in page and "не доставлено: <b>1</b>" in page
    only = await (await client.get("/sms/", params={"phone": "8 900 111-77-02"})).text()
    assert "+79*******02" in only and "+79*******01" not in only
    bad = await client.get("/sms/", params={"start": "вчера"})
    assert bad.status == 400 and "Неверный фильтр" in await bad.text()
    with db.session() as s:
        subjects = [
            e.subject
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "sms.journal"))
        ]
    assert subjects == ["all", "phone=*"]


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


@pytest.mark.browser
async def test_the_journal_in_chromium(browser: Any, services: Any, operators: Any) -> None:
    _messages(services.db)
    runner = web.AppRunner(root_app(services, "/sms/"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        page = await logged_in_page(browser, f"http://127.0.0.1:{port}/sms/", "boss", PASSWORD)
        rows = page.locator("#messages tr")
        assert await rows.count() == 3
        await page.select_option("select[name=state]", "delivered")
        await page.click("#show")
        await page.wait_for_url("**state=delivered**")
        assert await rows.count() == 2
        assert await page.locator("#messages td.peer").inner_text() == "+79*******01"
        assert await page.locator("#messages td.state").inner_text() == "доставлено"
    finally:
        await runner.cleanup()
