"""The appeal's life in headless Chromium: a supervisor takes an appeal
through pass-to → answer received → answer → close on its page, and extends
another one; the customer's letter with the appeal's number and the new
deadline arrives at the test SMTP server (REQ-A3, A6, A7, A9)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from crm_bridge.models import AppealChannel, AppealStatus, Decision
from tests.autoinformer.smtp_server import SmtpServer
from tests.browser import logged_in_page
from tests.crm_web.conftest import PASSWORD
from tests.crm_web.test_readings_page import _serve, browser  # noqa: F401 - fixture
from tests.supervision.test_appeal_life_web import (  # noqa: F401 - fixtures
    db,
    migrated_template,
    operators,
    services,
    smtp,
)
from tests.webtools import FakeServices, root_app

pytestmark = [pytest.mark.browser]


def _watch(page: Any, problems: list[str]) -> None:
    """Script errors and CSP violations show as console errors."""
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))


async def _act(page: Any, form: str, status: str) -> None:
    """Submit an action form and wait for the page read again with ``status``
    (CSS waits: the page's CSP forbids the evaluated predicates of wait_for_function)."""
    await page.click(f"#{form} button[type=submit]")  # the script marks the message busy
    await page.locator("#appeal-msg:not([data-state])").wait_for(state="attached", timeout=10_000)
    await page.locator(f"#appeal[data-status={status}]").wait_for(timeout=10_000)


async def test_supervisor_takes_an_appeal_through_its_life_and_extends_another(
    browser: Any,  # noqa: F811
    services: FakeServices,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
    smtp: SmtpServer,  # noqa: F811
) -> None:
    appeals = services.crm.appeals
    first = appeals.register(
        channel=AppealChannel.PHONE,
        content="Перебои с электроснабжением",
        reply_contact="+79001234567",
    )
    second = appeals.register(
        channel=AppealChannel.EMAIL,
        content="Вопрос о перерасчёте",
        reply_contact="client@example.ru",
    )
    runner, base = await _serve(root_app(services))
    try:
        page = await logged_in_page(browser, f"{base}/appeals/", "boss", PASSWORD)
        problems: list[str] = []
        _watch(page, problems)
        await page.click(f"#found a:text('{first.number}')")
        await page.wait_for_url(f"{base}/appeals/{first.id}")

        await page.fill("#form-pass input[name=to]", "РЭС-2, мастер участка")
        await _act(page, "form-pass", "in_progress")
        await _act(page, "form-answer-received", "in_progress")
        assert "получен ответ исполнителя" in await page.inner_text("#history")
        await page.fill("#form-answer textarea[name=text]", "Заменён ввод, напряжение в норме")
        await _act(page, "form-answer", "answered")
        # not in the customer's favour without a refusal: the page says why
        await page.fill("#form-close textarea[name=note]", "Заменён ввод в дом")
        await page.select_option("#form-close select[name=decision]", "partly")
        await page.click("#form-close button[type=submit]")
        await page.locator("#appeal-msg[data-state=error]").wait_for(timeout=10_000)
        assert "обоснованный отказ" in await page.inner_text("#appeal-msg")
        await page.fill(
            "#form-close textarea[name=refusal]", "Компенсация не положена: перерыв < 24 ч"
        )
        await _act(page, "form-close", "closed")
        history = await page.inner_text("#history")
        for step in (
            "передано на исполнение",
            "получен ответ исполнителя",
            "дан ответ клиенту",
            "закрыто",
        ):
            assert step in history
        done = appeals.get(first.id)
        assert done.status is AppealStatus.CLOSED and done.decision is Decision.PARTLY
        assert done.passed_to == "РЭС-2, мастер участка" and done.answer_received_at is not None

        await page.goto(f"{base}/appeals/{second.id}")
        await page.fill("#form-extend input[name=days]", "5")
        await page.fill("#form-extend input[name=reason]", "запрос в сетевую компанию")
        await page.click("#form-extend button[type=submit]")
        await page.locator("#notices tr[data-kind=extended][data-status=sent]").wait_for(
            timeout=15_000
        )
        extended = appeals.get(second.id)
        assert extended.extended_days == 5 and extended.extended_due_at is not None
        due_text = await page.inner_text("#due")
        assert "продлён на 5 дн." in due_text
        new_day = re.search(r"\d\d\.\d\d\.\d{4}", due_text)
        assert new_day is not None
        letters = [r for r in smtp.received if "продлён" in str(r.message["Subject"])]
        assert len(letters) == 1 and letters[0].recipients == ["client@example.ru"]
        body = letters[0].message.get_content()
        assert second.number in body and f"не позднее {new_day.group(0)}" in body
        # only the refused close (400) is in the console: no script error, no CSP violation
        assert problems == [
            "Failed to load resource: the server responded with a status of 400 (Bad Request)"
        ]
    finally:
        await runner.cleanup()
