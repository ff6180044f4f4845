"""Several nodes, one contact centre: live events and actions across nodes
through the shared PostgreSQL (issue 13 item 10).

Three ``LISTEN``/``NOTIFY`` channels, one listening connection per node:

* ``hotline_live``: every event published on this node's event bus
  (:class:`crm_bridge.live.EventBus`: an operator's call connected or
  ended, presence) is sent to the other nodes, which deliver it to their own
  subscribers — the operator's workplace on any node sees the operator's
  calls whatever node's Asterisk carries them;
* ``hotline_monitor``: every event of this node's dialer (a call dialled,
  answered, finished; a campaign completed) goes to the other nodes'
  campaign monitors: a dispatcher console on any node follows every node's
  calls at once (:class:`autoinformer.monitor.Monitor`);
* ``hotline_calls``: sent by the database itself when a call row changes
  (the trigger of migration ``1602_calls_notify``, at commit, so the row is
  there to read): the supervisor's wallboard reads the other nodes' callers
  at once (:meth:`supervision.wallboard.Wallboard.on_remote_call`), and the
  event goes on the bus under the topic ``calls``;
* ``hotline_action``: an action on a call is carried out by the node whose
  Asterisk carries the channel (:meth:`ClusterBridge.hangup`: «завершить
  разговор» on another node's call; :meth:`ClusterBridge.transfer`: the
  operator's transfer, made by the node whose shift follows the operator's
  phone); the owner answers on the same channel.

A payload carries no caller number and no account (152-FZ): the bus's
events name calls by their Uniqueid, their personal keys are left out
(:data:`PRIVATE`). Nothing is logged of a payload. On SQLite (one node) the
bridge does nothing and everything works as before.

The listening connection is re-opened after a database outage (events sent
meanwhile are lost to the pages, which read the database again anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any, Final

from crm_bridge.live import LiveEvent, RemoteActionError

log = logging.getLogger(__name__)

__all__ = ["ACTIONS", "CALLS", "LIVE", "MONITOR", "ClusterBridge"]

LIVE: Final = "hotline_live"
MONITOR: Final = "hotline_monitor"
CALLS: Final = "hotline_calls"
ACTIONS: Final = "hotline_action"
MAX_PAYLOAD: Final = 7900
"""PostgreSQL refuses a NOTIFY payload of 8000 bytes or more."""
ACTION_TIMEOUT: Final = 5.0
PRIVATE: Final = frozenset({"vars", "caller_number", "caller", "account", "phone_number"})
"""Keys of an event's data never sent to other nodes (152-FZ: a payload may
end up in the database server's log): the card's channel variables (the
account), the caller's number. The other node's page reads the card from
the database."""


class ClusterBridge:
    """The ``cluster`` component (see the module doc)."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.node: str = services.settings.node_name
        self.enabled = services.db.url.get_backend_name() == "postgresql"
        self.received = 0
        """Notifications from other nodes handled (tests, the bench)."""
        self.hangups_done = 0
        """Calls this node hung up at another node's request."""
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=10_000)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._actions: set[asyncio.Task[None]] = set()
        """Requests of other nodes being carried out here (owned, cancelled at stop)."""
        self._listening = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def _conninfo(self) -> str:
        url = self.services.db.url.set(drivername="postgresql")
        return str(url.render_as_string(hide_password=False))

    async def start(self) -> None:
        if not self.enabled:
            return
        self.services.event_bus.forwarders.append(self._forward)
        self.services.campaign_monitor.forwarders.append(self._forward_monitor)
        self.services.cluster = self
        self._tasks = [
            asyncio.create_task(self._listen(), name=f"cluster-listen-{self.node}"),
            asyncio.create_task(self._send(), name=f"cluster-send-{self.node}"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def stop(self) -> None:
        if self._forward in self.services.event_bus.forwarders:
            self.services.event_bus.forwarders.remove(self._forward)
        if self._forward_monitor in self.services.campaign_monitor.forwarders:
            self.services.campaign_monitor.forwarders.remove(self._forward_monitor)
        if getattr(self.services, "cluster", None) is self:
            self.services.cluster = None
        for t in (*self._tasks, *self._actions):
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        await asyncio.gather(*self._actions, return_exceptions=True)
        self._actions.clear()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result({"ok": False})

    def _action_done(self, task: asyncio.Task[None]) -> None:
        self._actions.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: _carry_out answers its own failures

    async def wait_listening(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._listening.wait(), timeout)

    # -- sending -----------------------------------------------------------------------------

    def _forward(self, event: LiveEvent) -> None:
        """An event published on this node's bus: to the other nodes, without
        its personal data (:data:`PRIVATE`)."""
        data = {k: v for k, v in event.data.items() if k not in PRIVATE}
        self._notify(
            LIVE, {"node": self.node, "topic": event.topic, "type": event.type, "data": data}
        )

    def _forward_monitor(self, event: dict[str, Any]) -> None:
        """A dialer's event (campaign, call, trunk: no personal data): to the
        other nodes' dispatcher consoles."""
        self._notify(MONITOR, {"node": self.node, "event": event})

    def _notify(self, channel: str, message: dict[str, Any]) -> None:
        payload = json.dumps(message, ensure_ascii=False, default=str)
        if len(payload.encode()) > MAX_PAYLOAD:
            log.warning("cluster: a %s message too long for NOTIFY is not sent", channel)
            return
        try:
            self._outbox.put_nowait((channel, payload))
        except asyncio.QueueFull:
            log.warning("cluster: the outbox is full; a %s message is dropped", channel)

    async def _send(self) -> None:
        import psycopg

        while True:
            channel, payload = await self._outbox.get()
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo(), autocommit=True
                ) as conn:
                    while True:
                        await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
                        channel, payload = await self._outbox.get()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cluster: NOTIFY failed (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(1.0)

    # -- receiving ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo(), autocommit=True
                ) as conn:
                    for channel in (LIVE, CALLS, ACTIONS, MONITOR):
                        await conn.execute(f"LISTEN {channel}")
                    self._listening.set()
                    async for note in conn.notifies():
                        try:
                            self._handle(note.channel, json.loads(note.payload))
                        except Exception:
                            log.exception("cluster: a %s notification failed", note.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._listening.clear()
                log.warning("cluster: LISTEN lost (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(1.0)

    def _handle(self, channel: str, message: dict[str, Any]) -> None:
        if channel == CALLS:
            if message.get("node") in (self.node, None):
                return  # ours, or not yet a node's (announced when it is)
            self.received += 1
            board = getattr(self.services, "wallboard", None)
            if board is not None:
                board.on_remote_call(message)
            self.services.event_bus.deliver(
                LiveEvent("calls", "call_changed", message, message.get("node"))
            )
            return
        sender = message.get("node")
        if sender == self.node:
            return
        self.received += 1
        if channel == LIVE:
            self.services.event_bus.deliver(
                LiveEvent(
                    str(message.get("topic", "")),
                    str(message.get("type", "")),
                    dict(message.get("data") or {}),
                    str(sender),
                )
            )
        elif channel == MONITOR:
            event = message.get("event")
            if isinstance(event, dict):
                self.services.campaign_monitor.deliver({**event, "node": sender})
        elif channel == ACTIONS:
            if "reply_to" in message:
                fut = self._pending.get(str(message["reply_to"]))
                if fut is not None and not fut.done():
                    fut.set_result(message)
            elif message.get("to") == self.node:
                task = asyncio.create_task(self._carry_out(message))
                self._actions.add(task)
                task.add_done_callback(self._action_done)

    # -- actions -----------------------------------------------------------------------------

    async def _request(self, node: str, kind: str, **fields: Any) -> dict[str, Any] | None:
        """Send a request to ``node``; its answer, or None without one within
        :data:`ACTION_TIMEOUT` seconds."""
        if not self.enabled or not self._listening.is_set():
            return None
        request_id = uuid.uuid4().hex
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        try:
            self._notify(
                ACTIONS, {"node": self.node, "to": node, "id": request_id, "kind": kind, **fields}
            )
            try:
                return await asyncio.wait_for(fut, ACTION_TIMEOUT)
            except TimeoutError:
                log.warning("cluster: node %s did not answer a %s request", node, kind)
                return None
        finally:
            self._pending.pop(request_id, None)

    async def hangup(self, node: str, uniqueid: str) -> bool:
        """Ask ``node`` to hang the call ``uniqueid`` up (cause 16); True when
        it did within :data:`ACTION_TIMEOUT` seconds."""
        answer = await self._request(node, "hangup", uniqueid=uniqueid)
        return bool(answer and answer.get("ok"))

    async def transfer(self, node: str, operator_id: int, target: str) -> str:
        """Ask ``node``, whose Asterisk carries the operator's call (its shift
        follows the operator's phone), to transfer it to ``target``."""
        answer = await self._request(node, "transfer", operator_id=operator_id, target=target)
        if answer is None:
            raise RemoteActionError(f"узел {node} не ответил: перевод не выполнен")
        if not answer.get("ok"):
            raise RemoteActionError(str(answer.get("error") or "перевод не выполнен"))
        return str(answer.get("whom", ""))

    async def _carry_out(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"node": self.node, "reply_to": message.get("id"), "ok": False}
        kind = message.get("kind")
        if kind == "hangup":
            reply["ok"] = await self._hangup_here(str(message.get("uniqueid", "")))
        elif kind == "transfer":
            shift = getattr(self.services, "shift", None)
            if shift is None:
                reply["error"] = f"на узле {self.node} нет смены операторов"
            else:
                try:
                    operator_id = int(message.get("operator_id", 0))
                    reply["whom"] = await shift.transfer(operator_id, str(message.get("target")))
                    reply["ok"] = True
                except Exception as exc:  # PresenceError: its Russian message
                    reply["error"] = str(exc) or "перевод не выполнен"
        self._notify(ACTIONS, reply)

    async def _hangup_here(self, uniqueid: str) -> bool:
        """Hang up a call this node's Asterisk carries (its listener's channel)."""
        ami = getattr(self.services, "ami", None)
        listener = getattr(self.services, "call_listener", None)
        st = listener.state(uniqueid) if listener is not None else None
        if ami is None or st is None or not st.channel or st.ended:
            return False
        try:
            await ami.action({"Action": "Hangup", "Channel": st.channel, "Cause": "16"})
        except Exception as exc:
            log.warning("cluster: could not hang up a call: %s", exc)
            return False
        self.hangups_done += 1
        log.info("call %s hung up at another node's request", uniqueid)
        return True
