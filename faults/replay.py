"""The spool's replayer (issue 13, item 1): applies what the node spooled
while the database was away, in order, as soon as the database answers
again — this process's records and those a killed process left behind.

Its own thread per round (``asyncio.to_thread``): a frozen database holds
that thread, never the calls' database threads nor the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

from crm_bridge.durable import DurableWrites, is_unavailable

__all__ = ["SpoolReplayer"]

log = logging.getLogger(__name__)

_IDLE: Final = 1.0
"""Seconds between looks at an empty spool (another process's file may appear)."""
_RETRY: Final = 1.0
"""Seconds before the next try while the database is away."""


class SpoolReplayer:
    def __init__(self, durable: DurableWrites) -> None:
        self.durable = durable
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.replayed = 0
        self.down = False
        """The last round found the database away."""

    @classmethod
    def from_runtime(cls, runtime: Any) -> SpoolReplayer:
        return cls(runtime.services.durable)

    async def start(self) -> None:
        spool = self.durable.spool
        if spool is not None and not spool.is_open:
            await asyncio.to_thread(spool.open)  # the reserve, and the files left behind
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="spool-replay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # One last round, bounded: what the database takes now is not left behind.
        spool = self.durable.spool
        if spool is not None and spool.has_backlog() and not self.down:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(self.durable.replay), 5.0)

    async def replay_once(self) -> int:
        """One round: everything waiting, or up to the first record the
        database could not take. Returns how many were applied."""
        try:
            n = await asyncio.to_thread(self.durable.replay)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            if not self.down:
                log.warning("spool replay waits for the database (%s)", type(exc).__name__)
            self.down = True
            return 0
        if self.down:
            log.info("database back: spool replay resumed")
        self.down = False
        self.rounds += 1
        self.replayed += n
        if n:
            log.info("spool: %d record(s) replayed", n)
        return n

    async def _run(self) -> None:
        spool = self.durable.spool
        if spool is None:
            return
        while True:
            if spool.has_backlog() and not self.durable.replay_ready:
                await asyncio.sleep(_RETRY)  # a timed-out write has not landed yet
                continue
            if spool.has_backlog():
                await self.replay_once()
                await asyncio.sleep(_RETRY if self.down or spool.has_backlog() else 0.1)
                continue
            # Nothing waits: look again soon (a write may spool, a killed
            # process's file may be found by the next round).
            await asyncio.to_thread(spool.wait_changed, _IDLE)
            if self.durable.replay_ready:
                with contextlib.suppress(Exception):
                    await self.replay_once()
