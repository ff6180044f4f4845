"""The appeal's life in a page (``/appeals/``, issue 14).

* ``/appeals/``: the appeals with filters, and the supervisor's lists —
  overdue, due within a day, due soon, and the REQ-A12 measures terms;
* ``/appeals/{id}``: everything about one appeal (the 11 journal fields of
  REQ-A3, its terms, reply channel and contact, the linked call and its
  recordings through the operator's routes, the notices sent, the history)
  and its actions (``POST /appeals/{id}/{action}``, JSON, see
  :mod:`supervision.life`);
* ``/appeals/journal.{csv|xlsx}``: the journal exactly as the form of seed
  002 §3 (11 columns), or ``?variant=extended`` (17 columns); supervisors.

A supervisor sees every appeal, an operator only those he works with (the
rule of :func:`crm_bridge.web.may_change`). Every read of an appeal's page,
every action and every export goes to the audit log (152-FZ); every action
to the appeal's history. An extension by e-mail waits for the letter to be
accepted by the mail server before the term moves (REQ-A9).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from autoinformer.email import SmtpConfig
from crm_bridge.appeals import (
    CHANNEL_RU,
    FORM_COLUMNS,
    JOURNAL_COLUMNS,
    KIND_RU,
    AppealView,
    RefusalRequired,
    export_csv,
    export_xlsx,
)
from crm_bridge.card import STATUS_RU
from crm_bridge.errors import ExtensionNotAllowed, InvalidTransition, NotFound
from crm_bridge.models import (
    AppealChannel,
    AppealStatus,
    ClassificationCode,
    ComplaintCategory,
    Decision,
    NotConsideredReason,
    OperatorRole,
)
from crm_bridge.web import may_change, parse_date
from supervision.deps import SupervisionDeps
from supervision.life import REPLY_TITLES, AppealLife, CannotInform, LifeError, Told
from supervision.notices import NoticeSender, last_day
from webedge.edge import allow, audit, principal
from webedge.sessions import Principal
from webedge.shell import error_response, json_error, render

__all__ = ["create_appeals_app"]

log = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).with_name("static") / "appeals"
SERVICES = web.AppKey("appeals_services", SupervisionDeps)
LIFE = web.AppKey("appeals_life", AppealLife)
SENDER = web.AppKey("appeals_sender", NoticeSender)
WORKPLACE: Final = (OperatorRole.OPERATOR, OperatorRole.SUPERVISOR)
LIST_LIMIT: Final = 200
EXPORT_LIMIT: Final = 100_000
DELIVERY_TIMEOUT: Final = 30.0
"""Seconds the page waits for the mail server to take an extension letter."""
CHANNEL_TITLES: Final = CHANNEL_RU
"""The channels' Russian titles (the journal's)."""


KIND_TITLES: Final = KIND_RU


class BadRequest(LifeError):
    """A request parameter the page cannot use."""


class DeliveryFailed(Exception):
    """The extension letter did not reach the mail server (HTTP 502)."""


# -- helpers ------------------------------------------------------------------------


def _life(request: web.Request) -> AppealLife:
    return request.app[LIFE]


async def _db(request: web.Request, fn: Callable[..., Any], *args: Any) -> Any:
    return await request.app[SERVICES].run_db(fn, *args)


def _zone(request: web.Request) -> ZoneInfo:
    return _life(request).zone


def _appeal_id(request: web.Request) -> int:
    try:
        return int(request.match_info["appeal_id"])
    except ValueError as exc:
        raise NotFound("нет такого обращения") from exc


async def _allowed(request: web.Request, appeal_id: int) -> Principal:
    """The supervisor: any appeal; an operator: the ones he works with."""
    who = principal(request)
    await _db(request, may_change, request.app[SERVICES].db, appeal_id, who)
    return who


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("тело запроса должно быть JSON") from exc
    if not isinstance(data, dict):
        raise BadRequest("тело запроса должно быть объектом JSON")
    return data


def _text(data: dict[str, Any], name: str, limit: int = 4000) -> str:
    return str(data.get(name) or "").strip()[:limit]


def _local_dt(raw: str, zone: ZoneInfo, what: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(f"{what}: дата и время в виде ГГГГ-ММ-ДДTЧЧ:ММ") from exc
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _day(raw: str, zone: ZoneInfo, what: str) -> datetime | None:
    """A filter's date (the operator journal's rule), its error as this page's."""
    try:
        return parse_date(raw, zone, what)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


