"""The dispatcher console (REQ-O1–O4, O10): an aiohttp sub-app at /dispatcher/.

Behind the one web edge (:mod:`webedge`): the log-in page, the session, the
roles, CSRF and the security headers are the edge's; every handler here
declares its roles — dispatchers and supervisors — and the service decides
who may approve (a supervisor who neither created nor changed the campaign,
REQ-O10). Pages in Russian, rendered from the templates in
``autoinformer/templates/dispatcher/``: campaigns, create, import a list
(CSV/XLSX) with the rejected-rows report, build from the CRM, preview,
approve, launch, pause, resume, stop; live monitoring over a WebSocket
(lines in use, calls in progress, progress, results, positive-call rate,
ETA; ``static/monitor.js``); reports as CSV/XLSX and an SVG chart. What
shows personal data is audited (:func:`webedge.edge.audit`): the campaign
page (``campaign.view``: the preview with a contact's account and debt, the
rejected rows with phone numbers), the spoken preview (``campaign.preview``)
and the reports (``campaign.report``).

Handlers are thin: they parse, call one service (through ``run_db``) and
render. :class:`CampaignError` becomes a 400 with its Russian message (a
:class:`NotAllowed` a 403), once, here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import WSMsgType, web
from sqlalchemy import select

from autoinformer.campaigns import (
    ACTION_TITLES,
    APPROVER_ROLES,
    KIND_TITLES,
    RESULT_TITLES,
    STAFF_ROLES,
    STATUS_TITLES,
    CampaignError,
    CampaignService,
    Kind,
    NotAllowed,
    allowed_actions,
    message_variables,
)
from autoinformer.contacts import ContactListService
from autoinformer.deps import AutoinformerDeps
from autoinformer.models import ContactImport
from autoinformer.outlook import (
    CALL_STATE_TITLES,
    HELD_TITLES,
    TimelineFeed,
    call_details,
    chart_data,
    monitor_view,
    outlook,
)
from autoinformer.preview import message_wav
from autoinformer.reports import chart, csv_report, xlsx_report
from autoinformer.tables import CellError, parse_datetime
from webedge.edge import allow, audit, guard_socket, principal, streams_upload
from webedge.shell import error_response, render

log = logging.getLogger(__name__)

__all__ = ["STAFF", "create_dispatcher_app"]

SERVICES = web.AppKey("ai_services", AutoinformerDeps)
RUNTIME = web.AppKey("ai_runtime", object)
STATIC: Final = Path(__file__).with_name("static")
STAFF: Final = STAFF_ROLES
"""Who uses the console (approval is narrower: :meth:`CampaignService.approve`)."""
COALESCE: Final = 0.05
"""Seconds: the monitor's snapshots of a busy campaign are at least this far apart."""
REJECTED_SHOWN: Final = 200
"""At most this many rejected rows of the last import are listed on the page."""

staff = allow(*STAFF)


def create_dispatcher_app(services: AutoinformerDeps, runtime: Any = None) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[SERVICES] = services
    app[RUNTIME] = runtime
    r = app.router
    r.add_get("/", index)
    r.add_post("/campaigns", create)
    r.add_get("/campaigns/{id}", campaign_page)
    r.add_post("/campaigns/{id}/import", import_list)
    r.add_post("/campaigns/{id}/from-debtors", from_debtors)
    r.add_post("/campaigns/{id}/from-addresses", from_addresses)
    r.add_get("/approvals", approvals)
    r.add_get("/campaigns/{id}/review", review)
    r.add_get("/campaigns/{id}/stop", confirm_stop)
    r.add_post("/campaigns/{id}/refuse", refuse)
    r.add_post("/campaigns/{id}/{action:submit|approve|launch|pause|resume|stop}", action)
    r.add_get("/campaigns/{id}/stats", stats_json)
    r.add_get("/campaigns/{id}/preview.wav", preview_audio)
    r.add_get("/campaigns/{id}/report.csv", report_csv)
    r.add_get("/campaigns/{id}/report.xlsx", report_xlsx)
    r.add_get("/ws", monitor_ws)
    from autoinformer.builder_web import add_builder_routes

    add_builder_routes(r)
    # The contact list's and the do-not-call list's pages (autoinformer.lists_web).
    from autoinformer.lists_web import add_list_routes

    add_list_routes(r)
    r.add_static("/static/", STATIC)  # the monitor's script (public, as every static file)
    return app


