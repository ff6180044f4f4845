"""The survey after an operator's call (REQ-A13), against the real Asterisk
22: the caller comes over the PJSIP trunk (RFC 4733 keys, sent once the
prompt they answer has started), the operator's phone is baresip, the
operator works in the workplace page and the supervisor reads the report in
headless Chromium.

Proven: when the operator hangs up, the caller still on the line is asked
the CSI mark and the NPS score (ten keyed as 1 then 0) and thanked; the
operator can also send the caller to the survey from the page; the answers
are stored with the call, its operator and its topic; the report shows them
per month and per operator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect
from sqlalchemy import select

from crm_bridge.calls import CallService
from crm_bridge.demo_data import DEMO_OPERATORS
from crm_bridge.models import OperatorRole
from hotline.softphone import Softphone
from surveys.models import SurveyResponse
from tests.browser import chromium, logged_in_page
from tests.e2e.test_shift_phones import (
    IDENTIFIED_WALK,
    caller_reaches,
    end_shift,
    log_in_to_queue,
    operator_of,
    registered_phone,
    workplace,
)
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]

OPERATOR = DEMO_OPERATORS[0]
SUPERVISOR = next(op for op in DEMO_OPERATORS if op.role is OperatorRole.SUPERVISOR)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def phone(
    settings: Any, asterisk: Any, runtime: Any, sip: Any, tmp_path_factory: Any
) -> AsyncIterator[Softphone]:
    phone = await registered_phone(
        settings, asterisk, runtime.services, OPERATOR.login, tmp_path_factory.mktemp("phone")
    )
    yield phone
    await phone.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


def _survey_of(services: Any, uniqueid: str) -> SurveyResponse | None:
    with services.db.session() as s:
        return s.scalars(
            select(SurveyResponse).where(SurveyResponse.call_uniqueid == uniqueid)
        ).first()


async def _answered(services: Any, uniqueid: str, *, nps: bool) -> SurveyResponse:
    def done() -> SurveyResponse | None:
        row = _survey_of(services, uniqueid)
        if row is None or row.csi is None or (nps and row.nps is None):
            return None
        return row

    return await until(lambda: done(), 20, "the survey's answers")


async def test_the_caller_rates_the_operator_after_the_call(
    runtime: Any, sip: Any, phone: Softphone, browser: Any
) -> None:
    services = runtime.services
    operator_id = await services.run_db(operator_of, services, OPERATOR.login)
    page, bar = await workplace(browser, runtime)
    try:
        await log_in_to_queue(page, bar)
        # 1. The operator ends the conversation; the caller stays on the line.
        call, mark = await caller_reaches(sip, phone, page, IDENTIFIED_WALK)
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)
        await phone.hangup()
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await sip.walk(call, [("survey/csi", "4"), ("survey/nps", "10")])
        await sip.heard_start(call, "survey/thanks")
        first = await _answered(services, call.call_id, nps=True)
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        await page.click("#wrapup-end")
        await expect(bar).to_have_attribute("data-state", "ready", timeout=10_000)

        # 2. The operator sends the next caller to the survey from the page.
        second, mark = await caller_reaches(sip, phone, page, IDENTIFIED_WALK)
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)
        await page.select_option("#transfer-to", "survey")
        await page.click("#transfer")
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        # A key off the scale is asked again; one digit is the NPS score.
        await sip.walk(second, [("survey/csi", "9"), ("survey/csi", "2")])
        assert second.prompt_starts("survey/csi_again") == 1
        await sip.walk(second, [("survey/nps", "6#")])
        await sip.heard_start(second, "survey/thanks")
        transferred = await _answered(services, second.call_id, nps=True)
        await end_shift(page, bar)
    finally:
        await page.context.close()

    call_row = await services.run_db(CallService(services.db).get, call.call_id)
    assert (first.csi, first.nps, first.source) == (4, 10, "after_call")
    assert first.operator_id == operator_id and first.call_id == call_row.id
    assert first.topic  # the appeal's code chosen in the menu (debt)
    assert (transferred.csi, transferred.nps, transferred.source) == (2, 6, "transfer")
    assert transferred.operator_id == operator_id
    # The transfer to the survey is not a transfer of the appeal.
    kinds = [e.kind for e in CallService(services.db).events(second.call_id)]
    assert "transferred" not in kinds

    # 3. The supervisor reads the marks per month and per operator.
    report = await logged_in_page(
        browser, runtime.web_url + "surveys/", SUPERVISOR.login, SUPERVISOR.password
    )
    try:
        row = report.locator("#operators tr", has_text=OPERATOR.name)
        await expect(row.locator("td.csi")).to_have_text("3,00")
        await expect(row.locator("td.nps")).to_have_text("0,0")  # one promoter, one detractor
        async with report.expect_download() as info:
            await report.click("#export")
        download = await info.value
        assert (download.suggested_filename or "").endswith(".xlsx")
    finally:
        await report.context.close()
