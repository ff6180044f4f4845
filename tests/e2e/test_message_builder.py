"""The message builder in headless Chromium against the real Asterisk 22
(issue 15): a dispatcher builds a debt message from the page — an uploaded
recording (44.1 kHz stereo WAV, converted to 8 kHz), the amount from the
list's column, a question — previews it as text and audio with a chosen
contact, and a garbled recording gets the Russian 400 page; once approved
and launched, the simulated callee hears the recording and the amount,
answers the question with a key (sent once the question is playing), and
the answer is stored on the attempt."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from autoinformer.campaigns import CampaignService
from crm_bridge.models import OperatorRole
from tests.autoinformer.helpers import daytime_zone, make_accounts
from tests.autoinformer.test_builder import tone
from tests.browser import chromium
from tests.e2e import test_autoinformer as base
from tests.e2e.test_autoinformer import phone
from tests.e2e.test_autoinformer_console import _log_in, _staff
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]

dialer = base.dialer
observer = base.observer


def _commands(obs: Any, uid: str) -> list[str]:
    return [
        e.get("Command", "") for e in obs.events.get(uid, []) if e.get("Event") == "AGIExecStart"
    ]


async def test_a_message_built_on_the_page_is_heard_and_answered(
    runtime: Any, dialer: Any, observer: Any, tmp_path: Path
) -> None:
    services = runtime.services
    login = f"builder{id(tmp_path) % 100000}"
    await services.run_db(_staff, services.db, login, "Диспетчер Строева", OperatorRole.DISPATCHER)
    number = phone("02")
    tz = daytime_zone()
    accounts = await services.run_db(
        lambda: make_accounts(services.db, [number], timezone=tz, prefix="96")
    )
    recording = tmp_path / "Обращение директора.wav"
    recording.write_bytes(tone(1.5))
    garbled = tmp_path / "broken.wav"
    garbled.write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + bytes(range(256)) * 8)
    listing = tmp_path / "list.csv"
    listing.write_text(f"Телефон;debt\n{number};2750,40\n", encoding="utf-8")
    question = "Оплатите до конца месяца?"
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(runtime.web_url + "dispatcher/")
        await _log_in(page, login)
        await page.fill("input[name=name]", "Долги, конструктор")
        await page.select_option("select[name=kind]", "custom")
        await page.click("#create")
        campaign_url = page.url
        cid = int(campaign_url.rstrip("/").rsplit("/", 1)[1])
        await page.set_input_files("#file", str(listing))
        await page.click("#upload")
        await page.click("#edit-message")
        assert page.url.endswith(f"campaigns/{cid}/message")
        # An uploaded recording, the amount from the list, a question.
        await page.set_input_files("#add-audio input[type=file]", str(recording))
        await page.click("#add-audio button")
        await page.select_option("#add-say select[name=say]", "money")
        await page.fill("#add-say input[name=var]", "debt")
        await page.click("#add-say button")
        await page.select_option("#add-question select[name=prompt]", "outbound/if_paid")
        await page.fill("#add-question input[name=keys]", "12")
        await page.fill("#add-question input[name=name]", question)
        await page.click("#add-question button")
        steps = page.locator("#steps li")
        await expect(steps).to_have_count(4)
        await expect(steps.nth(1)).to_contain_text("Обращение директора.wav")
        await expect(steps.nth(2)).to_contain_text("сумму из столбца «debt»")
        await expect(steps.nth(3)).to_contain_text(question)
        preview = await page.text_content("#preview") or ""
        assert "семьсот пятьдесят рублей сорок копеек" in preview, preview
        assert preview.endswith("Для соединения с оператором нажмите ноль."), preview
        wav = await page.request.get(
            campaign_url
            + "/message.wav?contact="
            + (await page.input_value("select[name=contact]"))
        )
        assert wav.ok
        with wave.open(io.BytesIO(await wav.body())) as w:
            assert w.getframerate() == 8000 and w.getnframes() / 8000 > 3.0
        # A garbled recording: the console's Russian 400 page, nothing added.
        await page.set_input_files("#add-audio input[type=file]", str(garbled))
        async with page.expect_navigation():
            await page.click("#add-audio button")
        assert "повреждён или это не звук" in await page.content()
        await page.goto(campaign_url + "/message")
        await expect(page.locator("#steps li")).to_have_count(4)

    cs = CampaignService(services.db)
    await services.run_db(lambda: cs.submit(cid, "disp"))
    await services.run_db(lambda: cs.approve(cid, "boss", "supervisor"))
    await services.run_db(lambda: cs.launch(cid))
    before = observer.channels()
    dialer.poke()

    def asking() -> str | None:
        for uid in observer.channels() - before:
            if any("/outbound/if_paid " in c for c in _commands(observer, uid)):
                return uid
        return None

    uid = await until(asking, 60, "the question to be asked")
    callee = observer.name(f"{uid}-b")
    assert callee
    await runtime.ami.action(
        {"Action": "PlayDTMF", "Channel": callee, "Digit": "2", "Duration": "250"}
    )
    commands = _commands(observer, uid)
    assert any(f"/upload/c{cid}_" in c for c in commands), commands

    async def answered() -> dict[str, str] | None:
        rows = await services.run_db(cs.attempts, cid)
        return rows[0].answers if rows and rows[0].answers else None

    assert await until(answered, 30, "the answer") == {question: "2"}
    listener = services.hub.get(uid)
    assert listener is not None
    heard = listener.heard()
    assert heard[:2] == ["outbound/greeting", f"upload/c{cid}_" + heard[1].split("_", 1)[1]]
    assert "money:2750.40" in heard, heard  # the list's «2750,40», stored as imported
    assert accounts[number]
    await runtime.ami.action({"Action": "Hangup", "Channel": observer.name(uid) or ""})
    await base.finished(runtime, cid)