# -- errors ----------------------------------------------------------------------------


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A refused campaign operation: its Russian message on the one error page."""
    try:
        return await handler(request)
    except NotAllowed as exc:
        return error_response(request, 403, _sentence(str(exc)))
    except CampaignError as exc:
        return error_response(request, 400, _sentence(str(exc)))


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


def _base(request: web.Request) -> str:
    """Where the console is mounted (``/dispatcher/``)."""
    path = request.path
    idx = path.find("/dispatcher/")
    return path[: idx + len("/dispatcher/")] if idx >= 0 else "/"


def _svc(request: web.Request) -> AutoinformerDeps:
    return request.app[SERVICES]


async def _db(request: web.Request, fn: Any, *args: Any) -> Any:
    return await _svc(request).run_db(fn, *args)


def _staff_names(db: Any, logins: list[str | None]) -> dict[str, str]:
    """«Name (login)» of the staff who created, changed, sent or approved a
    campaign, as the pages show them; a login no longer on file as it is."""
    from crm_bridge.models import Operator

    wanted = {login for login in logins if login}
    if not wanted:
        return {}
    with db.session(readonly=True) as s:
        rows = s.execute(select(Operator.login, Operator.name).where(Operator.login.in_(wanted)))
        names = {login: f"{name} ({login})" for login, name in rows if name and name != login}
    return {login: names.get(login, login) for login in wanted}


def _lists(request: web.Request) -> ContactListService:
    svc = _svc(request)
    return ContactListService(svc.db, svc.settings.timezone)


def _to_campaign(request: web.Request, cid: int) -> web.HTTPFound:
    return web.HTTPFound(_base(request) + f"campaigns/{cid}")


# -- pages -----------------------------------------------------------------------------


@staff
async def index(request: web.Request) -> web.Response:
    service = _svc(request).campaigns
    campaigns = await _db(request, service.all)
    return render(
        request,
        "dispatcher/index.html",
        {
            "title": "Пульт диспетчера автоинформатора",
            "base": _base(request),
            "campaigns": campaigns,
            "awaiting": sum(1 for c in campaigns if c.status == "submitted"),
            "kinds": list(Kind),
            "kind_titles": KIND_TITLES,
            "status_titles": STATUS_TITLES,
            "tz": _svc(request).settings.timezone,
        },
    )


def _local(value: str, tz: str, what: str = "дата") -> datetime | None:
    """A date-time typed in the form, in the centre's zone: ДД.ММ.ГГГГ ЧЧ:ММ
    (or ДД.ММ.ГГГГ, midnight) as people type it, or ISO as the browser's
    date-time field sends it."""
    value = value.strip()
    if not value:
        return None
    try:
        return parse_datetime(value).replace(tzinfo=ZoneInfo(tz))
    except CellError as exc:
        raise CampaignError(f"{what}: {exc}") from exc


@staff
async def create(request: web.Request) -> web.Response:
    form = await request.post()
    tz = _svc(request).settings.timezone
    service = _svc(request).campaigns
    try:
        max_attempts = int(str(form.get("max_attempts") or 3))
    except ValueError as exc:
        raise CampaignError("число попыток — целое число") from exc
    options: dict[str, Any] = {
        "max_attempts": max_attempts,
        "amd": str(form.get("amd") or "off"),
        "email_enabled": bool(form.get("email_enabled")),
        "outage_start": _local(str(form.get("outage_start") or ""), tz, "начало отключения"),
        "outage_end": _local(str(form.get("outage_end") or ""), tz, "окончание отключения"),
    }
    if options["outage_start"] and options["outage_end"]:
        if options["outage_end"] <= options["outage_start"]:
            raise CampaignError("окончание отключения должно быть позже его начала")
    elif str(form.get("kind")) == Kind.PLANNED_OUTAGE and (
        options["outage_start"] or options["outage_end"]
    ):
        raise CampaignError("укажите и начало, и окончание планового отключения")
    if options["outage_start"] is not None:
        options["outage_decided_at"] = datetime.now(ZoneInfo(tz))
    if chosen := [str(v) for v in form.getall("channels", [])]:
        options["channels"] = ",".join(chosen)  # one after another (REQ-O12)
    who = principal(request)
    cid = await _db(
        request,
        lambda: service.create(
            str(form.get("name", "")),
            str(form.get("kind", "debt")),
            start_at=_local(str(form.get("start") or ""), tz, "начало кампании"),
            end_at=_local(str(form.get("end") or ""), tz, "окончание кампании"),
            created_by=who.login,
            **options,
        ),
    )
    raise _to_campaign(request, cid)


def _cid(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as exc:
        raise web.HTTPNotFound() from exc


def _last_import(db: Any, cid: int) -> ContactImport | None:
    with db.session(readonly=True) as s:
        return s.scalars(
            select(ContactImport)
            .where(ContactImport.campaign_id == cid)
            .order_by(ContactImport.id.desc())
            .limit(1)
        ).first()


REVIEW_PAGE: Final = 100
"""Contacts per page of the approver's review (REQ-O10)."""


