"""The shift supervisor's wallboard and listening in (issue 14) against the
real Asterisk 22: callers come over the PJSIP trunk (hotline.sipnet, keys
sent once the prompt has started), the operator's phone and the
supervisor's phone are baresip (hotline.softphone), the supervisor watches
``/supervision/`` in headless Chromium.

Proven: the board shows a caller waiting while the only operator is paused,
and the abandon when the caller gives up; the operator resumes, the next
caller is answered and the board shows the operator talking; «Прослушивание»
rings the supervisor's own phone, which answers into ``ChanSpy`` on the
operator's channel (the audio path, seen in Asterisk's channels); the call's
end ends the listening; the board counts the call as answered; the listening
is in the audit log. The call's appeal (the caller identified by account) shows
the account holder and the call's recording on its page, where the supervisor
takes it through pass-to → answer received → answer → close.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect
from sqlalchemy import select

from crm_bridge.calls import CallService
from crm_bridge.demo_data import DEMO_CALLER, DEMO_OPERATORS
from crm_bridge.models import Appeal, AppealStatus, OperatorRole
from hotline.softphone import Softphone
from tests.browser import chromium, logged_in_page
from tests.e2e.test_shift_phones import IDENTIFIED_WALK, operator_of, registered_phone
from tests.e2e.waiting import until
from webedge.models import AuditEvent

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]

OPERATOR = DEMO_OPERATORS[0]
SUPERVISOR = next(op for op in DEMO_OPERATORS if op.role is OperatorRole.SUPERVISOR)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def phones(
    settings: Any, asterisk: Any, runtime: Any, sip: Any, tmp_path_factory: Any
) -> AsyncIterator[tuple[Softphone, Softphone]]:
    """The operator's phone and the supervisor's phone, both registered."""
    services = runtime.services
    operator = await registered_phone(
        settings, asterisk, services, OPERATOR.login, tmp_path_factory.mktemp("op-phone")
    )
    try:
        supervisor = await registered_phone(
            settings, asterisk, services, SUPERVISOR.login, tmp_path_factory.mktemp("sup-phone")
        )
        try:
            assert await operator.registered()  # the second reload kept the first phone
            yield operator, supervisor
        finally:
            await supervisor.stop()
    finally:
        await operator.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


async def spies(runtime: Any, phone: Softphone) -> list[dict[str, str]]:
    """The supervisor's phone's channels running ChanSpy (CoreShowChannels)."""
    resp = await runtime.ami.action({"Action": "CoreShowChannels"}, as_list=True)
    return [
        {str(k): str(v) for k, v in m.items()}
        for m in resp
        if m.get("Event") == "CoreShowChannel"
        and str(m.get("Channel", "")).startswith(f"PJSIP/{phone.endpoint}-")
        and m.get("Application") == "ChanSpy"
    ]


def appeal_of_call(services: Any, call_id: int) -> Any:
    with services.db.session() as s:
        appeal_id = s.scalars(select(Appeal.id).where(Appeal.call_id == call_id)).one()
    return services.crm.appeals.get(appeal_id)


async def act(page: Any, form: str, status: str) -> None:
    """Submit an action form of the appeal's page; wait for the page read again."""
    await page.click(f"#{form} button[type=submit]")
    await page.locator("#appeal-msg:not([data-state])").wait_for(state="attached", timeout=10_000)
    await page.locator(f"#appeal[data-status={status}]").wait_for(timeout=10_000)


