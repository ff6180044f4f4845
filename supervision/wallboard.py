"""The shift supervisor's wallboard, live (issue 14, REQ-T7, REQ-T8).

What it shows:

* **calls waiting now** and the longest wait, per queue: this node's callers
  from the AMI queue events (``QueueCallerJoin`` / ``QueueCallerLeave`` /
  ``QueueCallerAbandon``; after a (re)connection ``QueueStatus``), other
  nodes' callers from the shared database (``calls`` rows in a queue, not yet
  left, of another ``node``), read again as soon as another node's call row
  changes (PostgreSQL ``NOTIFY``, :mod:`nodes.bridge`);
* **operators by state** (talking, ready, paused with the reason, wrap-up)
  and since when: this node's changes the moment the shift's presence
  publishes them (the event bus), every node's from the open
  ``presence_intervals`` (the later ``since`` wins);
* **today** (from the company's local midnight), from the ``calls`` and
  ``appeals`` rows: queue calls, answered, the service level (answered
  within 40 s, REQ-T7), the abandon rate, the average wait and handling,
  answering-machine messages and the callbacks still pending (overdue ones
  apart, REQ-T8);
* which tiles are **red**: thresholds from the settings (``wallboard_*``).

Every change a watcher should see bumps :attr:`Wallboard.version` and wakes
the watchers; a watcher sends the current snapshot, so a burst of events
becomes one message (nothing queues up behind a slow browser). The snapshot
carries ``cause``: the event that made it and the moment the service
received it, from which the bench measures the update latency.

The database is read only while somebody watches: every
``wallboard_refresh_seconds`` and shortly after a call ends. A node whose
service runs without AMI (a web-only node) shows the database's view alone.
No personal data on the board: no numbers, no names of callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from crm_bridge.db import Database, utcnow
from crm_bridge.live import ALL, EventBus
from crm_bridge.models import (
    Appeal,
    AppealChannel,
    Call,
    Callback,
    CallbackStatus,
    Operator,
)
from shift.models import PresenceInterval
from shift.presence import PAUSE_REASONS, STATE_TITLES, State

__all__ = ["Thresholds", "Today", "Wallboard", "attach"]

logger = logging.getLogger(__name__)

SLA_SECONDS: Final = 40
"""REQ-T7: connection to an operator within 40 s."""
AFTER_CALL_REFRESH: Final = 0.3
"""Seconds after a call's end before today's figures are read again (the
call listener's row is written by then, in its own lane)."""
STALE_WAIT: Final = timedelta(hours=6)
"""A queue row older than this with no end is a leftover, not a caller."""
REASON_TITLES: Final = {**PAUSE_REASONS, "wrapup": "Обработка после звонка"}


@dataclass(frozen=True)
class Thresholds:
    """When a tile turns red."""

    service_level_min: float = 80.0
    """Per cent of queue calls answered within 40 s, at least."""
    abandon_max: float = 5.0
    """Per cent of queue calls abandoned, at most."""
    longest_wait_max: int = SLA_SECONDS
    """Seconds the longest-waiting caller may wait."""
    callbacks_overdue_max: int = 0
    """Callbacks past their promised time."""

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(
            service_level_min=float(settings.wallboard_service_level_min),
            abandon_max=float(settings.wallboard_abandon_max),
            longest_wait_max=int(settings.wallboard_longest_wait_max),
        )


@dataclass(frozen=True)
class Today:
    """Today's figures (see the module docstring)."""

    queue_calls: int = 0
    answered: int = 0
    within_sla: int = 0
    abandoned: int = 0
    left_queue: int = 0
    """Left the queue unanswered otherwise (the callback offer after the wait)."""
    avg_wait: float | None = None
    avg_handling: float | None = None
    am_messages: int = 0
    callbacks_pending: int = 0
    callbacks_overdue: int = 0

    @property
    def decided(self) -> int:
        """Queue calls whose wait is over: answered, abandoned or gone to the offer."""
        return self.answered + self.abandoned + self.left_queue

    @property
    def service_level(self) -> float | None:
        """Per cent of the decided queue calls answered within 40 s (REQ-T7)."""
        return 100.0 * self.within_sla / self.decided if self.decided else None

    @property
    def abandon_rate(self) -> float | None:
        """Per cent of the decided queue calls the caller hung up while waiting."""
        return 100.0 * self.abandoned / self.decided if self.decided else None


@dataclass
class Waiting:
    uniqueid: str
    queue: str
    since: datetime
    node: str | None = None


@dataclass
class OperatorTile:
    operator_id: int
    name: str
    state: str = State.OFFLINE.value
    reason: str | None = None
    since: datetime = field(default_factory=utcnow)
    node: str | None = None
    on_call: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.operator_id,
            "name": self.name,
            "state": self.state,
            "state_title": STATE_TITLES.get(State(self.state), self.state)
            if self.state in State.__members__.values()
            else self.state,
            "reason": self.reason,
            "reason_title": REASON_TITLES.get(self.reason or "", self.reason),
            "since": self.since.isoformat(),
            "node": self.node,
        }


