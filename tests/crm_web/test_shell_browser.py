"""The one shell in headless Chromium: each role logs in once at /login, the
navigation offers exactly its pages, and every page of every slice renders
in Russian inside the shell with no Content-Security-Policy violation and no
script error (a page that needed an inline script without the nonce, or
an ``eval``, would show here)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.crm_web.conftest import PASSWORD
from tests.crm_web.test_readings_page import _serve, browser  # noqa: F401 - fixture
from tests.webtools import root_app

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("operators")]

PAGES = {
    "ivanova": ["/operator/", "/operator/journal", "/shift/", "/appeals/"],
    "boss": [
        "/operator/",
        "/shift/",
        "/operator/journal",
        "/operator/reports/wait-handling",
        "/readings/",
        "/dispatcher/",
        "/supervision/",
        "/supervision/?tv=1",
        "/appeals/",
        "/statistics/",
        "/statistics/report?year=2025",
        "/surveys/",
        "/outages/",
        "/sms/",
    ],
    "sidorova": ["/dispatcher/", "/outages/"],
}
NAV = {
    "ivanova": {"/operator/", "/shift/", "/appeals/"},
    "boss": {
        "/operator/",
        "/shift/",
        "/readings/",
        "/dispatcher/",
        "/supervision/",
        "/appeals/",
        "/statistics/",
        "/surveys/",
        "/outages/",
        "/sms/",
    },
    "sidorova": {"/dispatcher/", "/outages/"},
}


def _watch(page: Any, problems: list[str]) -> None:
    """Script errors, CSP violations (console errors) and failed requests."""
    page.on(
        "console",
        lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )


async def test_every_page_in_the_one_shell_for_every_role(
    browser: Any,  # noqa: F811
    services: Any,
) -> None:
    runner, base = await _serve(root_app(services))
    try:
        for login, pages in PAGES.items():
            context = await browser.new_context()
            page = await context.new_page()
            problems: list[str] = []
            _watch(page, problems)
            await page.goto(base + pages[0])
            assert "/login?next=" in page.url  # the one log-in page
            await page.fill("input[name=login]", login)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(base + pages[0])
            links = page.locator("nav a")
            hrefs = [await links.nth(i).get_attribute("href") for i in range(await links.count())]
            nav = {h for h in hrefs if h not in ("/", None)}
            assert nav == NAV[login], (login, nav)
            for path in pages:
                response = await page.goto(base + path)
                assert response is not None and response.status == 200, (login, path)
                assert await page.get_attribute("html", "lang") == "ru"
                assert await page.locator("link[href='/static/hotline.css']").count() == 1
                assert await page.locator("nav .who").count() == 1  # who is logged in
                assert (await page.locator("h1").text_content() or "").strip()
            await page.click("nav button[type=submit]")  # «Выйти»
            await page.wait_for_url(base + "/login")
            response = await page.goto(base + pages[0])
            assert "/login?next=" in page.url  # the session ended
            await context.close()
            assert not problems, (login, problems)
    finally:
        await runner.cleanup()
