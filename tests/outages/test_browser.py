"""The register's page in headless Chromium: a dispatcher checks the
addresses of an emergency outage (what matched, the line not understood),
corrects them, saves, moves the estimated restoration time and marks it
restored, with the history shown; a surge alert raised while the page is
open is announced without a reload and acknowledged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.db import Database, utcnow
from crm_bridge.models import Call, CallDirection
from crm_bridge.outages import OutageService
from outages.surge import SurgeDetector
from tests.browser import logged_in_page
from tests.crm.conftest import add_accounts
from tests.crm_web.conftest import PASSWORD
from tests.crm_web.test_readings_page import _serve, browser  # noqa: F401 - fixture
from tests.outages.conftest import town_accounts
from tests.outages.test_web import (  # noqa: F401 - fixtures
    db,
    migrated_template,
    operators,
    services,
)
from tests.webtools import FakeServices, root_app

pytestmark = [pytest.mark.browser]
MSK = ZoneInfo("Europe/Moscow")


def _watch(page: Any, problems: list[str]) -> None:
    """Script errors and CSP violations show as console errors."""
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))


def _local(delta: timedelta) -> str:
    return (utcnow() + delta).astimezone(MSK).strftime("%Y-%m-%dT%H:%M")


async def test_dispatcher_enters_an_emergency_moves_it_and_restores_it(
    browser: Any,  # noqa: F811
    services: FakeServices,  # noqa: F811
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    town = add_accounts(db, *town_accounts())
    runner, base = await _serve(root_app(services))
    try:
        page = await logged_in_page(browser, f"{base}/outages/", "sidorova", PASSWORD)
        problems: list[str] = []
        _watch(page, problems)
        await page.select_option("#form-new select[name=kind]", "emergency")
        await page.fill("#form-new input[name=starts_at]", _local(timedelta(hours=-1)))
        await page.fill("#form-new input[name=ends_at]", _local(timedelta(hours=4)))
        await page.fill("#form-new input[name=reason]", "повреждение кабеля 10 кВ")
        await page.fill(
            "#form-new textarea[name=addresses]",
            "г. Демоград, ул. Ленина, д. 1-3\nс. Ивановка\nул. Садовая, д. 2, кв. 7",
        )
        await page.click("#form-new button[value=preview]")
        await page.locator("#preview[data-unparsed='1']").wait_for(timeout=10_000)
        assert await page.inner_text("#preview-total") == "10"
        assert "квартира не указывается" in await page.inner_text("#preview-lines")
        assert await page.locator("#save").count() == 0  # not while a line is not understood
        # the form kept what was typed; the dispatcher corrects the line
        await page.fill(
            "#form-new textarea[name=addresses]",
            "г. Демоград, ул. Ленина, д. 1-3\nс. Ивановка\nул. Садовая, д. 2",
        )
        await page.click("#form-new button[value=preview]")
        await page.locator("#preview[data-unparsed='0']").wait_for(timeout=10_000)
        assert await page.inner_text("#preview-total") == "11"
        await page.click("#save")
        await page.locator("#outage[data-status=in_progress]").wait_for(timeout=10_000)
        outage_id = int(page.url.rsplit("/", 1)[1])
        found = OutageService(db).emergency(town["0000001001"])
        assert found is not None and found.register_id == outage_id

        later = _local(timedelta(hours=7))
        await page.fill("#form-eta input[name=ends_at]", later)
        await page.click("#form-eta button[type=submit]")
        await page.locator("#history tr[data-action=eta]").wait_for(timeout=10_000)
        shown = datetime.strptime(later, "%Y-%m-%dT%H:%M").strftime("%d.%m.%Y %H:%M")
        assert await page.inner_text("#ends-at") == shown
        found = OutageService(db).emergency(town["0000001001"])
        assert (
            found is not None
            and found.eta is not None
            and found.eta.astimezone(MSK).strftime("%Y-%m-%dT%H:%M") == later
        )

        await page.select_option("#form-status select[name=status]", "restored")
        await page.click("#form-status button[type=submit]")
        await page.locator("#outage[data-status=restored]").wait_for(timeout=10_000)
        assert "идёт → восстановлено" in await page.inner_text("#history")
        assert OutageService(db).emergency(town["0000001001"]) is None
        assert problems == []
    finally:
        await runner.cleanup()


async def test_a_surge_alert_is_announced_on_the_open_page_and_acknowledged(
    browser: Any,  # noqa: F811
    services: FakeServices,  # noqa: F811
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    town = add_accounts(db, *town_accounts())
    runner, base = await _serve(root_app(services))
    try:
        page = await logged_in_page(browser, f"{base}/outages/", "sidorova", PASSWORD)
        problems: list[str] = []
        _watch(page, problems)
        assert await page.locator("#alerts-empty").count() == 1
        with db.session(write=True) as s:
            for n in range(1043, 1043 + services.settings.outage_surge_calls):
                s.add(
                    Call(
                        uniqueid=f"burst-{n}",
                        direction=CallDirection.IN,
                        started_at=utcnow(),
                        account_id=town[f"{n % 1043 % 5 + 1043:010d}"],
                        ivr_path=["menu"],
                    )
                )
        detector = SurgeDetector(
            db,
            calls=services.settings.outage_surge_calls,
            minutes=services.settings.outage_surge_minutes,
        )
        [alert] = detector.scan()
        # the page polls: the note appears without a reload
        await page.locator("#alerts-new:not([hidden])").wait_for(timeout=40_000)
        await page.click("#alerts-new a")
        await page.locator(f"li[data-alert='{alert.id}']").wait_for(timeout=10_000)
        text = await page.inner_text("#alerts")
        assert "ул. садовая" in text and "д. 3" in text
        await page.click(f"li[data-alert='{alert.id}'] button[type=submit]")
        await page.locator("#alerts-empty").wait_for(timeout=10_000)
        assert detector.open_alerts() == []
        assert problems == []
    finally:
        await runner.cleanup()
