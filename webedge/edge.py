"""The edge middleware: who may use each route, sessions, CSRF and Origin,
security headers, one error shape.

Every handler declares its roles — :func:`allow` (roles), :func:`public`
(anyone, e.g. the log-in page) or :func:`basic_auth` (also HTTP Basic, for a
billing script) — and a route without a declaration is refused (fail closed;
``tests/crm_web/test_edge.py`` walks the route table × every role).

On every request:

* the session cookie is looked up in the database (:class:`SessionStore`);
  the user's row decides the role and whether it is active;
* a state-changing request (anything but GET/HEAD/OPTIONS) and a WebSocket
  upgrade must come from this site: ``Origin`` (or, when a browser sends
  none, ``Referer``) names this host; ``Origin: null`` is refused;
* a state-changing request on a cookie session carries the session's CSRF
  token: the ``X-CSRF-Token`` header, a ``csrf`` form field (URL-encoded
  forms) or, for a multipart upload the handler streams, a ``csrf`` query
  parameter;
* the response gets a Content-Security-Policy with a per-request script
  nonce, ``frame-ancestors 'none'``, ``nosniff``, and ``Cache-Control:
  no-store`` on everything but the static files.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, cast
from urllib.parse import quote, urlsplit

from aiohttp import web
from yarl import URL

from core.settings import Settings
from crm_bridge.models import OperatorRole
from webedge.sessions import LoginOutcome, LoginResult, Principal, SessionStore

log = logging.getLogger(__name__)

COOKIE: Final = "hotline_session"
ROLES_ATTR: Final = "__hotline_roles__"
BASIC_ATTR: Final = "__hotline_basic__"
PUBLIC: Final = "public"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
ALL_ROLES: Final = frozenset(OperatorRole)

H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RunDb = Callable[..., Awaitable[object]]


def allow(*roles: OperatorRole) -> Callable[[H], H]:
    """Who may use this handler (a logged-in user with one of ``roles``)."""
    if not roles:
        raise ValueError("allow() needs at least one role; use public() for anyone")

    def mark(handler: H) -> H:
        setattr(handler, ROLES_ATTR, frozenset(roles))
        return handler

    return mark


def public(handler: H) -> H:
    """Anyone, logged in or not (the log-in page, health checks)."""
    setattr(handler, ROLES_ATTR, PUBLIC)
    return handler


def basic_auth(handler: H) -> H:
    """The handler's roles may also authenticate with HTTP Basic (a script of
    billing's, with no browser and no cookie, so no CSRF token either)."""
    setattr(handler, BASIC_ATTR, True)
    return handler


UPLOAD_ATTR: Final = "__hotline_streams_upload__"


def streams_upload(handler: H) -> H:
    """The handler streams a multipart upload (``request.multipart()``), so
    its form's CSRF token comes in the query (``?csrf=``): accepted there for
    this handler only."""
    setattr(handler, UPLOAD_ATTR, True)
    return handler


def declared_roles(route: web.AbstractRoute) -> frozenset[OperatorRole] | str | None:
    """The route's declaration: a set of roles, :data:`PUBLIC`, or None (undeclared)."""
    if isinstance(route.resource, web.StaticResource):
        return PUBLIC
    handler = route.handler
    found = getattr(handler, ROLES_ATTR, None)
    if found is None and hasattr(handler, "__func__"):
        found = getattr(handler.__func__, ROLES_ATTR, None)
    return found


PRINCIPAL: Final = web.RequestKey("hotline_principal", Principal)
NONCE: Final = web.RequestKey("hotline_csp_nonce", str)


PASSWORD_CHECKS_AT_ONCE: Final = 2
"""Password hashes (scrypt, ~0.1 s and 16 MB each) computed at once; more
wait, and beyond :data:`PASSWORD_CHECKS_WAITING` the edge answers 429, so a
flood of log-ins never takes the threads the calls' database work needs."""
PASSWORD_CHECKS_WAITING: Final = 16
LOGIN_BODY_MAX: Final = 8 * 1024


@dataclass
class Edge:
    store: SessionStore
    settings: Settings
    run_db: RunDb
    _slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE)
    )
    _waiting: int = 0

    async def password_check(self, fn: Callable[..., T], *args: Any) -> T | None:
        """``fn`` (a password check) in a bounded lane; None when too many wait."""
        if self._waiting >= PASSWORD_CHECKS_WAITING:
            return None
        self._waiting += 1
        try:
            async with self._slots:
                return cast(T, await self.run_db(fn, *args))
        finally:
            self._waiting -= 1

    def trusted(self, address: str | None) -> bool:
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(n, strict=False) for n in self._proxies)

    @property
    def _proxies(self) -> Iterable[str]:
        return self.settings.web_trusted_proxies

    def client_address(self, request: web.Request) -> str:
        """The caller's address; behind a trusted proxy, the last hop before it."""
        remote = request.remote or ""
        if self.trusted(remote):
            hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
            for hop in reversed([h for h in hops if h]):
                if not self.trusted(hop):
                    return hop
        return remote

    def secure(self, request: web.Request) -> bool:
        if request.secure:
            return True
        return (
            self.trusted(request.remote)
            and request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        )


