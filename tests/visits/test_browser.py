"""The visits pages in headless Chromium (REQ-T11): a supervisor adds an
office in the page (a bad line of hours refused in Russian, then corrected)
and opens its printable day list; an operator with a caller's card on
screen books a visit in the card's visits panel, sees it listed, moves it
and cancels it — the panel driven by the card the workplace receives over
its WebSocket (the ``hotline:card`` extension point of operator.js)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from crm_bridge.accounts import AccountData
from crm_bridge.db import Database
from crm_bridge.live import operator_topic
from tests.browser import logged_in_page
from tests.crm.conftest import add_accounts
from tests.crm_web.conftest import PASSWORD
from tests.crm_web.test_readings_page import _serve, browser  # noqa: F401 - fixture
from tests.visits.test_web import (  # noqa: F401 - fixtures
    db,
    migrated_template,
    operators,
    services,
)
from tests.webtools import FakeServices, root_app
from visits.service import OfficeDraft, VisitService

pytestmark = [pytest.mark.browser]


async def _slots_offered(page: Any) -> list[str]:
    """The free times the panel lists (their ISO values), nearest first."""
    values: list[str] = await page.locator("#visits-slot option").evaluate_all(
        "(os) => os.map((o) => o.value)"
    )
    return values


def _watch(page: Any, problems: list[str]) -> None:
    """Script errors and CSP violations show as console errors."""
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))


async def test_supervisor_adds_an_office_and_opens_its_day_list(
    browser: Any,  # noqa: F811
    services: FakeServices,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    runner, base = await _serve(root_app(services))
    try:
        page = await logged_in_page(browser, f"{base}/visits/", "boss", PASSWORD)
        problems: list[str] = []
        _watch(page, problems)
        assert await page.locator("#offices-empty").count() == 1
        form = "#form-new"
        await page.fill(f"{form} input[name=name]", "Офис «Северный»")
        await page.fill(f"{form} input[name=address]", "г. Демоград, ул. Северная, д. 7")
        await page.fill(f"{form} input[name=settlement]", "Демоград")
        await page.fill(f"{form} input[name=hours_0]", "08:00-12:00, 13:00-17:00")
        await page.fill(f"{form} input[name=hours_2]", "с девяти")
        await page.click(f"{form} button[type=submit]")
        await page.locator("#error").wait_for(timeout=10_000)
        assert "среда: «с девяти» — нужен интервал вида 08:00-17:00" in await page.inner_text(
            "#error"
        )
        assert await page.input_value(f"{form} input[name=name]") == "Офис «Северный»"
        assert problems == [
            "Failed to load resource: the server responded with a status of 400 (Bad Request)"
        ]
        problems.clear()  # the refusal's status, as expected
        await page.fill(f"{form} input[name=hours_2]", "09:00-13:00")
        await page.click(f"{form} button[type=submit]")
        await page.locator("#office").wait_for(timeout=10_000)
        assert await page.input_value("#form-office input[name=hours_2]") == "09:00-13:00"
        await page.click("#day-link")
        await page.locator("#day").wait_for(timeout=10_000)
        assert await page.locator("#print").count() == 1
        assert "Офис «Северный» — посетители на" in await page.inner_text("#day h2")
        assert problems == []
    finally:
        await runner.cleanup()


async def test_operator_books_moves_and_cancels_from_the_card(
    browser: Any,  # noqa: F811
    services: FakeServices,  # noqa: F811
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    add_accounts(
        db,
        AccountData(
            number="3100000001",
            holder_name="Кузнецова Мария",
            settlement="Демоград",
            street="Ленина",
            house="9",
            phones=("+79005550101",),
            email="kuz@example.org",
        ),
    )
    office = VisitService(db, services.crm.calendar).save_office(
        OfficeDraft(
            name="Офис «Круглосуточный»",
            address="г. Демоград, ул. Ленина, д. 1",
            settlement="Демоград",
            spoken="офис",
            hours={d: "00:00-24:00" for d in range(7)},
            slot_minutes=60,
        )
    )
    runner, base = await _serve(root_app(services))
    try:
        page = await logged_in_page(browser, f"{base}/operator/", "ivanova", PASSWORD)
        problems: list[str] = []
        _watch(page, problems)
        assert await page.locator("#visits-panel").is_hidden()
        # the call is connected to this operator: the card comes over the socket
        topic = operator_topic(operators["ivanova"])
        event = {"uniqueid": "visit-test-1", "vars": {"HOTLINE_ACCOUNT": "3100000001"}}
        for _ in range(100):
            if services.event_bus.publish(topic, "call_connected", event):
                break
            await asyncio.sleep(0.1)  # the page's socket is not subscribed yet
        panel = page.locator("#visits-panel")
        await panel.wait_for(state="visible", timeout=10_000)
        await page.locator("#visits-panel[data-visits='0']").wait_for(timeout=10_000)
        await page.locator("#visits-panel[data-slots]").wait_for(timeout=10_000)
        assert await page.input_value("#visits-office") == str(office.id)
        link = await page.get_attribute("#visits-day-link", "href")
        assert link == f"/visits/offices/{office.id}/day"
        assert await page.input_value("#visits-notify") == "email"
        await page.select_option("#visits-notify", "sms")
        offered = await _slots_offered(page)
        assert await page.input_value("#visits-slot") == offered[0]  # the nearest is chosen
        # the next one is booked: the nearest may fall inside the 30-minute
        # lead while the test clicks, if an hour turns just then
        first = offered[1]
        await page.select_option("#visits-slot", first)
        await page.click("#visits-book")
        await page.locator("#visits-panel[data-visits='1']").wait_for(timeout=10_000)
        await page.locator("#visits-msg.ok", has_text="Записан: №").wait_for(timeout=10_000)
        visit = VisitService(db, services.crm.calendar).get(1)
        assert visit.starts_at == datetime.fromisoformat(first)
        assert visit.notify_channel.value == "sms" and visit.source == "operator"
        # move it to the next free time
        await page.click("#visits-booked .visit-move")
        await page.locator("#visits-move").wait_for(state="visible", timeout=10_000)
        await page.locator("#visits-panel[data-slots]").wait_for(timeout=10_000)  # listed anew
        options = await _slots_offered(page)
        await page.select_option("#visits-slot", options[1])
        await page.click("#visits-move")
        await page.locator("#visits-msg.ok", has_text="перенесена").wait_for(timeout=10_000)
        moved = VisitService(db, services.crm.calendar).get(visit.id)
        assert moved.starts_at == datetime.fromisoformat(options[1])
        await page.click("#visits-booked .visit-cancel")
        await page.locator("#visits-panel[data-visits='0']").wait_for(timeout=10_000)
        await page.locator("#visits-msg.ok", has_text="отменена").wait_for(timeout=10_000)
        assert VisitService(db, services.crm.calendar).get(visit.id).status.value == "cancelled"
        assert problems == []
    finally:
        await runner.cleanup()