def _as_json(a: AppealView, zone: ZoneInfo) -> dict[str, Any]:
    due = a.effective_due_at
    return {
        "id": a.id,
        "number": a.number,
        "status": a.status.value,
        "status_ru": STATUS_RU[a.status],
        "due_at": due.isoformat() if due else None,
        "due_day": last_day(due, zone).strftime("%d.%m.%Y") if due else None,
        "extended_days": a.extended_days,
        "reply_channel": a.reply_channel.value if a.reply_channel else None,
    }


# -- errors -------------------------------------------------------------------------


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except NotFound as exc:
        return error_response(request, 404, _ru_not_found(exc))
    except (InvalidTransition, ExtensionNotAllowed, CannotInform) as exc:
        return _error(request, 409, _ru_conflict(exc))
    except (LifeError, RefusalRequired) as exc:
        return _error(request, 400, str(exc))
    except DeliveryFailed as exc:
        return _error(request, 502, str(exc))


def _error(request: web.Request, status: int, message: str) -> web.Response:
    if request.method == "GET":
        return error_response(request, status, message)
    return json_error(status, message)


def _ru_not_found(exc: Exception) -> str:
    text = str(exc)
    return "обращение не найдено" if text.startswith("no appeal") else text


def _ru_conflict(exc: Exception) -> str:
    """The CRM's English transition errors said in Russian."""
    text = str(exc)
    if isinstance(exc, InvalidTransition):
        number = text.split(":")[0].removeprefix("appeal ").split(" ")[0]
        return f"обращение {number}: это действие недоступно в его текущем состоянии"
    if text.startswith("appeal ") and "category А" in text:
        return "типовая жалоба (категория А) не продлевается (REQ-A6)"
    if text.startswith("appeal ") and "already extended" in text:
        if "overall cap" in text:
            return "срок уже продлён: жалобой с продлением обращение превысило бы 21 день"
        return "срок уже продлён: типовой (А) или срочной жалобой обращение стать не может"
    return text


# -- the list -----------------------------------------------------------------------


def _filters(request: web.Request, zone: ZoneInfo) -> tuple[dict[str, str], dict[str, Any]]:
    """The list's filters as given, and as ``AppealService.search`` arguments."""
    q = request.query
    filters = {
        k: q.get(k, "").strip()[:200] for k in ("text", "status", "code", "channel", "from", "to")
    }
    args: dict[str, Any] = {"text": filters["text"] or None}
    start = _day(filters["from"], zone, "с")
    end = _day(filters["to"], zone, "по")
    args["date_from"] = start
    args["date_to"] = end + timedelta(days=1) if end else None
    try:
        if filters["status"]:
            args["status"] = AppealStatus(filters["status"])
        if filters["code"]:
            args["code"] = ClassificationCode(filters["code"])
        if filters["channel"]:
            args["channel"] = AppealChannel(filters["channel"])
    except ValueError as exc:
        raise BadRequest("неизвестное значение фильтра") from exc
    return filters, args


@allow(*WORKPLACE)
async def index(request: web.Request) -> web.Response:
    """The appeals with filters and the deadline lists."""
    who = principal(request)
    life = _life(request)
    zone = _zone(request)
    filters, args = _filters(request, zone)
    args["limit"] = LIST_LIMIT
    scope = None if who.supervisor else who.operator_id
    if scope is not None:
        args["worked_by"] = scope

    def lists() -> dict[str, list[AppealView]]:
        return {
            "found": life.appeals.search(**args),
            "overdue": life.overdue(worked_by=scope),
            "day": life.due_within(timedelta(days=1), worked_by=scope),
            "soon": life.due_within(timedelta(days=3), worked_by=scope, after=timedelta(days=1)),
            "measures": life.measures_due(timedelta(days=1), worked_by=scope),
        }

    found = await _db(request, lists)
    await audit(request, "appeals.list", urlencode(filters)[:128])
    return render(
        request,
        "appeals/list.html",
        {
            "title": "Обращения",
            "f": filters,
            "qs": urlencode({k: v for k, v in filters.items() if v}),
            "lists": found,
            "statuses": [(s.value, STATUS_RU[s]) for s in AppealStatus],
            "codes": list(ClassificationCode),
            "channels": list(CHANNEL_TITLES.items()),
            "status_ru": STATUS_RU,
            "supervisor": who.supervisor,
            "last_day": lambda d: last_day(d, zone).strftime("%d.%m.%Y") if d else "",
        },
    )


