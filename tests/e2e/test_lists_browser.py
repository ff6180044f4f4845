"""Contact lists as an office prepares them, in headless Chromium on the
running contact centre (issue 15 item 3; REQ-O2, O7): a dispatcher uploads
a Russian XLSX (a title row above Cyrillic headers, ДД.ММ.ГГГГ dates, an
amount «1 234,50»), reads the rejected row's reason, opens the contact list,
edits a contact's date (the preview says the new one) and removes another;
a binary file gets a 400 page in Russian naming the line; the do-not-call
page adds, imports and removes numbers. A supervisor approves and launches
it, the simulated network answers (real Asterisk), and the contact list
shows each callee's result."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from crm_bridge.models import OperatorRole
from tests.autoinformer.helpers import daytime_zone, make_accounts
from tests.browser import chromium
from tests.e2e import test_autoinformer as base
from tests.e2e.test_autoinformer import phone
from tests.e2e.test_autoinformer_console import _log_in, _staff

pytestmark = [pytest.mark.asterisk]

dialer = base.dialer


def _xlsx(path: Path, rows: list[list[Any]]) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Список абонентов для напоминания об оплате на 01.12.2026"])
    ws.append([])
    ws.append(["ФИО", "Номер телефона", "Сумма долга, руб.", "Оплатить до"])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(buf.getvalue())


async def test_russian_list_contacts_and_do_not_call_in_the_browser(
    runtime: Any, dialer: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    services = runtime.services
    suffix = id(tmp_path) % 100000
    dispatcher, supervisor = f"ldisp{suffix}", f"lboss{suffix}"
    await services.run_db(_staff, services.db, dispatcher, "Диспетчер", OperatorRole.DISPATCHER)
    await services.run_db(_staff, services.db, supervisor, "Начальник", OperatorRole.SUPERVISOR)
    listens, busy, removed, late = phone("01"), phone("03"), phone("01"), phone("01")
    hangs_up = phone("05")  # the simulated callee hangs up 3 s after answering
    numbers = [listens, busy, removed, late, hangs_up]
    tz = daytime_zone()
    await services.run_db(
        lambda: make_accounts(services.db, numbers, timezone=tz, prefix=f"8{suffix:05d}")
    )
    listing = tmp_path / "Напоминание.xlsx"
    _xlsx(
        listing,
        [
            ["Иванов Иван Иванович", listens, "1 234,50", "25.12.2026"],
            ["Петрова Анна Сергеевна", busy, "980,00", "26.12.2026"],
            ["Сидоров Пётр", removed, "100", "27.12.2026"],
            ["Кузнецова Мария", late, "200", "31.02.2026"],  # no such date
            ["Орлов Олег", hangs_up, "300", "29.12.2026"],
        ],
    )
    garbled = tmp_path / "список.csv"
    garbled.write_bytes(b"\xd0\xa2\xd0\xb5\xd0\xbb\r\n+7900\x00\x00\x00\xff\xfe")
    dnc_file = tmp_path / "отказы.csv"
    dnc_numbers = [phone("01"), phone("01")]
    dnc_file.write_bytes(
        ("Отказы от звонков\r\nТелефон;Причина\r\n" + f"{dnc_numbers[0]};жалоба\r\n").encode(
            "cp1251"
        )
        + f"{dnc_numbers[1]};\r\n".encode("cp1251")
    )
    base_url = runtime.web_url + "dispatcher/"
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(base_url)
        await _log_in(page, dispatcher)
        await page.fill("input[name=name]", "Напоминание об оплате, декабрь")
        await page.select_option("select[name=kind]", "payment_reminder")
        await page.fill("input[name=max_attempts]", "1")
        await page.click("#create")
        campaign_url = page.url
        assert re.search(r"/campaigns/\d+$", campaign_url), campaign_url

        # The Russian XLSX: three accepted, the impossible date rejected with why.
        await page.set_input_files("#file", str(listing))
        await page.click("#upload")
        summary = await page.text_content("#import-summary") or ""
        assert "принято 4" in summary and "отклонено 1" in summary, summary
        rejected = await page.text_content("#rejected") or ""
        assert "6" in rejected and "несуществующая дата «31.02.2026»" in rejected, rejected
        assert "двадцать пятого декабря" in (await page.text_content("#preview") or "")

        # A binary file: a 400 page in Russian naming the line; nothing lost.
        await page.set_input_files("#file", str(garbled))
        async with page.expect_navigation() as nav:
            await page.click("#upload")
        response = await nav.value
        assert response is not None and response.status == 400
        text = await page.text_content("main") or ""
        assert "Строка 2: файл двоичный" in text, text
        await page.screenshot(path=str(tmp_path / "garbled.png"), full_page=True)

        # The contact list: who, the state in Russian, edit and remove.
        await page.goto(campaign_url)
        await page.click("#contacts-link a")
        assert page.url == campaign_url + "/contacts"
        await expect(page.locator("#contacts-total")).to_have_text("4")
        row = page.locator("#contacts tr", has_text="Иванов Иван Иванович")
        await expect(row.locator("td.state")).to_have_text("Ожидает звонка")
        await row.locator("a.edit").click()
        await page.fill("#var-due_date", "28.12.2026")
        await page.fill("#var-debt", "2 000,00")
        await page.click("#save")
        assert page.url == campaign_url + "/contacts"
        gone = page.locator("#contacts tr", has_text="Сидоров Пётр")
        await gone.locator("button.remove").click()
        await expect(page.locator("#contacts-total")).to_have_text("3")
        assert await page.locator("#contacts tr", has_text="Сидоров").count() == 0
        await page.screenshot(path=str(tmp_path / "contacts.png"), full_page=True)
        await page.goto(campaign_url)
        preview = await page.text_content("#preview") or ""
        assert "двадцать восьмого декабря" in preview, preview

        # The do-not-call list: add one, import two (cp1251, a title row), remove one.
        await page.goto(base_url)
        await page.click("#dnc-link")
        await page.fill("#dnc-phone", removed)
        await page.fill("#dnc-reason", "просьба абонента по телефону")
        await page.click("#dnc-add-button")
        await expect(page.locator("#dnc tr", has_text=removed)).to_contain_text("просьба абонента")
        await page.set_input_files("#dnc-file", str(dnc_file))
        await page.click("#dnc-upload")
        await expect(page.locator("#dnc-import-summary")).to_contain_text(
            "добавлено 2, отклонено 0"
        )
        await expect(page.locator("#dnc tr", has_text=dnc_numbers[0])).to_contain_text("жалоба")
        await page.screenshot(path=str(tmp_path / "dnc.png"), full_page=True)
        await page.locator("#dnc tr", has_text=dnc_numbers[1]).locator("button.remove").click()
        assert await page.locator("#dnc tr", has_text=dnc_numbers[1]).count() == 0

        # The dispatcher sends it for approval; a supervisor approves and
        # launches; the calls go through Asterisk; the contact list shows
        # each callee's result.
        await page.goto(campaign_url)
        await page.click("#submit")
        async with page.expect_navigation():
            await page.click("nav form button[type=submit]")  # Выйти
        await page.goto(campaign_url)
        await _log_in(page, supervisor)
        await page.click("#approve")
        await page.click("#launch")
        await expect(page.locator("#status")).to_have_text("Завершена", timeout=120_000)
        await page.goto(campaign_url + "/contacts")
        done = page.locator("#contacts tr", has_text="Иванов Иван Иванович")
        await expect(done.locator("td.state")).to_have_text("Завершён")
        await expect(done.locator("td.result")).to_have_text("Прослушано до конца")
        engaged = page.locator("#contacts tr", has_text="Петрова Анна Сергеевна")
        await expect(engaged.locator("td.result")).to_have_text("Занято")
        early = page.locator("#contacts tr", has_text="Орлов Олег")
        await expect(early.locator("td.result")).to_have_text("Положили трубку")
        assert "Изменить" not in (await page.text_content("#contacts") or "")
        await page.screenshot(path=str(tmp_path / "contacts-done.png"), full_page=True)

        # The report: date-time cells; the second the callee hung up at.
        report = await page.request.get(campaign_url + "/report.xlsx")
        assert report.ok
        sheet = load_workbook(io.BytesIO(await report.body()))["Попытки"]
        rows = list(sheet.iter_rows(values_only=True))
        header = list(rows[0])
        by_name = {r[header.index("Абонент")]: r for r in rows[1:]}
        second = by_name["Орлов Олег"][header.index("Положил трубку на секунде")]
        assert isinstance(second, int | float) and 1.0 <= second <= 15.0, second
        started = by_name["Иванов Иван Иванович"][header.index("Начало (время центра)")]
        assert isinstance(started, datetime), started