async def test_the_supervisor_watches_the_floor_and_listens_in(
    runtime: Any, sip: Any, phones: tuple[Softphone, Softphone], browser: Any
) -> None:
    services = runtime.services
    shift = services.shift
    operator_phone, supervisor_phone = phones
    operator_id = await services.run_db(operator_of, services, OPERATOR.login)
    assert DEMO_CALLER.phone is not None
    caller_number = DEMO_CALLER.phone.lstrip("+")
    page = await logged_in_page(
        browser, runtime.web_url + "supervision/", SUPERVISOR.login, SUPERVISOR.password
    )
    try:
        board = page.locator("#wallboard")
        await expect(board).to_have_attribute("data-ws", "ready", timeout=10_000)
        today = page.locator("#today")
        await expect(today).to_have_attribute("data-abandoned", re.compile(r"\d+"), timeout=10_000)
        abandoned = int(await today.get_attribute("data-abandoned") or 0)
        answered = int(await today.get_attribute("data-answered") or 0)
        row = page.locator(f'#operators tr[data-operator="{operator_id}"]')

        # The only operator is on a break: a caller waits, and the board shows it.
        await shift.log_in(operator_id)
        await shift.pause(operator_id, "break")
        await expect(row).to_have_attribute("data-state", "paused", timeout=10_000)
        await expect(row).to_contain_text("Перерыв")
        first = await sip.place_sip(caller_number=caller_number)
        await sip.walk(first, [("menu/main", "0")])
        waiting = page.locator("#tile-waiting")
        await expect(waiting).to_have_attribute("data-value", "1", timeout=10_000)
        await expect(waiting).to_have_class("tile red")  # nobody ready to answer
        # The caller gives up: the board counts the abandon.
        await sip.hangup_caller(first)
        await expect(waiting).to_have_attribute("data-value", "0", timeout=10_000)
        await expect(today).to_have_attribute("data-abandoned", str(abandoned + 1), timeout=15_000)

        # The operator is back: the next caller is answered, the board shows the talk.
        await shift.resume(operator_id)
        await expect(row).to_have_attribute("data-state", "ready", timeout=10_000)
        mark = len(operator_phone.events)
        second = await sip.place_sip(caller_number=caller_number)
        await sip.walk(second, IDENTIFIED_WALK)
        await operator_phone.wait_event("CALL_ESTABLISHED", after=mark, timeout=40)
        await expect(row).to_have_attribute("data-state", "talking", timeout=10_000)

        # Listening in: the supervisor's own phone rings and hears the call.
        sup_mark = len(supervisor_phone.events)
        await row.locator("button.listen[data-mode=listen]").click()
        await expect(page.locator("#listen-msg")).to_have_attribute(
            "data-mode", "listen", timeout=10_000
        )
        await supervisor_phone.wait_event("CALL_ESTABLISHED", after=sup_mark, timeout=20)
        spying = await until(
            lambda: spies(runtime, supervisor_phone), 10, "ChanSpy on the supervisor's phone"
        )
        assert len(spying) == 1, spying
        assert spying[0]["ApplicationData"].startswith(f"PJSIP/{operator_phone.endpoint}-")

        # The caller hangs up: the call and the listening end; the board counts it.
        await sip.hangup_caller(second)
        await operator_phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await supervisor_phone.wait_event("CALL_CLOSED", after=sup_mark, timeout=15)
        await expect(row).to_have_attribute("data-state", "wrapup", timeout=10_000)
        await expect(today).to_have_attribute("data-answered", str(answered + 1), timeout=15_000)

        # The call's appeal on its page: the journal's applicant and address
        # from the identified account, the call's recording; then its life.
        calls = CallService(services.db)
        row = await until(
            lambda: (c := calls.get(second.call_id)) and c.ended_at and c, 15, "the call's row"
        )
        appeal = await services.run_db(appeal_of_call, services, row.id)
        await page.goto(runtime.web_url + f"appeals/{appeal.id}")
        fields = page.locator("table.fields").first
        await expect(fields).to_contain_text(DEMO_CALLER.holder_name)
        await expect(page.locator("audio[title='Запись разговора']")).to_have_count(1)
        await page.fill("#form-pass input[name=to]", "РЭС-1, абонентский отдел")
        await act(page, "form-pass", "in_progress")
        await act(page, "form-answer-received", "in_progress")
        await page.fill("#form-answer textarea[name=text]", "Разъяснён порядок оплаты")
        await act(page, "form-answer", "answered")
        await page.fill("#form-close textarea[name=note]", "Консультация по задолженности")
        await page.select_option("#form-close select[name=decision]", "customer")
        await act(page, "form-close", "closed")
    finally:
        await page.context.close()
        await shift.log_out(operator_id)

    def audited() -> list[tuple[str, str]]:
        with services.db.session() as s:
            return [
                (r.action, r.subject)
                for r in s.execute(
                    select(AuditEvent.action, AuditEvent.subject).where(
                        AuditEvent.login == SUPERVISOR.login
                    )
                )
            ]

    assert ("call.listen", f"operator:{operator_id}") in await services.run_db(audited)
    done = await services.run_db(services.crm.appeals.get, appeal.id)
    assert done.status is AppealStatus.CLOSED and done.passed_to == "РЭС-1, абонентский отдел"
    assert done.applicant_name == DEMO_CALLER.holder_name and done.account_id is not None
