"""The supervisor's readings page in headless Chromium (REQ-T14).

The ``/readings/`` sub-app runs behind the one web edge on a real aiohttp
server, billing is a second real aiohttp server on loopback. The supervisor
opens the page, lands on the one log-in page, logs in, sees how many
readings wait, downloads the CSV export and sends the readings to billing
with the button; billing down first (the page says so, nothing is lost),
then up.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from tests.browser import chromium
from tests.crm_web.conftest import PASSWORD
from tests.crm_web.test_readings_web import readings  # noqa: F401 - fixture
from tests.webtools import root_app

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("operators")]


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


async def test_supervisor_exports_and_pushes_from_the_page(
    browser: Any,
    services: Any,
    readings: dict[str, Any],  # noqa: F811
) -> None:
    received: list[dict[str, Any]] = []
    state = {"down": True}

    async def billing(request: web.Request) -> web.Response:
        if state["down"]:
            return web.Response(status=503)
        received.append(json.loads(await request.read()))
        return web.json_response({"ok": True})

    far = web.Application()
    far.router.add_post("/in", billing)
    far_runner, far_url = await _serve(far)
    services.settings = replace(services.settings, readings_billing_url=f"{far_url}/in")
    runner, base = await _serve(root_app(services, "/readings/"))
    try:
        context = await browser.new_context(accept_downloads=True)
        page = await context.new_page()
        await page.goto(f"{base}/readings/")
        assert page.url == f"{base}/login?next=/readings/"
        await page.fill("input[name=login]", "boss")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("form.login button[type=submit]")
        await page.wait_for_selector("#pending")
        assert page.url == f"{base}/readings/"
        assert "ждут передачи в биллинг: 3" in await page.inner_text("#pending")

        async with page.expect_download() as download_info:
            await page.click("#export-form button:has-text('CSV')")
        download = await download_info.value
        path = await download.path()
        assert path is not None
        lines = path.read_bytes().decode("utf-8-sig").splitlines()
        assert lines[0].startswith("reading_id;account;meter") and len(lines) == 4

        await page.click("#push-form button")
        await page.wait_for_selector("#push-result.error")
        assert "HTTP 503" in await page.inner_text("#push-result")
        assert "биллинг: 3" in await page.inner_text("#pending")
        assert received == []

        state["down"] = False
        await page.click("#push-form button")
        await page.wait_for_selector("#push-result.ok")
        assert "Отправлено в биллинг: 3." in await page.inner_text("#push-result")
        assert re.search(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", await page.inner_text("#push-result"))
        assert "биллинг: 0" in await page.inner_text("#pending")
        ids = [r["reading_id"] for batch in received for r in batch["readings"]]
        assert ids == readings["accepted"]
        await context.close()
    finally:
        await runner.cleanup()
        await far_runner.cleanup()
