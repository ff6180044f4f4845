"""The operator card end to end, against the real Asterisk 22 (issue 3, items 5–6; issue 4).

A simulated caller known by number calls the hotline through the real
inbound route (``hotline-inbound``: the recording warning, whole-call
MixMonitor, the ``inbound`` menu flow): chooses «задолженность» (4), keys
in the account number, hears the balance and asks for an operator (0). The
flow registers the appeal (REQ-A1, A2) and sends the caller to the operator
queue, where a simulated operator (a Local channel queue member whose member
name is the operator's login) answers. The operator's page, in headless
Chromium and logged in as that operator, shows the caller's card within 1 s
of ``AgentConnect``; the operator corrects the classification and completes
the appeal there. The database then holds the call (queue wait, operator,
service level, recording, outcome) and the appeal (number format REQ-A2,
classification REQ-A4, times, operator).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from playwright.async_api import expect

from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService
from crm_bridge.demo_data import DEMO_CALLER, DEMO_OPERATORS, load_demo
from crm_bridge.models import (
    Account,
    AppealChannel,
    AppealStatus,
    ClassificationCode,
    Operator,
)
from telephony.contract import Context, Var
from tests.browser import chromium, logged_in_page
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]

T = TypeVar("T")
IN_HOURS = "2025-03-05T10:00:00+03:00"  # a Wednesday, 10:00 Moscow (test mode only)
OPERATOR = DEMO_OPERATORS[0]
OPERATOR_INTERFACE = "Local/101@hotline-test-operator/n"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def crm(runtime: Any) -> dict[str, int]:
    services = runtime.services
    await services.run_db(lambda: load_demo(services.db, size=20))

    def ids() -> dict[str, int]:
        with services.db.session() as session:
            account = session.query(Account).filter_by(number=DEMO_CALLER.number).one()
            op = session.query(Operator).filter_by(login=OPERATOR.login).one()
            return {"account": account.id, "operator": op.id}

    return await services.run_db(ids)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


async def operator_page(browser: Any, runtime: Any, login: str, password: str) -> Any:
    page = await logged_in_page(browser, runtime.web_url + "operator/", login, password)
    # No script of the test's own runs in the page (its CSP allows none):
    # the page shows its state in the DOM and the test reads that.
    await page.locator("body[data-ws=ready]").wait_for(timeout=10_000)
    return page


async def queue_member(runtime: Any, *, add: bool) -> None:
    action = {
        "Action": "QueueAdd" if add else "QueueRemove",
        "Queue": runtime.settings.queue_name,
        "Interface": OPERATOR_INTERFACE,
    }
    if add:
        action["MemberName"] = OPERATOR.login
    # as_list=False: panoramisk takes "Added interface to queue" for the start
    # of an event list and would wait for more.
    resp = await runtime.ami.action(action, as_list=False)
    if add:
        assert str(resp.get("Response")).lower() == "success", dict(resp)


async def prompt_started(call: Any, prompt: str, timeout: float = 40.0) -> None:
    """Wait until Asterisk started playing ``prompt`` (AMI ``AGIExecStart``)."""
    needle = f"/{prompt} "
    await until(
        lambda: any(needle in c for c in call.agi_commands()), timeout, f"{prompt} to start"
    )


def journal_step(journal: Any, name: str) -> dict[str, Any] | None:
    for e in reversed(journal.entries):
        if e.kind == "step" and e.detail.get("name") == name:
            return dict(e.detail)
    return None


def agent_connect_time(call: Any) -> float | None:
    for e in call.events:
        if e.get("Event") == "AgentConnect" and e.get("Uniqueid") == call.call_id:
            return float(e["Timestamp"])
    return None


async def test_queue_call_shows_card_and_completes_appeal(
    rig: Any, runtime: Any, crm: dict[str, int], browser: Any
) -> None:
    services = runtime.services
    calls = CallService(services.db)
    appeals = AppealService(services.db)
    listener = services.call_listener
    await listener.wait_resynced(15)
    page = await operator_page(browser, runtime, OPERATOR.login, OPERATOR.password)
    assert DEMO_CALLER.phone is not None
    asked = listener.getvars_asked
    call = await rig.place(
        Context.INBOUND,
        "s",
        caller_number=DEMO_CALLER.phone.lstrip("+"),
        variables={Var.TEST_NOW.value: IN_HOURS},
    )
    try:
        # The IVR: debt (4), the account number, then the operator (0).
        await prompt_started(call, "menu/main")
        await rig.send_dtmf(call, "4")
        await prompt_started(call, "ident/enter_last_digits")
        await rig.send_dtmf(call, DEMO_CALLER.number + "#")
        await prompt_started(call, "debt/options")
        await rig.send_dtmf(call, "0")
        hub = services.hub
        journal = await asyncio.wait_for(
            hub.wait_for(call.call_id, lambda j: j.ended, 30), 35
        )  # the IVR journal is stored before the queue
        heard = journal.heard()
        assert heard[0] == "common/recording_warning", heard  # REQ-T4
        assert "debt/your_debt_is" in heard and "common/connecting_operator" in heard, heard
        step = journal_step(journal, "appeal")
        assert step is not None, journal.entries
        appeal = await services.run_db(appeals.get_by_number, step["number"])
        assert re.fullmatch(r"\d+-ФЛ", appeal.number), appeal.number  # REQ-A2
        assert appeal.classification is ClassificationCode.OB  # REQ-A4: debt → Об
        assert appeal.channel is AppealChannel.PHONE and appeal.account_id == crm["account"]
        assert appeal.received_at is not None
        # The listener created the call row; in the queue with no operator the caller waits.
        row = await until(
            lambda: (c := calls.get(call.call_id)) and c.queue_entered_at and c,
            30,
            "queue entry",
        )
        assert row.caller_number == DEMO_CALLER.phone
        await queue_member(runtime, add=True)
        connected_at = await until(lambda: agent_connect_time(call), 30, "AgentConnect")
        card = page.locator(f'#card[data-uniqueid="{call.call_id}"]')
        await card.wait_for(timeout=10_000)
        shown_at = float(await card.get_attribute("data-shown-at") or "nan")
        assert shown_at - connected_at < 1.0, f"card shown {shown_at - connected_at:.3f}s late"

        # The card's variables came in the dialplan's HotlineCard event: the
        # listener asked Asterisk only for the recording's file name (issue 10).
        assert listener.getvars_asked - asked <= 2, listener.getvars_asked - asked

        # What the card shows.
        assert await page.text_content("#account-number") == DEMO_CALLER.number
        assert await page.text_content("#appeal-number") == appeal.number
        debt = await page.text_content("#debt")
        assert debt is not None and "1" in debt and "543,20" in debt.replace("\xa0", " ")
        ivr = await page.text_content(".ivr")
        # The menu path in words, never prompt ids.
        assert ivr is not None and "нажал 4 в главном меню" in ivr, ivr
        assert "слушал: главное меню" in ivr and "menu/main" not in ivr, ivr

        # The operator corrects the classification and completes the appeal.
        await page.select_option("#code", ClassificationCode.T.value)
        await page.click("#classify")
        await expect(page.locator("#appeal-class")).to_have_text("Т", timeout=5_000)
        await page.fill("#note", "Проверено, электромонтёр направлен")
        await page.click("#answer")
        await expect(page.locator("#appeal-status")).to_have_text("дан ответ", timeout=5_000)
        await page.click("#close")
        await expect(page.locator("#appeal-status")).to_have_text("закрыто", timeout=5_000)
        await rig.hangup_caller(call)
        await rig.wait_end(call)
    finally:
        await queue_member(runtime, add=False)
        await page.context.close()

    done = await until(
        lambda: (c := calls.get(call.call_id)) and c.outcome == "answered" and c.ended_at and c,
        10,
        "the completed call row",
    )
    assert done.operator_id == crm["operator"]
    assert done.queue_name == runtime.settings.queue_name
    assert done.wait_seconds is not None and 0 < done.wait_seconds < 40
    assert done.answered_within_sla is True  # REQ-T7
    assert done.answered_at is not None and done.queue_left_at is not None
    assert done.recording_file and done.recording_file.endswith(f"-{call.call_id}.wav")
    assert done.hangup_cause
    assert done.account_id == crm["account"]
    assert len(calls.by_linkedid(done.linkedid or "")) == 1  # one record per call

    final = await services.run_db(appeals.get, appeal.id)
    assert final.status is AppealStatus.CLOSED
    assert final.classification is ClassificationCode.T
    assert final.classification_corrected is True
    assert final.classified_by_id == crm["operator"]
    assert final.call_id == done.id
    assert final.answered_at is not None and final.closed_at is not None
    assert final.note == "Проверено, электромонтёр направлен"
    kinds = [e.kind for e in calls.events(call.call_id)]
    assert {"input", "queue_join", "operator_connected", "hangup"} <= set(kinds)
