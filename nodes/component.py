"""The ``nodes`` component: this node's heartbeat and the takeover of dead
nodes' work (:mod:`nodes.failover`), in the background of the runtime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nodes.failover import NodeRegistry, TakeoverReport

log = logging.getLogger(__name__)

__all__ = ["NodeWatch"]


class NodeWatch:
    """Beats every ``node_heartbeat_seconds``; after each beat takes over the
    nodes whose lease has run out. A database error is logged and the next
    beat tries again (a node that cannot reach the database for longer than
    its lease is taken over: its calls end anyway without the database)."""

    def __init__(self, services: Any) -> None:
        s = services.settings
        self.services = services
        self.registry = NodeRegistry(
            services.db,
            s.node_name,
            dead_after=float(s.node_dead_after_seconds),
            call_grace=float(s.node_call_grace_seconds),
        )
        self.interval = max(0.1, float(s.node_heartbeat_seconds))
        self.beats = 0
        self.takeovers: list[TakeoverReport] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        await self.services.run_db(self.registry.beat)  # alive from the start
        self.beats += 1
        self._task = asyncio.create_task(self._run(), name=f"nodes-{self.registry.node}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poke(self) -> None:
        """Beat and look at the other nodes now (tests, the CLI)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            try:
                await self.services.run_db(self.registry.beat)
                self.beats += 1
                for dead in await self.services.run_db(self.registry.dead_nodes):
                    report = await self.services.run_db(self.registry.take_over, dead)
                    if report.anything:
                        self.takeovers.append(report)
                        self._after(report)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node %s: heartbeat or takeover failed", self.registry.node)

    def _after(self, report: TakeoverReport) -> None:
        monitor = getattr(self.services, "campaign_monitor", None)
        for cid in report.campaigns_completed:
            if monitor is not None:
                monitor.publish({"type": "campaign", "campaign_id": cid})
        dialer = getattr(self.services, "dialer", None)
        if dialer is not None and report.attempts_finalised:
            dialer.poke()  # the released contacts are due again