def _approval_note(c: Any, role: str, edited: bool) -> str:
    """What the user should know about the approval in the campaign's state."""
    if c.status == "draft":
        return "Когда список и текст сообщения готовы, отправьте кампанию на утверждение."
    if c.status != "submitted":
        return ""
    if role not in APPROVER_ROLES:
        return "Кампания на утверждении: её утверждает руководитель."
    if edited:
        return (
            "Утвердить кампанию может только руководитель, который её не создавал "
            "и не изменял (правило четырёх глаз)."
        )
    return ""


def _channels_line(raw: str | None) -> str:
    """«СМС → звонок» (the campaign's order; each customer's chosen form goes first)."""
    from autoinformer.channels import CHANNEL_TITLES, parse_channels

    return " → ".join(CHANNEL_TITLES[c] for c in parse_channels(raw))


def _sms_preview(service: CampaignService, cid: int) -> str | None:
    """The SMS text as the first contact would get it (None: no SMS in the campaign)."""
    from autoinformer.sms_text import sms_text

    c = service.get(cid)
    if "sms" not in (c.channels or ""):
        return None
    contact = service.contact(cid)
    variables = contact.variables if contact is not None else {}
    tz = contact.timezone if contact is not None else None
    return sms_text(c, message_variables(c, variables), tz)


@staff
async def campaign_page(request: web.Request) -> web.Response:
    cid = _cid(request)
    svc = _svc(request)
    service = svc.campaigns
    tz = svc.settings.timezone
    c = await _db(request, service.get, cid)
    st = await _db(request, service.stats, cid)
    preview = await _db(request, service.preview, cid)
    sms = await _db(request, _sms_preview, service, cid) if c.channels else None
    imp = await _db(request, _last_import, svc.db, cid)
    editors = await _db(request, service.editors, cid)
    names = await _db(
        request,
        _staff_names,
        svc.db,
        [*editors, c.approved_by, c.submitted_by, c.refused_by],
    )
    timeline = await _db(request, lambda: service.timeline(cid, tz=tz))
    ahead = await _db(
        request, lambda: outlook(service, cid, finished=st.finished, in_flight=st.in_flight)
    )
    who = principal(request)
    edited = who.login in editors or who.login == c.created_by
    role = who.role.value
    buttons = [(a, ACTION_TITLES[a]) for a in allowed_actions(c.status, role, edited=edited)]
    # The preview shows a contact's account and debt, the rejected rows phone
    # numbers (152-FZ).
    await audit(request, "campaign.view", f"campaign:{cid}")
    return render(
        request,
        "dispatcher/campaign.html",
        {
            "title": f"Кампания № {cid}",
            "base": _base(request),
            "c": c,
            "kind_title": KIND_TITLES[Kind(c.kind)],
            "status_title": STATUS_TITLES.get(c.status, c.status),
            "buttons": buttons,
            "approval_note": _approval_note(c, role, edited),
            "editors": editors,
            "names": names,
            "editable": c.status in ("draft", "submitted", "approved"),
            "preview": preview,
            "channels": _channels_line(c.channels),
            "sms_preview": sms,
            "imp": imp,
            "rejected": imp.report[:REJECTED_SHOWN] if imp is not None else [],
            "st": st,
            "chart": chart(timeline),
            "chart_data": chart_data(timeline),
            "outlook": ahead,
            "held_titles": HELD_TITLES,
            "trunk_problem": svc.dialer.trunk_problem if svc.dialer is not None else None,
            "monitor": {
                "campaign": cid,
                "ws": _base(request) + "ws",
                "results": RESULT_TITLES,
                "statuses": STATUS_TITLES,
                "held": HELD_TITLES,
                "call_states": CALL_STATE_TITLES,
            },
        },
    )


