"""Meter readings for billing over HTTP (REQ-T14): the ``/readings/`` sub-app.

* ``GET /readings/`` — a small page for the shift supervisor: how many
  accepted readings wait for billing, export by dates, "send to billing";
* ``GET /readings/export.csv`` / ``export.xlsx`` — accepted readings taken
  between ``from`` and ``to`` (``YYYY-MM-DD``, inclusive, company time zone;
  ``status=accepted|flagged|all``), the columns of
  :data:`crm_bridge.readings.EXPORT_HEADER`;
* ``POST /readings/push`` — hands the readings not yet exported over to
  billing: JSON ``{"batch", "count", "readings": [...]}`` POSTed to
  ``settings.readings_billing_url``, signed like the CRM webhook
  (``X-Hotline-Signature: sha256=<HMAC of the body>``, key
  :func:`crm_bridge.webhook.webhook_secret`) with ``Idempotency-Key: <batch>``.
  A batch is marked exported only after a 2xx answer; on any failure
  (far side down, timeout, non-2xx) it is released and stays pending —
  nothing is lost; a crash between delivery and marking re-sends the same
  readings later (billing de-duplicates by ``reading_id``).

Access: the shift supervisor (an :class:`~crm_bridge.models.Operator` with
role ``supervisor``), logged in with the same login and password as the
operator's workplace (``/readings/login``, a signed cookie from the same
secret as :mod:`crm_bridge.web`), or with HTTP Basic authentication for
billing's own scripts. Operators get 403. POSTs with the cookie need the
CSRF token; cross-site requests are refused.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import html
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web

from crm_bridge.models import Operator, OperatorRole, ReadingStatus
from crm_bridge.passwords import authenticate
from crm_bridge.readings import ReadingService, export_csv, export_xlsx
from crm_bridge.web import SessionSigner
from crm_bridge.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign, webhook_secret

logger = logging.getLogger(__name__)

__all__ = ["BillingPush", "PushResult", "create_readings_app"]

MOUNT: Final = "/readings/"
COOKIE: Final = "hotline_readings"
SERVICES = web.AppKey("readings_services", object)
SIGNER = web.AppKey("readings_signer", object)
PUSH_LOCK = web.AppKey("readings_push_lock", asyncio.Lock)
LAST_PUSH = web.AppKey("readings_last_push", dict)
USER_KEY = web.RequestKey("readings_user", object)

PUSH_TIMEOUT = 30.0
"""Seconds for billing to answer one batch."""
DEFAULT_BATCH = 500
MAX_BATCH = 5000
MAX_BATCHES_PER_PUSH = 20

STATUSES: Final = {
    "accepted": (ReadingStatus.ACCEPTED,),
    "flagged": (ReadingStatus.FLAGGED,),
    "all": (ReadingStatus.ACCEPTED, ReadingStatus.FLAGGED),
}


class BadRequest(ValueError):
    """A parameter that cannot be used (HTTP 400, message in Russian)."""


@dataclass(frozen=True, slots=True)
class User:
    operator_id: int
    name: str
    supervisor: bool
    csrf: str | None
    """None for HTTP Basic (no cookie, no CSRF token)."""


# -- the push ---------------------------------------------------------------------------


@dataclass
class PushResult:
    sent: int = 0
    batches: list[str] = field(default_factory=list)
    error: str | None = None
    """Why the push stopped early (Russian, for the page and the JSON answer)."""
    pending: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sent": self.sent,
            "batches": self.batches,
            "pending": self.pending,
            "error": self.error,
        }


class BillingPush:
    """Claims batches of accepted readings and POSTs them to billing, exactly-once
    from our side (see the module docstring)."""

    def __init__(
        self,
        service: ReadingService,
        url: str,
        *,
        secret: str,
        run_db: Callable[..., Awaitable[Any]],
        timeout: float = PUSH_TIMEOUT,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise BadRequest(f"адрес биллинга должен начинаться с http:// или https://: «{url}»")
        self.service = service
        self.url = url
        self.secret = secret
        self.run_db = run_db
        self.timeout = timeout
        self.batch_size = batch_size

    async def push(self, *, max_batches: int = MAX_BATCHES_PER_PUSH) -> PushResult:
        result = PushResult()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for _ in range(max_batches):
                batch, rows = await self.run_db(
                    lambda: self.service.claim_for_export(limit=self.batch_size)
                )
                if not rows:
                    break
                body = json.dumps(
                    {"batch": batch, "count": len(rows), "readings": [r.as_json() for r in rows]},
                    ensure_ascii=False,
                ).encode("utf-8")
                try:
                    error = await self._post(session, batch, body)
                except BaseException:
                    # cancelled mid-request: the batch becomes pending again
                    await asyncio.shield(self.run_db(self.service.release, batch))
                    raise
                if error is not None:
                    await self.run_db(self.service.release, batch)
                    logger.warning("billing push of batch %s failed: %s", batch, error)
                    result.error = error
                    break
                await self.run_db(self.service.mark_exported, batch)
                result.sent += len(rows)
                result.batches.append(batch)
                logger.info("billing push: batch %s, %d readings delivered", batch, len(rows))
        result.pending = await self.run_db(self.service.pending_export)
        return result

    async def _post(self, session: aiohttp.ClientSession, batch: str, body: bytes) -> str | None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self.secret, body),
            IDEMPOTENCY_HEADER: batch,
        }
        try:
            async with session.post(self.url, data=body, headers=headers) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return None
                return f"биллинг ответил HTTP {resp.status}; показания остались к отправке"
        except TimeoutError:
            return (
                f"биллинг не ответил за {self.timeout:g} с; показания остались к отправке "
                "(если он их всё же принял, повтор придёт с теми же reading_id)"
            )
        except aiohttp.ClientError as exc:
            return f"биллинг недоступен ({type(exc).__name__}); показания остались к отправке"


# -- auth -------------------------------------------------------------------------------


def _services(request: web.Request) -> Any:
    return request.app[SERVICES]


def _service(request: web.Request) -> ReadingService:
    services = _services(request)
    return ReadingService.from_settings(services.db, services.settings)


def _user(request: web.Request) -> User:
    user = request.get(USER_KEY)
    assert isinstance(user, User)
    return user


def _error(request: web.Request, status: int, message: str) -> web.Response:
    """HTML for the page and its forms, JSON for the API (export, push)."""
    page = request.path in (MOUNT, MOUNT + "login", MOUNT + "logout")
    if page or request.content_type == "application/x-www-form-urlencoded":
        body = f'<p class="error">{html.escape(message)}</p>'
        return _page("Показания приборов учёта", body, None, status)
    return web.json_response({"error": message}, status=status)


async def _basic_user(request: web.Request, header: str) -> User | None:
    try:
        raw = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode("utf-8")
        login, password = raw.split(":", 1)
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    db = _services(request).db

    def check() -> User | None:
        with db.session() as session:
            op = authenticate(session, login, password)
            if op is None:
                return None
            return User(op.id, op.name, op.role is OperatorRole.SUPERVISOR, None)

    result: User | None = await _services(request).run_db(check)
    return result


async def _cookie_user(request: web.Request) -> User | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    signer: SessionSigner = request.app[SIGNER]  # type: ignore[assignment]
    found = signer.verify(raw)
    if found is None:
        return None
    operator_id, nonce = found
    db = _services(request).db

    def load() -> Operator | None:
        with db.session() as session:
            op = session.get(Operator, operator_id)
            return op if op is not None and op.active else None

    op = await _services(request).run_db(load)
    if op is None:
        return None
    return User(op.id, op.name, op.role is OperatorRole.SUPERVISOR, signer.csrf(nonce))


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return True
    from urllib.parse import urlsplit

    return urlsplit(origin).netloc == request.host


@web.middleware
async def _auth(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.method == "POST" and not _same_origin(request):
        return _error(request, 403, "запрос с чужого сайта отклонён")
    if request.path == MOUNT + "login":
        return await handler(request)
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        user = await _basic_user(request, header)
        if user is None:
            return web.json_response(
                {"error": "неверный логин или пароль"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="hotline-readings", charset="UTF-8"'},
            )
    else:
        user = await _cookie_user(request)
        if user is None:
            if request.method == "GET" and request.path in (MOUNT, MOUNT.rstrip("/")):
                raise web.HTTPFound(MOUNT + "login")
            return web.json_response(
                {"error": "нужен вход старшего смены"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="hotline-readings", charset="UTF-8"'},
            )
    if not user.supervisor:
        return _error(request, 403, "выгрузка показаний доступна старшему смены")
    request[USER_KEY] = user
    try:
        return await handler(request)
    except BadRequest as exc:
        return _error(request, 400, str(exc))


async def _check_csrf(request: web.Request, user: User) -> None:
    if user.csrf is None:
        return  # HTTP Basic: no cookie, nothing a foreign site could ride on
    token = request.headers.get("X-CSRF-Token", "")
    if not token and request.content_type == "application/x-www-form-urlencoded":
        token = str((await request.post()).get("csrf", ""))
    if not hmac.compare_digest(token, user.csrf):
        raise web.HTTPForbidden(text="неверный токен CSRF")


# -- pages ------------------------------------------------------------------------------


def _page(title: str, body: str, user: User | None, status: int = 200) -> web.Response:
    nav = ""
    meta = ""
    if user is not None and user.csrf is not None:
        meta = f'<meta name="csrf-token" content="{user.csrf}">'
        nav = (
            f'<nav><a href="/operator/">Рабочее место</a>'
            f'<span class="who">{html.escape(user.name)} (старший смены)</span>'
            f'<form method="post" action="logout" class="inline">'
            f'<input type="hidden" name="csrf" value="{user.csrf}">'
            f'<button type="submit">Выйти</button></form></nav>'
        )
    text = (
        "<!doctype html><html lang=ru><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>{meta}"
        '<base href="/readings/"><link rel="stylesheet" href="/operator/static/operator.css">'
        f"</head><body>{nav}<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return web.Response(text=text, content_type="text/html", status=status)


async def login_page(request: web.Request, *, error: str = "") -> web.Response:
    err = f'<p class="error">{html.escape(error)}</p>' if error else ""
    body = (
        f"{err}<form method=post action=login class=login>"
        "<label>Логин <input name=login autocomplete=username required></label>"
        "<label>Пароль <input name=password type=password autocomplete=current-password "
        "required></label><button type=submit>Войти</button></form>"
    )
    return _page("Вход: выгрузка показаний", body, None, 401 if error else 200)


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    login_name = str(form.get("login", "")).strip()
    password = str(form.get("password", ""))
    db = _services(request).db

    def check() -> tuple[int, bool] | None:
        with db.session() as session:
            op = authenticate(session, login_name, password)
            if op is None:
                return None
            return op.id, op.role is OperatorRole.SUPERVISOR

    found = await _services(request).run_db(check) if login_name and password else None
    if found is None:
        logger.info("readings log-in refused")
        return await login_page(request, error="Неверный логин или пароль")
    operator_id, supervisor = found
    if not supervisor:
        return await login_page(request, error="Выгрузка показаний доступна старшему смены")
    signer: SessionSigner = request.app[SIGNER]  # type: ignore[assignment]
    resp = web.HTTPFound(MOUNT)
    resp.set_cookie(
        COOKIE,
        signer.issue(operator_id),
        max_age=signer.ttl,
        path=MOUNT,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    logger.info("supervisor %s logged in to readings", operator_id)
    raise resp


async def logout(request: web.Request) -> web.Response:
    await _check_csrf(request, _user(request))
    resp = web.HTTPFound(MOUNT + "login")
    resp.del_cookie(COOKIE, path=MOUNT)
    raise resp


def _parse_day(raw: str | None, what: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{what}: нужна дата ГГГГ-ММ-ДД, получено «{raw[:40]}»") from None


def _range(request: web.Request) -> tuple[date | None, date | None]:
    lo = _parse_day(request.query.get("from"), "дата «с»")
    hi = _parse_day(request.query.get("to"), "дата «по»")
    if lo is not None and hi is not None and lo > hi:
        raise BadRequest(f"дата «с» ({lo.isoformat()}) позже даты «по» ({hi.isoformat()})")
    return lo, hi


async def index(request: web.Request) -> web.Response:
    user = _user(request)
    service = _service(request)
    pending = await _services(request).run_db(service.pending_export)
    url = _services(request).settings.readings_billing_url
    last: dict[str, Any] = request.app[LAST_PUSH]
    result = ""
    if last:
        text = (
            f"Отправлено в биллинг: {last['sent']}."
            if last["ok"]
            else f"Отправлено: {last['sent']}. Ошибка: {last['error']}"
        )
        cls = "ok" if last["ok"] else "error"
        result = f'<p class="{cls}" id="push-result">{html.escape(text)}</p>'
    target = (
        f"Адрес биллинга: <code>{html.escape(url)}</code>"
        if url
        else "Адрес биллинга не настроен (<code>HOTLINE_READINGS_BILLING_URL</code>)."
    )
    csrf = html.escape(user.csrf or "")
    body = (
        f'<p id="pending">Принятых показаний ждут передачи в биллинг: <b>{pending}</b></p>'
        f"<p>{target}</p>{result}"
        '<form method="post" action="push" id="push-form">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        f'<button type="submit"{"" if url else " disabled"}>Отправить в биллинг</button></form>'
        "<h2>Выгрузка</h2>"
        '<form method="get" action="export.csv" id="export-form">'
        '<label>с <input type="date" name="from"></label> '
        '<label>по <input type="date" name="to"></label> '
        '<label>показания <select name="status"><option value="accepted">принятые</option>'
        '<option value="flagged">на проверке</option><option value="all">все</option>'
        "</select></label> "
        '<button type="submit">CSV</button> '
        '<button type="submit" formaction="export.xlsx">XLSX</button></form>'
    )
    return _page("Показания приборов учёта", body, user)


async def export(request: web.Request) -> web.Response:
    fmt = request.match_info["fmt"]
    lo, hi = _range(request)
    status_name = request.query.get("status", "accepted")
    if status_name not in STATUSES:
        raise BadRequest(f"status: accepted, flagged или all, получено «{status_name[:20]}»")
    service = _service(request)

    def produce() -> bytes:
        rows = service.export_rows(lo, hi, statuses=STATUSES[status_name])
        return export_csv(rows) if fmt == "csv" else export_xlsx(rows)

    data = await _services(request).run_db(produce)
    span = "-".join(d.isoformat() for d in (lo, hi) if d is not None) or "all"
    ctype = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return web.Response(
        body=data,
        headers={
            "Content-Type": ctype,
            "Content-Disposition": f'attachment; filename="readings-{span}.{fmt}"',
        },
    )


async def push(request: web.Request) -> web.StreamResponse:
    user = _user(request)
    await _check_csrf(request, user)
    services = _services(request)
    url = str(services.settings.readings_billing_url or "")
    form = request.content_type == "application/x-www-form-urlencoded"
    if not url:
        return _error(request, 409, "адрес биллинга (readings_billing_url) не настроен")
    raw = request.query.get("limit", "")
    if raw and (not raw.isdigit() or not 1 <= int(raw) <= MAX_BATCH):
        raise BadRequest(f"limit: число от 1 до {MAX_BATCH}, получено «{raw[:20]}»")
    pusher = BillingPush(
        _service(request),
        url,
        secret=webhook_secret(services.settings),
        run_db=services.run_db,
        batch_size=int(raw) if raw else DEFAULT_BATCH,
    )
    async with request.app[PUSH_LOCK]:
        result = await pusher.push()
    request.app[LAST_PUSH].clear()
    request.app[LAST_PUSH].update(result.as_json())
    if form:
        raise web.HTTPSeeOther(MOUNT)
    return web.json_response(result.as_json(), status=200 if result.ok else 502)


def create_readings_app(services: Any, runtime: Any = None) -> web.Application:
    """The ``/readings/`` sub-app (see the module docstring)."""
    app = web.Application(middlewares=[_auth])
    app[SERVICES] = services
    app[SIGNER] = SessionSigner.from_data_dir(Path(services.settings.data))
    app[PUSH_LOCK] = asyncio.Lock()
    app[LAST_PUSH] = {}
    r = app.router
    r.add_get("/", index)
    r.add_get("/login", login_page)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/export.{fmt:csv|xlsx}", export)
    r.add_post("/push", push)
    return app
