"""A campaign on the demo as shipped, in headless Chromium (issue 15, «must
show»): the demo's own data (``hotline demo`` loads it with the same
function), its logins, its dialer with the outbound trunk test mode gives it
(the simulated telephone network) — no fixture of this test changes them.

The demo's dispatcher imports a Russian XLSX (a title row above Cyrillic
headers, ДД.ММ.ГГГГ dates, amounts «1 234,50», the zone as «МСК+N»), adds a
listed customer to the do-not-call list, builds the message with an uploaded
recording (an MP3 of 44.1 kHz stereo, converted to 8 kHz) and the amount from
the list, and sends it for approval; a garbled list gets the Russian 400 page.
The demo's supervisor approves it from the queue (the contacts and the
message's text in view) and launches it; the monitor shows the callee by
name with a Russian state, the contacts held back (night in their zone, the
do-not-call list) with the reason, the hourly chart and its legend appearing
live, and each failed call's cause («занято», «номер не существует»); the
callee heard the recording and the amount (the call's journal).

The customers' time zones come from the list (the day and the night of the
moment the test runs): the 230-FZ windows make the demo's own zones callable
only part of the day.
"""

from __future__ import annotations

import io
import re
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from playwright.async_api import expect

from autoinformer.campaigns import CampaignService
from core.settings import TEST_NETWORK_TRUNK, from_cli_args
from crm_bridge.demo_data import (
    DEMO_BUSY,
    DEMO_CALLER,
    DEMO_LEADING_ZEROS,
    DEMO_NO_DEBT,
    DEMO_NO_SUCH_NUMBER,
    DEMO_OPERATORS,
    DEMO_UNKNOWN_PHONE,
)
from tests.autoinformer.helpers import daytime_zone, night_zone
from tests.autoinformer.test_builder import mp3_tone
from tests.browser import chromium
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]

PASSWORDS = {op.login: op.password for op in DEMO_OPERATORS}