# -- one appeal ---------------------------------------------------------------------


@allow(*WORKPLACE)
async def appeal_page(request: web.Request) -> web.Response:
    appeal_id = _appeal_id(request)
    await _allowed(request, appeal_id)
    life = _life(request)
    zone = _zone(request)
    page = await _db(request, life.page, appeal_id)
    await audit(request, "appeal.view", f"appeal:{appeal_id}")
    a: AppealView = page.appeal
    journal = life.appeals.journal_rows([a])[0]
    values = journal.values(FORM_COLUMNS)
    fields = [
        (title, v.strftime("%d.%m.%Y %H:%M") if isinstance(v, datetime) else (v or ""))
        for (_, title), v in zip(FORM_COLUMNS, values, strict=True)
    ]
    return render(
        request,
        "appeals/appeal.html",
        {
            "title": f"Обращение № {a.number}",
            "a": a,
            "page": page,
            "fields": fields,
            "status_ru": STATUS_RU[a.status],
            "channel_ru": CHANNEL_TITLES[a.channel],
            "kind_ru": KIND_TITLES.get(a.kind, a.kind.value),
            "reply_titles": list(REPLY_TITLES.items()),
            "reply_ru": REPLY_TITLES.get(a.reply_channel, "") if a.reply_channel else "",
            "decisions": list(Decision),
            "reasons": list(NotConsideredReason),
            "codes": list(ClassificationCode),
            "categories": list(ComplaintCategory),
            "last_day": lambda d: last_day(d, zone).strftime("%d.%m.%Y") if d else "",
            "now_local": life.now().astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "supervisor": principal(request).supervisor,
        },
    )


@allow(*WORKPLACE)
async def action(request: web.Request) -> web.Response:
    """``POST /appeals/{id}/{action}`` (JSON) — see :mod:`supervision.life`."""
    appeal_id = _appeal_id(request)
    who = await _allowed(request, appeal_id)
    name = request.match_info["action"]
    data = await _json(request)
    life = _life(request)
    zone = _zone(request)
    me = who.operator_id
    view: AppealView
    if name == "pass":
        to = _text(data, "to", 255)
        at = _local_dt(_text(data, "at", 32), zone, "дата передачи")
        view = await _db(request, lambda: life.pass_to(appeal_id, me, to, at))
    elif name == "answer-received":
        view = await _db(request, life.answer_received, appeal_id, me)
    elif name == "answer":
        text = _text(data, "text")
        channel = _text(data, "channel", 16) or None
        contact = _text(data, "contact", 255) or None
        view = await _db(
            request,
            lambda: life.answer(appeal_id, me, text=text, channel=channel, contact=contact),
        )
    elif name == "close":
        note = _text(data, "note")
        decision = _text(data, "decision", 16) or None
        refusal = _text(data, "refusal") or None
        view = await _db(
            request,
            lambda: life.close(appeal_id, me, note=note, decision=decision, refusal=refusal),
        )
    elif name == "complaint":
        category = _text(data, "category", 4)
        urgent = bool(data.get("urgent"))
        view = await _db(request, lambda: life.complaint(appeal_id, me, category, urgent))
    elif name == "not-considered":
        reason = _text(data, "reason", 64)
        note = _text(data, "note")
        view = await _db(request, lambda: life.not_considered(appeal_id, me, reason, note))
    elif name == "contact":
        channel = _text(data, "channel", 16)
        contact = _text(data, "contact", 255)
        view = await _db(request, lambda: life.contact(appeal_id, me, channel, contact))
    elif name == "classify":
        code = _text(data, "code", 8)
        view = await _db(request, lambda: life.classify(appeal_id, me, code))
    else:
        return await _extend(request, appeal_id, me, data)
    await audit(request, f"appeal.{name}", f"appeal:{appeal_id}")
    log.info("appeal %s: %s by operator %s", appeal_id, name, me)
    return web.json_response(_as_json(view, zone))