# -- actions ---------------------------------------------------------------------------


@staff
@streams_upload
async def import_list(request: web.Request) -> web.Response:
    """A CSV/XLSX upload, streamed (the CSRF token comes in the query)."""
    cid = _cid(request)
    if not request.content_type.startswith("multipart/"):
        raise CampaignError("выберите файл CSV или XLSX")
    data = b""
    filename = ""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if getattr(part, "name", None) == "file":
                filename = getattr(part, "filename", None) or "list.csv"
                data = await part.read(decode=False)  # type: ignore[union-attr]
    except ValueError as exc:
        raise CampaignError("форма загрузки повреждена: выберите файл ещё раз") from exc
    if not data:
        raise CampaignError("файл не выбран или пуст")
    lists = _lists(request)
    login = principal(request).login
    await _db(request, lambda: lists.import_file(cid, bytes(data), filename, by=login))
    raise _to_campaign(request, cid)


@staff
async def from_debtors(request: web.Request) -> web.Response:
    cid = _cid(request)
    form = await request.post()
    try:
        min_debt = float(str(form.get("min_debt") or 0))
    except ValueError as exc:
        raise CampaignError("сумма долга — число") from exc
    lists = _lists(request)
    login = principal(request).login
    await _db(request, lambda: lists.from_debtors(cid, min_debt, by=login))
    raise _to_campaign(request, cid)


@staff
async def from_addresses(request: web.Request) -> web.Response:
    cid = _cid(request)
    form = await request.post()
    lines = [x.strip() for x in str(form.get("addresses") or "").splitlines() if x.strip()]
    lists = _lists(request)
    login = principal(request).login
    await _db(request, lambda: lists.from_addresses(cid, lines, by=login))
    raise _to_campaign(request, cid)


@staff
async def action(request: web.Request) -> web.Response:
    cid = _cid(request)
    what = request.match_info["action"]
    service = _svc(request).campaigns
    who = principal(request)
    if what == "stop":
        form = await request.post()
        if form.get("confirm") != "yes":  # stopping is asked first (a page, not a script)
            raise web.HTTPFound(_base(request) + f"campaigns/{cid}/stop")
    if what == "submit":
        await _db(request, service.submit, cid, who.login)
    elif what == "approve":
        await _db(request, service.approve, cid, who.login, who.role.value)
    elif what == "launch":
        await _db(request, service.launch, cid, who.login)
        _after_launch(request, cid)
    else:
        await _db(request, getattr(service, what), cid)
        if what == "resume":
            _after_launch(request, cid)
    raise _to_campaign(request, cid)


@staff
async def refuse(request: web.Request) -> web.Response:
    """A supervisor returns a submission to draft with the reason (REQ-O10)."""
    cid = _cid(request)
    form = await request.post()
    who = principal(request)
    reason = str(form.get("reason") or "")
    service = _svc(request).campaigns
    await _db(request, service.refuse, cid, who.login, who.role.value, reason)
    next_page = "approvals" if form.get("from") == "queue" else f"campaigns/{cid}"
    raise web.HTTPFound(_base(request) + next_page)


