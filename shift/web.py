"""The shift's pages (``/shift/``): the presence bar of the operator's
workplace (log-in to the queue, pause with a reason, resume, end the
wrap-up, transfer) with its live state over a WebSocket — shown in the
workplace as a panel (``core.slice.Panel``) — and the callback worklist
(``/shift/``: «Обратные звонки»). Every route declares its roles at the one
edge; every listen to a caller's message is audited."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import WSMsgType, web
from sqlalchemy import select

from crm_bridge.db import utcnow
from crm_bridge.live import RemoteActionError, operator_topic
from crm_bridge.models import Call, OperatorRole
from shift.callbacks import RESULT_TITLES, CallbackError, CallbackService
from shift.deps import ShiftDeps
from shift.presence import PresenceError, ShiftService, State
from webedge.edge import allow, audit, guard_socket, principal
from webedge.shell import error_response, json_error, render

__all__ = ["create_shift_app"]

STATIC_DIR: Final = Path(__file__).with_name("static")
SERVICES = web.AppKey("shift_services", ShiftDeps)
WORKPLACE: Final = (OperatorRole.OPERATOR, OperatorRole.SUPERVISOR)


def _shift(request: web.Request) -> ShiftService:
    service = request.app[SERVICES].shift
    if service is None:
        raise PresenceError("нет связи с АТС: очередь недоступна")
    return service


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except (PresenceError, CallbackError) as exc:
        if request.method == "GET":
            return error_response(request, 404, str(exc))
        return json_error(409, str(exc))


async def _remote_call_node(request: web.Request, service: ShiftService, who: int) -> str | None:
    """The other node whose Asterisk carries the operator's call now, when
    this node's shift does not follow it (several nodes, issue 13 item 10)."""
    if (await service.presence(who)).state is State.TALKING:
        return None
    services = request.app[SERVICES]
    here = services.settings.node_name

    def find() -> str | None:
        with services.db.session(readonly=True) as s:
            return s.scalar(
                select(Call.node)
                .where(
                    Call.operator_id == who,
                    Call.ended_at.is_(None),
                    Call.node.is_not(None),
                    Call.node != here,
                )
                .order_by(Call.id.desc())
                .limit(1)
            )

    return await services.run_db(find)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "тело запроса должно быть объектом JSON", "status": 400}),
            content_type="application/json",
        )
    return data


@allow(*WORKPLACE)
async def state(request: web.Request) -> web.Response:
    person = await _shift(request).presence(principal(request).operator_id)
    return web.json_response(person.as_json())


@allow(*WORKPLACE)
async def change(request: web.Request) -> web.Response:
    """``POST /shift/{login|logout|pause|resume|wrapup-end|transfer|consult…}``."""
    service = _shift(request)
    who = principal(request).operator_id
    action = request.match_info["action"]
    if action == "login":
        person = await service.log_in(who)
    elif action == "logout":
        person = await service.log_out(who)
    elif action == "pause":
        person = await service.pause(who, str((await _body(request)).get("reason", "")))
    elif action == "resume":
        person = await service.resume(who)
    elif action == "transfer":
        target = str((await _body(request)).get("to", ""))
        node = await _remote_call_node(request, service, who)
        cluster = request.app[SERVICES].cluster
        if node is not None and cluster is not None:
            # The operator's call is on another node's Asterisk: that node
            # (whose shift follows the operator's phone) transfers it.
            try:
                whom = await cluster.transfer(node, who, target)
            except RemoteActionError as exc:
                raise PresenceError(str(exc)) from exc
        else:
            whom = await service.transfer(who, target)
        return web.json_response({**(await service.presence(who)).as_json(), "transferred": whom})
    elif action == "consult":
        await service.consult(who, str((await _body(request)).get("to", "")))
        person = await service.presence(who)
    elif action == "consult-complete":
        person = await service.complete_transfer(who)
    elif action == "consult-cancel":
        person = await service.cancel_transfer(who)
    else:
        person = await service.end_wrapup(who)
    return web.json_response(person.as_json())