def _field(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    return "" if value is None else str(value).strip()


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class Wallboard:
    """The live model behind ``/supervision/`` (module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        queues: Iterable[str],
        node: str | None,
        tz: str,
        run_db: Callable[..., Awaitable[Any]],
        thresholds: Thresholds | None = None,
        refresh_seconds: float = 2.0,
        live: bool = True,
        bus: EventBus | None = None,
    ) -> None:
        self.db = db
        self.queues = frozenset(queues)
        self.node = node
        self.zone = ZoneInfo(tz)
        self._run_db = run_db
        self.thresholds = thresholds or Thresholds()
        self.refresh_seconds = refresh_seconds
        self.live = live
        self.bus = bus
        """Whether this node's AMI feeds the board (else the database alone)."""
        self.waiting: dict[str, Waiting] = {}
        self.remote_waiting: dict[str, Waiting] = {}
        self.operators: dict[int, OperatorTile] = {}
        self.today = Today()
        self.version = 0
        self.cause: dict[str, Any] = {"event": "start", "at": time.time()}
        self._watchers: set[asyncio.Event] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._soon: asyncio.TimerHandle | None = None
        self._bus_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    # -- wiring ------------------------------------------------------------------

    def subscribe(self, ami: Any) -> None:
        ami.on_event("QueueCallerJoin", self.on_join)
        ami.on_event("QueueCallerLeave", self.on_leave)
        ami.on_event("QueueCallerAbandon", self.on_abandon)
        ami.on_event("AgentComplete", self.on_call_end)
        ami.on_login(lambda: self.resync(ami))

    def _follow_bus(self) -> None:
        """This node's presence changes, as the shift publishes them."""
        if self.bus is not None and self._bus_task is None:
            self._bus_task = asyncio.ensure_future(self._follow(self.bus))

    async def _follow(self, bus: EventBus) -> None:
        with bus.subscribe([ALL]) as sub:
            while True:
                event = await sub.get()
                if event.type == "presence":
                    self.on_presence(event.data, event.node)

    async def close(self) -> None:
        """Stop every task the board started, and wait for them to end."""
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        tasks = [t for t in (self._refresher, self._bus_task, *self._tasks) if t is not None]
        self._refresher = self._bus_task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- watchers ------------------------------------------------------------------

    def watch(self) -> asyncio.Event:
        """A watcher's wake-up (set now: the first snapshot is due at once)."""
        woken = asyncio.Event()
        woken.set()
        self._watchers.add(woken)
        self._follow_bus()
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.ensure_future(self._refresh_loop())
        return woken

    def unwatch(self, woken: asyncio.Event) -> None:
        self._watchers.discard(woken)
        if not self._watchers and self._refresher is not None:
            self._refresher.cancel()  # kept until it has ended: close() awaits it
            self._tasks.add(self._refresher)
            self._refresher.add_done_callback(self._tasks.discard)
            self._refresher = None

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    def _changed(self, event: str, at: float | None = None, ts: str = "") -> None:
        """``at``: when the service received the event; ``ts``: Asterisk's own
        timestamp of an AMI event (``timestampevents``), when it has one."""
        self.version += 1
        self.cause = {"event": event, "at": at if at is not None else time.time()}
        if ts:
            self.cause["ts"] = ts
        for woken in self._watchers:
            woken.set()

    # -- AMI ---------------------------------------------------------------------

    def on_join(self, event: Mapping[str, Any]) -> None:
        at = time.time()
        queue = _field(event, "Queue")
        uniqueid = _field(event, "Uniqueid")
        if queue not in self.queues or not uniqueid:
            return
        self.waiting[uniqueid] = Waiting(uniqueid, queue, utcnow(), self.node)
        self._changed("QueueCallerJoin", at, _field(event, "Timestamp"))

    def on_leave(self, event: Mapping[str, Any]) -> None:
        at = time.time()
        if self.waiting.pop(_field(event, "Uniqueid"), None) is not None:
            self._changed(
                _field(event, "Event") or "QueueCallerLeave", at, _field(event, "Timestamp")
            )

    def on_abandon(self, event: Mapping[str, Any]) -> None:
        self.on_leave(event)
        self._refresh_soon()

    def on_call_end(self, event: Mapping[str, Any]) -> None:
        self._refresh_soon()

    def on_presence(self, data: Mapping[str, Any], node: str | None = None) -> None:
        """An operator's state changed: on this node, or on ``node`` (another
        node's event relayed by the nodes slice's bridge)."""
        at = time.time()
        try:
            operator_id = int(data["operator_id"])
            since = datetime.fromisoformat(str(data["since"]))
        except (KeyError, TypeError, ValueError):
            return
        tile = self.operators.get(operator_id)
        if tile is None:
            tile = self.operators[operator_id] = OperatorTile(
                operator_id, f"#{operator_id}", since=datetime.min.replace(tzinfo=UTC)
            )
            self._refresh_soon()  # learn the name
        if since < tile.since:
            return
        tile.state = str(data.get("state") or State.OFFLINE.value)
        tile.reason = data.get("reason") or None
        tile.since = since
        tile.node = node or self.node
        self._changed("presence", at)

    async def resync(self, ami: Any) -> None:
        """After a (re)connection: the callers Asterisk has in its queues now."""
        try:
            resp = await ami.action({"Action": "QueueStatus"}, as_list=True, timeout=8.0)
        except RuntimeError as exc:
            logger.warning("wallboard: QueueStatus failed: %s", exc)
            return
        now = utcnow()
        found: dict[str, Waiting] = {}
        for m in resp if isinstance(resp, list) else [resp]:
            if m is None or _field(m, "Event") != "QueueEntry":
                continue
            queue, uniqueid = _field(m, "Queue"), _field(m, "Uniqueid")
            if queue not in self.queues or not uniqueid:
                continue
            try:
                wait = float(_field(m, "Wait") or 0)
            except ValueError:
                wait = 0.0
            found[uniqueid] = Waiting(uniqueid, queue, now - timedelta(seconds=wait), self.node)
        self.waiting = found
        self._changed("QueueStatus")

    # -- the database --------------------------------------------------------------

    def on_remote_call(self, data: Mapping[str, Any]) -> None:
        """Another node's call changed (its row is committed: the nodes
        slice's bridge relays PostgreSQL's notification): read the database
        now rather than at the next periodic refresh."""
        if data.get("node") != self.node:
            self._refresh_soon()

    def _refresh_soon(self) -> None:
        if not self._watchers or self._soon is not None:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._soon = None
            task = asyncio.ensure_future(self.refresh())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._soon = loop.call_later(AFTER_CALL_REFRESH, fire)

    async def _refresh_loop(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.refresh_seconds)

    async def refresh(self) -> None:
        try:
            read = await self._run_db(self.read)
        except Exception as exc:  # the board keeps its last view; says so in the log
            logger.warning("wallboard: the database could not be read: %s", exc)
            return
        self.apply(*read)

    def apply(self, today: Today, operators: list[OperatorTile], remote: list[Waiting]) -> None:
        changed = today != self.today
        self.today = today
        seen: set[int] = set()
        for row in operators:
            seen.add(row.operator_id)
            tile = self.operators.get(row.operator_id)
            if tile is None:
                self.operators[row.operator_id] = row
                changed = True
                continue
            if tile.name != row.name:
                tile.name, changed = row.name, True
            if row.since > tile.since:  # another node's change, or ours persisted
                tile.state, tile.reason, tile.since, tile.node = (
                    row.state,
                    row.reason,
                    row.since,
                    row.node,
                )
                changed = True
        for operator_id, tile in list(self.operators.items()):
            if operator_id in seen or tile.state == State.OFFLINE.value:
                continue
            # No open interval: the shift ended, unless it began after the read.
            if (utcnow() - tile.since).total_seconds() > 2 * self.refresh_seconds:
                tile.state, tile.reason, changed = State.OFFLINE.value, None, True
        new_remote = {w.uniqueid: w for w in remote if w.uniqueid not in self.waiting}
        if new_remote.keys() != self.remote_waiting.keys():
            changed = True
        self.remote_waiting = new_remote
        if changed:
            self._changed("database")

    def read(self) -> tuple[Today, list[OperatorTile], list[Waiting]]:
        """Today's figures, every node's operators and the other nodes' waiting callers."""
        now = utcnow()
        local = now.astimezone(self.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        with self.db.session() as session:
            calls = session.execute(
                select(
                    Call.operator_id,
                    Call.outcome,
                    Call.answered_within_sla,
                    Call.wait_seconds,
                    Call.queue_left_at,
                    Call.ended_at,
                ).where(
                    Call.queue_entered_at >= midnight,
                    Call.queue_name.in_(self.queues),
                )
            ).all()
            am_messages = session.execute(
                select(func.count())
                .select_from(Appeal)
                .where(
                    Appeal.received_at >= midnight,
                    Appeal.channel == AppealChannel.ANSWERING_MACHINE,
                )
            ).scalar_one()
            pending = (CallbackStatus.PENDING, CallbackStatus.IN_PROGRESS)
            callbacks = session.execute(
                select(
                    func.count(),
                    func.count().filter(func.coalesce(Callback.window_end, Callback.due_at) < now),
                ).where(Callback.status.in_(pending))
            ).one()
            people = session.execute(
                select(
                    PresenceInterval.operator_id,
                    PresenceInterval.state,
                    PresenceInterval.reason,
                    PresenceInterval.started_at,
                    PresenceInterval.node,
                    Operator.name,
                    Operator.login,
                )
                .join(Operator, Operator.id == PresenceInterval.operator_id)
                .where(PresenceInterval.ended_at.is_(None))
            ).all()
            remote_stmt = select(
                Call.uniqueid, Call.queue_name, Call.queue_entered_at, Call.node
            ).where(
                Call.queue_entered_at >= now - STALE_WAIT,
                Call.queue_left_at.is_(None),
                Call.ended_at.is_(None),
                Call.queue_name.in_(self.queues),
            )
            if self.live and self.node:
                remote_stmt = remote_stmt.where((Call.node != self.node) | Call.node.is_(None))
            remote = session.execute(remote_stmt).all()
        waits: list[float] = []
        handling: list[float] = []
        answered = within = abandoned = left_queue = 0
        for operator_id, outcome, sla, wait, left, ended in calls:
            if operator_id is not None:
                answered += 1
                within += bool(sla)
                if wait is not None:
                    waits.append(float(wait))
                if left is not None and ended is not None:
                    handling.append(max(0.0, (ended - left).total_seconds()))
            elif outcome == "abandoned":
                abandoned += 1
            elif outcome == "left-queue":
                left_queue += 1
        today = Today(
            queue_calls=len(calls),
            answered=answered,
            within_sla=within,
            abandoned=abandoned,
            left_queue=left_queue,
            avg_wait=_mean(waits),
            avg_handling=_mean(handling),
            am_messages=int(am_messages),
            callbacks_pending=int(callbacks[0]),
            callbacks_overdue=int(callbacks[1]),
        )
        operators = [
            OperatorTile(
                operator_id=row.operator_id,
                name=row.name or row.login,
                state=row.state,
                reason=row.reason,
                since=row.started_at,
                node=row.node,
            )
            for row in people
        ]
        waiting = [
            Waiting(row.uniqueid, row.queue_name or "", row.queue_entered_at, row.node)
            for row in remote
        ]
        return today, operators, waiting

    # -- the snapshot ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = utcnow()
        th = self.thresholds
        waiting = sorted(
            (*self.waiting.values(), *self.remote_waiting.values()), key=lambda w: w.since
        )
        longest = waiting[0].since if waiting else None
        longest_s = (now - longest).total_seconds() if longest else 0.0
        t = self.today
        sl, ab = t.service_level, t.abandon_rate
        people = sorted(
            (p for p in self.operators.values() if p.state != State.OFFLINE.value),
            key=lambda p: (p.state, p.name),
        )
        by_state: dict[str, int] = {s.value: 0 for s in State if s is not State.OFFLINE}
        for p in people:
            by_state[p.state] = by_state.get(p.state, 0) + 1
        tiles = {
            "waiting": {
                "value": len(waiting),
                "red": bool(waiting) and by_state.get("ready", 0) == 0,
            },
            "longest_wait": {
                "since": longest.isoformat() if longest else None,
                "value": round(longest_s),
                "red": longest_s > th.longest_wait_max,
            },
            "service_level": {
                "value": None if sl is None else round(sl, 1),
                "red": sl is not None and sl < th.service_level_min,
            },
            "abandon_rate": {
                "value": None if ab is None else round(ab, 1),
                "red": ab is not None and ab > th.abandon_max,
            },
            "avg_wait": {"value": None if t.avg_wait is None else round(t.avg_wait), "red": False},
            "avg_handling": {
                "value": None if t.avg_handling is None else round(t.avg_handling),
                "red": False,
            },
            "am_messages": {"value": t.am_messages, "red": False},
            "callbacks": {
                "value": t.callbacks_pending,
                "overdue": t.callbacks_overdue,
                "red": t.callbacks_overdue > th.callbacks_overdue_max,
            },
        }
        return {
            "type": "wallboard",
            "version": self.version,
            "now": now.isoformat(),
            "cause": self.cause,
            "tiles": tiles,
            "today": {
                "queue_calls": t.queue_calls,
                "answered": t.answered,
                "within_sla": t.within_sla,
                "abandoned": t.abandoned,
                "left_queue": t.left_queue,
            },
            "waiting": [
                {"queue": w.queue, "since": w.since.isoformat(), "node": w.node} for w in waiting
            ],
            "by_state": by_state,
            "operators": [p.as_json() for p in people],
        }


def build(services: Any, *, live: bool) -> Wallboard:
    settings = services.settings
    return Wallboard(
        services.db,
        queues=(settings.queue_name, settings.specialist_queue),
        node=settings.node_name,
        tz=settings.timezone,
        run_db=services.run_db_background,
        thresholds=Thresholds.from_settings(settings),
        refresh_seconds=float(settings.wallboard_refresh_seconds),
        live=live,
        bus=services.event_bus,
    )


def attach(runtime: Any) -> None:
    """The ``ami`` hook: this node's AMI and presence feed the board."""
    services = runtime.services
    board = build(services, live=True)
    board.subscribe(runtime.ami)
    services.wallboard = board
