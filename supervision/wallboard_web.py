"""The supervisor's wallboard (``/supervision/``): live tiles over a
WebSocket, a TV mode (``?tv=1``: big tiles, no controls), and listening in
on an operator's call from the board (audited). Supervisors only."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from pathlib import Path
from typing import Any, Final

from aiohttp import WSMsgType, web

from crm_bridge.models import OperatorRole
from supervision.deps import SupervisionDeps
from supervision.listening import MODE_TITLES, ListenError, Mode, listen_in, supervisor_phone
from supervision.wallboard import Wallboard, build
from webedge.edge import allow, audit, guard_socket, principal
from webedge.shell import json_error, render

__all__ = ["create_wallboard_app"]

STATIC_DIR: Final = Path(__file__).with_name("static")
SERVICES = web.AppKey("supervision_services", SupervisionDeps)
OWN_BOARD = web.AppKey("supervision_own_board", list[Wallboard])
SOCKETS = web.AppKey("supervision_sockets", set[web.WebSocketResponse])
SUPERVISOR: Final = OperatorRole.SUPERVISOR
_dumps: Final = functools.partial(json.dumps, ensure_ascii=False)


def board_of(app: web.Application) -> Wallboard:
    """This node's live board; a node without AMI reads the database alone."""
    services = app[SERVICES]
    if services.wallboard is not None:
        return services.wallboard
    own = app[OWN_BOARD]
    if not own:
        own.append(build(services, live=False))
    return own[0]


@allow(SUPERVISOR)
async def page(request: web.Request) -> web.Response:
    tv = request.query.get("tv") == "1"
    return render(
        request,
        "supervision/wallboard.html",
        {
            "title": "Табло смены",
            "tv": tv,
            "modes": [(m.value, MODE_TITLES[m]) for m in Mode],
        },
    )


@allow(SUPERVISOR)
async def state(request: web.Request) -> web.Response:
    board = board_of(request.app)
    if not board.watchers:
        await board.refresh()
    return web.json_response(board.snapshot(), dumps=_dumps)


@allow(SUPERVISOR)
async def websocket(request: web.Request) -> web.WebSocketResponse:
    """Snapshots of the board, one after every change (coalesced)."""
    board = board_of(request.app)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    woken = board.watch()
    guard = asyncio.create_task(guard_socket(request, ws), name="wallboard-ws-guard")

    async def pump() -> None:
        while not ws.closed:
            await woken.wait()
            woken.clear()
            await ws.send_str(_dumps(board.snapshot()))

    pumping = asyncio.create_task(pump(), name="wallboard-ws-pump")
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        board.unwatch(woken)
        request.app[SOCKETS].discard(ws)
        for task in (guard, pumping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
                await task
    return ws


@allow(SUPERVISOR)
async def listen(request: web.Request) -> web.Response:
    """``POST /supervision/listen`` ``{"operator_id": N, "mode": "listen|whisper|barge"}``."""
    services = request.app[SERVICES]
    try:
        data = await request.json()
        operator_id = int(data["operator_id"])
        mode = Mode(str(data.get("mode", "listen")))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        return json_error(400, "укажите оператора и режим: listen, whisper или barge")
    who = principal(request).operator_id
    phone = await services.run_db(supervisor_phone, services.db, who)
    try:
        channel = await listen_in(
            ami=services.ami, shift=services.shift, phone=phone, operator_id=operator_id, mode=mode
        )
    except ListenError as exc:
        return json_error(409, str(exc))
    await audit(request, f"call.{mode.value}", f"operator:{operator_id}")
    return web.json_response(
        {"mode": mode.value, "title": MODE_TITLES[mode], "channel": channel, "phone": phone},
        dumps=_dumps,
    )


async def _close(app: web.Application) -> None:
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=1001, message=b"server shutdown")
    # The board's tasks run for this page's watchers: they end with it
    # (this node's live board, or the database-only one made here).
    live = app[SERVICES].wallboard
    for board in (*app[OWN_BOARD], *([live] if live is not None else [])):
        await board.close()


def create_wallboard_app(services: SupervisionDeps, runtime: Any = None) -> web.Application:
    app = web.Application()
    app[SERVICES] = services
    app[OWN_BOARD] = []
    sockets: set[web.WebSocketResponse] = set()
    app[SOCKETS] = sockets
    app.on_shutdown.append(_close)
    r = app.router
    r.add_get("/", page)
    r.add_get("/state", state)
    r.add_get("/ws", websocket)
    r.add_post("/listen", listen)
    r.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    return app
