"""Kannel's calls into the hotline (mounted at ``/sms/``):

* ``GET /sms/kannel/mo?key=…&from=%p&to=%P&text=%a&id=%I`` — an incoming
  message (the SMS service's ``get-url``); handled by :mod:`sms.inbound`,
  the reply queued and the sender woken. The answer's body is empty
  (the service has ``max-messages = 0``: the reply goes through ``sendsms``
  with a delivery report).
* ``GET /sms/kannel/dlr?key=…&id=<message>&type=%d`` — a delivery report.
  Reports arriving together are written in one transaction
  (:class:`ReportBatch`; each request is answered once its report is stored).

Both are open to the gateway only: the caller's address must be in
``sms_allow`` (loopback by default) and the ``key`` must match (compared in
constant time); anyone else gets 404, as if nothing were there. They are ``public`` on the one edge (no staff session) and
use GET because Kannel does. The web server keeps no access log, so the
numbers in these URLs are written nowhere (152-FZ).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from sms.deps import SmsDeps
from sms.inbound import SmsInbound
from sms.journal import journal
from sms.outbox import Outbox
from sms.sender import SmsSender
from sms.service import build_inbound, inbound_key
from webedge.edge import public

__all__ = ["create_sms_app"]

log = logging.getLogger(__name__)


class ReportBatch:
    """Delivery reports that arrive together, stored in one write.

    The first report starts a flush (an owned task); those arriving while a
    flush runs wait for the next one. Every request is answered only after
    its report is committed, so Kannel retries what was not stored."""

    def __init__(self, outbox: Outbox, run_db: Any) -> None:
        self.outbox = outbox
        self.run_db = run_db
        self._pending: list[tuple[int, int, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def report(self, message_id: int, report_type: int) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((message_id, report_type, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="sms-reports")
        await fut

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self.run_db(self.outbox.report_many, [(m, t) for m, t, _ in batch])
            except Exception as exc:
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_result(None)

    async def close(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher


@dataclass
class _Ctx:
    services: SmsDeps
    inbound: SmsInbound
    outbox: Outbox
    sender: SmsSender | None
    key: str
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    reports: ReportBatch

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
    await ctx.reports.report(message_id, report_type)
    return web.Response(body=b"", content_type="text/plain")


def create_sms_app(services: SmsDeps, runtime: Any = None) -> web.Application:
    s = services.settings
    sender = runtime.extra.get("sms") if runtime is not None else None
    app = web.Application()
    outbox = Outbox(services.db)
    reports = ReportBatch(outbox, services.run_db)
    app[CTX] = _Ctx(
        services=services,
        inbound=build_inbound(services),
        outbox=outbox,
        sender=sender if isinstance(sender, SmsSender) else None,
        key=inbound_key(s),
        allow=tuple(ipaddress.ip_network(n, strict=False) for n in s.sms_allow),
        reports=reports,
    )

    async def close_reports(_: web.Application) -> None:
        await reports.close()

    app.on_cleanup.append(close_reports)
    app.router.add_get("/", journal)  # the staff's journal (sms/journal.py)
    app.router.add_get("/kannel/mo", mo)
    app.router.add_get("/kannel/dlr", dlr)
    return app
