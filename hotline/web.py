"""The web application: one edge (log-in, sessions, roles, CSRF, headers —
:mod:`webedge`), one shell, and each slice's pages as a sub-app
(``Slice.web``: the operator's workplace, the readings export, the
dispatcher console).

``/`` lists what the logged-in user may open; ``/health`` and ``/metrics``
report the node's parts (:mod:`hotline.health`: database and its latency,
disks, AMI, failed flows) and are public (they say nothing personal).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from aiohttp import web

from hotline.health import HealthMonitor, metrics_text
from hotline.slices import web_apps
from webedge import shell
from webedge.app import create_root
from webedge.edge import public

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", object)
RUNTIME = web.AppKey("runtime", object)
HEALTH_MONITOR = web.AppKey("health_monitor", HealthMonitor)


def create_app(services: Any, runtime: Any = None) -> web.Application:
    # each slice's pages; a broken one fails the start
    app = create_root(services, [(a, a.factory(services, runtime)) for a in web_apps()])
    app[SERVICES] = services
    app[RUNTIME] = runtime
    monitor = HealthMonitor(services, runtime)
    app[HEALTH_MONITOR] = monitor
    app[shell.HEALTH] = lambda: monitor.latest.problems if monitor.latest else []
    app.on_startup.append(_start_health)
    app.on_cleanup.append(_stop_health)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    return app


async def _start_health(app: web.Application) -> None:
    await app[HEALTH_MONITOR].start()


async def _stop_health(app: web.Application) -> None:
    await app[HEALTH_MONITOR].stop()


@public
async def health(request: web.Request) -> web.Response:
    """The node's parts, checked now (503 when anything is wrong)."""
    report = await request.app[HEALTH_MONITOR].check()
    return web.json_response(
        report.as_dict(),
        status=200 if report.status == "ok" else 503,
        dumps=functools.partial(json.dumps, ensure_ascii=False),
    )


@public
async def metrics(request: web.Request) -> web.Response:
    """The same, for Prometheus (loopback or a scraper behind the proxy)."""
    report = await request.app[HEALTH_MONITOR].check()
    return web.Response(text=metrics_text(report), content_type="text/plain", charset="utf-8")
