"""The visits pages and the card panel's API (``/visits/``, REQ-T11).

Pages (server-rendered, Russian):

* ``GET /visits/`` (supervisors): the offices with their hours, slot length
  and windows, and the form of a new office; ``POST /visits/offices/new``;
* ``GET /visits/offices/{id}`` (supervisors): the office's form, its days
  off (besides the production calendar's holidays); ``POST`` saves it,
  ``POST …/days-off`` adds a day off, ``POST …/days-off/delete`` removes one;
* ``GET /visits/offices/{id}/day?date=ГГГГ-ММ-ДД`` (supervisors and
  operators): the office's day list, printable (audited ``visits.day``).

The operator's panel on the caller's card (JSON, operators and supervisors,
each read audited):

* ``GET /visits/api/accounts/{account_id}``: the account's booked visits,
  the offices (the account's settlement's first) and the channels on file;
* ``GET /visits/api/offices/{id}/slots?date=ГГГГ-ММ-ДД``: the day's free slots
  (without a date: the next ones);
* ``POST /visits/api/accounts/{account_id}/visits`` ``{office_id, starts_at,
  notify}``, ``POST /visits/api/visits/{id}/move`` ``{starts_at}``,
  ``POST /visits/api/visits/{id}/cancel``.

A refusal (slot taken, office closed that day, bad date) is a 400/409 with
the reason in Russian; nothing is half-saved.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from crm_bridge.models import OperatorRole
from visits.service import (
    LEAD,
    AlreadyBooked,
    NotFound,
    OfficeDraft,
    SlotTaken,
    VisitError,
    VisitService,
)
from webedge.edge import allow, audit, principal
from webedge.shell import error_response, json_error, render

__all__ = ["create_visits_app"]

SERVICE = web.AppKey("visits_service", VisitService)
SERVICES = web.AppKey("visits_services", object)
STATIC_DIR: Final = Path(__file__).with_name("static")
SUPERVISOR: Final = OperatorRole.SUPERVISOR
DESK: Final = (OperatorRole.OPERATOR, OperatorRole.SUPERVISOR)
WEEKDAY_FIELDS: Final = tuple(f"hours_{d}" for d in range(7))
NOTIFY_RU: Final = {"email": "e-mail", "sms": "SMS", "none": "не отправляется"}
SOURCE_RU: Final = {"ivr": "голосовое меню", "operator": "оператор"}


def _db(request: web.Request, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    services: Any = request.app[SERVICES]
    return services.run_db(fn, *args)


def _int(raw: Any, what: str, lo: int, hi: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError as exc:
        raise VisitError(f"{what}: нужно целое число") from exc
    if not lo <= value <= hi:
        raise VisitError(f"{what}: от {lo} до {hi}")
    return value


def _date(raw: str) -> date:
    raw = raw.strip()
    for parse in (date.fromisoformat, lambda r: datetime.strptime(r, "%d.%m.%Y").date()):
        try:
            return parse(raw)
        except ValueError:
            continue
    raise VisitError(f"«{raw[:20]}» — нужна дата ДД.ММ.ГГГГ")


def _draft(form: Any) -> OfficeDraft:
    return OfficeDraft(
        name=str(form.get("name", ""))[:255],
        address=str(form.get("address", ""))[:512],
        settlement=str(form.get("settlement", ""))[:128],
        spoken=str(form.get("spoken", ""))[:1000],
        hours={d: str(form.get(f, ""))[:200] for d, f in enumerate(WEEKDAY_FIELDS)},
        slot_minutes=_int(form.get("slot_minutes", "30"), "длительность приёма, минут", 5, 240),
        capacity=_int(form.get("capacity", "1"), "окон приёма", 1, 50),
        horizon_days=_int(form.get("horizon_days", "14"), "запись вперёд, дней", 1, 90),
        active=bool(form.get("active")),
    )


def _form_of(office: Any) -> dict[str, Any]:
    out = {
        "name": office.name,
        "address": office.address,
        "settlement": office.settlement,
        "spoken": office.spoken,
        "slot_minutes": office.slot_minutes,
        "capacity": office.capacity,
        "horizon_days": office.horizon_days,
        "active": office.active,
    }
    for d, f in enumerate(WEEKDAY_FIELDS):
        out[f] = office.hours_text.get(d, "")
    return out


def _ctx(**extra: Any) -> dict[str, Any]:
    from visits.slots import WEEKDAYS_RU

    return {"weekdays": list(enumerate(WEEKDAYS_RU)), "title": "Офисы и запись на приём", **extra}


# -- offices (supervisors) --------------------------------------------------------------


@allow(SUPERVISOR)
async def index(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    offices = await _db(request, service.offices)
    return render(request, "visits/index.html", _ctx(offices=offices, form={"active": True}))


@allow(SUPERVISOR)
async def new_office(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    post = await request.post()
    form = {k: str(v) for k, v in post.items() if k != "csrf"}
    try:
        office = await _db(request, service.save_office, _draft(post))
    except VisitError as exc:
        offices = await _db(request, service.offices)
        return render(
            request,
            "visits/index.html",
            _ctx(offices=offices, form=form, error=str(exc)),
            status=400,
        )
    await audit(request, "visits.office.create", f"office:{office.id}")
    raise web.HTTPSeeOther(f"/visits/offices/{office.id}")


def _office_id(request: web.Request) -> int:
    return int(request.match_info["office_id"])


@allow(SUPERVISOR)
async def office_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    office = await _db(request, service.office, _office_id(request))
    saved = request.query.get("saved") == "1"
    return render(
        request,
        "visits/office.html",
        _ctx(office=office, form=_form_of(office), message="Сохранено." if saved else ""),
    )


@allow(SUPERVISOR)
async def save_office(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    office_id = _office_id(request)
    post = await request.post()
    try:
        await _db(request, service.save_office, _draft(post), office_id)
    except NotFound:
        raise
    except VisitError as exc:
        office = await _db(request, service.office, office_id)
        form = {k: str(v) for k, v in post.items() if k != "csrf"}
        return render(
            request,
            "visits/office.html",
            _ctx(office=office, form=form, error=str(exc)),
            status=400,
        )
    await audit(request, "visits.office.update", f"office:{office_id}")
    raise web.HTTPSeeOther(f"/visits/offices/{office_id}?saved=1")


@allow(SUPERVISOR)
async def add_day_off(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    office_id = _office_id(request)
    post = await request.post()
    try:
        day = _date(str(post.get("day", "")))
        await _db(request, service.add_day_off, office_id, day, str(post.get("reason", "")))
    except NotFound:
        raise
    except VisitError as exc:
        office = await _db(request, service.office, office_id)
        return render(
            request,
            "visits/office.html",
            _ctx(office=office, form=_form_of(office), error=str(exc)),
            status=400,
        )
    await audit(request, "visits.office.day_off", f"office:{office_id}")
    raise web.HTTPSeeOther(f"/visits/offices/{office_id}?saved=1")


@allow(SUPERVISOR)
async def remove_day_off(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    office_id = _office_id(request)
    post = await request.post()
    day = _date(str(post.get("day", "")))
    await _db(request, service.remove_day_off, office_id, day)
    await audit(request, "visits.office.day_off_removed", f"office:{office_id}")
    raise web.HTTPSeeOther(f"/visits/offices/{office_id}?saved=1")


@allow(*DESK)
async def day_list(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    office_id = _office_id(request)
    office = await _db(request, service.office, office_id)
    raw = request.query.get("date", "")
    day = _date(raw) if raw else datetime.now(office.zone).date()
    visits = await _db(request, service.day_list, office_id, day)
    reason = office.hours.closed_reason(day, service.calendar)
    await audit(request, "visits.day", f"office:{office_id} {day.isoformat()}")
    return render(
        request,
        "visits/day.html",
        _ctx(
            office=office,
            day=day,
            visits=visits,
            closed=reason,
            zone=office.zone,
            notify_ru=NOTIFY_RU,
            source_ru=SOURCE_RU,
            supervisor=principal(request).role == OperatorRole.SUPERVISOR,
        ),
    )


# -- the card's panel (operators) --------------------------------------------------------


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise VisitError("тело запроса — не JSON") from exc
    if not isinstance(data, dict):
        raise VisitError("тело запроса — не объект JSON")
    return data


def _when(raw: Any, zone: ZoneInfo) -> datetime:
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError as exc:
        raise VisitError("время визита не распознано") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


def _mask_phone(phone: str) -> str:
    return f"{phone[:2]}…{phone[-2:]}" if len(phone) > 4 else "…"


@allow(*DESK)
async def account_visits(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    account_id = int(request.match_info["account_id"])
    zone = service.zone

    def gather() -> dict[str, Any]:
        visits = service.upcoming(account_id)
        nearest = service.nearest_office(account_id)
        offices = service.offices(active_only=True)
        if nearest is not None:
            offices = [nearest, *(o for o in offices if o.id != nearest.id)]
        channels = {}
        for prefer in ("email", "sms"):
            try:
                c = service.contact_for(account_id, prefer)
                channels[prefer] = (
                    _mask_phone(c.address or "") if prefer == "sms" else "на адрес из карточки"
                )
            except VisitError:
                continue
        return {
            "visits": [v.as_json(zone) for v in visits],
            "offices": [{"id": o.id, "name": o.name, "address": o.address} for o in offices],
            "channels": channels,
        }

    data = await _db(request, gather)
    await audit(request, "visits.account", f"account:{account_id}")
    return _json(data)


@allow(*DESK)
async def office_slots(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    office_id = _office_id(request)
    raw = request.query.get("date", "")
    day = _date(raw) if raw else None
    office = await _db(request, service.office, office_id)
    slots = await _db(
        request, lambda: service.free_slots(office_id, day=day, limit=200 if day else 12)
    )
    closed = office.hours.closed_reason(day, service.calendar) if day else None
    return _json(
        {
            "office": office.name,
            "closed": closed,
            "lead_minutes": int(LEAD.total_seconds() // 60),
            "slots": [
                {
                    "starts_at": s.starts_at.isoformat(),
                    "label": s.starts_at.astimezone(office.zone).strftime("%d.%m.%Y %H:%M"),
                    "free": s.free,
                }
                for s in slots
            ],
        }
    )


@allow(*DESK)
async def book(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    who = principal(request)
    account_id = int(request.match_info["account_id"])
    body = await _body(request)
    office_id = _int(body.get("office_id"), "офис", 1, 2**31)
    starts_at = _when(body.get("starts_at"), service.zone)
    notify = str(body.get("notify", "auto"))
    if notify not in ("auto", "email", "sms", "none"):
        raise VisitError("способ подтверждения: e-mail, SMS или не отправлять")

    def run() -> Any:
        contact = service.contact_for(account_id, notify)
        return service.book(
            office_id,
            account_id,
            starts_at,
            source="operator",
            by=who.login,
            contact=contact,
            topic=str(body.get("topic", ""))[:255] or "запись оператором",
        )

    visit = await _db(request, run)
    await audit(request, "visits.book", f"visit:{visit.id} account:{account_id}")
    return _json(visit.as_json(service.zone), status=201)


@allow(*DESK)
async def move(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    who = principal(request)
    visit_id = int(request.match_info["visit_id"])
    body = await _body(request)
    starts_at = _when(body.get("starts_at"), service.zone)
    visit = await _db(request, lambda: service.move(visit_id, starts_at, by=who.login))
    await audit(request, "visits.move", f"visit:{visit_id}")
    return _json(visit.as_json(service.zone))


@allow(*DESK)
async def cancel(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    who = principal(request)
    visit_id = int(request.match_info["visit_id"])
    visit = await _db(request, lambda: service.cancel(visit_id, by=who.login))
    await audit(request, "visits.cancel", f"visit:{visit_id}")
    return _json(visit.as_json(service.zone))


# -- errors and the app -----------------------------------------------------------------


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    api = request.path.startswith("/visits/api/")
    try:
        return await handler(request)
    except NotFound as exc:
        return json_error(404, str(exc)) if api else error_response(request, 404, str(exc))
    except (SlotTaken, AlreadyBooked) as exc:
        return json_error(409, str(exc)) if api else error_response(request, 409, str(exc))
    except VisitError as exc:
        return json_error(400, str(exc)) if api else error_response(request, 400, str(exc))


def create_visits_app(services: Any, runtime: Any = None) -> web.Application:
    settings = services.settings
    app = web.Application(middlewares=[_errors])
    app[SERVICES] = services
    app[SERVICE] = VisitService(services.db, services.crm.calendar, zone=settings.timezone)
    r = app.router
    r.add_get("/", index)
    r.add_post("/offices/new", new_office)
    r.add_get("/offices/{office_id:\\d+}", office_page)
    r.add_post("/offices/{office_id:\\d+}", save_office)
    r.add_post("/offices/{office_id:\\d+}/days-off", add_day_off)
    r.add_post("/offices/{office_id:\\d+}/days-off/delete", remove_day_off)
    r.add_get("/offices/{office_id:\\d+}/day", day_list)
    r.add_get("/api/accounts/{account_id:\\d+}", account_visits)
    r.add_post("/api/accounts/{account_id:\\d+}/visits", book)
    r.add_get("/api/offices/{office_id:\\d+}/slots", office_slots)
    r.add_post("/api/visits/{visit_id:\\d+}/move", move)
    r.add_post("/api/visits/{visit_id:\\d+}/cancel", cancel)
    r.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app