async def _extend(
    request: web.Request, appeal_id: int, me: int, data: dict[str, Any]
) -> web.Response:
    """REQ-A9: the customer is told first — by e-mail (the page waits for the
    mail server to take the letter) or, reached by phone, by a person whose
    name and time are recorded; otherwise the term does not move."""
    life = _life(request)
    zone = _zone(request)
    try:
        days = int(str(data.get("days", "")).strip())
    except ValueError as exc:
        raise BadRequest("на сколько дней продлить: целое число") from exc
    reason = _text(data, "reason", 500)
    if not reason:
        raise BadRequest("укажите причину продления")
    told_by = _text(data, "told_by", 100)
    if told_by:
        told_at = _local_dt(_text(data, "told_at", 32), zone, "когда сообщили клиенту")
        told = Told(told_by, told_at or life.now())
        view = await _db(request, lambda: life.extend(appeal_id, me, days, reason, told=told))
        await audit(request, "appeal.extend", f"appeal:{appeal_id}")
        return web.json_response({**_as_json(view, zone), "informed": "phone"})
    try:
        notice_id = await _db(request, life.email_for_extension, appeal_id, me, days, reason)
    except CannotInform as exc:
        await _db(request, life.record_refused_extension, appeal_id, me, days, str(exc))
        raise
    out = await _db(request, life.notices.get_outgoing, notice_id)
    try:
        delivery = await asyncio.wait_for(
            request.app[SENDER].deliver(out, retry=False), DELIVERY_TIMEOUT
        )
    except TimeoutError as exc:
        # The letter stays "sending" (its fate unknown until the restart's
        # recovery marks it lost); the term does not move.
        raise DeliveryFailed(
            "почтовый сервер не ответил вовремя: срок не продлён, проверьте позже"
        ) from exc
    if not delivery.sent:
        why = delivery.error or "письмо не доставлено"
        await _db(request, life.record_refused_extension, appeal_id, me, days, why)
        raise DeliveryFailed(f"письмо клиенту не доставлено ({why}): срок не продлён")
    view = await _db(request, lambda: life.extend(appeal_id, me, days, reason, notice_id=notice_id))
    await audit(request, "appeal.extend", f"appeal:{appeal_id}")
    return web.json_response({**_as_json(view, zone), "informed": "email", "notice": notice_id})


# -- the journal as the form (REQ-A3) ----------------------------------------------------


@allow(OperatorRole.SUPERVISOR)
async def journal_export(request: web.Request) -> web.Response:
    """Exactly the 11 columns of the form of seed 002 §3 (default) or the
    extended journal (``?variant=extended``), CSV or XLSX; audited."""
    fmt = request.match_info["fmt"]
    extended = request.query.get("variant") == "extended"
    columns = JOURNAL_COLUMNS if extended else FORM_COLUMNS
    _, args = _filters(request, _zone(request))
    service = _life(request).appeals

    def produce() -> bytes:
        views = service.search(newest_first=False, limit=EXPORT_LIMIT, **args)
        rows = service.journal_rows(views)
        if fmt == "csv":
            buf = io.StringIO(newline="")
            export_csv(rows, buf, columns=columns)
            return buf.getvalue().encode("utf-8")
        with tempfile.TemporaryDirectory(prefix="hotline-appeals-") as tmp:
            path = Path(tmp) / "journal.xlsx"
            export_xlsx(rows, path, columns=columns)
            return path.read_bytes()

    body = await _db(request, produce)
    variant = "extended" if extended else "form"
    await audit(request, "journal.export", f"{fmt} {variant} {request.query_string}"[:128])
    ctype = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    name = f"journal-{variant}.{fmt}"
    return web.Response(
        body=body,
        headers={"Content-Type": ctype, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def create_appeals_app(services: SupervisionDeps, runtime: Any = None) -> web.Application:
    """The ``/appeals/`` sub-app (see the module docstring)."""
    app = web.Application(middlewares=[_errors])
    settings = services.settings
    life = AppealLife(services.db, services.crm.appeals, node=settings.node_name)
    app[SERVICES] = services
    app[LIFE] = life
    app[SENDER] = NoticeSender(services.run_db, life.notices, SmtpConfig.from_settings(settings))
    r = app.router
    r.add_get("/", index)
    r.add_get("/journal.{fmt:csv|xlsx}", journal_export)
    r.add_get("/{appeal_id:\\d+}", appeal_page)
    r.add_post(
        "/{appeal_id:\\d+}/{action:pass|answer-received|answer|close|complaint|"
        "not-considered|contact|classify|extend}",
        action,
    )
    r.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app
