"""The dispatcher console over HTTP (REQ-O1–O3, O10), without Asterisk, behind
the one web edge: roles, CSRF on every POST, XLSX import with its
rejected-rows report, approval by four eyes, the life-cycle buttons, the
monitor WebSocket, the reports (audited). (The browser test with real calls
is tests/e2e/test_autoinformer_console.py.)"""

from __future__ import annotations

import io
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from autoinformer.campaigns import CampaignService, NotAllowed
from autoinformer.contacts import ContactListService
from autoinformer.store import AttemptStore
from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.models import Operator, OperatorRole
from crm_bridge.passwords import hash_password
from tests.autoinformer.helpers import make_accounts
from tests.webtools import FakeServices, log_in, root_app
from webedge.edge import PUBLIC, declared_roles
from webedge.models import AuditEvent

MONDAY_NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
"""Inside every call window (the claim checks the call policy)."""
PASSWORD = "pass-word"
USERS = {
    "boss": OperatorRole.SUPERVISOR,
    "chief": OperatorRole.SUPERVISOR,
    "third": OperatorRole.SUPERVISOR,
    "disp": OperatorRole.DISPATCHER,
    "ivanov": OperatorRole.OPERATOR,
}


def _operators(db: Database) -> None:
    with db.session(write=True) as s:
        for login, role in USERS.items():
            s.add(
                Operator(login=login, name=login, role=role, password_hash=hash_password(PASSWORD))
            )


@pytest.fixture
async def client(
    db: Database, tmp_path: Path
) -> AsyncIterator[tuple[TestClient[Any, Any], FakeServices]]:
    _operators(db)
    settings = Settings(asterisk_root=tmp_path, data_dir=tmp_path / "data").resolve()
    services = FakeServices.create(settings, db)
    c: TestClient[Any, Any] = TestClient(TestServer(root_app(services, "/dispatcher/")))
    await c.start_server()
    yield c, services
    await c.close()


async def _as(c: TestClient[Any, Any], login: str) -> str:
    """Log in as ``login`` (instead of whoever was); the session's CSRF token."""
    c.session.cookie_jar.clear()
    return await log_in(c, login, PASSWORD)


async def _create(c: TestClient[Any, Any], csrf: str, name: str = "Долги, веб") -> str:
    r = await c.post(
        "/dispatcher/campaigns",
        data={"name": name, "kind": "debt", "max_attempts": "1", "csrf": csrf},
        allow_redirects=False,
    )
    assert r.status == 302, await r.text()
    return str(r.headers["Location"])


def _xlsx(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Телефон", "Задолженность"])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def _upload(
    c: TestClient[Any, Any], url: str, csrf: str | None, data: bytes, name: str = "list.xlsx"
) -> Any:
    form = FormData()
    form.add_field("file", data, filename=name)
    query = f"?csrf={csrf}" if csrf is not None else ""
    return await c.post(f"{url}/import{query}", data=form, allow_redirects=False)


