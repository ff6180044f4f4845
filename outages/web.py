"""The outage register's pages and API (``/outages/``, issue 16).

Pages (dispatchers enter and change; supervisors read):

* ``GET /outages/``: the surge alerts, the open and recent outages, the
  form of a new outage and the file import;
* ``POST /outages/new`` with ``action=preview``: the form again with what
  each address line matched (accounts) and the lines not understood;
  ``action=save``: saved (refused with the form kept while a line is not
  understood) → the outage's page;
* ``GET /outages/{id}``: the outage, its addresses with their accounts, its
  history; ``POST /outages/{id}/status`` and ``/outages/{id}/eta`` (move
  the estimated restoration time); for a planned outage the proposal of its
  notice campaign (:mod:`outages.campaign`: who is called, e-mailed, the
  legal entities apart, the message, REQ-O9's last moment) and
  ``POST /outages/{id}/campaign``, which makes it (or opens the one made)
  → the campaign's page in the dispatcher console;
* ``POST /outages/import``: a CSV/XLSX file (:mod:`outages.importer`); a
  bad file is a 400 page naming the row and the reason, nothing imported;
* ``GET /outages/alerts.json``, ``POST /outages/alerts/{id}/ack``.

The API for the grid company's dispatch system (``Authorization: Bearer
<token>``, a token per client, ``hotline outages client add``), JSON in and
out, errors as ``{"error", "status"}``, every call audited
(``login`` = ``api:<client>``):

* ``PUT /outages/api/v1/outages/{external_id}``: create or update the outage
  the client knows by its own id (idempotent) → 201 created / 200;
* ``GET /outages/api/v1/outages/{external_id}``.

Body: ``{"kind": "emergency"|"planned", "starts_at": ISO 8601,
"ends_at": ISO 8601 (planned end / estimated restoration; for an emergency
null or absent: «уточняется»), "decided_at"?,
"reason"?, "addresses": ["ул. Ленина, д. 1-15", …], "status"?}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from autoinformer.channels import CHANNEL_TITLES
from crm_bridge.db import utcnow
from crm_bridge.models import OperatorRole
from crm_bridge.outages import OutageKind
from outages.campaign import OutageCampaigns
from outages.importer import ImportRejected, parse_file
from outages.models import OutageStatus
from outages.register import (
    ACTION_RU,
    KIND_RU,
    STATUS_RU,
    Draft,
    NotFound,
    OutageInputError,
    OutageRegister,
    Preview,
)
from outages.surge import SurgeDetector
from webedge.edge import allow, audit, edge_of, principal, public
from webedge.shell import error_response, json_error, render

__all__ = ["create_outages_app"]

log = logging.getLogger(__name__)

REGISTER = web.AppKey("outages_register", OutageRegister)
DETECTOR = web.AppKey("outages_detector", SurgeDetector)
CAMPAIGNS = web.AppKey("outages_campaigns", OutageCampaigns)
SERVICES = web.AppKey("outages_services", object)
ZONE = web.AppKey("outages_zone", ZoneInfo)
STATIC_DIR: Final = Path(__file__).with_name("static") / "outages"
READERS: Final = (OperatorRole.DISPATCHER, OperatorRole.SUPERVISOR)
API_BODY_MAX: Final = 256 * 1024
FIELDS: Final = ("kind", "starts_at", "ends_at", "decided_at", "reason", "addresses")


async def _db(request: web.Request, fn: Callable[..., Any], *args: Any) -> Any:
    services: Any = request.app[SERVICES]
    return await services.run_db(fn, *args)


def _local(raw: str, zone: ZoneInfo, what: str, *, required: bool = True) -> datetime | None:
    raw = raw.strip()
    if not raw:
        if required:
            raise OutageInputError(f"{what}: укажите дату и время")
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M"):
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    raise OutageInputError(f"{what}: «{raw[:40]}» — нужна дата и время ДД.ММ.ГГГГ ЧЧ:ММ")


def _iso_local(raw: Any, zone: ZoneInfo) -> str:
    try:
        return datetime.fromisoformat(str(raw)).astimezone(zone).strftime("%d.%m.%Y %H:%M")
    except ValueError:
        return ""


def _draft_from_form(form: dict[str, str], zone: ZoneInfo) -> Draft:
    try:
        kind = OutageKind(form.get("kind", ""))
    except ValueError as exc:
        raise OutageInputError("выберите вид отключения: плановое или аварийное") from exc
    starts = _local(form.get("starts_at", ""), zone, "начало")
    ends = _local(
        form.get("ends_at", ""),
        zone,
        "окончание (восстановление)",
        required=kind is OutageKind.PLANNED,  # an emergency's estimate may be «уточняется»
    )
    decided = _local(form.get("decided_at", ""), zone, "время решения", required=False)
    assert starts is not None
    return Draft(
        kind=kind,
        starts_at=starts,
        ends_at=ends,
        decided_at=decided,
        reason=form.get("reason", "").strip()[:2000],
        addresses=[line for line in form.get("addresses", "").splitlines() if line.strip()],
    )


def _context(request: web.Request, **extra: Any) -> dict[str, Any]:
    who = principal(request)
    return {
        "title": "Реестр отключений",
        "kinds": list(KIND_RU.items()),
        "status_ru": STATUS_RU,
        "kind_ru": KIND_RU,
        "action_ru": ACTION_RU,
        "may_enter": who.role == OperatorRole.DISPATCHER,
        "local_input": lambda d: (
            d.astimezone(request.app[ZONE]).strftime("%Y-%m-%dT%H:%M") if d else ""
        ),
        "iso_local": lambda raw: _iso_local(raw, request.app[ZONE]) if raw else "уточняется",
        "now": utcnow(),
        **extra,
    }


async def _index_context(request: web.Request) -> dict[str, Any]:
    register = request.app[REGISTER]
    detector = request.app[DETECTOR]
    entries = await _db(request, register.listing)
    alerts = await _db(request, detector.open_alerts)
    return {"entries": entries, "alerts": alerts}


@allow(*READERS)
async def index(request: web.Request) -> web.Response:
    ctx = await _index_context(request)
    await audit(request, "outages.list")
    imported = request.query.get("imported", "")
    return render(
        request,
        "outages/index.html",
        _context(
            request,
            form={"kind": "planned"},
            message=f"Загружено отключений: {imported}" if imported.isdigit() else "",
            **ctx,
        ),
    )


@allow(OperatorRole.DISPATCHER)
async def new(request: web.Request) -> web.Response:
    """Preview (what the addresses match) or save a new outage."""
    post = await request.post()
    form = {k: str(post.get(k, ""))[:20_000] for k in FIELDS}
    action = str(post.get("action", "preview"))
    zone = request.app[ZONE]
    register = request.app[REGISTER]
    who = principal(request)
    preview: Preview = await _db(request, register.preview, form["addresses"])
    error = ""
    try:
        draft = _draft_from_form(form, zone)
        draft.check()
        if action == "save":
            if not preview.ok:
                raise OutageInputError(
                    "есть нераспознанные строки адресов: исправьте их, затем сохраните"
                )
            entry = await _db(request, lambda: register.create(draft, by=who.login))
            await audit(request, "outages.create", f"outage:{entry.id}")
            log.info("outage %s entered by operator %s", entry.id, who.operator_id)
            saved = "?saved=1" if entry.kind is OutageKind.PLANNED else ""
            raise web.HTTPSeeOther(f"/outages/{entry.id}{saved}")
    except OutageInputError as exc:
        error = str(exc)
    ctx = await _index_context(request)
    await audit(request, "outages.preview", f"{len(preview.lines)} lines")
    return render(
        request,
        "outages/index.html",
        _context(request, form=form, preview=preview, error=error, **ctx),
        status=400 if error and action == "save" else 200,
    )


def _outage_id(request: web.Request) -> int:
    return int(request.match_info["outage_id"])


@allow(*READERS)
async def outage_page(request: web.Request) -> web.Response:
    outage_id = _outage_id(request)
    page = await _db(request, request.app[REGISTER].page, outage_id)
    proposal = None
    if page.entry.kind is OutageKind.PLANNED:
        proposal = await _db(request, request.app[CAMPAIGNS].proposal, outage_id)
    await audit(request, "outage.view", f"outage:{outage_id}")
    return render(
        request,
        "outages/outage.html",
        _context(
            request,
            title=f"Отключение № {outage_id}",
            page=page,
            e=page.entry,
            error=request.query.get("error", "")[:300],
            next_statuses=_next_statuses(page.entry.status),
            proposal=proposal,
            channel_titles=CHANNEL_TITLES,
            saved=request.query.get("saved") == "1",
        ),
    )


async def _follow(request: web.Request, outage_id: int, by: str) -> None:
    """The outage's notice campaign follows a changed period (:mod:`outages.campaign`)."""
    campaigns = request.app[CAMPAIGNS]
    await _db(request, lambda: campaigns.follow(outage_id, by=by))


