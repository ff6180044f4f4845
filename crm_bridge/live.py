"""In-process publish/subscribe for live web pages (the operator card).

The AMI listener publishes call events ("operator X connected to call Y");
each WebSocket of the operator page subscribes to the topics it may see.
Queues are bounded per subscriber: a slow browser loses its *oldest* events,
it never slows the publisher (the AMI event loop) down or grows memory.

Topics are plain strings: ``operator:<id>`` for one operator's calls, and
:data:`ALL` for a subscriber that wants everything (a supervisor).

One bus per process (``Services.event_bus``). Several nodes behind one
PostgreSQL share their events through it: the nodes slice's bridge
(:mod:`nodes.bridge`) is a *forwarder* of every event published here, which
it sends with ``NOTIFY``, and hands the other nodes' events to this node's
subscribers with :meth:`EventBus.deliver` (not forwarded again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

__all__ = [
    "ALL",
    "EventBus",
    "LiveEvent",
    "RemoteActionError",
    "RemoteCalls",
    "Subscription",
    "operator_topic",
]

logger = logging.getLogger(__name__)

ALL: Final = "*"
"""Subscribe to every topic."""
DEFAULT_QUEUE_SIZE: Final = 64


def operator_topic(operator_id: int) -> str:
    return f"operator:{operator_id}"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    topic: str
    type: str
    data: Mapping[str, Any]
    node: str | None = None
    """The node the event came from, when another one (:meth:`EventBus.deliver`)."""


class RemoteActionError(Exception):
    """Another node refused or could not carry out an action (message in Russian)."""


class RemoteCalls(Protocol):
    """Actions on a call whose channel another node's Asterisk carries,
    carried out by that node (the nodes slice's bridge)."""

    async def hangup(self, node: str, uniqueid: str) -> bool:
        """Ask ``node`` to hang the call up; True once it did."""
        ...

    async def transfer(self, node: str, operator_id: int, target: str) -> str:
        """Ask ``node`` (whose Asterisk carries the operator's call) to
        transfer it; whom it went to, in Russian, or :class:`RemoteActionError`."""
        ...


@dataclass(eq=False)
class Subscription:
    """One subscriber's bounded queue; iterate it, then :meth:`close` it
    (or use it as a context manager)."""

    bus: EventBus
    topics: frozenset[str]
    queue: asyncio.Queue[LiveEvent]
    dropped: int = 0
    closed: bool = field(default=False)

    def wants(self, topic: str) -> bool:
        return ALL in self.topics or topic in self.topics

    def offer(self, event: LiveEvent) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # drop the oldest: the newest matters most
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> LiveEvent:
        if timeout is None:
            return await self.queue.get()
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def __aiter__(self) -> AsyncIterator[LiveEvent]:
        while not self.closed:
            yield await self.queue.get()

    def close(self) -> None:
        self.closed = True
        self.bus._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Bounded fan-out of :class:`LiveEvent` to subscribers (same event loop)."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be positive")
        self.queue_size = queue_size
        self._subscribers: list[Subscription] = []
        self.forwarders: list[Callable[[LiveEvent], None]] = []
        """Called with every event published here (not with delivered ones)."""

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        sub = Subscription(self, frozenset(topics), asyncio.Queue(self.queue_size))
        self._subscribers.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, topic: str, type_: str, data: Mapping[str, Any]) -> int:
        """Deliver to every interested subscriber without waiting; returns how
        many. The forwarders get it too (other nodes)."""
        event = LiveEvent(topic, type_, dict(data))
        for forward in self.forwarders:
            try:
                forward(event)
            except Exception:  # a forwarder never breaks the publisher
                logger.exception("live event forwarder failed")
        return self.deliver(event)

    def deliver(self, event: LiveEvent) -> int:
        """Hand an event to this process's subscribers only (another node's)."""
        delivered = 0
        topic, type_ = event.topic, event.type
        for sub in list(self._subscribers):
            if sub.wants(topic):
                sub.offer(event)
                delivered += 1
        logger.debug("live event %s on %s to %d subscriber(s)", type_, topic, delivered)
        return delivered