def _msk(zone: str) -> str:
    """``Etc/GMT-7`` (UTC+7) as a Russian office writes it: «МСК+4»."""
    offset = datetime.now(UTC).astimezone(ZoneInfo(zone)).utcoffset()
    assert offset is not None
    hours = int(offset.total_seconds() // 3600) - 3
    return "МСК" if hours == 0 else f"МСК{hours:+d}"


def _xlsx(path: Path, rows: list[list[Any]]) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Должники для обзвона на 07.12.2026 (отдел сбыта)"])
    ws.append([])
    ws.append(["ФИО", "Номер телефона", "Сумма долга, руб.", "Оплатить до", "Часовой пояс"])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(buf.getvalue())


async def _log_in(page: Any, login: str) -> None:
    """The demo's login at the one log-in page, back to the page asked for."""
    assert "/login" in page.url, page.url
    await page.fill("form.login input[name=login]", login)
    await page.fill("form.login input[name=password]", PASSWORDS[login])
    async with page.expect_navigation():
        await page.click("form.login button[type=submit]")
    assert "/login" not in page.url, await page.content()


async def test_a_campaign_on_the_demo_as_shipped(
    settings: Any, runtime: Any, tmp_path: Path
) -> None:
    from hotline.cli import build_parser
    from hotline.demo import _load_demo_data

    services = runtime.services
    await services.run_db(_load_demo_data, services)  # what `hotline demo` loads
    dialer = runtime.extra["dialer"]
    # The dialer as `hotline demo` configures it (cmd_demo: test mode).
    shipped = from_cli_args(build_parser().parse_args(["demo"]), test_mode=True)
    assert dialer.trunk == shipped.outbound_trunk == TEST_NETWORK_TRUNK
    assert (dialer.lines, dialer.cps) == (shipped.dialer_lines, shipped.dialer_cps)
    await dialer.wait_ready(30)

    day, night = _msk(daytime_zone()), _msk(night_zone())
    listing = tmp_path / "Должники декабрь.xlsx"
    _xlsx(
        listing,
        [
            [DEMO_CALLER.holder_name, DEMO_CALLER.phone, "1 234,50", "25.12.2026", day],
            [DEMO_BUSY.holder_name, DEMO_BUSY.phone, "2 150,00", "25.12.2026", day],
            [
                DEMO_NO_SUCH_NUMBER.holder_name,
                DEMO_NO_SUCH_NUMBER.phone,
                "870,30",
                "25.12.2026",
                day,
            ],
            [DEMO_NO_DEBT.holder_name, DEMO_NO_DEBT.phone, "100,00", "25.12.2026", day],
            [
                DEMO_LEADING_ZEROS.holder_name,
                DEMO_LEADING_ZEROS.phone,
                "99,90",
                "25.12.2026",
                night,
            ],
            ["Неизвестный Абонент", DEMO_UNKNOWN_PHONE, "10,00", "25.12.2026", day],
        ],
    )
    garbled = tmp_path / "список.xlsx"
    garbled.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    recording = tmp_path / "Обращение директора.mp3"
    recording.write_bytes(mp3_tone(1.5, tmp_path))

    base_url = runtime.web_url + "dispatcher/"
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(base_url)
        await _log_in(page, "dispatcher")
        await page.fill("input[name=name]", "Долги, декабрь (демо)")
        await page.select_option("select[name=kind]", "custom")
        await page.fill("input[name=max_attempts]", "1")
        await page.click("#create")
        campaign_url = page.url
        cid = int(campaign_url.rstrip("/").rsplit("/", 1)[1])

        # The Russian XLSX: five customers accepted, the unknown number refused.
        await page.set_input_files("#file", str(listing))
        await page.click("#upload")
        summary = await page.text_content("#import-summary") or ""
        assert "принято 5" in summary and "отклонено 1" in summary, summary
        rejected = await page.text_content("#rejected") or ""
        assert "9" in rejected and "номера нет ни в одном договоре" in rejected, rejected

        # A garbled list: the Russian 400 page; the list imported is kept.
        await page.set_input_files("#file", str(garbled))
        async with page.expect_navigation() as nav:
            await page.click("#upload")
        response = await nav.value
        assert response is not None and response.status == 400
        refusal = await page.text_content("main") or ""
        assert "Файл XLSX повреждён: это не архив" in refusal, refusal
        assert not re.search("[A-Za-z]{4}", refusal.replace("XLSX", "").replace("Excel", ""))
        await page.goto(campaign_url)
        await expect(page.locator("#contacts-link a[href$='/contacts']")).to_have_text(
            "Список контактов: 5"
        )

        # One customer asked not to be called: on the do-not-call list.
        await page.click("#contacts-link a[href$='/dnc']")
        await page.fill("#dnc-phone", DEMO_NO_DEBT.phone or "")
        await page.fill("#dnc-reason", "просьба абонента")
        await page.click("#dnc-add-button")
        await expect(page.locator("#dnc tr", has_text=DEMO_NO_DEBT.phone or "")).to_contain_text(
            "просьба абонента"
        )

        # The message: an uploaded recording and the amount from the list.
        await page.goto(campaign_url + "/message")
        await page.set_input_files("#add-audio input[type=file]", str(recording))
        await page.click("#add-audio button")
        await page.select_option("#add-say select[name=say]", "money")
        await page.fill("#add-say input[name=var]", "debt")
        await page.click("#add-say button")
        steps = page.locator("#steps li")
        await expect(steps).to_have_count(3)
        await expect(steps.nth(1)).to_contain_text("Обращение директора.mp3")
        preview = await page.text_content("#preview") or ""
        assert "двести тридцать четыре рубля пятьдесят копеек" in preview, preview

        await page.goto(campaign_url)
        await page.click("#submit")
        await expect(page.locator("#status")).to_have_text("На утверждении")
        async with page.expect_navigation():
            await page.click("nav form button[type=submit]")  # Выйти

        # The supervisor's queue: the contacts and the message, approved there.
        await page.goto(base_url + "approvals")
        await _log_in(page, "supervisor")
        row = page.locator(f"#queue tr[data-campaign='{cid}']")
        await expect(row.locator("td.contacts")).to_have_text("5")
        assert "копеек" in (await row.locator("td.preview").text_content() or "")
        await row.locator("td.contacts a").click()
        await expect(page.locator("#review-total")).to_have_text("5")
        assert DEMO_BUSY.holder_name in (await page.text_content("#contacts") or "")
        await page.go_back()
        async with page.expect_navigation():
            await row.locator("button.approve").click()
        assert page.url == campaign_url
        approved = await page.text_content("#approved") or ""
        assert approved.startswith("Утвердил: Старший Смены (supervisor)"), approved
        assert await page.text_content("#editors") == (
            "Создавали и изменяли: Диспетчер Демонстрационный (dispatcher)"
        )
        # No call yet: no chart, an empty legend.
        await expect(page.locator("#chart-legend li")).to_have_count(0)
        await page.click("#launch")

        # The monitor, live: the callee by name, a Russian state.
        on_line = page.locator("#calls tr", has_text=DEMO_CALLER.holder_name)
        await expect(on_line.locator("td").nth(3)).to_have_text(
            re.compile("Слушает сообщение|Ответил|Набор номера"), timeout=60_000
        )
        await expect(on_line.locator("td").nth(1)).to_have_text(DEMO_CALLER.phone or "")
        await expect(on_line.locator("td").nth(2)).to_have_text(DEMO_CALLER.number)
        # Each failed call with its cause.
        busy = page.locator("#recent tr", has_text=DEMO_BUSY.holder_name)
        await expect(busy.locator("td.cause")).to_have_text("занято", timeout=60_000)
        missing = page.locator("#recent tr", has_text=DEMO_NO_SUCH_NUMBER.holder_name)
        await expect(missing.locator("td.cause")).to_have_text(
            "номер не существует", timeout=60_000
        )
        # The chart and its legend drawn live (the page was loaded with none).
        await expect(page.locator("#chart-legend")).to_contain_text("Занято: 1")
        assert await page.locator("#chart rect").count() > 0
        await expect(page.locator("#chart-legend")).to_contain_text(
            "Прослушано до конца: 1", timeout=90_000
        )
        await expect(page.locator("#finished")).to_have_text("4")  # the do-not-call one too
        # REQ-O8: 1 positive of the 3 called; the do-not-call refusal is no failure.
        await expect(page.locator("#rate")).to_have_text("33%")
        # Held back, with the reason: night in the zone, the do-not-call list.
        held = page.locator("#held tr", has=page.locator("td[data-reason]"))
        window = held.filter(has=page.locator("td[data-reason=window], td[data-reason=holiday]"))
        await expect(window.locator("td").first).to_have_text(
            re.compile("Вне окна звонков|Выходной или праздник")
        )
        await expect(window.locator("td").nth(1)).to_have_text("1")
        dnc = held.filter(has=page.locator("td[data-reason=do_not_call]"))
        await expect(dnc.locator("td").first).to_have_text("В списке «не звонить»")
        await expect(dnc.locator("td").nth(1)).to_have_text("1")
        await expect(page.locator("#eta")).to_have_text(
            re.compile(r"^продолжится (сегодня|завтра) в 0[89]:00 по местному времени$")
        )
        await expect(page.locator("#resume")).to_be_hidden()  # said once, not twice
        await page.screenshot(path=str(tmp_path / "demo-monitor.png"), full_page=True)

    # What the callee heard: the recording uploaded, then the amount.
    cs = CampaignService(services.db)
    attempts = await services.run_db(cs.attempts, cid)
    listened = [a for a in attempts if a.phone == DEMO_CALLER.phone]
    assert len(listened) == 1 and listened[0].channel_id, attempts
    journal = await until(lambda: services.hub.get(listened[0].channel_id), 10, "the journal")
    heard = journal.heard()
    uploaded = [h for h in heard if h.startswith(f"upload/c{cid}_")]
    assert uploaded and heard.index(uploaded[0]) < heard.index("money:1234.50"), heard
    with wave.open(str(settings.sounds_dir / f"{uploaded[0]}.wav")) as played:
        assert (played.getframerate(), played.getnchannels()) == (8000, 1)
