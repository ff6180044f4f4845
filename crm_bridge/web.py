"""The operator's workplace (``/operator/``): caller card, appeals journal, reports.

An aiohttp sub-app (:func:`create_operator_app`), Russian UI:

* log-in, sessions, roles, CSRF and Origin checks are the one web edge's
  (:mod:`webedge`); every handler here declares its roles;
* the caller card: when the AMI listener sees an operator connected to a
  queue call (``AgentConnect``), the operator's browser gets the card over
  the WebSocket ``/operator/ws`` — account (identified in the IVR, or
  suggested by the calling number with its confidence, REQ-T9), address,
  debt, meters and last readings, open appeals, the caller's path through
  the IVR, the appeal of the call; campaign and contact for outbound calls;
* the operator classifies (REQ-A4), answers, closes or marks as not
  considered (REQ-A8) the appeal, and may end an abusive call (REQ-T12);
* the appeals journal (search, CSV/XLSX export) and the monthly waiting and
  handling time report (seed 004, REQ-A10; supervisors).

Operators see their own calls' cards and the appeals they work with;
supervisors see all, and only they export the journal. Opening a card and
exporting the journal are written to the audit log. Nothing personal is
logged (logins and ids only). Pages are templates in
``crm_bridge/templates/operator/`` rendered into the one shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import WSMsgType, web
from sqlalchemy import select, update

from crm_bridge import reports
from crm_bridge.accounts import NOTIFY_FORMS
from crm_bridge.ami_listener import (
    CallListener,
    Outcome,
)
from crm_bridge.appeals import AppealService, AppealView, export_csv, export_xlsx
from crm_bridge.calls import CallView
from crm_bridge.card import STATUS_RU, appeal_full, build_card
from crm_bridge.errors import CrmError, ExtensionNotAllowed, InvalidTransition, NotFound
from crm_bridge.live import ALL, EventBus, LiveEvent, operator_topic
from crm_bridge.models import (
    Account,
    Appeal,
    AppealChannel,
    AppealStatus,
    Call,
    ClassificationCode,
    NotConsideredReason,
    OperatorRole,
    ReplyChannel,
)
from crm_bridge.services import CrmDeps
from webedge.edge import allow, audit, guard_socket, principal, still_allowed
from webedge.sessions import Principal
from webedge.shell import error_response, render

__all__ = ["create_operator_app"]

logger = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).with_name("web_static")
JOURNAL_LIMIT: Final = 500
EXPORT_LIMIT: Final = 100_000

SERVICES = web.AppKey("crm_services", CrmDeps)
RUNTIME = web.AppKey("crm_runtime", object)
BUS = web.AppKey("crm_bus", EventBus)
SOCKETS = web.AppKey("crm_sockets", set[web.WebSocketResponse])


WORKPLACE: Final = (OperatorRole.OPERATOR, OperatorRole.SUPERVISOR)
"""Who may use the operator's workplace (a dispatcher has the console only)."""


class BadInput(CrmError, ValueError):
    """A request parameter that cannot be used (HTTP 400, message in Russian)."""


# -- helpers --------------------------------------------------------------------------


def _services(request: web.Request) -> CrmDeps:
    return request.app[SERVICES]


async def _db(request: web.Request, fn: Callable[..., Any], *args: Any) -> Any:
    return await _services(request).run_db(fn, *args)


def _listener(request: web.Request) -> CallListener | None:
    return _services(request).call_listener


def _tz(request: web.Request) -> ZoneInfo:
    return ZoneInfo(_services(request).settings.timezone)


