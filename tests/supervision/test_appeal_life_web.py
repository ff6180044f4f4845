"""The appeal's pages (``/appeals/``) through the whole web application (the
edge, the shell, every slice): roles (a supervisor every appeal, an
operator only his own), CSRF, Russian errors (409 invalid transition, 400
bad input, 404), the audit of every read (152-FZ), the journal exports as
the form, and the extension that waits for the customer's letter (REQ-A9)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.models import AppealChannel, AppealStatus
from supervision.models import AppealEvent, AppealNotice
from tests.autoinformer.smtp_server import SmtpServer
from tests.crm_web.conftest import (  # noqa: F401 - the fixtures, shared
    db,
    log_in,
    migrated_template,
    operators,
)
from tests.webtools import FakeServices, root_app


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def services(db: Database, tmp_path: Path, smtp: SmtpServer) -> FakeServices:  # noqa: F811
    settings = Settings(
        asterisk_root=tmp_path,
        data_dir=tmp_path / "data",
        smtp_port=smtp.port,
        smtp_from="hotline@energo.example",
    ).resolve()
    return FakeServices.create(settings, db)


@pytest_asyncio.fixture
async def client(services: FakeServices) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(root_app(services))) as c:
        yield c


def _register(services: FakeServices, **kw: Any) -> int:
    kw.setdefault("channel", AppealChannel.PHONE)
    kw.setdefault("content", "Скачки напряжения")
    return services.crm.appeals.register(**kw).id


async def _post(
    client: TestClient[Any, Any], csrf: str, path: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    return resp.status, await resp.json()


def _audited(db: Database) -> list[tuple[str, str, str]]:  # noqa: F811
    from webedge.models import AuditEvent

    with db.session() as s:
        rows = s.execute(select(AuditEvent.login, AuditEvent.action, AuditEvent.subject))
        return [(login, action, subject) for login, action, subject in rows]


async def test_supervisor_sees_every_appeal_operator_only_his_own(
    client: TestClient[Any, Any],
    services: FakeServices,
    operators: dict[str, int],  # noqa: F811
    db: Database,  # noqa: F811
) -> None:
    mine = _register(services, content="Моё обращение")
    other = _register(services, content="Чужое обращение")
    services.crm.appeals.classify(mine, "КЭ", by_operator=operators["ivanova"])
    await log_in(client, "ivanova")
    page = await client.get(f"/appeals/{mine}")
    assert page.status == 200
    text = await page.text()
    assert "Моё обращение" in text and "Входящий регистрационный номер" in text
    assert (await client.get(f"/appeals/{other}")).status == 403
    listing = await (await client.get("/appeals/")).text()
    assert "Моё обращение" in listing and "Чужое обращение" not in listing
    assert (await client.get("/appeals/journal.csv")).status == 403  # supervisors only
    client.session.cookie_jar.clear()  # a new session
    await log_in(client, "boss")
    assert (await client.get(f"/appeals/{other}")).status == 200
    assert (await client.get("/appeals/999999")).status == 404
    assert (await client.get("/appeals/?status=lost")).status == 400
    assert (await client.get("/appeals/?from=вчера")).status == 400
    audited = _audited(db)
    assert ("ivanova", "appeal.view", f"appeal:{mine}") in audited
    assert ("boss", "appeal.view", f"appeal:{other}") in audited
    assert not any(a == ("ivanova", "appeal.view", f"appeal:{other}") for a in audited)


async def test_a_dispatcher_has_no_appeals(
    client: TestClient[Any, Any],
    services: FakeServices,
    operators: dict[str, int],  # noqa: F811
) -> None:
    aid = _register(services)
    await log_in(client, "sidorova")
    assert (await client.get("/appeals/")).status == 403
    assert (await client.get(f"/appeals/{aid}")).status == 403


async def test_actions_need_the_csrf_token_and_say_errors_in_russian(
    client: TestClient[Any, Any],
    services: FakeServices,
    operators: dict[str, int],  # noqa: F811
    db: Database,  # noqa: F811
) -> None:
    aid = _register(services)
    csrf = await log_in(client, "boss")
    resp = await client.post(f"/appeals/{aid}/pass", json={"to": "РЭС-1"})
    assert resp.status == 403  # no CSRF token
    status, body = await _post(
        client, csrf, f"/appeals/{aid}/close", {"note": "x", "decision": "customer"}
    )
    assert status == 409 and "недоступно" in body["error"]
    status, body = await _post(client, csrf, f"/appeals/{aid}/pass", {"to": ""})
    assert status == 400 and body["error"] == "укажите, кому (куда) передано на исполнение"
    status, body = await _post(client, csrf, f"/appeals/{aid}/not-considered", {"reason": "лень"})
    assert status == 400 and "причину" in body["error"]
    status, body = await _post(client, csrf, f"/appeals/{aid}/pass", {"to": "РЭС-1", "at": "вчера"})
    assert status == 400 and "ГГГГ-ММ-ДД" in body["error"]
    status, body = await _post(client, csrf, f"/appeals/{aid}/answer", {"text": "Отказано"})
    assert status == 200 and body["status"] == "answered"
    status, body = await _post(
        client, csrf, f"/appeals/{aid}/close", {"note": "Проверено", "decision": "company"}
    )
    assert status == 400 and "обоснованный отказ" in body["error"]
    status, body = await _post(
        client,
        csrf,
        f"/appeals/{aid}/close",
        {"note": "Проверено", "decision": "company", "refusal": "Нарушений не выявлено"},
    )
    assert status == 200 and body["status"] == "closed"
    audited = _audited(db)
    assert ("boss", "appeal.answer", f"appeal:{aid}") in audited
    assert ("boss", "appeal.close", f"appeal:{aid}") in audited
    with db.session() as s:
        actions = list(s.scalars(select(AppealEvent.action).where(AppealEvent.appeal_id == aid)))
    assert actions == ["answer", "close"]


async def test_journal_exports_as_the_form_and_extended(
    client: TestClient[Any, Any],
    services: FakeServices,
    operators: dict[str, int],  # noqa: F811
    db: Database,  # noqa: F811
) -> None:
    _register(services, applicant_name="Тестов Т. Т.", address_text="ул. Ленина, 5")
    await log_in(client, "boss")
    resp = await client.get("/appeals/journal.csv")
    assert resp.status == 200
    rows = list(csv.reader(io.StringIO((await resp.text()).lstrip("\ufeff")), delimiter=";"))
    assert len(rows[0]) == 11 and rows[0][0] == "Входящий регистрационный номер"
    assert rows[0][10] == "Примечание" and rows[1][2] == "Тестов Т. Т."
    other = _register(services, applicant_name="Другой Д. Д.")
    services.crm.appeals.classify(other, "Т")
    resp = await client.get("/appeals/journal.csv?code=Т")  # the list's filters apply
    rows = list(csv.reader(io.StringIO((await resp.text()).lstrip("\ufeff")), delimiter=";"))
    assert [r[2] for r in rows[1:]] == ["Другой Д. Д."]
    resp = await client.get("/appeals/journal.csv?variant=extended")
    rows = list(csv.reader(io.StringIO((await resp.text()).lstrip("\ufeff")), delimiter=";"))
    assert len(rows[0]) == 17
    resp = await client.get("/appeals/journal.xlsx")
    assert resp.status == 200 and (await resp.read())[:2] == b"PK"
    assert {a[1] for a in _audited(db)} >= {"journal.export"}


async def test_extension_by_email_waits_for_the_letter(
    client: TestClient[Any, Any],
    services: FakeServices,
    operators: dict[str, int],  # noqa: F811
    db: Database,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    aid = _register(
        services, channel=AppealChannel.EMAIL, reply_contact="client@example.ru", content="Тариф"
    )
    number = services.crm.appeals.get(aid).number
    csrf = await log_in(client, "boss")
    status, body = await _post(
        client, csrf, f"/appeals/{aid}/extend", {"days": 5, "reason": "запрос в сетевую компанию"}
    )
    assert status == 200, body
    assert body["informed"] == "email" and body["extended_days"] == 5
    [letter] = [r for r in smtp.received if "продлён" in str(r.message["Subject"])]
    assert letter.recipients == ["client@example.ru"]
    content = letter.message.get_content()
    assert number in content and f"не позднее {body['due_day']}" in content
    assert "Причина: запрос в сетевую компанию" in content


async def test_extension_refused_when_the_customer_cannot_be_told(
    client: TestClient[Any, Any],
    services: FakeServices,
    operators: dict[str, int],  # noqa: F811
    db: Database,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    no_address = _register(services, channel=AppealChannel.EMAIL, content="Без адреса")
    csrf = await log_in(client, "boss")
    status, body = await _post(
        client, csrf, f"/appeals/{no_address}/extend", {"days": 3, "reason": "проверка"}
    )
    assert status == 409 and "нет адреса электронной почты" in body["error"]
    # the mail server refuses the address: the term does not move
    refused = _register(
        services,
        channel=AppealChannel.EMAIL,
        content="Адрес отклонён",
        reply_contact="reject@example.ru",
    )
    status, body = await _post(
        client, csrf, f"/appeals/{refused}/extend", {"days": 3, "reason": "проверка"}
    )
    assert status == 502 and "срок не продлён" in body["error"]
    assert services.crm.appeals.get(refused).extended_days == 0
    with db.session() as s:
        notice = s.scalars(select(AppealNotice).where(AppealNotice.appeal_id == refused)).one()
        actions = list(
            s.scalars(select(AppealEvent.action).where(AppealEvent.appeal_id == refused))
        )
    assert notice.status == "failed" and actions == ["extend.refused"]
    # the phone customer: told by a named person at a time
    phone = _register(services, reply_contact="+79001234567")
    status, body = await _post(
        client, csrf, f"/appeals/{phone}/extend", {"days": 2, "reason": "проверка"}
    )
    assert status == 409  # neither a letter nor a person
    status, body = await _post(
        client,
        csrf,
        f"/appeals/{phone}/extend",
        {"days": 2, "reason": "проверка", "told_by": "Иванова А.", "told_at": "2026-12-01T10:00"},
    )
    assert status == 200 and body["informed"] == "phone" and body["extended_days"] == 2
    page = await (await client.get(f"/appeals/{phone}")).text()
    assert "Иванова А." in page and "срок продлён" in page
    assert services.crm.appeals.get(phone).status is AppealStatus.REGISTERED


async def test_the_list_shows_overdue_and_due_within_a_day(
    client: TestClient[Any, Any],
    services: FakeServices,
    operators: dict[str, int],  # noqa: F811
) -> None:
    from datetime import timedelta

    from crm_bridge.db import utcnow

    late = services.crm.appeals.register(
        channel=AppealChannel.PHONE, content="Давнее", received_at=utcnow() - timedelta(days=30)
    )
    fresh = services.crm.appeals.register(channel=AppealChannel.PHONE, content="Свежее")
    await log_in(client, "boss")
    resp = await client.get("/appeals/")
    assert resp.status == 200
    text = await resp.text()
    overdue = text.split('id="overdue"', 1)[1].split("</table>", 1)[0]
    assert late.number in overdue and fresh.number not in overdue
    assert "Меры по обратной связи — 14 дней" in text
    measures = text.split('id="measures"', 1)[1].split("</table>", 1)[0]
    assert late.number in measures  # REQ-A12: 14 days passed long ago
