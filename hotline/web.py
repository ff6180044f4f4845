"""The web application factory: a root app with sub-apps per capability.

``/health`` reports the parts (AMI, FastAGI, database); each slice's pages
(the operator card, the dispatcher console, the readings export) are its
sub-apps (``Slice.web``), mounted here.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from aiohttp import web
from sqlalchemy import text

from hotline.slices import web_apps

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", object)
RUNTIME = web.AppKey("runtime", object)


def create_app(services: Any, runtime: Any = None) -> web.Application:
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[SERVICES] = services
    app[RUNTIME] = runtime
    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    for sub in web_apps():  # each slice's pages; a broken one fails the start
        app.add_subapp(sub.mount, sub.factory(services, runtime))
    return app


async def index(request: web.Request) -> web.Response:
    links = "".join(
        f'<li><a href="{html.escape(m)}">{html.escape(t)}</a></li>'
        for m, t in (*((a.mount, a.title) for a in web_apps()), ("/health", "Состояние системы"))
    )
    body = (
        "<!doctype html><html lang=ru><meta charset=utf-8><title>Горячая линия</title>"
        f"<h1>Горячая линия энергоснабжающей компании</h1><ul>{links}</ul></html>"
    )
    return web.Response(text=body, content_type="text/html")


async def health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    runtime = request.app[RUNTIME]
    out: dict[str, Any] = {"status": "ok"}
    try:

        def ping() -> None:
            with services.db.engine.connect() as c:  # type: ignore[attr-defined]
                c.execute(text("select 1"))

        await services.run_db(ping)  # type: ignore[attr-defined]
        out["database"] = "ok"
    except Exception as exc:  # reported, not raised: this is the health page
        out["database"] = f"error: {type(exc).__name__}"
        out["status"] = "degraded"
    if runtime is not None:
        ami = getattr(runtime, "ami", None)
        out["ami"] = "connected" if ami is not None and ami.connected else "disconnected"
        if ami is None or not ami.connected:
            out["status"] = "degraded"
        fastagi = getattr(runtime, "fastagi", None)
        if fastagi is not None:
            s = fastagi.stats
            out["fastagi"] = {
                "active": s.active,
                "calls": s.calls,
                "failures": s.failures,
                "rejected": s.rejected,
            }
    return web.json_response(out, status=200 if out["status"] == "ok" else 503)