def parse_date(raw: str, tz: ZoneInfo, what: str) -> datetime | None:
    """A page's ``ГГГГ-ММ-ДД`` as the start of that local day; empty: None."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise BadInput(f"{what}: дата должна быть в виде ГГГГ-ММ-ДД, получено «{raw}»") from exc
    return datetime(day.year, day.month, day.day, tzinfo=tz)


@dataclass(frozen=True, slots=True)
class JournalQuery:
    text: str = ""
    date_from: str = ""
    date_to: str = ""
    status: str = ""
    code: str = ""

    @classmethod
    def from_request(cls, request: web.Request) -> JournalQuery:
        q = request.query
        return cls(
            text=q.get("text", "").strip()[:200],
            date_from=q.get("from", ""),
            date_to=q.get("to", ""),
            status=q.get("status", ""),
            code=q.get("code", ""),
        )

    def search_args(self, tz: ZoneInfo) -> dict[str, Any]:
        start = parse_date(self.date_from, tz, "с")
        end = parse_date(self.date_to, tz, "по")
        args: dict[str, Any] = {"text": self.text or None, "date_from": start}
        args["date_to"] = end + timedelta(days=1) if end else None
        if self.status:
            try:
                args["status"] = AppealStatus(self.status)
            except ValueError as exc:
                raise BadInput(f"неизвестный статус «{self.status}»") from exc
        if self.code:
            try:
                args["code"] = ClassificationCode(self.code)
            except ValueError as exc:
                raise BadInput(f"неизвестный код классификации «{self.code}»") from exc
        return args

    def query_string(self) -> str:
        from urllib.parse import urlencode

        return urlencode(
            {
                "text": self.text,
                "from": self.date_from,
                "to": self.date_to,
                "status": self.status,
                "code": self.code,
            }
        )


# -- error translation -----------------------------------------------------------------


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except NotFound as exc:
        return error_response(request, 404, str(exc))
    except (InvalidTransition, ExtensionNotAllowed) as exc:
        return error_response(request, 409, str(exc))
    except BadInput as exc:
        return error_response(request, 400, str(exc))


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput("тело запроса должно быть JSON") from exc
    if not isinstance(data, dict):
        raise BadInput("тело запроса должно быть объектом JSON")
    return data


# -- the workplace and its WebSocket ----------------------------------------------------


@allow(*WORKPLACE)
async def workplace(request: web.Request) -> web.Response:
    sess = principal(request)
    return render(
        request,
        "operator/workplace.html",
        {
            "title": "Карточка звонка",
            "codes": list(ClassificationCode),
            "reasons": list(NotConsideredReason),
            "operator": {"id": sess.operator_id, "supervisor": sess.supervisor},
        },
    )


@allow(*WORKPLACE)
async def websocket(request: web.Request) -> web.WebSocketResponse:
    sess = principal(request)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    bus = request.app[BUS]
    topics = [ALL] if sess.supervisor else [operator_topic(sess.operator_id)]
    sockets: set[web.WebSocketResponse] = request.app[SOCKETS]
    sockets.add(ws)
    with bus.subscribe(topics) as sub:
        pump = asyncio.create_task(_pump(request, ws, sub), name="operator-ws-pump")
        guard = asyncio.create_task(guard_socket(request, ws), name="operator-ws-guard")
        try:
            await ws.send_json({"type": "hello", "operator": sess.operator_id})
            listener = _listener(request)
            current = listener.connected_call_of(sess.operator_id) if listener else None
            if current is not None:
                await _send_card(request, ws, current.uniqueid, current.vars, None)
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            for task in (pump, guard):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            sockets.discard(ws)
    return ws


async def _pump(request: web.Request, ws: web.WebSocketResponse, sub: Any) -> None:
    """Bus events → this browser (cards are built when an operator is connected)."""
    while not ws.closed:
        event: LiveEvent = await sub.get()
        if event.type == "call_connected":
            if not await still_allowed(request):  # a card is personal data
                await ws.close(code=1008, message=b"session ended")
                return
            data = event.data
            await _send_card(request, ws, str(data["uniqueid"]), data.get("vars") or {}, data)
        else:
            await ws.send_json({"type": event.type, **dict(event.data)})


async def _send_card(
    request: web.Request,
    ws: web.WebSocketResponse,
    uniqueid: str,
    vars: Mapping[str, str],
    event: Mapping[str, Any] | None,
) -> None:
    db = _services(request).db
    card = await _db(request, lambda: build_card(db, uniqueid, vars=vars))
    await audit(request, "card.view", f"call:{uniqueid}")
    if event is not None:
        card["connected_at"] = event.get("connected_at")
        card["hold_time"] = event.get("hold_time")
    if not ws.closed:
        await ws.send_json({"type": "card", "card": card})


async def _own_call(request: web.Request, uniqueid: str) -> CallView:
    """The call ``uniqueid`` if it is the operator's own (a supervisor: any)."""
    sess = principal(request)
    call = await _db(request, _services(request).crm.calls.get, uniqueid)
    if call is None:
        raise NotFound("звонок не найден")
    if not sess.supervisor and call.operator_id != sess.operator_id:
        raise web.HTTPForbidden(text="это звонок другого оператора")
    return call