@allow(OperatorRole.DISPATCHER)
async def make_campaign(request: web.Request) -> web.Response:
    """The outage's notice campaign, made in one click (or the one made
    before) → its page in the dispatcher console, to be submitted."""
    outage_id = _outage_id(request)
    who = principal(request)
    campaigns = request.app[CAMPAIGNS]
    cid, result = await _db(request, lambda: campaigns.create(outage_id, by=who.login))
    detail = f"outage:{outage_id} campaign:{cid}"
    if result is not None:
        detail += f" {result.accepted}/{len(result.rejected)}"
    await audit(request, "outage.campaign", detail)
    raise web.HTTPSeeOther(f"/dispatcher/campaigns/{cid}")


def _next_statuses(status: OutageStatus) -> list[tuple[str, str]]:
    order = {
        OutageStatus.PLANNED: [
            OutageStatus.IN_PROGRESS,
            OutageStatus.RESTORED,
            OutageStatus.CANCELLED,
        ],
        OutageStatus.IN_PROGRESS: [OutageStatus.RESTORED],
    }
    return [(s.value, STATUS_RU[s]) for s in order.get(status, [])]


@allow(OperatorRole.DISPATCHER)
async def change_status(request: web.Request) -> web.Response:
    outage_id = _outage_id(request)
    post = await request.post()
    who = principal(request)
    register = request.app[REGISTER]
    raw = str(post.get("status", ""))
    try:
        status = OutageStatus(raw)
    except ValueError:
        return error_response(request, 400, "неизвестный статус")
    await _db(request, lambda: register.set_status(outage_id, status, by=who.login))
    await _follow(request, outage_id, who.login)
    await audit(request, "outage.status", f"outage:{outage_id} {status.value}")
    raise web.HTTPSeeOther(f"/outages/{outage_id}")


