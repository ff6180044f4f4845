"""Real-time monitoring of campaigns (REQ-O3): an in-process publish/subscribe
hub between the dialer and the dispatcher console's WebSockets.

One :class:`Monitor` per process (``Services.campaign_monitor``); subscribers get a bounded queue each (a slow browser
loses old events, never blocks the dialer). With several nodes on one
PostgreSQL the nodes slice's bridge forwards every event published here to
the other nodes and hands theirs to this node's subscribers
(:meth:`Monitor.deliver`), so a dispatcher console on any node follows every
node's calls at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Monitor"]


class Monitor:
    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.queue_size = queue_size
        self.lines: dict[str, tuple[int, int]] = {}
        """node → (lines in use, line limit)."""
        self.forwarders: list[Callable[[dict[str, Any]], None]] = []
        """Called with every event published here (not with delivered ones)."""

    def publish(self, event: dict[str, Any]) -> None:
        for forward in self.forwarders:
            try:
                forward(event)
            except Exception:  # a forwarder never breaks the dialer
                log.exception("monitor event forwarder failed")
        self.deliver(event)

    def deliver(self, event: dict[str, Any]) -> None:
        """Hand an event to this process's subscribers only (another node's)."""
        for q in list(self._subscribers):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)

    def set_lines(self, node: str, in_use: int, limit: int) -> None:
        self.lines[node] = (in_use, limit)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        self._subscribers.add(q)
        try:
            yield q
        finally:
            self._subscribers.discard(q)
