"""One shell for every page: Jinja2 templates with autoescaping (through
aiohttp-jinja2, installed once on the root application and found by every
sub-app through ``request.config_dict``), navigation by role, one stylesheet,
Russian, dates as дд.мм.гггг, one error page and one JSON error shape
(``{"error": "<message>", "status": <code>}``).

A slice keeps its templates in ``<slice>/templates/<slice>/`` and renders them
with :func:`render`; the shell's own (``base.html``, ``login.html``,
``error.html``) are in ``webedge/templates``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web

from core.slice import Panel
from crm_bridge.models import OperatorRole
from webedge.edge import NONCE, PRINCIPAL, wants_json

TEMPLATES: Final = Path(__file__).with_name("templates")
STATIC: Final = Path(__file__).with_name("static")

ROLE_TITLES: Final = {
    OperatorRole.OPERATOR: "оператор",
    OperatorRole.SUPERVISOR: "старший смены",
    OperatorRole.DISPATCHER: "диспетчер",
}


@dataclass(frozen=True)
class NavItem:
    mount: str
    title: str
    roles: frozenset[OperatorRole]


NAV: Final = web.AppKey("hotline_nav", tuple[NavItem, ...])
HEALTH: Final = web.AppKey("hotline_health_problems", object)
"""A callable giving what is wrong with the node now (``hotline.health``):
the supervisor's and dispatcher's pages show it."""
HEALTH_ROLES: Final = frozenset({OperatorRole.SUPERVISOR, OperatorRole.DISPATCHER})
PANELS: Final = web.AppKey("hotline_panels", tuple[Panel, ...])
ZONE: Final = web.AppKey("hotline_zone", ZoneInfo)


def dmy(value: date | datetime | None, zone: ZoneInfo | None = None) -> str:
    """дд.мм.гггг (a datetime in the company's zone)."""
    if value is None:
        return ""
    if isinstance(value, datetime) and zone is not None and value.tzinfo is not None:
        value = value.astimezone(zone)
    return value.strftime("%d.%m.%Y")


def dmy_hm(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """дд.мм.гггг чч:мм in the company's zone."""
    if value is None:
        return ""
    if zone is not None and value.tzinfo is not None:
        value = value.astimezone(zone)
    return value.strftime("%d.%m.%Y %H:%M")


def rub(value: Decimal | float | None) -> str:
    """12 345,67 ₽"""
    if value is None:
        return ""
    whole = f"{Decimal(value):,.2f}".replace(",", " ").replace(".", ",")
    return f"{whole} ₽"


async def _context(request: web.Request) -> dict[str, Any]:
    who = request.get(PRINCIPAL)
    items = request.config_dict.get(NAV, ())
    panels: dict[str, list[Panel]] = {}
    for panel in request.config_dict.get(PANELS, ()):
        if who is not None and who.role in panel.roles:
            panels.setdefault(panel.slot, []).append(panel)
    return {
        "user": who,
        "csrf": who.csrf if who is not None else "",
        "role_title": ROLE_TITLES.get(who.role, "") if who is not None else "",
        "csp_nonce": request.get(NONCE, ""),
        "nav": [i for i in items if who is not None and who.role in i.roles],
        "panels": panels,
        "health_problems": _health_problems(request, who),
    }


def _health_problems(request: web.Request, who: Any) -> list[str]:
    getter = request.config_dict.get(HEALTH)
    if who is None or who.role not in HEALTH_ROLES or not callable(getter):
        return []
    return list(getter())


def setup(
    app: web.Application,
    *,
    nav: Sequence[NavItem],
    template_dirs: Sequence[Path],
    zone: ZoneInfo,
    panels: Sequence[Panel] = (),
) -> None:
    """Install the shell on the root application."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader([TEMPLATES, *template_dirs]),
        autoescape=jinja2.select_autoescape(default=True),
        context_processors=[aiohttp_jinja2.request_processor, _context],
    )
    env.filters["dmy"] = lambda v: dmy(v, zone)
    env.filters["dmy_hm"] = lambda v: dmy_hm(v, zone)
    env.filters["rub"] = rub
    app[NAV] = tuple(nav)
    app[PANELS] = tuple(panels)
    app[ZONE] = zone
    app.router.add_static("/static/", STATIC)


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, dict(context), status=status)
    response.content_type = "text/html"
    response.charset = "utf-8"
    return response


def json_error(status: int, message: str) -> web.Response:
    """``{"error": "<message>", "status": <code>}``, Russian kept readable."""
    return web.json_response(
        {"error": message, "status": status},
        status=status,
        dumps=functools.partial(json.dumps, ensure_ascii=False),
    )


def error_response(request: web.Request, status: int, message: str) -> web.Response:
    """The one error shape: JSON for scripts and sockets, the error page for people."""
    if wants_json(request) or aiohttp_jinja2.APP_KEY not in request.config_dict:
        return json_error(status, message)
    return render(
        request,
        "error.html",
        {"title": "Ошибка", "message": message, "status": status},
        status=status,
    )