@allow(OperatorRole.DISPATCHER)
async def move_eta(request: web.Request) -> web.Response:
    outage_id = _outage_id(request)
    post = await request.post()
    who = principal(request)
    register = request.app[REGISTER]
    # Empty: an emergency's estimate becomes «уточняется» (a planned end is refused).
    when = _local(
        str(post.get("ends_at", "")),
        request.app[ZONE],
        "новое время восстановления",
        required=False,
    )
    await _db(request, lambda: register.move_eta(outage_id, when, by=who.login))
    await _follow(request, outage_id, who.login)
    await audit(request, "outage.eta", f"outage:{outage_id}")
    raise web.HTTPSeeOther(f"/outages/{outage_id}")


@allow(OperatorRole.DISPATCHER)
async def import_file(request: web.Request) -> web.Response:
    post = await request.post()
    upload = post.get("file")
    who = principal(request)
    if not isinstance(upload, web.FileField):
        return error_response(request, 400, "Выберите файл CSV или XLSX")
    data = upload.file.read(6 * 1024 * 1024)
    name = upload.filename or "файл"
    try:
        parsed = parse_file(data, name, request.app[ZONE])
    except ImportRejected as exc:
        await audit(request, "outages.import.refused", name[:100])
        return error_response(request, 400, f"Файл «{name[:100]}» не загружен: {exc}")
    register = request.app[REGISTER]
    entries = await _db(
        request, lambda: register.create_many(parsed.drafts, by=who.login, source="import")
    )
    await audit(request, "outages.import", f"{name[:80]}: {len(entries)}")
    raise web.HTTPSeeOther(f"/outages/?imported={len(entries)}")


