"""The dispatcher console in headless Chromium (REQ-O3, O10): a dispatcher
logs in at the one log-in page, creates a campaign and uploads its list; she
may not approve it; a supervisor logs in, approves and launches; the live
counters change as the simulated calls complete; the XLSX report downloads
with its charts."""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path
from typing import Any

import pytest

from crm_bridge.models import Operator, OperatorRole
from crm_bridge.passwords import hash_password
from tests.autoinformer.helpers import daytime_zone, make_accounts
from tests.browser import chromium
from tests.e2e import test_autoinformer as base
from tests.e2e.test_autoinformer import phone

pytestmark = [pytest.mark.asterisk]

dialer = base.dialer


def _staff(db: Any, login: str, name: str, role: OperatorRole) -> None:
    with db.session(write=True) as s:
        s.add(
            Operator(login=login, name=name, role=role, password_hash=hash_password("secret-pass"))
        )


async def _log_in(page: Any, login: str) -> None:
    """At the one log-in page (``/login?next=…``): back to the page asked for."""
    assert "/login" in page.url, page.url
    await page.fill("form.login input[name=login]", login)
    await page.fill("form.login input[name=password]", "secret-pass")
    async with page.expect_navigation():
        await page.click("form.login button[type=submit]")
    assert "/login" not in page.url, await page.content()


async def test_launch_watch_and_download_from_the_page(runtime, dialer, tmp_path: Path) -> None:
    from openpyxl import load_workbook
    from playwright.async_api import expect

    services = runtime.services
    suffix = id(tmp_path) % 100000
    dispatcher, supervisor = f"disp{suffix}", f"boss{suffix}"
    await services.run_db(
        _staff, services.db, dispatcher, "Диспетчер Иванова", OperatorRole.DISPATCHER
    )
    await services.run_db(
        _staff, services.db, supervisor, "Начальник смены", OperatorRole.SUPERVISOR
    )
    numbers = [phone("01"), phone("03"), phone("05")]
    tz = daytime_zone()
    await services.run_db(lambda: make_accounts(services.db, numbers, timezone=tz, prefix="95"))
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "Телефон;Задолженность\n" + "".join(f"{n};1500,25\n" for n in numbers) + "12345;10\n",
        encoding="utf-8",
    )
    base_url = runtime.web_url + "dispatcher/"
    async with chromium() as browser:
        page = await browser.new_page(accept_downloads=True)
        await page.goto(base_url)
        await _log_in(page, dispatcher)
        assert page.url == base_url
        await page.fill("input[name=name]", "Долги, тест из браузера")
        await page.select_option("select[name=kind]", "debt")
        await page.fill("input[name=max_attempts]", "1")
        await page.click("#create")
        assert "/campaigns/" in page.url
        await page.set_input_files("#file", str(csv_file))
        await page.click("#upload")
        summary = (
            await page.text_content("#import-summary", timeout=5000)
            if await page.query_selector("#import-summary")
            else print(await page.content())
        )
        assert summary and "принято 3" in summary and "отклонено 1" in summary
        assert "короткий" in (await page.text_content("#rejected") or "")
        assert "тысяча пятьсот рублей двадцать пять копеек" in (
            await page.text_content("#preview") or ""
        )
        # The audio preview: the same recordings Asterisk plays, as one WAV.
        wav = await page.request.get(page.url + "/preview.wav")
        assert wav.ok and wav.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(await wav.body())) as w:
            assert w.getframerate() == 8000 and w.getnframes() / 8000 > 5.0
        assert await page.get_attribute("#preview-audio", "src")
        # Four eyes (REQ-O10): not the dispatcher who prepared it; a
        # supervisor who did not change it approves.
        campaign_url = page.url
        assert await page.query_selector("#approve") is None
        assert "четырёх глаз" in (await page.text_content("#approval-note") or "")
        async with page.expect_navigation():
            await page.click("nav form button[type=submit]")  # Выйти
        await page.goto(campaign_url)
        await _log_in(page, supervisor)
        assert page.url == campaign_url
        await page.click("#approve")
        assert "Утвердил" in await page.content()
        await page.click("#launch")
        # The live counters follow the calls (WebSocket): lines in use and
        # the calls in progress with their state.
        # (Polled with locators: the page's CSP forbids the eval that
        # wait_for_function needs — no script but the page's own runs.)
        await expect(page.locator("#calls td:nth-child(2)").first).to_have_text(
            "answered", timeout=60_000
        )
        lines = await page.text_content("#lines")
        assert lines and lines.endswith("из 8") and not lines.startswith("0 "), lines
        await expect(page.locator("#finished")).to_have_text(
            re.compile(r"^[1-9]\d*$"), timeout=60_000
        )
        await expect(page.locator("#finished")).to_have_text("3", timeout=90_000)
        assert await page.text_content("#positive") == "1"
        assert await page.text_content("#rate") == "33%"
        assert await page.text_content("#status") == "Завершена"
        assert await page.text_content("#eta") == "0 мин 0 с"
        results = await page.text_content("#results") or ""
        assert "Занято" in results and "Положили трубку" in results
        # Each finished call with its callee and, when it failed, why.
        busy = page.locator("#recent tr", has_text=numbers[1])
        await expect(busy.locator("td.cause")).to_have_text("занято", timeout=10_000)
        assert await page.is_hidden("#trunk-problem")
        await page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
        async with page.expect_download() as info:
            await page.click("#report-xlsx")
        download = await info.value
        path = tmp_path / "report.xlsx"
        await download.save_as(str(path))
    wb = load_workbook(io.BytesIO(path.read_bytes()))
    assert wb.sheetnames == ["Итоги", "По часам", "Попытки", "Ожидают звонка"]
    assert wb["По часам"]._charts and wb["Итоги"]._charts
    rows = list(wb["Попытки"].iter_rows(values_only=True))
    assert "Причина" in rows[0] and "занято" in {r[rows[0].index("Причина")] for r in rows[1:]}
    assert len(rows) == 4 and {r[rows[0].index("Результат")] for r in rows[1:]} == {
        "Прослушано до конца",
        "Занято",
        "Положили трубку",
    }
