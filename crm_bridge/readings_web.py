"""Meter readings for billing over HTTP (REQ-T14): the ``/readings/`` sub-app.

* ``GET /readings/`` — a small page for the shift supervisor: how many
  accepted readings wait for billing, export by dates, "send to billing";
* ``GET /readings/export.csv`` / ``export.xlsx`` — accepted readings taken
  between ``from`` and ``to`` (``YYYY-MM-DD``, inclusive, company time zone;
  ``status=accepted|flagged|all``), the columns of
  :data:`crm_bridge.readings.EXPORT_HEADER`; each export is recorded in the
  audit log (``readings.export``);
* ``POST /readings/push`` — hands the readings not yet exported over to
  billing (:class:`crm_bridge.billing_push.BillingPush`: signed, idempotent,
  nothing lost when billing fails).

Access is the web edge's (:mod:`webedge`): the shift supervisor, logged in at
the one log-in page (``/login``) or — for the exports and the push, billing's
own scripts — with HTTP Basic authentication. Operators get 403; the edge
checks the CSRF token and the origin of the POST.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any, Final

from aiohttp import web

from crm_bridge.billing_push import DEFAULT_BATCH, MAX_BATCH, BillingPush, BillingUrlError
from crm_bridge.db import utcnow
from crm_bridge.models import OperatorRole, ReadingStatus
from crm_bridge.readings import ReadingService, export_csv, export_xlsx
from crm_bridge.webhook import webhook_secret
from webedge.edge import allow, audit, basic_auth, principal
from webedge.shell import error_response, render

__all__ = ["create_readings_app"]

TITLE: Final = "Показания приборов учёта"
SERVICES = web.AppKey("readings_services", object)
PUSH_LOCK = web.AppKey("readings_push_lock", asyncio.Lock)
LAST_PUSH = web.AppKey("readings_last_push", dict)

STATUSES: Final = {
    "accepted": (ReadingStatus.ACCEPTED,),
    "flagged": (ReadingStatus.FLAGGED,),
    "all": (ReadingStatus.ACCEPTED, ReadingStatus.FLAGGED),
}


class BadRequest(ValueError):
    """A parameter that cannot be used (HTTP 400, message in Russian)."""


def _services(request: web.Request) -> Any:
    return request.app[SERVICES]


def _service(request: web.Request) -> ReadingService:
    services = _services(request)
    return ReadingService.from_settings(services.db, services.settings)


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
        raise BadRequest(
            f"дата «с» ({lo.strftime('%d.%m.%Y')}) позже даты «по» ({hi.strftime('%d.%m.%Y')})"
        )
    return lo, hi


@allow(OperatorRole.SUPERVISOR)
async def index(request: web.Request) -> web.Response:
    services = _services(request)
    pending = await services.run_db(_service(request).pending_export)
    last: dict[str, Any] = request.app[LAST_PUSH]
    context = {
        "title": TITLE,
        "pending": pending,
        "billing_url": str(services.settings.readings_billing_url or ""),
        "last": dict(last),
        "push_url": request.app.router["push"].url_for(),
        "csv_url": request.app.router["export"].url_for(fmt="csv"),
        "xlsx_url": request.app.router["export"].url_for(fmt="xlsx"),
    }
    return render(request, "readings/index.html", context)


@allow(OperatorRole.SUPERVISOR)
@basic_auth
async def export(request: web.Request) -> web.Response:
    fmt = request.match_info["fmt"]
    status_name = request.query.get("status", "accepted")
    try:
        lo, hi = _range(request)
        if status_name not in STATUSES:
            raise BadRequest(f"status: accepted, flagged или all, получено «{status_name[:20]}»")
    except BadRequest as exc:
        return error_response(request, 400, str(exc))
    service = _service(request)

    def produce() -> bytes:
        rows = service.export_rows(lo, hi, statuses=STATUSES[status_name])
        return export_csv(rows) if fmt == "csv" else export_xlsx(rows)

    data = await _services(request).run_db(produce)
    span = "..".join(d.isoformat() if d is not None else "" for d in (lo, hi))
    await audit(request, "readings.export", f"{span} {status_name}")
    name = "-".join(d.isoformat() for d in (lo, hi) if d is not None) or "all"
    ctype = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return web.Response(
        body=data,
        headers={
            "Content-Type": ctype,
            "Content-Disposition": f'attachment; filename="readings-{name}.{fmt}"',
        },
    )


@allow(OperatorRole.SUPERVISOR)
@basic_auth
async def push(request: web.Request) -> web.StreamResponse:
    services = _services(request)
    url = str(services.settings.readings_billing_url or "")
    form = request.content_type == "application/x-www-form-urlencoded"
    if not url:
        return error_response(request, 409, "адрес биллинга (readings_billing_url) не настроен")
    raw = request.query.get("limit", "")
    if raw and (not raw.isdigit() or not 1 <= int(raw) <= MAX_BATCH):
        return error_response(
            request, 400, f"limit: число от 1 до {MAX_BATCH}, получено «{raw[:20]}»"
        )
    try:
        pusher = BillingPush(
            _service(request),
            url,
            secret=webhook_secret(services.settings),
            run_db=services.run_db,
            batch_size=int(raw) if raw else DEFAULT_BATCH,
        )
    except BillingUrlError as exc:
        return error_response(request, 400, str(exc))
    async with request.app[PUSH_LOCK]:
        result = await pusher.push()
    last: dict[str, Any] = request.app[LAST_PUSH]
    last.clear()
    last.update(result.as_json(), at=utcnow(), by=principal(request).name)
    if form:
        raise web.HTTPSeeOther(str(request.app.router["index"].url_for()))
    return web.json_response(result.as_json(), status=200 if result.ok else 502)


def create_readings_app(services: Any, runtime: Any = None) -> web.Application:
    """The ``/readings/`` sub-app (see the module docstring); the root
    application's edge and shell (:mod:`webedge`) serve it."""
    app = web.Application()
    app[SERVICES] = services
    app[PUSH_LOCK] = asyncio.Lock()
    app[LAST_PUSH] = {}
    r = app.router
    r.add_get("/", index, name="index")
    r.add_get("/export.{fmt:csv|xlsx}", export, name="export")
    r.add_post("/push", push, name="push")
    return app
