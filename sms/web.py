"""Kannel's calls into the hotline (mounted at ``/sms/``):

* ``GET /sms/kannel/mo?key=…&from=%p&to=%P&text=%a&id=%I`` — an incoming
  message (the SMS service's ``get-url``); handled by :mod:`sms.inbound`,
  the reply queued and the sender woken. The answer's body is empty
  (the service has ``max-messages = 0``: the reply goes through ``sendsms``
  with a delivery report).
* ``GET /sms/kannel/dlr?key=…&id=<message>&type=%d`` — a delivery report.

Both are open to the gateway only: the caller's address must be in
``sms_allow`` (loopback by default) and the ``key`` must match (compared in
constant time); anyone else gets 404, as if nothing were there. They are ``public`` on the one edge (no staff session) and
use GET because Kannel does. The web server keeps no access log, so the
numbers in these URLs are written nowhere (152-FZ).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from sms.deps import SmsDeps
from sms.inbound import SmsInbound
from sms.outbox import Outbox
from sms.sender import SmsSender
from sms.service import build_inbound, inbound_key
from webedge.edge import public

__all__ = ["create_sms_app"]

log = logging.getLogger(__name__)


@dataclass
class _Ctx:
    services: SmsDeps
    inbound: SmsInbound
    outbox: Outbox
    sender: SmsSender | None
    key: str
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def guard(self, request: web.Request) -> None:
        try:
            peer = ipaddress.ip_address(request.remote or "")
        except ValueError:
            raise web.HTTPNotFound() from None
        if not any(peer in net for net in self.allow):
            raise web.HTTPNotFound()
        if not hmac.compare_digest(request.query.get("key", "").encode(), self.key.encode()):
            raise web.HTTPNotFound()


CTX: Final = web.AppKey("sms", _Ctx)


@public
async def mo(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    ctx.guard(request)
    q = request.query
    handled = await ctx.services.run_db(
        functools.partial(
            ctx.inbound.receive,
            sender=q.get("from", ""),
            receiver=q.get("to", ""),
            text=q.get("text", ""),
            gateway_id=q.get("id") or None,
        )
    )
    if ctx.sender is not None and handled.reply_id is not None:
        ctx.sender.wake()
    return web.Response(body=b"", content_type="text/plain")  # no charset: nothing to recode


@public
async def dlr(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    ctx.guard(request)
    try:
        message_id = int(request.query["id"])
        report_type = int(request.query["type"])
    except (KeyError, ValueError):
        raise web.HTTPBadRequest(text="id and type are required") from None
    state = await ctx.services.run_db(ctx.outbox.report, message_id, report_type)
    if state is None:
        log.warning("sms: a delivery report for an unknown message %s", message_id)
    return web.Response(text="")


def create_sms_app(services: SmsDeps, runtime: Any = None) -> web.Application:
    s = services.settings
    sender = runtime.extra.get("sms") if runtime is not None else None
    app = web.Application()
    app[CTX] = _Ctx(
        services=services,
        inbound=build_inbound(services),
        outbox=Outbox(services.db),
        sender=sender if isinstance(sender, SmsSender) else None,
        key=inbound_key(s),
        allow=tuple(ipaddress.ip_network(n, strict=False) for n in s.sms_allow),
    )
    app.router.add_get("/kannel/mo", mo)
    app.router.add_get("/kannel/dlr", dlr)
    return app
