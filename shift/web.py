"""The shift's part of the operator's workplace (``/shift/``): the presence
bar (log-in to the queue, pause with a reason, resume, end the wrap-up) and
its live state over a WebSocket. Shown in the workplace as a panel
(``core.slice.Panel``); every route declares its roles at the one edge."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any, Final

from aiohttp import WSMsgType, web

from crm_bridge.live import operator_topic
from crm_bridge.models import OperatorRole
from shift.deps import ShiftDeps
from shift.presence import PresenceError, ShiftService
from webedge.edge import allow, guard_socket, principal
from webedge.shell import json_error

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
    except PresenceError as exc:
        return json_error(409, str(exc))


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
    """``POST /shift/{login|logout|pause|resume|wrapup-end|transfer}``."""
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
        whom = await service.transfer(who, str((await _body(request)).get("to", "")))
        return web.json_response({**(await service.presence(who)).as_json(), "transferred": whom})
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


def create_shift_app(services: ShiftDeps, runtime: Any = None) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[SERVICES] = services
    r = app.router
    r.add_get("/state", state)
    r.add_post("/{action:login|logout|pause|resume|wrapup-end|transfer}", change)
    r.add_get("/ws", websocket)
    r.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app