@allow(*READERS)
async def alerts_json(request: web.Request) -> web.Response:
    alerts = await _db(request, request.app[DETECTOR].open_alerts)
    return web.json_response(
        {"alerts": [a.as_json() for a in alerts]},
        dumps=lambda o: json.dumps(o, ensure_ascii=False),
    )


@allow(OperatorRole.DISPATCHER)
async def acknowledge(request: web.Request) -> web.Response:
    alert_id = int(request.match_info["alert_id"])
    who = principal(request)
    done = await _db(request, request.app[DETECTOR].acknowledge, alert_id, who.login)
    if not done:
        return error_response(request, 404, "сигнал не найден или уже подтверждён")
    await audit(request, "outages.alert.ack", f"alert:{alert_id}")
    raise web.HTTPSeeOther("/outages/")


# -- the API ---------------------------------------------------------------------------


async def _api_client(request: web.Request) -> Any:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    client = await _db(request, request.app[REGISTER].client_by_token, token) if token else None
    if client is None:
        refused = json_error(401, "нужен действующий токен клиента (Authorization: Bearer …)")
        refused.headers["WWW-Authenticate"] = 'Bearer realm="hotline-outages"'
        raise _ApiError(refused)
    return client


class _ApiError(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


async def _api_audit(request: web.Request, client: Any, action: str, subject: str) -> None:
    """The API's calls in the one audit log (``login`` = ``api:<client>``)."""
    from webedge.models import AuditEvent

    address = edge_of(request).client_address(request)
    db = request.app[REGISTER].db

    def write() -> None:
        with db.session(write=True) as session:
            session.add(
                AuditEvent(
                    at=utcnow(),
                    operator_id=None,
                    login=f"api:{client.name}"[:64],
                    action=action,
                    subject=subject[:128],
                    address=address[:64],
                )
            )

    await _db(request, write)


def _api_time(body: dict[str, Any], name: str, *, required: bool = True) -> datetime | None:
    raw = body.get(name)
    if raw in (None, ""):
        if required:
            raise OutageInputError(f"поле {name}: обязательно (ISO 8601 с часовым поясом)")
        return None
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError as exc:
        raise OutageInputError(f"поле {name}: «{str(raw)[:40]}» — не дата ISO 8601") from exc
    if value.tzinfo is None:
        raise OutageInputError(f"поле {name}: укажите часовой пояс (например, +03:00)")
    return value


def _draft_from_json(body: dict[str, Any]) -> Draft:
    try:
        kind = OutageKind(str(body.get("kind", "")))
    except ValueError as exc:
        raise OutageInputError("поле kind: planned или emergency") from exc
    status = None
    if body.get("status") not in (None, ""):
        try:
            status = OutageStatus(str(body["status"]))
        except ValueError as exc:
            raise OutageInputError(
                "поле status: planned, in_progress, restored или cancelled"
            ) from exc
    addresses = body.get("addresses")
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise OutageInputError("поле addresses: список строк адресов")
    starts = _api_time(body, "starts_at")
    ends = _api_time(body, "ends_at", required=kind is OutageKind.PLANNED)
    assert starts is not None
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise OutageInputError("поле reason: строка")
    return Draft(
        kind=kind,
        starts_at=starts,
        ends_at=ends,
        decided_at=_api_time(body, "decided_at", required=False),
        reason=reason.strip(),
        addresses=[a for a in addresses if a.strip()],
        status=status,
    )


def _external_id(request: web.Request) -> str:
    raw = request.match_info["external_id"]
    if not 0 < len(raw) <= 128:
        raise OutageInputError("идентификатор отключения: от 1 до 128 символов")
    return raw


@public
async def api_put(request: web.Request) -> web.Response:
    """Create or update (idempotent) the client's outage; a token is checked here."""
    try:
        client = await _api_client(request)
        external_id = _external_id(request)
        if (request.content_length or 0) > API_BODY_MAX:
            return json_error(413, "тело запроса слишком большое")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return json_error(400, "тело запроса должно быть JSON")
        if not isinstance(body, dict):
            return json_error(400, "тело запроса должно быть объектом JSON")
        try:
            draft = _draft_from_json(body)
            register = request.app[REGISTER]
            entry, created = await _db(
                request,
                lambda: register.put_external(
                    client.id, external_id, draft, by=f"api:{client.name}"
                ),
            )
        except OutageInputError as exc:
            await _api_audit(request, client, "outages.api.refused", external_id)
            return json_error(400, str(exc))
        if not created:
            await _follow(request, entry.id, f"api:{client.name}")
        await _api_audit(
            request,
            client,
            "outages.api.create" if created else "outages.api.update",
            f"outage:{entry.id} ext:{external_id}",
        )
        return web.json_response(
            entry.as_json(),
            status=201 if created else 200,
            dumps=lambda o: json.dumps(o, ensure_ascii=False),
        )
    except _ApiError as exc:
        return exc.response


@public
async def api_get(request: web.Request) -> web.Response:
    try:
        client = await _api_client(request)
        external_id = _external_id(request)
        try:
            entry = await _db(request, request.app[REGISTER].by_external, client.id, external_id)
        except NotFound:
            return json_error(404, f"отключение {external_id[:128]} не найдено")
        await _api_audit(request, client, "outages.api.read", f"outage:{entry.id}")
        return web.json_response(entry.as_json(), dumps=lambda o: json.dumps(o, ensure_ascii=False))
    except _ApiError as exc:
        return exc.response
    except OutageInputError as exc:
        return json_error(400, str(exc))


# -- errors and the app -----------------------------------------------------------------


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except NotFound as exc:
        return error_response(request, 404, str(exc))
    except OutageInputError as exc:
        return error_response(request, 400, str(exc))


def create_outages_app(services: Any, runtime: Any = None) -> web.Application:
    settings = services.settings
    app = web.Application(middlewares=[_errors], client_max_size=6 * 1024 * 1024)
    app[SERVICES] = services
    app[ZONE] = ZoneInfo(settings.timezone)
    app[REGISTER] = OutageRegister(services.db, clock=utcnow)
    app[CAMPAIGNS] = OutageCampaigns(
        services.db,
        app[ZONE],
        campaigns=getattr(services, "campaigns", None),
        sms=bool(settings.sms_kannel_url),
    )
    app[DETECTOR] = SurgeDetector(
        services.db,
        calls=int(settings.outage_surge_calls),
        minutes=int(settings.outage_surge_minutes),
    )
    r = app.router
    r.add_get("/", index)
    r.add_post("/new", new)
    r.add_post("/import", import_file)
    r.add_get("/alerts.json", alerts_json)
    r.add_post("/alerts/{alert_id:\\d+}/ack", acknowledge)
    r.add_get("/{outage_id:\\d+}", outage_page)
    r.add_post("/{outage_id:\\d+}/status", change_status)
    r.add_post("/{outage_id:\\d+}/eta", move_eta)
    r.add_post("/{outage_id:\\d+}/campaign", make_campaign)
    r.add_put("/api/v1/outages/{external_id}", api_put)
    r.add_get("/api/v1/outages/{external_id}", api_get)
    r.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app