@allow(*WORKPLACE)
async def card_json(request: web.Request) -> web.Response:
    uniqueid = request.match_info["uniqueid"]
    db = _services(request).db
    await _own_call(request, uniqueid)
    listener = _listener(request)
    st = listener.state(uniqueid) if listener else None
    vars = dict(st.vars) if st else {}
    card = await _db(request, lambda: build_card(db, uniqueid, vars=vars))
    await audit(request, "card.view", f"call:{uniqueid}")
    return web.json_response(card)


@allow(*WORKPLACE)
async def notify_by(request: web.Request) -> web.Response:
    """The customer on the card says how they want to be notified (REQ-O12):
    the campaigns try that channel first. ``{"account": id, "notify_by":
    "phone"|"sms"|"email"|""}``; only the account the call's card shows."""
    uniqueid = request.match_info["uniqueid"]
    data = await _json(request)
    chosen = str(data.get("notify_by") or "")
    if chosen and chosen not in NOTIFY_FORMS:
        raise BadInput("способ уведомления: звонок, СМС или электронная почта")
    db = _services(request).db
    await _own_call(request, uniqueid)
    listener = _listener(request)
    st = listener.state(uniqueid) if listener else None
    vars = dict(st.vars) if st else {}
    card = await _db(request, lambda: build_card(db, uniqueid, vars=vars))
    account = card.get("account") or {}
    if not account or account.get("id") != data.get("account"):
        raise BadInput("абонент этого звонка не определён: способ уведомления не сохранён")

    def save() -> None:
        with db.session(write=True) as s:
            s.execute(
                update(Account).where(Account.id == account["id"]).values(notify_by=chosen or None)
            )

    await _db(request, save)
    await audit(request, "account.notify_by", f"account:{account['id']}")
    return web.json_response({"notify_by": chosen or None, "title": NOTIFY_FORMS.get(chosen, "")})


# -- appeal actions (REQ-A4, A8, T12) ---------------------------------------------------


def may_change(db: Any, appeal_id: int, sess: Principal) -> None:
    if sess.supervisor:
        return
    with db.session() as session:
        row = session.execute(
            select(Appeal.id, Call.operator_id, Appeal.classified_by_id)
            .outerjoin(Call, Call.id == Appeal.call_id)
            .where(Appeal.id == appeal_id)
        ).first()
    if row is None:
        raise NotFound(f"обращение {appeal_id} не найдено")
    if sess.operator_id not in (row.operator_id, row.classified_by_id):
        raise web.HTTPForbidden(text="обращение другого оператора")


def _appeals(request: web.Request) -> AppealService:
    return _services(request).crm.appeals


@allow(*WORKPLACE)
async def register_for_call(request: web.Request) -> web.Response:
    """The operator registers an appeal for a call that has none (the caller
    went straight to the operator, or the IVR registered nothing)."""
    uniqueid = request.match_info["uniqueid"]
    data = await _json(request)
    content = str(data.get("content", "")).strip()[:4000]
    if not content:
        raise BadInput("опишите суть обращения")
    call = await _own_call(request, uniqueid)
    code = str(data.get("code") or "") or None
    try:
        classification = ClassificationCode(code) if code else None
    except ValueError as exc:
        raise BadInput(f"неизвестный код классификации «{code}»") from exc
    appeals = _appeals(request)
    view = await _db(
        request,
        lambda: appeals.register(
            channel=AppealChannel.PHONE,
            content=content,
            classification=classification,
            account_id=call.account_id,
            call_id=call.id,
            reply_channel=ReplyChannel.PHONE if call.caller_number else None,
            reply_contact=call.caller_number,
        ),
    )
    await audit(request, "appeal.register", f"appeal:{view.id}")
    return web.json_response(appeal_full(view))


