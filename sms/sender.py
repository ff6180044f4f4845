"""The component ``sms``: sends queued messages through Kannel.

Woken at once when a reply is queued on this node (:meth:`SmsSender.wake`),
and every ``poll`` seconds anyway (messages queued by other nodes, retries
after a gateway failure, claims left by a node that died); on those ticks
it also takes the appeal notices waiting for SMS (:mod:`sms.notices`). Claims a batch
in the database, hands each message to Kannel (``concurrency`` at once), and
records the batch's outcome in one write. Delivery reports come later
through the web (``/sms/kannel/dlr``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from sms.kannel import GatewayError, KannelClient
from sms.notices import NoticeBridge
from sms.outbox import Outbox, Outgoing

__all__ = ["SmsSender"]

log = logging.getLogger(__name__)
T = TypeVar("T")
RunDb = Callable[..., Awaitable[Any]]


class SmsSender:
    def __init__(
        self,
        outbox: Outbox,
        client: KannelClient | None,
        run_db: RunDb,
        *,
        notices: NoticeBridge | None = None,
        poll: float = 2.0,
        batch: int = 100,
        concurrency: int = 16,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.run_db = run_db
        self.notices = notices
        self.poll = poll
        self.batch = batch
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.client is None:
            log.info("sms: no gateway configured (sms_kannel_url): messages wait in the outbox")
            return
        self._task = asyncio.create_task(self._run(), name="sms-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.client is not None:
            await self.client.close()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        notices_at = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)
            self._wake.clear()
            try:
                if self.notices is not None and loop.time() - notices_at >= self.poll:
                    notices_at = loop.time()
                    await self.run_db(self.notices.take)
                while await self.send_due():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sms: sending failed; retried in %.0f s", self.poll)

    async def send_due(self) -> int:
        """Send one batch of due messages; how many were claimed."""
        claimed: list[Outgoing] = await self.run_db(self.outbox.claim, self.batch)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._send(m) for m in claimed))
        accepted = [m.id for m, err in zip(claimed, results, strict=True) if err is None]
        failed = [(m, err) for m, err in zip(claimed, results, strict=True) if err is not None]
        if accepted:
            await self._record_sent(accepted)
        for message, err in failed:
            gave_up = await self.run_db(
                lambda m=message, e=err: self.outbox.retry(m, str(e), permanent=e.permanent)
            )
            log.warning(
                "sms %s: gateway refused (%s)%s", message.id, err, ", given up" if gave_up else ""
            )
        return len(claimed)

    async def _record_sent(self, ids: list[int], attempts: int = 5) -> None:
        """Kannel took them: recorded, retried on a database error, so they
        are not taken back as stale claims and sent twice."""
        for attempt in range(1, attempts + 1):
            try:
                await self.run_db(self.outbox.sent_many, ids)
                return
            except SQLAlchemyError:
                if attempt == attempts:
                    raise
                log.warning("sms: recording %d sent messages failed; again", len(ids))
                await asyncio.sleep(0.05 * attempt)

    async def _send(self, m: Outgoing) -> GatewayError | None:
        assert self.client is not None
        async with self._limit:
            try:
                await self.client.send(m.id, m.peer, m.text, m.coding, m.service_number)
            except GatewayError as exc:
                return exc
        return None