@allow(*WORKPLACE)
async def websocket(request: web.Request) -> web.WebSocketResponse:
    """The operator's presence, live (``presence`` messages)."""
    who = principal(request).operator_id
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    bus = request.app[SERVICES].event_bus
    with bus.subscribe([operator_topic(who)]) as sub:
        guard = asyncio.create_task(guard_socket(request, ws), name="shift-ws-guard")

        async def pump() -> None:
            while not ws.closed:
                event = await sub.get()
                if event.type == "presence":
                    await ws.send_json({"type": "presence", **dict(event.data)})

        pumping = asyncio.create_task(pump(), name="shift-ws-pump")
        try:
            service = request.app[SERVICES].shift
            if service is not None:
                person = await service.presence(who)
                await ws.send_json({"type": "presence", **person.as_json()})
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            for task in (guard, pumping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return ws


def _callbacks(request: web.Request) -> CallbackService:
    services = request.app[SERVICES]
    s = services.settings
    return CallbackService(
        services.db,
        hours=services.hours,
        appeals=services.crm.appeals,
        retry_minutes=s.callback_retry_minutes,
        max_attempts=s.callback_max_attempts,
    )


def _callback_id(request: web.Request) -> int:
    try:
        return int(request.match_info["callback_id"])
    except ValueError as exc:
        raise CallbackError("нет такого обратного звонка") from exc


@allow(*WORKPLACE)
async def worklist(request: web.Request) -> web.Response:
    """Every promised callback, the most urgent first (REQ-T6, T8)."""
    services = request.app[SERVICES]
    items = await services.run_db(_callbacks(request).worklist)
    await audit(request, "callbacks.view", f"{len(items)}")
    return render(
        request,
        "shift/callbacks.html",
        {
            "title": "Обратные звонки",
            "items": items,
            "results": list(RESULT_TITLES.items()),
            "open": services.hours.is_open(utcnow()),
        },
    )


@allow(*WORKPLACE)
async def callback_call(request: web.Request) -> web.Response:
    """«Позвонить»: the operator's phone rings first, then the customer."""
    services = request.app[SERVICES]
    callback_id = _callback_id(request)
    service = _callbacks(request)
    item = await services.run_db(service.start, callback_id)
    await audit(request, "callback.call", f"callback:{callback_id}")
    await _shift(request).dial(principal(request).operator_id, item.phone)
    return web.json_response({"id": item.id, "status": item.status, "attempts": item.attempts})


@allow(*WORKPLACE)
async def callback_result(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    callback_id = _callback_id(request)
    data = await _body(request)
    when: datetime | None = None
    raw = str(data.get("call_back_at") or "").strip()
    if raw:
        try:
            when = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise CallbackError("время повторного звонка: ГГГГ-ММ-ДДTЧЧ:ММ") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(services.settings.timezone))
    service = _callbacks(request)
    item = await services.run_db(
        lambda: service.finish(
            callback_id,
            str(data.get("result", "")),
            note=str(data.get("note", ""))[:2000],
            call_back_at=when,
        )
    )
    return web.json_response({"id": item.id, "status": item.status, "attempts": item.attempts})


@allow(*WORKPLACE)
async def callback_recording(request: web.Request) -> web.StreamResponse:
    """The caller's message, played in the browser (range requests); audited."""
    services = request.app[SERVICES]
    callback_id = _callback_id(request)
    try:
        index = int(request.match_info["index"])
    except ValueError as exc:
        raise CallbackError("нет такой записи") from exc
    service = _callbacks(request)
    path = await services.run_db(service.recording, callback_id, index, services.settings.spool_dir)
    await audit(request, "recording.listen", f"callback:{callback_id}:{index}")
    response = web.FileResponse(path, headers={"Content-Type": "audio/wav"})
    response.headers["Cache-Control"] = "no-store"
    return response


def create_shift_app(services: ShiftDeps, runtime: Any = None) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[SERVICES] = services
    r = app.router
    r.add_get("/", worklist)
    r.add_post("/callbacks/{callback_id}/call", callback_call)
    r.add_post("/callbacks/{callback_id}/result", callback_result)
    r.add_get("/callbacks/{callback_id}/recording/{index}", callback_recording)
    r.add_get("/state", state)
    r.add_post(
        "/{action:login|logout|pause|resume|wrapup-end|transfer|consult|consult-complete|consult-cancel}",
        change,
    )
    r.add_get("/ws", websocket)
    r.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app