@allow(*WORKPLACE)
async def appeal_action(request: web.Request) -> web.Response:
    sess = principal(request)
    try:
        appeal_id = int(request.match_info["appeal_id"])
    except ValueError as exc:
        raise BadInput("неверный номер обращения") from exc
    action = request.match_info["action"]
    data = await _json(request)
    service = _appeals(request)
    db = _services(request).db
    await _db(request, may_change, db, appeal_id, sess)
    note = str(data.get("note") or "").strip() or None
    view: AppealView
    if action == "classify":
        try:
            code = ClassificationCode(str(data.get("code", "")))
        except ValueError as exc:
            raise BadInput("неизвестный код классификации") from exc
        view = await _db(
            request, lambda: service.classify(appeal_id, code, by_operator=sess.operator_id)
        )
    elif action == "answer":
        view = await _db(request, lambda: service.answer(appeal_id, note=note))
    elif action == "close":
        view = await _db(request, lambda: service.close(appeal_id, note=note))
    elif action == "not-considered":
        try:
            reason = NotConsideredReason(str(data.get("reason", "")))
        except ValueError as exc:
            raise BadInput("неизвестная причина (REQ-A8)") from exc
        view = await _db(request, lambda: service.not_considered(appeal_id, reason, note=note))
    else:
        raise web.HTTPNotFound()
    logger.info("appeal %s: %s by operator %s", appeal_id, action, sess.operator_id)
    return web.json_response(appeal_full(view))


@allow(*WORKPLACE)
async def end_abusive(request: web.Request) -> web.Response:
    """REQ-T12: the operator ends the call for obscenities or threats; the call
    is recorded as such and its appeal marked not considered (REQ-A8)."""
    sess = principal(request)
    uniqueid = request.match_info["uniqueid"]
    data = await _json(request)
    db = _services(request).db
    calls = _services(request).crm.calls
    call = await _own_call(request, uniqueid)
    kind = "threat" if data.get("kind") == "threat" else "obscene"
    await _db(
        request,
        lambda: calls.append_event(
            uniqueid, "ended_abusive", {"kind": kind, "operator_id": sess.operator_id}, source="web"
        ),
    )
    await _db(request, lambda: calls.upsert(uniqueid, outcome=Outcome.ENDED_ABUSIVE.value))

    def mark_appeal() -> dict[str, Any] | None:
        with db.session() as session:
            appeal_id = session.execute(
                select(Appeal.id)
                .where(
                    Appeal.call_id == call.id,
                    Appeal.status.in_((AppealStatus.REGISTERED, AppealStatus.IN_PROGRESS)),
                )
                .order_by(Appeal.seq.desc())
            ).scalar()
        if appeal_id is None:
            return None
        note = "Звонок завершён оператором: " + (
            "угрозы" if kind == "threat" else "нецензурная брань"
        )
        view = _appeals(request).not_considered(
            appeal_id, NotConsideredReason.OBSCENE_OR_THREATENING, note=note
        )
        return appeal_full(view)

    appeal = await _db(request, mark_appeal)
    listener = _listener(request)
    st = listener.state(uniqueid) if listener else None
    ami = _services(request).ami
    hung_up = False
    if st is not None and st.channel and ami is not None and not st.ended:
        try:
            await ami.action({"Action": "Hangup", "Channel": st.channel, "Cause": "16"})
            hung_up = True
        except RuntimeError as exc:
            logger.warning("could not hang up call %s: %s", uniqueid, exc)
    elif st is None and call.ended_at is None and call.node:
        # Another node's Asterisk carries the call: that node hangs it up.
        services = _services(request)
        if call.node != services.settings.node_name and services.cluster is not None:
            hung_up = await services.cluster.hangup(call.node, uniqueid)
    logger.info("call %s ended as abusive by operator %s", uniqueid, sess.operator_id)
    return web.json_response({"hung_up": hung_up, "appeal": appeal})


