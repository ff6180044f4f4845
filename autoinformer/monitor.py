"""Real-time monitoring of campaigns (REQ-O3): an in-process publish/subscribe
hub between the dialer and the dispatcher console's WebSockets.

One :class:`Monitor` per process (``Services.campaign_monitor``); subscribers get a bounded queue each (a slow browser
loses old events, never blocks the dialer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Monitor"]


class Monitor:
    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.queue_size = queue_size
        self.lines: dict[str, tuple[int, int]] = {}
        """node → (lines in use, line limit)."""

    def publish(self, event: dict[str, Any]) -> None:
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