async def test_only_dispatchers_and_supervisors(client: Any) -> None:
    c, _ = client
    r = await c.get("/dispatcher/", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/login?next=/dispatcher/"
    r = await c.post("/dispatcher/campaigns", data={"name": "x"})
    assert r.status == 401
    await _as(c, "ivanov")  # an operator
    r = await c.get("/dispatcher/", allow_redirects=False)
    assert r.status == 403 and "Недостаточно прав" in await r.text()
    for login in ("disp", "boss"):
        await _as(c, login)
        r = await c.get("/dispatcher/")
        page = await r.text()
        assert r.status == 200 and "Новая кампания" in page
        # the one shell: its stylesheet, the CSRF meta tag, the log-out button
        assert "/static/hotline.css" in page and 'name="csrf-token"' in page
        assert 'action="/logout"' in page
        assert r.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    # The old log-in page of the console is gone: the one at /login serves all.
    r = await c.get("/dispatcher/login", allow_redirects=False)
    assert r.status == 404


async def test_every_route_declared_and_the_roles_kept(client: Any) -> None:
    """Each of the console's routes × each role: a dispatcher and a supervisor
    get in, an operator gets 403 (static files are public)."""
    c, _ = client
    app: web.Application = c.server.app
    (mounted,) = [r for r in app.router.resources() if isinstance(r, web.PrefixedSubAppResource)]
    routes = [
        (route.method, resource.canonical, route)
        for resource in mounted._app.router.resources()
        for route in resource
        if route.method not in ("HEAD", "*")
    ]
    assert len(routes) >= 12 and all(p.startswith("/dispatcher/") for _, p, _ in routes)
    for method, path, route in routes:
        roles = declared_roles(route)
        assert roles is not None, f"{method} {path} declares no roles"
        if path.startswith("/dispatcher/static"):
            assert roles == PUBLIC
        else:
            assert roles == {OperatorRole.DISPATCHER, OperatorRole.SUPERVISOR}, path
    for login in ("ivanov", "disp", "boss"):
        csrf = await _as(c, login)
        for method, path, _route in routes:
            if path.startswith("/dispatcher/static"):
                continue
            concrete = re.sub(r"\{action(:[^}]*)?\}", "stop", path.replace("{id}", "999"))
            concrete = re.sub(r"\{n(:[^}]*)?\}", "0", concrete)
            concrete = re.sub(r"\{op(:[^}]*)?\}", "remove", concrete)
            concrete = concrete.replace("{contact}", "1")
            r = await c.request(
                method,
                concrete,
                headers={"X-CSRF-Token": csrf, "Accept": "text/html"},
                allow_redirects=False,
            )
            where = f"{method} {concrete} as {login}: {r.status}"
            if USERS[login] is OperatorRole.OPERATOR:
                assert r.status == 403, where
            elif path.endswith("/refuse") and USERS[login] is OperatorRole.DISPATCHER:
                # the route is the console's; returning a submission is a
                # supervisor's (the service refuses a dispatcher, REQ-O10)
                assert r.status == 403 and "руководитель" in await r.text(), where
            else:
                assert r.status in (200, 302, 400, 404), where
    r = await c.get("/dispatcher/static/monitor.js")
    assert r.status == 200 and "WebSocket" in await r.text()


async def test_every_post_needs_the_csrf_token(client: Any, db: Database) -> None:
    c, _ = client
    csrf = await _as(c, "boss")
    url = await _create(c, csrf)
    cid = int(url.rsplit("/", 1)[1])
    make_accounts(db, ["+79005550101"], prefix="82")
    posts: list[tuple[str, Any]] = [
        ("/dispatcher/campaigns", {"name": "Без токена", "kind": "debt"}),
        (f"{url}/from-debtors", {"min_debt": "0"}),
        (f"{url}/from-addresses", {"addresses": "ул. Ленина, д. 1"}),
        (f"{url}/refuse", {"reason": "нет"}),
        *((f"{url}/{a}", {}) for a in ("submit", "approve", "launch", "pause", "resume", "stop")),
    ]
    for path, data in posts:
        for bad in ({}, {"csrf": "not-the-token"}):
            r = await c.post(path, data={**data, **bad}, allow_redirects=False)
            assert r.status == 403, (path, bad, r.status)
            assert "CSRF" in await r.text()
        r = await c.post(path, data=data, headers={"X-CSRF-Token": "x"}, allow_redirects=False)
        assert r.status == 403, path
    # The multipart upload: the token in the query, or refused.
    listing = _xlsx([["+79005550101", 10]])
    assert (await _upload(c, url, None, listing)).status == 403
    assert (await _upload(c, url, "wrong", listing)).status == 403
    # Nothing of the above happened.
    service = CampaignService(db)
    assert [x.id for x in service.all()] == [cid]
    assert service.get(cid).status == "draft" and service.stats(cid).total == 0
    # A request from another site is refused even with the token.
    r = await c.post(
        f"{url}/stop",
        data={"csrf": csrf},
        headers={"Origin": "http://evil.example"},
        allow_redirects=False,
    )
    assert r.status == 403 and service.get(cid).status == "draft"
    # The same requests with the token do their work.
    r = await _upload(c, url, csrf, listing)
    assert r.status == 302 and service.stats(cid).total == 1
    r = await c.post(f"{url}/submit", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 302 and service.get(cid).status == "submitted"


async def test_four_eyes(client: Any, db: Database) -> None:
    """REQ-O10: who created the campaign or changed its list cannot approve
    it; another supervisor can; a dispatcher never can."""
    c, _ = client
    make_accounts(db, ["+79005550201", "+79005550202"], prefix="83")
    boss = await _as(c, "boss")
    url = await _create(c, boss, "Четыре глаза")
    cid = int(url.rsplit("/", 1)[1])
    chief = await _as(c, "chief")
    r = await _upload(c, url, chief, _xlsx([["+79005550201", 10]]))
    assert r.status == 302
    disp = await _as(c, "disp")
    r = await c.post(
        f"{url}/from-addresses",
        data={"addresses": "нет такого", "csrf": disp},
        allow_redirects=False,
    )
    assert r.status == 302
    assert CampaignService(db).editors(cid) == ["boss", "chief", "disp"]
    r = await c.post(f"{url}/submit", data={"csrf": disp}, allow_redirects=False)
    assert r.status == 302
    page = await (await c.get(url)).text()
    assert 'id="approve"' not in page and "утверждает руководитель" in page
    assert "boss, chief, disp" in page
    r = await c.post(f"{url}/approve", data={"csrf": disp}, allow_redirects=False)
    assert r.status == 403 and "руководитель" in await r.text()

    for login in ("boss", "chief"):  # the creator, the one who imported
        token = await _as(c, login)
        page = await (await c.get(url)).text()
        assert 'id="approve"' not in page and "четырёх глаз" in page, login
        r = await c.post(f"{url}/approve", data={"csrf": token}, allow_redirects=False)
        text = await r.text()
        assert r.status == 403 and "четырёх глаз" in text and "другой руководитель" in text
        assert CampaignService(db).get(cid).status == "submitted"

    third = await _as(c, "third")
    page = await (await c.get(url)).text()
    assert 'id="approve"' in page
    r = await c.post(f"{url}/approve", data={"csrf": third}, allow_redirects=False)
    assert r.status == 302
    campaign = CampaignService(db).get(cid)
    assert campaign.status == "approved" and campaign.approved_by == "third"
    page = await (await c.get(url)).text()
    assert re.search(r"Утвердил: third \d\d\.\d\d\.\d{4} \d\d:\d\d", page), page

    # Changing the list of an approved campaign: back to draft, and the one
    # who changed it is an editor now — someone else approves again.
    r = await c.post(
        f"{url}/from-debtors", data={"min_debt": "0", "csrf": third}, allow_redirects=False
    )
    assert r.status == 302
    assert CampaignService(db).get(cid).status == "draft"
    r = await c.post(f"{url}/submit", data={"csrf": third}, allow_redirects=False)
    assert r.status == 302
    r = await c.post(f"{url}/approve", data={"csrf": third}, allow_redirects=False)
    assert r.status == 403


def test_four_eyes_in_the_service(db: Database) -> None:
    """Every way of changing a campaign makes an editor (the settings, each
    list source); a campaign from before the editors table counts its creator."""
    make_accounts(db, ["+79005550301"], prefix="84")
    service = CampaignService(db)
    lists = ContactListService(db)
    cid = service.create("Сервис", "debt", created_by="boss")
    service.update_scenario(cid, [{"prompt": "outbound/greeting"}], by="petrova")
    lists.import_rows(cid, [{"phone": "+79005550301"}], by="sidorov")
    lists.from_debtors(cid, 1e9, by="kuznetsova")
    lists.from_addresses(cid, ["ул. Мира, д. 1"], by="orlov")
    assert service.editors(cid) == ["boss", "petrova", "sidorov", "kuznetsova", "orlov"]
    service.submit(cid, "orlov")
    for login in service.editors(cid):
        with pytest.raises(NotAllowed, match="четырёх глаз"):
            service.approve(cid, login, "supervisor")
    with pytest.raises(NotAllowed, match="руководитель"):
        service.approve(cid, "smirnov", "dispatcher")
    with pytest.raises(NotAllowed):
        service.approve(cid, "  ", "supervisor")
    # created before the table (no editor rows): the creator still cannot.
    from autoinformer.models import CampaignEditor

    with db.session(write=True) as s:
        for row in s.scalars(select(CampaignEditor).where(CampaignEditor.campaign_id == cid)):
            s.delete(row)
    with pytest.raises(NotAllowed):
        service.approve(cid, "boss", "supervisor")
    service.approve(cid, "smirnov", "supervisor")
    assert service.get(cid).approved_by == "smirnov"


async def test_pages_escape_what_users_typed(client: Any) -> None:
    c, _ = client
    csrf = await _as(c, "disp")
    url = await _create(c, csrf, '<script>alert("x")</script>')
    for page in (await (await c.get(url)).text(), await (await c.get("/dispatcher/")).text()):
        assert '<script>alert("x")' not in page
        assert "&lt;script&gt;alert(" in page
    page = await (await c.get(url)).text()
    # every script carries the request's nonce (CSP)
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all('nonce="' in s for s in scripts), scripts
    assert "<script>" not in page


async def test_import_approve_launch_watch_report(client: Any, db: Database) -> None:
    c, services = client
    phones = ["+79005550001", "+79005550002"]
    make_accounts(db, phones, prefix="81")
    csrf = await _as(c, "boss")
    url = await _create(c, csrf)
    cid = int(url.rsplit("/", 1)[1])
    listing = _xlsx(
        [
            [phones[0], 100.5],
            [phones[1], "200"],
            [phones[0], 1],  # duplicate
            ["+79990000000", 5],  # not on any contract (REQ-O7)
        ]
    )
    r = await _upload(c, url, csrf, listing)
    assert r.status == 302 and r.headers["Location"] == url
    page = await (await c.get(url)).text()
    assert "принято 2, отклонено 2" in page
    assert "дубликат" in page and "REQ-O7" in page
    assert "сто рублей пятьдесят копеек" in page
    # Bad input: a clear message, nothing lost.
    r = await _upload(c, url, csrf, b"\x00\x01", name="list.pdf")
    assert r.status == 400 and "CSV и XLSX" in await r.text()
    r = await c.post(f"{url}/launch", data={"csrf": csrf})
    assert r.status == 400 and "утверждённую" in await r.text()
    # The creator sends it for approval; another supervisor approves (four
    # eyes); the creator launches.
    r = await c.post(f"{url}/submit", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 302
    chief = await _as(c, "chief")
    r = await c.post(f"{url}/approve", data={"csrf": chief}, allow_redirects=False)
    assert r.status == 302, await r.text()
    csrf = await _as(c, "boss")
    for action in ("launch", "pause", "resume"):
        r = await c.post(f"{url}/{action}", data={"csrf": csrf}, allow_redirects=False)
        assert r.status == 302, (action, await r.text())
    stats = await (await c.get(f"{url}/stats")).json()
    assert stats["stats"]["status"] == "running" and stats["stats"]["total"] == 2

    # The monitor: a snapshot at once, then one after each event of the campaign.
    async with c.ws_connect(f"/dispatcher/ws?campaign={cid}") as sock:
        first = await sock.receive_json(timeout=5)
        assert first["stats"]["finished"] == 0 and first["event_ts"] is None
        store = AttemptStore(db, "n1")
        (cl,) = await services.run_db(lambda: store.claim(1, now=MONDAY_NOON))
        await services.run_db(
            lambda: store.finalise(cl.channel_id, originate_reason=5, hangup_cause=17)
        )
        ts = time.time()
        services.campaign_monitor.publish({"type": "call", "campaign_id": cid, "ts": ts})
        services.campaign_monitor.publish({"type": "call", "campaign_id": cid + 1, "ts": ts})
        upd = await sock.receive_json(timeout=5)
        assert upd["event_ts"] == ts and upd["stats"]["finished"] == 1
        assert upd["stats"]["results"] == {"busy": 1}
        # ... with the live chart's legend and who is held back (REQ-O3).
        assert [x["title"] for x in upd["chart"]["legend"]] == ["Занято"]
        # (one attempt allowed: the busy one is final; the other waits for
        # the dialer, now or when Moscow's window opens)
        ahead = upd["outlook"]
        assert ahead["dialable"] + sum(ahead["held"].values()) == 1, ahead
    # ... only for this site (Origin), only for the console's roles.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await c.ws_connect(f"/dispatcher/ws?campaign={cid}", origin="http://evil.example")
    assert refused.value.status == 403
    await _as(c, "ivanov")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await c.ws_connect(f"/dispatcher/ws?campaign={cid}")
    assert refused.value.status == 403
    csrf = await _as(c, "boss")

    # Stopping asks first: the button leads to a confirmation page.
    r = await c.post(f"{url}/stop", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == f"{url}/stop"
    assert CampaignService(db).get(cid).status == "running"
    page = await (await c.get(f"{url}/stop")).text()
    assert "Да, остановить" in page and "1 контакт" in page
    r = await c.post(f"{url}/stop", data={"csrf": csrf, "confirm": "yes"}, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == url
    csv_text = (await (await c.get(f"{url}/report.csv")).read()).decode("utf-8-sig")
    assert "Занято" in csv_text
    xlsx = await (await c.get(f"{url}/report.xlsx")).read()
    book = load_workbook(io.BytesIO(xlsx))
    assert book["Итоги"]._charts and book["По часам"]._charts
    page = await (await c.get(url)).text()
    assert "Остановлена" in page and "<svg" in page and "<rect" in page

    # The exports carry phone numbers: each one is in the audit log.
    with db.session() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.report")))
    assert [(a.login, a.subject) for a in rows] == [("boss", f"campaign:{cid}")] * 2
    assert all(a.operator_id is not None for a in rows)


class _OneWav:
    """A prompt resolver of one short WAV for every phrase (the spoken preview)."""

    def __init__(self, path: Path) -> None:
        import wave

        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\x00\x00" * 80)
        self.path = path

    def prompt(self, prompt_id: str) -> str:
        return prompt_id

    def tokens(self, tokens: list[str]) -> list[str]:
        return list(tokens)

    def host_file(self, name: str) -> Path:
        return self.path


async def test_what_shows_a_contacts_data_is_audited(
    client: Any, db: Database, tmp_path: Path
) -> None:
    """The campaign page (the preview: an account and a debt; the rejected
    rows: phone numbers) and the spoken preview are in the audit log, as the
    user who saw them (152-FZ); a page that was not shown is not."""
    c, services = client
    services.resolver = _OneWav(tmp_path / "beep.wav")
    make_accounts(db, ["+79005550501"], prefix="85")
    csrf = await _as(c, "disp")
    url = await _create(c, csrf, "Кто смотрел")
    cid = int(url.rsplit("/", 1)[1])
    r = await _upload(c, url, csrf, _xlsx([["+79005550501", 10], ["+79990000001", 5]]))
    assert r.status == 302
    page = await (await c.get(url)).text()
    assert "+79990000001" in page  # a rejected row: a phone number
    await _as(c, "boss")
    r = await c.get(f"{url}/preview.wav")
    assert r.status == 200 and r.content_type == "audio/wav"
    assert (await r.read())[:4] == b"RIFF"
    r = await c.get(f"/dispatcher/campaigns/{cid + 100}")
    assert r.status == 400  # no such campaign: nothing shown, nothing audited
    r = await c.get(f"/dispatcher/campaigns/{cid + 100}/preview.wav")
    assert r.status == 400

    with db.session() as s:
        rows = list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(["campaign.view", "campaign.preview"]))
                .order_by(AuditEvent.id)
            )
        )
    subject = f"campaign:{cid}"
    assert [(a.action, a.login, a.subject) for a in rows] == [
        ("campaign.view", "disp", subject),
        ("campaign.preview", "boss", subject),
    ]
    assert all(a.operator_id is not None for a in rows)