@staff
async def confirm_stop(request: web.Request) -> web.Response:
    """The confirmation step before a stop: what it cancels, and the form that does it."""
    cid = _cid(request)
    svc = _svc(request)
    c = await _db(request, svc.campaigns.get, cid)
    if "stop" not in allowed_actions(c.status, principal(request).role.value):
        raise CampaignError(
            f"кампанию в состоянии «{STATUS_TITLES.get(c.status, c.status)}» остановить нельзя"
        )
    pending, calls = await _db(request, svc.campaigns.stop_counts, cid)
    return render(
        request,
        "dispatcher/stop.html",
        {
            "title": f"Остановить кампанию № {cid}?",
            "base": _base(request),
            "c": c,
            "status_title": STATUS_TITLES.get(c.status, c.status),
            "pending": pending,
            "calls": calls,
        },
    )


def _queue(service: Any) -> list[dict[str, Any]]:
    """The campaigns awaiting approval, each with a preview of its message."""
    items = service.awaiting_approval()
    for item in items:
        item["preview"] = service.preview(item["campaign"].id)
    return items


@staff
async def approvals(request: web.Request) -> web.Response:
    """The supervisors' queue (REQ-O10): campaigns sent for approval, with
    their contacts count, the message as the first contact hears it and a
    link to the contacts being approved."""
    service = _svc(request).campaigns
    items = await _db(request, _queue, service)
    who = principal(request)
    for item in items:  # the preview says a contact's account and debt (152-FZ)
        await audit(request, "campaign.review", f"campaign:{item['campaign'].id}")
    editors = {
        item["campaign"].id: await _db(request, service.editors, item["campaign"].id)
        for item in items
    }
    names = await _db(
        request, _staff_names, _svc(request).db, [i["campaign"].submitted_by for i in items]
    )
    for item in items:
        c = item["campaign"]
        edited = who.login in editors[c.id] or who.login == c.created_by
        item["actions"] = allowed_actions(c.status, who.role.value, edited=edited)
        item["edited"] = edited
    return render(
        request,
        "dispatcher/approvals.html",
        {
            "title": "Кампании на утверждении",
            "base": _base(request),
            "items": items,
            "names": names,
            "kind_titles": KIND_TITLES,
            "approver": who.role.value in APPROVER_ROLES,
        },
    )


