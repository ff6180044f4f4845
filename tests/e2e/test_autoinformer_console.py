"""The dispatcher console in headless Chromium (REQ-O3, O10): a dispatcher
logs in at the one log-in page, creates a campaign, uploads its list and
sends it for approval; she may not approve it; a supervisor logs in, finds
it in the queue of campaigns awaiting approval, looks at its contacts and
approves it there, and launches it; the live monitor shows the callees with
Russian states, the contact held back (night in their time zone) with the
reason and when calling resumes, and the hourly chart's legend as the
simulated calls complete; stopping asks for confirmation; the XLSX report
downloads with its charts."""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path
from typing import Any

import pytest

from crm_bridge.models import Operator, OperatorRole
from crm_bridge.passwords import hash_password
from tests.autoinformer.helpers import daytime_zone, make_accounts, night_zone
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
    sleeper = phone("01")  # where it is night now: held back, not called
    tz = daytime_zone()
    await services.run_db(lambda: make_accounts(services.db, numbers, timezone=tz, prefix="95"))
    await services.run_db(
        lambda: make_accounts(services.db, [sleeper], timezone=night_zone(), prefix="96")
    )
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "Телефон;Задолженность\n"
        + "".join(f"{n};1500,25\n" for n in [*numbers, sleeper])
        + "12345;10\n",
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
        summary = await page.text_content("#import-summary", timeout=10_000)  # the new page
        assert summary and "принято 4" in summary and "отклонено 1" in summary
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
        # The approval workflow (REQ-O10): the dispatcher sends it for
        # approval; she has no «Утвердить» and no «Остановить» on a draft.
        campaign_url = page.url
        assert await page.query_selector("#approve") is None
        assert await page.query_selector("#stop") is None
        await page.click("#submit")
        await expect(page.locator("#status")).to_have_text("На утверждении")
        assert await page.query_selector("#approve") is None
        assert "утверждает руководитель" in (await page.text_content("#approval-note") or "")
        async with page.expect_navigation():
            await page.click("nav form button[type=submit]")  # Выйти
        # The supervisor's queue: the campaign with its contacts count and
        # message, the contacts themselves a click away; approved from there.
        await page.goto(base_url + "approvals")
        await _log_in(page, supervisor)
        row = page.locator(f"#queue tr[data-campaign='{campaign_url.rsplit('/', 1)[1]}']")
        await expect(row.locator("td.contacts")).to_have_text("4")
        assert "тысяча пятьсот рублей" in (await row.locator("td.preview").text_content() or "")
        await row.locator("td.contacts a").click()
        await expect(page.locator("#review-total")).to_have_text("4")
        assert sleeper in (await page.text_content("#contacts") or "")
        await page.go_back()
        async with page.expect_navigation():
            await row.locator("button.approve").click()
        assert page.url == campaign_url
        assert "Утвердил" in await page.content()
        await page.click("#launch")
        # The live monitor follows the calls (WebSocket): lines in use and
        # the calls in progress by callee, in Russian.
        # (Polled with locators: the page's CSP forbids the eval that
        # wait_for_function needs — no script but the page's own runs.)
        listening = page.locator("#calls tr").filter(
            has=page.locator("td.state", has_text=re.compile("Слушает сообщение"))
        )
        await expect(listening.first.locator("td").first).to_have_text(
            re.compile(r"^Абонент \d+$"), timeout=60_000
        )
        lines = await page.text_content("#lines")
        assert lines and lines.endswith("из 8") and not lines.startswith("0 "), lines
        await expect(page.locator("#finished")).to_have_text(
            re.compile(r"^[1-9]\d*$"), timeout=60_000
        )
        await expect(page.locator("#finished")).to_have_text("3", timeout=90_000)
        assert await page.text_content("#positive") == "1"
        assert await page.text_content("#rate") == "33%"
        # The contact where it is night is held back with its reason, and
        # the ETA says when calling resumes instead of counting down.
        held = page.locator("#held tr", has=page.locator("td[data-reason]"))
        await expect(held.locator("td").first).to_have_text(
            re.compile("Вне окна звонков|Выходной или праздник")
        )
        assert await held.locator("td").nth(1).text_content() == "1"
        assert await held.count() == 1
        await expect(page.locator("#eta")).to_have_text(
            re.compile(r"^продолжится (сегодня|завтра) в 0[89]:00 по местному времени$")
        )
        assert await page.text_content("#status") == "Идёт обзвон"
        # The hourly chart's legend appeared live (the page had no calls yet).
        await expect(page.locator("#chart-legend")).to_contain_text("Занято: 1")
        assert "Прослушано до конца: 1" in (await page.text_content("#chart-legend") or "")
        results = await page.text_content("#results") or ""
        assert "Занято" in results and "Положили трубку" in results
        # Each finished call with its callee and, when it failed, why.
        busy = page.locator("#recent tr", has_text=numbers[1])
        await expect(busy.locator("td.cause")).to_have_text("занято", timeout=10_000)
        assert await page.is_hidden("#trunk-problem")
        await page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
        # Stopping asks first, on a page of its own; the held contact is cancelled.
        await page.click("#stop")
        assert "1 контакт" in (await page.text_content("#stop-effect") or "")
        await page.click("#confirm-stop")
        assert page.url == campaign_url
        await expect(page.locator("#status")).to_have_text("Остановлена")
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
