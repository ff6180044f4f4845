"""The root application with the edge and the shell installed, and the
slices' sub-apps mounted under it (the composition root passes every slice's;
a test passes the one it tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from core.slice import WebApp
from crm_bridge.models import OperatorRole
from webedge import shell
from webedge.edge import Edge, install, public
from webedge.sessions import SessionStore

MAX_BODY = 32 * 1024 * 1024


def create_root(
    services: Any, mounted: Sequence[tuple[WebApp, web.Application]]
) -> web.Application:
    """``services`` gives ``settings``, ``db`` and ``run_db``."""
    app = web.Application(client_max_size=MAX_BODY)
    settings = services.settings
    install(app, Edge(SessionStore(services.db, settings), settings, services.run_db))
    shell.setup(
        app,
        nav=[
            shell.NavItem(a.mount, a.title, frozenset(OperatorRole(r) for r in a.roles))
            for a, _ in mounted
            if a.in_nav
        ],
        template_dirs=list(dict.fromkeys(a.templates for a, _ in mounted if a.templates)),
        zone=ZoneInfo(settings.timezone),
        panels=[p for a, _ in mounted for p in a.panels],
    )
    app.router.add_get("/", index)
    for declared, sub in mounted:
        app.add_subapp(declared.mount, sub)
    return app


@public
async def index(request: web.Request) -> web.Response:
    return shell.render(request, "index.html", {"title": "Горячая линия энергоснабжающей компании"})