@staff
async def review(request: web.Request) -> web.Response:
    """The contacts of a campaign as the approver sees them, a page at a
    time (REQ-O10): name, account, phone, time zone and the spoken values."""
    cid = _cid(request)
    service = _svc(request).campaigns
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    c = await _db(request, service.get, cid)
    rows, total = await _db(
        request, lambda: service.contacts_page(cid, (page - 1) * REVIEW_PAGE, REVIEW_PAGE)
    )
    await audit(request, "campaign.review", f"campaign:{cid}")  # names, accounts, phones
    variables = sorted({k for r in rows for k in r["variables"]} - {"name", "account"})
    pages = max(1, -(-total // REVIEW_PAGE))
    return render(
        request,
        "dispatcher/review.html",
        {
            "title": f"Контакты кампании № {cid}",
            "base": _base(request),
            "c": c,
            "status_title": STATUS_TITLES.get(c.status, c.status),
            "rows": rows,
            "total": total,
            "variables": variables,
            "page": page,
            "pages": pages,
            "first": (page - 1) * REVIEW_PAGE + 1,
        },
    )


def _after_launch(request: web.Request, cid: int) -> None:
    svc = _svc(request)
    dialer = svc.dialer
    if dialer is not None:
        dialer.poke()
    svc.campaign_monitor.publish({"type": "campaign", "campaign_id": cid, "ts": time.time()})
    runtime = request.app[RUNTIME]
    email = svc.email_sender
    if email is not None and runtime is not None:
        email.poke()


# -- the monitor, the preview, the reports --------------------------------------------


async def snapshot(
    request: web.Request, cid: int, feed: TimelineFeed | None = None
) -> dict[str, Any]:
    """The monitor's picture of the campaign (REQ-O3): counters, the calls in
    progress by callee, who is held back and why, the ETA, the hourly chart.
    ``feed``: the socket's incremental reader of the chart (None: read it all)."""
    svc = _svc(request)
    service = svc.campaigns
    dialer = svc.dialer
    raw_calls = [x for x in dialer.calls() if x["campaign_id"] == cid][:100] if dialer else []
    feed = feed or TimelineFeed(service, cid, svc.settings.timezone)

    def read() -> dict[str, Any]:
        st, ahead = monitor_view(service, cid)
        return {
            "stats": st.as_dict(),
            "recent": service.recent(cid),
            "calls": call_details(service, raw_calls),
            "outlook": ahead,
            "chart": chart_data(feed.read()),
        }

    data = await svc.run_db(read)
    monitor = svc.campaign_monitor
    in_use = sum(u for u, _ in monitor.lines.values()) if monitor.lines else 0
    limit = sum(lim for _, lim in monitor.lines.values()) if monitor.lines else 0
    if dialer is not None:
        in_use, limit = dialer.in_flight, dialer.lines
    return {
        "type": "snapshot",
        "campaign_id": cid,
        **data,
        "lines_in_use": in_use,
        "lines_limit": limit,
        "trunk_problem": dialer.trunk_problem if dialer is not None else None,
        "eta_seconds": data["outlook"]["eta_seconds"],
    }


@staff
async def preview_audio(request: web.Request) -> web.Response:
    cid = _cid(request)
    svc = _svc(request)
    data = await _db(request, message_wav, svc.campaigns, svc.resolver, cid)
    await audit(request, "campaign.preview", f"campaign:{cid}")  # a contact's account, debt
    return web.Response(body=data, content_type="audio/wav")


@staff
async def stats_json(request: web.Request) -> web.Response:
    return web.json_response(await snapshot(request, _cid(request)))


@staff
async def monitor_ws(request: web.Request) -> web.WebSocketResponse:
    """Pushes a snapshot at once, then after every monitor event of the
    campaign, and at least every 2 s. An event after a quiet moment is sent
    at once; events that follow within :data:`COALESCE` seconds of the last
    snapshot are coalesced into the next one (a busy campaign gets at most
    one snapshot per that interval). ``event_ts`` is the time of the newest
    event included (latency measurement: bench/monitor_latency.py)."""
    try:
        cid = int(request.query.get("campaign", ""))
    except ValueError as exc:
        raise web.HTTPBadRequest(text="Не указана кампания") from exc
    await _db(request, _svc(request).campaigns.get, cid)  # 400 before the upgrade
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    monitor = _svc(request).campaign_monitor
    feed = TimelineFeed(_svc(request).campaigns, cid, _svc(request).settings.timezone)
    async with monitor.subscribe() as queue:
        reader = asyncio.create_task(_drain(ws))
        guard = asyncio.create_task(guard_socket(request, ws))
        try:
            await ws.send_json({**await snapshot(request, cid, feed), "event_ts": None})
            sent = time.monotonic()
            while not ws.closed and not reader.done():
                event_ts: float | None = None
                try:
                    ev = await asyncio.wait_for(queue.get(), 2.0)
                except TimeoutError:
                    ev = None
                if ev is not None:
                    if ev.get("type") != "trunk" and ev.get("campaign_id") != cid:
                        continue
                    event_ts = ev.get("ts")
                    wait = sent + COALESCE - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    while not queue.empty():
                        more = queue.get_nowait()
                        if more.get("campaign_id") == cid:
                            event_ts = more.get("ts", event_ts)
                await ws.send_json({**await snapshot(request, cid, feed), "event_ts": event_ts})
                sent = time.monotonic()
        except (ConnectionResetError, RuntimeError):
            log.debug("monitor socket closed")
        finally:
            for task in (reader, guard):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


@staff
async def report_csv(request: web.Request) -> web.Response:
    cid = _cid(request)
    svc = _svc(request)
    data = await _db(request, csv_report, svc.campaigns, cid, svc.settings.timezone)
    await audit(request, "campaign.report", f"campaign:{cid}")  # phone numbers (152-FZ)
    return web.Response(
        body=data,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{cid}.csv"'},
    )


@staff
async def report_xlsx(request: web.Request) -> web.Response:
    cid = _cid(request)
    svc = _svc(request)
    data = await _db(request, xlsx_report, svc.campaigns, cid, svc.settings.timezone)
    await audit(request, "campaign.report", f"campaign:{cid}")  # phone numbers (152-FZ)
    return web.Response(
        body=data,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="campaign-{cid}.xlsx"'},
    )
