"""The one web edge (webedge): the route × role matrix, sessions in the
database (revocation, idle and absolute timeouts, a changed role), CSRF and
Origin, log-in throttling with the same work for an unknown login, security
headers, Secure cookies behind a trusted proxy, the audit log."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from crm_bridge.db import utcnow
from crm_bridge.models import Operator, OperatorRole
from tests.crm_web.conftest import PASSWORD, log_in
from tests.webtools import root_app
from webedge.edge import COOKIE, PUBLIC, declared_roles
from webedge.models import AuditEvent, LoginFailure, WebSession
from webedge.sessions import LoginOutcome, SessionStore

USERS = {
    OperatorRole.OPERATOR: "ivanova",
    OperatorRole.SUPERVISOR: "boss",
    OperatorRole.DISPATCHER: "sidorova",
}


def _routes(app: web.Application) -> list[tuple[str, str, web.AbstractRoute]]:
    """(method, path template, route) of the app and every sub-app, recursively
    (a mounted sub-app's resources carry its prefix already)."""
    out: list[tuple[str, str, web.AbstractRoute]] = []
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            out += _routes(resource._app)
            continue
        for route in resource:
            if route.method == "*":
                continue
            out.append((route.method, resource.canonical, route))
    return out


CANDIDATES = ("1", "1.1", "csv", "classify", "approve", "resume", "remove", "x")
"""Values tried for a route's variable parts until the route matches the path."""


def _concrete(template: str, route: web.AbstractRoute) -> str:
    """A request path for a route template that the route itself matches."""
    names = re.findall(r"\{([^}:]*)[^}]*\}", template)
    for values in itertools.product(CANDIDATES, repeat=len(names)):
        path = template
        for name, value in zip(names, values, strict=True):
            path = re.sub(r"\{" + re.escape(name) + r"(:[^}]*)?\}", value, path, count=1)
        if route.resource is not None and route.resource._match(path) is not None:
            return path
    raise AssertionError(f"no candidate path for {template}")


async def test_every_route_declares_its_roles(services: Any) -> None:
    """A new route without ``allow``/``public`` fails here (and is refused at run time)."""
    app = root_app(services)
    undeclared = [
        f"{method} {path}"
        for method, path, route in _routes(app)
        if declared_roles(route) is None and method != "HEAD"
    ]
    assert not undeclared, undeclared


async def test_route_table_times_every_role_and_no_session(services: Any, operators: Any) -> None:
    """Every route × (no session, each role): the edge lets in exactly the
    declared roles; a refused one gets 401/302 (no session) or 403 (role)."""
    app = root_app(services)
    routes = [
        (m, p, r)
        for m, p, r in _routes(app)
        if m != "HEAD" and not isinstance(r.resource, web.StaticResource)
    ]
    assert len(routes) > 20
    async with TestClient(TestServer(app)) as client:
        for role in (None, *USERS):
            client.session.cookie_jar.clear()
            token = await log_in(client, USERS[role], PASSWORD) if role is not None else ""
            for method, template, route in routes:
                if template in ("/logout", "/login"):
                    continue  # the log-in flow itself: tests below
                roles = declared_roles(route)
                path = _concrete(template, route)
                resp = await client.request(
                    method,
                    path,
                    headers={"X-CSRF-Token": token, "Accept": "text/html"},
                    data=b"" if method == "POST" else None,
                    allow_redirects=False,
                )
                status = resp.status
                where = f"{method} {path} as {role}: {status}"
                if roles == PUBLIC:
                    # a public route may check a token of its own (the outage
                    # API's clients): a Bearer challenge, never the edge's 401/403
                    own_token = resp.headers.get("WWW-Authenticate", "").startswith("Bearer ")
                    assert status not in (401, 403) or (status == 401 and own_token), where
                elif role is None:
                    assert status in (401, 302), where
                    if status == 302:
                        assert resp.headers["Location"].startswith("/login?next="), where
                elif role in roles:
                    # the edge let it in (a handler may still refuse by its
                    # own rule, e.g. four eyes; never with the edge's words)
                    body = await resp.text(errors="replace")  # an export is binary
                    assert status != 401, where
                    assert not (status == 403 and "Недостаточно прав" in body), where
                    assert status < 500, where + " " + body[:300]
                else:
                    assert status == 403, where
                    assert "Недостаточно прав" in await resp.text(), where


async def test_logout_revokes_the_session_on_every_node(
    client: TestClient, operators: Any, services: Any
) -> None:
    token = await log_in(client, "ivanova")
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    resp = await client.post("/logout", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/login"
    # the same cookie replayed (another node, a copied cookie) is no session
    client.session.cookie_jar.update_cookies({COOKIE: cookie})
    resp = await client.get("/operator/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")
    with services.db.session() as s:
        (row,) = s.execute(select(WebSession)).scalars()
        assert row.revoked_at is not None
        assert row.id != cookie  # the database keeps a digest, not the cookie


def test_idle_and_absolute_timeouts(services: Any, operators: Any) -> None:
    store = SessionStore(services.db, services.settings)
    t0 = utcnow()
    result = store.log_in("ivanova", PASSWORD, "127.0.0.1", now=t0)
    assert result.outcome is LoginOutcome.OK
    token = result.token
    idle = timedelta(minutes=services.settings.web_session_idle_minutes)
    # used every (idle - 1 min): stays alive until the absolute limit
    t = t0
    while t + idle - timedelta(minutes=1) < t0 + timedelta(
        hours=services.settings.web_session_max_hours
    ):
        t += idle - timedelta(minutes=1)
        assert store.load(token, now=t) is not None, t - t0
    assert store.load(token, now=t0 + timedelta(hours=12, minutes=1)) is None
    # unused longer than the idle limit: gone
    other = store.log_in("ivanova", PASSWORD, "127.0.0.1", now=t0).token
    assert store.load(other, now=t0 + idle + timedelta(seconds=1)) is None


async def test_deactivated_user_loses_the_session_at_once(
    client: TestClient, operators: Any, db: Any
) -> None:
    await log_in(client, "ivanova")
    assert (await client.get("/operator/")).status == 200
    with db.session(write=True) as s:
        s.get(Operator, operators["ivanova"]).active = False
    resp = await client.get("/operator/", allow_redirects=False)
    assert resp.status == 302


async def test_csrf_and_origin_on_every_state_changing_request(
    client: TestClient, operators: Any
) -> None:
    token = await log_in(client, "boss")
    url = "/operator/api/appeals/999/classify"
    body = {"code": "Т"}
    assert (await client.post(url, json=body)).status == 403  # no token
    assert (await client.post(url, json=body, headers={"X-CSRF-Token": "x"})).status == 403
    for origin in ("null", "http://evil.example"):
        resp = await client.post(url, json=body, headers={"X-CSRF-Token": token, "Origin": origin})
        assert resp.status == 403, origin
        assert (await resp.json())["error"].startswith("Запрос с чужого сайта")
    resp = await client.post(
        url, json=body, headers={"X-CSRF-Token": token, "Referer": "http://evil.example/x"}
    )
    assert resp.status == 403
    # the query-string token is for streamed uploads only
    form = aiohttp.FormData()
    form.add_field("file", b"x", filename="list.csv")  # multipart/form-data
    resp = await client.post(f"{url}?csrf={token}", data=form)
    assert resp.status == 403
    assert (await resp.json())["error"].startswith("Неверный токен CSRF")
    # with the token and from this site it reaches the handler (no such appeal)
    resp = await client.post(url, json=body, headers={"X-CSRF-Token": token})
    assert resp.status == 404
    assert set(await resp.json()) == {"error", "status"}  # the one JSON error shape
    # a form post: the token in the form field; the log-in form itself from a foreign site
    assert (await client.post("/logout", data={"csrf": "nope"})).status == 403
    resp = await client.post(
        "/login", data={"login": "boss", "password": PASSWORD}, headers={"Origin": "null"}
    )
    assert resp.status == 403
    # a WebSocket from a foreign page
    resp = await client.get(
        "/operator/ws",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "Origin": "http://evil.example",
        },
    )
    assert resp.status == 403


async def test_login_throttled_per_account_and_per_address(
    client: TestClient, operators: Any, services: Any
) -> None:
    limit = services.settings.web_login_max_failures
    for _ in range(limit):
        resp = await client.post("/login", data={"login": "petrov", "password": "wrong"})
        assert resp.status == 401
        assert "Неверный логин или пароль" in await resp.text()
    # the right password no longer helps for this login, for the window
    resp = await client.post("/login", data={"login": "petrov", "password": PASSWORD})
    assert resp.status == 429 and "Слишком много" in await resp.text()
    # another login from the same address still works (below the address limit)
    await log_in(client, "ivanova")
    # many logins from one address: the address is refused
    client.session.cookie_jar.clear()
    for i in range(limit * 4):
        await client.post("/login", data={"login": f"guess{i}", "password": "x"})
    resp = await client.post("/login", data={"login": "boss", "password": PASSWORD})
    assert resp.status == 429
    with services.db.session() as s:
        assert s.scalar(select(LoginFailure).limit(1)) is not None
        actions = {a for (a,) in s.execute(select(AuditEvent.action))}
    assert {"login", "login.refused", "login.throttled"} <= actions


def test_unknown_login_costs_the_same_work(
    services: Any, operators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown login runs scrypt once, like a known one with a wrong
    password: the answer's timing does not tell which logins exist."""
    import webedge.sessions as sessions

    calls: list[str] = []
    real = sessions.verify_password

    def counting(password: str, stored: str) -> bool:
        calls.append(stored.split("$", 1)[0])
        return real(password, stored)

    monkeypatch.setattr(sessions, "verify_password", counting)
    store = SessionStore(services.db, services.settings)
    assert store.log_in("nobody", "x", "10.0.0.1").outcome is LoginOutcome.REFUSED
    assert store.log_in("ivanova", "x", "10.0.0.1").outcome is LoginOutcome.REFUSED
    assert calls == ["scrypt", "scrypt"]


async def test_security_headers_and_no_store(client: TestClient, operators: Any) -> None:
    await log_in(client, "boss")
    for path in ("/operator/", "/operator/journal", "/login", "/"):
        resp = await client.get(path)
        assert resp.status == 200, path
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self' 'nonce-" in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] == "no-store"
    card = await client.get("/operator/api/calls/1.1/card")
    assert card.headers["Cache-Control"] == "no-store"
    css = await client.get("/static/hotline.css")
    assert css.status == 200 and css.headers.get("Cache-Control") != "no-store"
    # the page's inline script carries this response's nonce
    resp = await client.get("/operator/")
    nonce = resp.headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">' in await resp.text()


@pytest.mark.parametrize("trusted", [True, False])
async def test_secure_cookie_behind_a_trusted_tls_proxy(
    services: Any, operators: Any, trusted: bool
) -> None:
    services.settings = services.settings.replace(
        web_trusted_proxies=["127.0.0.1/32"] if trusted else []
    )
    async with TestClient(TestServer(root_app(services))) as client:
        resp = await client.post(
            "/login",
            data={"login": "boss", "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
            allow_redirects=False,
        )
        assert resp.status == 302
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert ("Secure" in cookie) is trusted
        assert ("Strict-Transport-Security" in resp.headers) is trusted
    with services.db.session() as s:
        (row,) = s.execute(select(WebSession)).scalars()
    assert row.address == ("203.0.113.7" if trusted else "127.0.0.1")


async def test_login_goes_back_to_the_page_asked_for_and_nowhere_else(
    client: TestClient, operators: Any
) -> None:
    from urllib.parse import parse_qs, urlsplit

    resp = await client.get("/operator/journal?text=x", allow_redirects=False)
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/operator/journal?text=x"]
    resp = await client.post(
        "/login",
        data={"login": "boss", "password": PASSWORD, "next": "/operator/journal?text=x"},
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/operator/journal?text=x"
    client.session.cookie_jar.clear()
    for evil in (
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "/\r\n/evil.example",
    ):
        resp = await client.post(
            "/login",
            data={"login": "boss", "password": PASSWORD, "next": evil},
            allow_redirects=False,
        )
        assert resp.headers["Location"] == "/operator/", evil
        client.session.cookie_jar.clear()


async def test_one_shell_navigation_by_role(client: TestClient, operators: Any) -> None:
    await log_in(client, "ivanova")
    text = await (await client.get("/")).text()
    assert 'href="/operator/"' in text and 'href="/dispatcher/"' not in text
    assert 'href="/readings/"' not in text and "(оператор)" in text
    client.session.cookie_jar.clear()
    await log_in(client, "boss")
    text = await (await client.get("/")).text()
    for mount in ("/operator/", "/dispatcher/", "/readings/"):
        assert f'href="{mount}"' in text, mount
    assert '<html lang="ru">' in text and "/static/hotline.css" in text


async def test_audit_log_records_card_views_and_exports(
    client: TestClient, operators: Any, services: Any
) -> None:
    from crm_bridge.calls import CallService

    CallService(services.db).upsert("1700000000.31", operator_id=operators["ivanova"])
    await log_in(client, "ivanova")
    assert (await client.get("/operator/api/calls/1700000000.31/card")).status == 200
    client.session.cookie_jar.clear()
    await log_in(client, "boss")
    assert (await client.get("/operator/journal.csv")).status == 200
    with services.db.session() as s:
        rows = [
            (e.login, e.action, e.subject)
            for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        ]
    assert ("ivanova", "card.view", "call:1700000000.31") in rows
    assert any(login == "boss" and action == "journal.export" for login, action, _ in rows)


def test_edge_tables_match_their_migration(db: Any) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from crm_bridge.db import Base

    tables = {"web_sessions", "login_failures", "audit_events"}

    def ours(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in tables

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": ours}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_a_stranger_cannot_lock_an_owner_out_from_elsewhere(services: Any, operators: Any) -> None:
    """Failures count per login *and address*: guesses from one place lock
    that place out, not the owner elsewhere; a guesser rotating addresses
    meets the login's overall ceiling (ten times the limit)."""
    store = SessionStore(services.db, services.settings)
    limit = services.settings.web_login_max_failures
    for _ in range(limit):
        assert store.log_in("petrov", "x", "203.0.113.9").outcome is LoginOutcome.REFUSED
    assert store.log_in("petrov", PASSWORD, "203.0.113.9").outcome is LoginOutcome.THROTTLED
    assert store.log_in("petrov", PASSWORD, "10.1.1.1").outcome is LoginOutcome.OK
    for i in range(limit * 10):
        store.log_in("ivanova", "x", f"198.51.100.{i}")
    assert store.log_in("ivanova", PASSWORD, "10.1.1.1").outcome is LoginOutcome.THROTTLED


async def test_no_password_hash_inside_a_write_transaction(
    services: Any, operators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scrypt takes ~0.1 s; on SQLite a write transaction holds the one write
    lock: while a password is hashed, another writer must get through."""
    import threading

    import webedge.sessions as sessions
    from crm_bridge.calls import CallService

    real = sessions.verify_password
    wrote: list[bool] = []

    def meanwhile(password: str, stored: str) -> bool:
        def write() -> None:
            CallService(services.db).upsert("1700000000.77", caller_number="+79990000000")
            wrote.append(True)

        t = threading.Thread(target=write)
        t.start()
        t.join(5)  # would wait out the busy timeout if the lock were held
        return real(password, stored)

    monkeypatch.setattr(sessions, "verify_password", meanwhile)
    store = SessionStore(services.db, services.settings)
    assert store.log_in("ivanova", PASSWORD, "127.0.0.1").outcome is LoginOutcome.OK
    assert wrote == [True]


async def test_a_second_log_in_ends_the_browsers_first_session(
    client: TestClient, operators: Any, services: Any
) -> None:
    await log_in(client, "ivanova")
    first = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    await log_in(client, "boss")
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: first})
    resp = await client.get("/operator/", allow_redirects=False)
    assert resp.status == 302  # the replaced session is no session


async def test_log_in_body_is_small(client: TestClient) -> None:
    resp = await client.post("/login", data={"login": "x" * 9000, "password": "y"})
    assert resp.status == 413


async def test_an_open_websocket_closes_when_its_session_ends(
    client: TestClient, operators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller card is personal data: a revoked session stops receiving them."""
    import webedge.edge as edge

    monkeypatch.setattr(edge, "SOCKET_RECHECK", 0.1)
    token = await log_in(client, "ivanova")
    ws = await client.ws_connect("/operator/ws")
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello"
    resp = await client.post("/logout", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 302
    msg = await ws.receive(timeout=5)
    assert ws.closed and ws.close_code == 1008, msg
