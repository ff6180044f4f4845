"""The web application: one edge (log-in, sessions, roles, CSRF, headers —
:mod:`webedge`), one shell, and each slice's pages as a sub-app
(``Slice.web``: the operator's workplace, the readings export, the
dispatcher console).

``/`` lists what the logged-in user may open; ``/health`` reports the parts
(AMI, FastAGI, database) and is public (it says nothing personal).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from sqlalchemy import text

from hotline.slices import web_apps
from webedge.app import create_root
from webedge.edge import public

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", object)
RUNTIME = web.AppKey("runtime", object)


def create_app(services: Any, runtime: Any = None) -> web.Application:
    # each slice's pages; a broken one fails the start
    app = create_root(services, [(a, a.factory(services, runtime)) for a in web_apps()])
    app[SERVICES] = services
    app[RUNTIME] = runtime
    app.router.add_get("/health", health)
    return app


@public
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
