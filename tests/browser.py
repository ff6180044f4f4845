"""Headless Chromium for the page tests (Debian's ``chromium`` driven by
Playwright). The flags keep it off this machine's closed network
(PLATFORM.md); a Chromium that cannot start fails the test, never skips it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    try:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:  # translated once: a clear failure, never a skip
        await pw.stop()
        pytest.fail(f"headless Chromium could not be started: {exc}", pytrace=False)
    try:
        yield b
    finally:
        await b.close()
        await pw.stop()


async def logged_in_page(browser: Any, url: str, login: str, password: str) -> Any:
    """A new context's page at ``url``, through the one log-in page."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_url(re.compile(r"/login\?next="), timeout=10_000)
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(url, timeout=10_000)
    return page
