"""An operator's shift on a real SIP phone (issue 12), against the real
Asterisk 22: the operator's phone is baresip (hotline.softphone) registered
with the credentials ``shift.phones`` generated, answering by itself; the
caller comes from the callers' network over the PJSIP trunk
(hotline.sipnet, RFC 4733 keys sent once the prompt has started); the
operator works in the workplace page in headless Chromium.

Proven: the page sees the phone registered; «Войти в очередь» puts the
phone into the queue; a caller who asks for an operator rings the phone,
which answers; the card pops with the caller identified; the hang-up starts
the wrap-up (the member is paused in Asterisk); the operator ends it; a
pause keeps the next caller waiting until the operator resumes, and then the
phone rings at once; the intervals are stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect
from sqlalchemy import select

from crm_bridge.calls import CallService
from crm_bridge.demo_data import DEMO_CALLER, DEMO_OPERATORS
from crm_bridge.models import Operator
from hotline.softphone import Softphone
from shift.models import PresenceInterval
from shift.phones import issue_phone
from tests.browser import chromium, logged_in_page
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]

OPERATOR = DEMO_OPERATORS[0]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def phone(
    settings: Any, asterisk: Any, runtime: Any, sip: Any, tmp_path_factory: Any
) -> AsyncIterator[Softphone]:
    """The operator's phone: credentials issued, Asterisk's pjsip.conf
    rendered again and reloaded, baresip registered."""
    phone = await registered_phone(
        settings, asterisk, runtime.services, OPERATOR.login, tmp_path_factory.mktemp("phone")
    )
    yield phone
    await phone.stop()


async def registered_phone(
    settings: Any, asterisk: Any, services: Any, login: str, workdir: Any, **kw: Any
) -> Softphone:
    creds = await services.run_db(lambda: issue_phone(services.db, login, **kw))
    await asyncio.to_thread(asterisk.up)  # a running instance: render + reload
    phone = Softphone(
        creds.endpoint,
        creds.password,
        host=settings.sip_host,
        port=settings.sip_port,
        workdir=workdir,
    )
    await phone.start()
    return phone


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def specialist(
    settings: Any, asterisk: Any, runtime: Any, phone: Softphone, tmp_path_factory: Any
) -> AsyncIterator[Softphone]:
    """The second line: the second demo operator's phone, in the specialists' queue."""
    login = DEMO_OPERATORS[1].login
    second = await registered_phone(
        settings,
        asterisk,
        runtime.services,
        login,
        tmp_path_factory.mktemp("phone-specialist"),
        queue=settings.specialist_queue,
    )
    assert await phone.registered()  # the reload kept the first phone
    shift = runtime.services.shift
    operator_id = await runtime.services.run_db(operator_of, runtime.services, login)
    await shift.log_in(operator_id)
    yield second
    await shift.log_out(operator_id)
    await second.stop()


def operator_of(services: Any, login: str) -> int:
    with services.db.session() as s:
        return int(s.scalars(select(Operator.id).where(Operator.login == login)).one())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


async def member(runtime: Any, interface: str) -> dict[str, str] | None:
    resp = await runtime.ami.action(
        {"Action": "QueueStatus", "Queue": runtime.settings.queue_name}, as_list=True
    )
    for m in resp:
        if m.get("Event") == "QueueMember" and m.get("Location") == interface:
            return {str(k): str(v) for k, v in m.items()}
    return None


async def waiting_seconds(runtime: Any, uniqueid: str) -> float:
    resp = await runtime.ami.action(
        {"Action": "QueueStatus", "Queue": runtime.settings.queue_name}, as_list=True
    )
    for m in resp:
        if m.get("Event") == "QueueEntry" and m.get("Uniqueid") == uniqueid:
            return float(m.get("Wait") or 0)
    return -1.0


async def test_a_shift_on_a_real_phone(
    runtime: Any, sip: Any, phone: Softphone, browser: Any
) -> None:
    services = runtime.services
    interface = f"PJSIP/{phone.endpoint}"
    operator_id = await services.run_db(operator_of, services, OPERATOR.login)
    page = await logged_in_page(
        browser, runtime.web_url + "operator/", OPERATOR.login, OPERATOR.password
    )
    bar = page.locator("#presence")
    try:
        await page.locator("body[data-ws=ready]").wait_for(timeout=10_000)
        await expect(bar).to_have_attribute("data-state", "offline", timeout=10_000)
        await expect(bar).to_have_attribute("data-phone", "registered", timeout=10_000)

        # Log in to the queue from the page.
        await page.click("#queue-login")
        await expect(bar).to_have_attribute("data-state", "ready", timeout=10_000)
        joined = await member(runtime, interface)
        assert joined is not None and joined["Paused"] == "0", joined
        assert joined["Name"] == OPERATOR.login

        # A caller identifies with the account and asks for an operator.
        assert DEMO_CALLER.phone is not None
        mark = len(phone.events)
        call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
        await sip.walk(
            call,
            [
                ("menu/main", "4"),
                ("ident/enter_account", DEMO_CALLER.number + "#"),
                ("debt/options", "0"),
            ],
        )
        # The phone rings and answers; the card pops with the caller identified.
        await phone.wait_event("CALL_ESTABLISHED", after=mark, timeout=40)
        card = page.locator(f'#card[data-uniqueid="{call.call_id}"]')
        await card.wait_for(timeout=10_000)
        await expect(page.locator("#account-number")).to_have_text(DEMO_CALLER.number)
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)

        # The caller hangs up: the wrap-up starts and keeps the queue away.
        await sip.hangup_caller(call)
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        wrapping = await member(runtime, interface)
        assert wrapping is not None and wrapping["Paused"] == "1", wrapping
        assert wrapping.get("PausedReason") == "wrapup", wrapping
        await page.click("#wrapup-end")
        await expect(bar).to_have_attribute("data-state", "ready", timeout=10_000)
        assert (await member(runtime, interface) or {}).get("Paused") == "0"

        # A pause keeps the next caller waiting; resuming rings the phone at once.
        await page.select_option("#pause-reason", "break")
        await page.click("#pause")
        await expect(bar).to_have_attribute("data-state", "paused", timeout=10_000)
        assert (await member(runtime, interface) or {}).get("PausedReason") == "break"
        mark = len(phone.events)
        second = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
        await sip.walk(second, [("menu/main", "0")])
        # The queue rings a free member within a second of a caller's
        # arrival; this caller waits 4 s by the queue's own clock, unrung.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while await waiting_seconds(runtime, second.call_id) < 4:
            assert loop.time() < deadline, "the second caller never waited in the queue"
            await asyncio.sleep(0.5)
        assert phone.seen("CALL_ESTABLISHED", after=mark) is None, "a paused phone rang"
        await page.click("#resume")
        await expect(bar).to_have_attribute("data-state", "ready", timeout=10_000)
        await phone.wait_event("CALL_ESTABLISHED", after=mark, timeout=20)
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)
        await phone.hangup()
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        await page.click("#wrapup-end")
        await page.click("#queue-logout")
        await expect(bar).to_have_attribute("data-state", "offline", timeout=10_000)
        assert await member(runtime, interface) is None
    finally:
        await page.context.close()

    calls = CallService(services.db)
    done = await until(
        lambda: (c := calls.get(call.call_id)) and c.ended_at and c, 10, "the first call's row"
    )
    assert done.operator_id == operator_id and done.outcome == "answered"

    def states() -> list[tuple[str, str | None]]:
        with services.db.session() as s:
            rows = s.scalars(
                select(PresenceInterval)
                .where(PresenceInterval.operator_id == operator_id)
                .order_by(PresenceInterval.id)
            )
            return [(r.state, r.reason) for r in rows]

    assert await services.run_db(states) == [
        ("ready", None),
        ("talking", None),
        ("wrapup", None),
        ("ready", None),
        ("paused", "break"),
        ("ready", None),
        ("talking", None),
        ("wrapup", None),
        ("ready", None),
    ]


async def test_a_transfer_to_a_specialist_rings_the_second_phone(
    runtime: Any, sip: Any, phone: Softphone, specialist: Softphone, browser: Any
) -> None:
    """REQ-T10: the operator passes a complex question to the second line from
    the page; the specialist's phone answers the caller; the appeal records
    to whom it was passed."""
    from crm_bridge.appeals import AppealService

    services = runtime.services
    page = await logged_in_page(
        browser, runtime.web_url + "operator/", OPERATOR.login, OPERATOR.password
    )
    bar = page.locator("#presence")
    try:
        await page.locator("body[data-ws=ready]").wait_for(timeout=10_000)
        await page.click("#queue-login")
        await expect(bar).to_have_attribute("data-state", "ready", timeout=10_000)
        assert DEMO_CALLER.phone is not None
        mark, second_mark = len(phone.events), len(specialist.events)
        call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
        await sip.walk(
            call,
            [
                ("menu/main", "4"),
                ("ident/enter_account", DEMO_CALLER.number + "#"),
                ("debt/options", "0"),
            ],
        )
        await phone.wait_event("CALL_ESTABLISHED", after=mark, timeout=40)
        await page.locator(f'#card[data-uniqueid="{call.call_id}"]').wait_for(timeout=10_000)
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)
        appeal_number = await page.text_content("#appeal-number")
        await page.select_option("#transfer-to", "specialists")
        await page.click("#transfer")
        await specialist.wait_event("CALL_ESTABLISHED", after=second_mark, timeout=30)
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        await sip.hangup_caller(call)
        await specialist.wait_event("CALL_CLOSED", after=second_mark, timeout=15)
        await page.click("#wrapup-end")
        await page.click("#queue-logout")
        await expect(bar).to_have_attribute("data-state", "offline", timeout=10_000)
    finally:
        await page.context.close()
    appeals = AppealService(services.db)
    appeal = await services.run_db(appeals.get_by_number, appeal_number)
    assert appeal.passed_to == "специалисту (вторая линия)"
    kinds = [e.kind for e in CallService(services.db).events(call.call_id)]
    assert "transferred" in kinds