EDGE: Final = web.AppKey("hotline_edge", Edge)


def edge_of(request: web.Request) -> Edge:
    return request.config_dict[EDGE]


def principal(request: web.Request) -> Principal:
    """The logged-in user (every non-public handler has one)."""
    found = request.get(PRINCIPAL)
    if found is None:
        raise web.HTTPUnauthorized(text="нужен вход")
    return found


def maybe_principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


async def audit(request: web.Request, action: str, subject: str = "") -> None:
    """Record that the current user read personal data (152-FZ)."""
    edge = edge_of(request)
    await edge.run_db(
        edge.store.audit, maybe_principal(request), action, subject, edge.client_address(request)
    )


SOCKET_RECHECK: Final = 30.0
"""Seconds between re-checks of the session behind an open WebSocket."""


async def still_allowed(request: web.Request) -> bool:
    """Whether the session behind this request still may use its route
    (revoked, expired, deactivated or a changed role: no)."""
    edge = edge_of(request)
    token = request.cookies.get(COOKIE, "")
    who = await edge.run_db(edge.store.load, token) if token else None
    roles = declared_roles(request.match_info.route)
    return isinstance(who, Principal) and (
        roles == PUBLIC or (isinstance(roles, frozenset) and who.role in roles)
    )


async def guard_socket(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Run beside an open WebSocket: close it (1008) once its session ends,
    so a revoked or expired user stops receiving personal data."""
    while not ws.closed:
        await asyncio.sleep(SOCKET_RECHECK)
        if not ws.closed and not await still_allowed(request):
            log.info("closing a WebSocket: its session ended")
            await ws.close(code=1008, message=b"session ended")
            return


def wants_json(request: web.Request) -> bool:
    path = request.path
    accept = request.headers.get("Accept", "")
    return (
        "/api/" in path
        or path.endswith((".json", "/stats", "/ws"))
        or request.headers.get("Upgrade", "").lower() == "websocket"
        or request.headers.get("Authorization", "").lower().startswith("basic ")
        or ("application/json" in accept and "text/html" not in accept)
    )


def _same_site(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc == request.host
    referer = request.headers.get("Referer")
    if referer is not None:
        return urlsplit(referer).netloc == request.host
    # Neither: not a browser (browsers send Origin on every cross-site
    # state-changing request); the CSRF token still has to match.
    return True


async def _csrf_token(request: web.Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type == "application/x-www-form-urlencoded":
        return str((await request.post()).get("csrf", ""))
    if request.content_type.startswith("multipart/"):
        if getattr(request.match_info.route.handler, UPLOAD_ATTR, False):
            return request.query.get("csrf", "")
        return str((await request.post()).get("csrf", ""))
    return ""


async def _basic_principal(edge: Edge, request: web.Request) -> Principal | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:], validate=True).decode("utf-8")
        login, password = raw.split(":", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not (edge.secure(request) or _loopback(request.remote)):
        return None  # a password in clear over a network: refused
    result = await edge.password_check(
        edge.store.check_password, login, password, edge.client_address(request)
    )
    return result if isinstance(result, Principal) else None


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    from webedge.shell import error_response

    request[NONCE] = secrets.token_urlsafe(16)
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as exc:
        if exc.status >= 400:
            response = error_response(request, exc.status, exc.text or exc.reason)
        else:
            _secure_headers(request, exc)
            raise
    _secure_headers(request, response)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    from webedge.shell import error_response

    edge = edge_of(request)
    match = request.match_info
    if match.http_exception is not None:
        raise match.http_exception
    roles = declared_roles(match.route)
    if roles is None:
        log.error("route %s declares no roles: refused", match.route.resource)
        return error_response(request, 403, "Доступ к этой странице не настроен")
    if isinstance(match.route.resource, web.StaticResource):
        return await handler(request)  # public files: no session lookup
    token = request.cookies.get(COOKIE, "")
    who = await edge.run_db(edge.store.load, token) if token else None
    if isinstance(who, Principal):
        request[PRINCIPAL] = who
    changing = request.method not in SAFE_METHODS
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if (changing or upgrade) and not _same_site(request):
        return error_response(request, 403, "Запрос с чужого сайта отклонён")
    if roles == PUBLIC:
        return await handler(request)
    assert isinstance(roles, frozenset)
    current = request.get(PRINCIPAL)
    via_basic = False
    basic = getattr(match.route.handler, BASIC_ATTR, False)
    if current is None and basic:
        current = await _basic_principal(edge, request)
        via_basic = current is not None
        if current is not None:
            request[PRINCIPAL] = current
    if current is None and basic and "text/html" not in request.headers.get("Accept", ""):
        # a script, not a browser: the challenge, not the log-in page
        from webedge.shell import json_error

        refused = json_error(401, "Нужен вход")
        refused.headers["WWW-Authenticate"] = 'Basic realm="hotline", charset="UTF-8"'
        return refused
    if current is None:
        if wants_json(request) or changing:
            return error_response(request, 401, "Нужен вход")
        raise web.HTTPFound("/login?next=" + quote(request.path_qs, safe="/"))
    if current.role not in roles:
        return error_response(request, 403, "Недостаточно прав")
    if changing and not via_basic:
        sent = await _csrf_token(request)
        if not sent or not hmac.compare_digest(sent, current.csrf):
            return error_response(request, 403, "Неверный токен CSRF: обновите страницу")
    return await handler(request)


def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return  # a WebSocket or a streamed file: headers went with the upgrade
    h = response.headers
    nonce = request.get(NONCE, "")
    h.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; media-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'",
    )
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    edge = request.config_dict.get(EDGE)
    if edge is not None and edge.secure(request):
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    static = isinstance(request.match_info.route.resource, web.StaticResource)
    if not static:
        h["Cache-Control"] = "no-store"


# -- log-in and log-out (mounted on the root application) ------------------------------


def _local_next(raw: str) -> str:
    """Only a path of this site (no ``//host``, no scheme, no control
    characters, which a URL parser drops: slash, tab, slash would become
    ``//evil``): no open redirect."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw) or "\\" in raw:
        return ""
    if not raw.startswith("/") or raw.startswith("//"):
        return ""
    normal = str(URL(raw))
    return raw if normal.startswith("/") and not normal.startswith("//") else ""


HOME: Final = {
    OperatorRole.OPERATOR: "/operator/",
    OperatorRole.SUPERVISOR: "/operator/",
    OperatorRole.DISPATCHER: "/dispatcher/",
}


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    from webedge.shell import render

    who = maybe_principal(request)
    if who is not None:
        raise web.HTTPFound(_local_next(request.query.get("next", "")) or HOME[who.role])
    return render(request, "login.html", {"title": "Вход", "next": request.query.get("next", "")})


@public
async def login(request: web.Request) -> web.StreamResponse:
    from webedge.shell import render

    edge = edge_of(request)
    if (request.content_length or 0) > LOGIN_BODY_MAX:
        raise web.HTTPRequestEntityTooLarge(LOGIN_BODY_MAX, request.content_length or 0)
    form = await request.post()
    name = str(form.get("login", ""))
    password = str(form.get("password", ""))
    nxt = _local_next(str(form.get("next", "")))
    checked = await edge.password_check(
        functools.partial(edge.store.log_in, replaces=request.cookies.get(COOKIE, "")),
        name,
        password,
        edge.client_address(request),
    )
    if checked is None:
        context = {"title": "Вход", "next": nxt, "error": "Сервер занят, повторите вход"}
        return render(request, "login.html", context, status=429)
    result = cast(LoginResult, checked)
    if result.outcome is not LoginOutcome.OK or result.principal is None:
        throttled = result.outcome is LoginOutcome.THROTTLED
        message = (
            "Слишком много неудачных попыток. Повторите вход позже."
            if throttled
            else "Неверный логин или пароль"
        )
        context = {"title": "Вход", "next": nxt, "error": message, "login": name[:64]}
        return render(request, "login.html", context, status=429 if throttled else 401)
    who = result.principal
    response = web.HTTPFound(nxt or HOME[who.role])
    response.set_cookie(
        COOKIE,
        result.token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=edge.secure(request),
    )
    raise response


@allow(*ALL_ROLES)
async def logout(request: web.Request) -> web.StreamResponse:
    edge = edge_of(request)
    who = principal(request)
    if who.session_id:
        await edge.run_db(edge.store.revoke, who.session_id)
    await edge.run_db(edge.store.audit, who, "logout", "", edge.client_address(request))
    response = web.HTTPFound("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def install(app: web.Application, edge: Edge) -> None:
    """Install the edge on the root application (its sub-apps inherit it)."""
    app[EDGE] = edge
    app.middlewares.append(edge_middleware)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