# -- recordings (the whole call, the caller's messages) -------------------------------


def _recording_file(services: CrmDeps, raw: str | None, *, asterisk_side: bool) -> Path:
    """A recording's file, only from the recordings directory (152-FZ)."""
    if not raw:
        raise NotFound("записи нет")
    settings = services.settings
    path = (settings.host_path(raw) if asterisk_side else Path(raw)).resolve()
    if not path.is_relative_to(settings.spool_dir.resolve()) or not path.is_file():
        raise NotFound("запись недоступна (удалена по сроку хранения или вне хранилища)")
    return path


async def _send_recording(request: web.Request, path: Path, subject: str) -> web.StreamResponse:
    """Play in the browser (range requests); ``?download=1`` for supervisors
    only. Every listen and download is audited."""
    sess = principal(request)
    download = request.query.get("download") == "1"
    if download and not sess.supervisor:
        raise web.HTTPForbidden(text="скачивать записи может только старший смены")
    await audit(request, "recording.download" if download else "recording.listen", subject)
    headers = {"Content-Type": "audio/wav", "Cache-Control": "no-store"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return web.FileResponse(path, headers=headers)


@allow(*WORKPLACE)
async def call_recording(request: web.Request) -> web.StreamResponse:
    """The whole call's recording (REQ-T4), for its operator or a supervisor."""
    uniqueid = request.match_info["uniqueid"]
    call = await _own_call(request, uniqueid)
    path = _recording_file(_services(request), call.recording_file, asterisk_side=True)
    return await _send_recording(request, path, f"call:{uniqueid}")


@allow(*WORKPLACE)
async def appeal_recording(request: web.Request) -> web.StreamResponse:
    """An appeal's recordings: ``call`` (the whole call) or the caller's
    message number ``n`` (answering machine), for whoever works with it."""
    sess = principal(request)
    appeal_id = int(request.match_info["appeal_id"])
    which = request.match_info["which"]
    db = _services(request).db
    await _db(request, may_change, db, appeal_id, sess)
    appeal = await _db(request, _appeals(request).get, appeal_id)

    def call_file() -> str | None:
        with db.session() as session:
            return session.execute(
                select(Call.recording_file).where(Call.id == appeal.call_id)
            ).scalar()

    if which == "call":
        raw = await _db(request, call_file) if appeal.call_id else None
        path = _recording_file(_services(request), raw, asterisk_side=True)
    else:
        index = int(which)
        if not 0 <= index < len(appeal.recordings):
            raise NotFound("записи нет")
        path = _recording_file(
            _services(request), str(appeal.recordings[index]), asterisk_side=False
        )
    return await _send_recording(request, path, f"appeal:{appeal_id}:{which}")


# -- the journal (REQ-A3) -------------------------------------------------------------


@allow(*WORKPLACE)
async def journal(request: web.Request) -> web.Response:
    """The registration journal (REQ-A3): an operator sees the appeals he
    works with, a supervisor all of them."""
    sess = principal(request)
    q = JournalQuery.from_request(request)
    service = _appeals(request)
    args = q.search_args(_tz(request))
    if not sess.supervisor:
        args["worked_by"] = sess.operator_id
    views = await _db(request, lambda: service.search(limit=JOURNAL_LIMIT, **args))
    rows = service.journal_rows(views)
    from crm_bridge.appeals import DATE_FORMAT, JOURNAL_COLUMNS

    def cell(value: object) -> str:
        return value.strftime(DATE_FORMAT) if isinstance(value, datetime) else str(value or "")

    await audit(request, "journal.view", q.query_string()[:128])
    return render(
        request,
        "operator/journal.html",
        {
            "title": "Журнал регистрации обращений",
            "q": q,
            "qs": q.query_string(),
            "statuses": [(st.value, STATUS_RU[st]) for st in AppealStatus],
            "codes": list(ClassificationCode),
            "head": [h for _, h in JOURNAL_COLUMNS[:11]],
            "rows": [[cell(v) for v in row.values()[:11]] for row in rows],
            "recordings": [
                {"id": v.id, "call": v.call_id is not None, "messages": len(v.recordings)}
                for v in views
            ],
            "supervisor": sess.supervisor,
            "may_export": sess.supervisor,
        },
    )


@allow(OperatorRole.SUPERVISOR)
async def journal_export(request: web.Request) -> web.Response:
    fmt = request.match_info["fmt"]
    q = JournalQuery.from_request(request)
    service = _appeals(request)
    args = q.search_args(_tz(request))

    def produce() -> bytes:
        views = service.search(limit=EXPORT_LIMIT, newest_first=False, **args)
        rows = service.journal_rows(views)
        if fmt == "csv":
            import io

            buf = io.StringIO(newline="")
            export_csv(rows, buf)
            return buf.getvalue().encode("utf-8")
        with tempfile.TemporaryDirectory(prefix="hotline-journal-") as tmp:
            path = Path(tmp) / "journal.xlsx"
            export_xlsx(rows, path)
            return path.read_bytes()

    data = await _db(request, produce)
    await audit(request, "journal.export", f"{fmt} {q.query_string()}"[:128])
    return _download(data, f"journal.{fmt}", fmt)


def _download(data: bytes, filename: str, fmt: str) -> web.Response:
    ctype = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return web.Response(
        body=data,
        headers={
            "Content-Type": ctype,
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


# -- reports (REQ-A10, seed 004) ------------------------------------------------------


def _year(request: web.Request) -> int:
    raw = request.query.get("year", "")
    if not raw:
        return datetime.now(_tz(request)).year
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise BadInput(f"год должен быть числом от 2000 до 2100, получено «{raw}»")
    return int(raw)


@allow(OperatorRole.SUPERVISOR)
async def wait_report(request: web.Request) -> web.Response:
    year = _year(request)
    db = _services(request).db
    rows = await _db(request, lambda: reports.wait_and_handling(db, year, tz=_tz(request)))
    return render(
        request,
        "operator/wait_report.html",
        {
            "title": reports.REPORT_TITLE,
            "year": year,
            "head": reports.REPORT_HEADERS,
            "rows": [r.cells() for r in rows],
        },
    )


@allow(OperatorRole.SUPERVISOR)
async def wait_report_export(request: web.Request) -> web.Response:
    fmt = request.match_info["fmt"]
    year = _year(request)
    db = _services(request).db
    rows = await _db(request, lambda: reports.wait_and_handling(db, year, tz=_tz(request)))
    data = reports.report_csv(rows) if fmt == "csv" else reports.report_xlsx(rows, year=year)
    return _download(data, f"wait-handling-{year}.{fmt}", fmt)


# -- the application -------------------------------------------------------------------


async def _close_sockets(app: web.Application) -> None:
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=1001, message=b"server shutdown")


def create_operator_app(services: CrmDeps, runtime: Any = None) -> web.Application:
    """The ``/operator/`` sub-app (see the module docstring)."""
    app = web.Application(middlewares=[_errors])
    app[SERVICES] = services
    app[RUNTIME] = runtime
    app[BUS] = services.event_bus
    app[SOCKETS] = set()
    app.on_shutdown.append(_close_sockets)
    r = app.router
    r.add_get("/", workplace)
    r.add_get("/ws", websocket)
    r.add_get("/api/calls/{uniqueid}/card", card_json)
    r.add_post("/api/calls/{uniqueid}/end-abusive", end_abusive)
    r.add_post("/api/calls/{uniqueid}/notify-by", notify_by)
    r.add_post("/api/calls/{uniqueid}/appeal", register_for_call)
    r.add_get("/api/calls/{uniqueid}/recording", call_recording)
    r.add_get("/api/appeals/{appeal_id:\\d+}/recordings/{which:call|\\d+}", appeal_recording)
    r.add_post(
        "/api/appeals/{appeal_id}/{action:classify|answer|close|not-considered}", appeal_action
    )
    r.add_get("/journal", journal)
    r.add_get("/journal.{fmt:csv|xlsx}", journal_export)
    r.add_get("/reports/wait-handling", wait_report)
    r.add_get("/reports/wait-handling.{fmt:csv|xlsx}", wait_report_export)
    r.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app
