"""AMI connection on panoramisk, with its faults fixed in our layer.

- every event subscription is registered in one place before start;
- coroutine callbacks become *owned* tasks (kept, logged on failure,
  cancelled on close) instead of panoramisk's fire-and-forget;
- reconnects after an Asterisk restart and calls the ``on_login`` hooks so
  listeners can resynchronise; a closed client stops reconnecting;
- every action waits with a timeout; actions while disconnected fail fast
  with :class:`AmiUnavailable` instead of queueing forever;
- Asterisk sends only the events somebody handles: after each login the
  session gets a whitelist (AMI ``Filter``) of the handled event names, so a
  busy node does not format, send and parse every AGI and DTMF event of every
  call for a listener that drops them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from panoramisk import Manager
from panoramisk.message import Message

log = logging.getLogger(__name__)

EventHandler = Callable[[Message], Awaitable[None] | None]
LoginHook = Callable[[], Awaitable[None]]

ALWAYS_RECEIVED = ("OriginateResponse",)
"""Events the session always lets through: an async Originate action is
answered by its ``OriginateResponse`` event (panoramisk waits for it)."""


class AmiError(RuntimeError):
    pass


class AmiUnavailable(AmiError):
    """Asterisk's manager interface is not connected right now."""


class _Manager(Manager):
    client: AmiClient

    def dispatch(self, event: Message) -> list[str]:
        event.manager = self
        matches = []
        for pattern, regexp in self.patterns:
            if regexp.match(event.event) is not None:
                matches.append(pattern)
                for callback in self.callbacks[pattern]:
                    self.client._call(callback, event)
        return matches

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if self.client.closing:
            if f.exception() is None:
                f.result()[0].close()
            return
        super().connection_made(f)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._connected.clear()
        if self.client.closing:
            return
        log.warning("AMI connection lost; reconnecting every %ss", self.reconnect_timeout)
        super().connection_lost(exc)

    def ping(self) -> None:
        if self.protocol is None or self.client.closing:
            return
        super().ping()


class AmiLike(Protocol):
    """What the slices' AMI users (the call listener, presence) need of
    :class:`AmiClient`; tests give them a scripted one."""

    def on_event(self, pattern: str, handler: Callable[[Any], Any]) -> None: ...
    def on_login(self, hook: Callable[[], Awaitable[None]]) -> None: ...
    async def action(
        self, action: dict[str, Any], *, as_list: bool | None = None, timeout: float | None = None
    ) -> Any: ...


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        action_timeout: float = 10.0,
        reconnect_timeout: int = 1,
        events: str = "on",
        only: tuple[str, ...] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self.action_timeout = action_timeout
        self.reconnect_timeout = reconnect_timeout
        self.events = events
        """Event classes to receive (``on`` = all, or e.g. ``call,user``)."""
        self.only = only
        """Event names to receive; None: the names of the registered handlers,
        or everything when a handler's pattern has a wildcard."""
        self.closing = False
        self._handlers: list[tuple[str, Callable[..., Any]]] = []
        self._login_hooks: list[LoginHook] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = asyncio.Event()
        self._manager: _Manager | None = None
        self._ids = itertools.count(1)
        self._prefix = f"hl-{os.getpid()}-{id(self) & 0xFFFF:x}"
        self.logins = 0

    # -- wiring -------------------------------------------------------------
    def on_event(self, pattern: str, handler: EventHandler) -> None:
        if self._manager is not None:
            raise RuntimeError("register AMI events before start()")
        self._handlers.append((pattern, handler))

    def on_login(self, hook: LoginHook) -> None:
        self._login_hooks.append(hook)

    def new_action_id(self, kind: str = "a") -> str:
        """A full, process-unique ActionID (never the seconds of a Uniqueid)."""
        return f"{self._prefix}-{kind}-{next(self._ids)}"

    def _call(self, callback: Callable[..., Any], event: Message) -> None:
        try:
            ret = callback(event)
        except Exception:
            log.exception("AMI handler for %s failed", event.event)
            return
        if asyncio.iscoroutine(ret):
            self._own(ret, f"ami-{event.event}")

    def _own(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("AMI task %s failed: %r", task.get_name(), task.exception())

    # -- lifecycle ------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, wait: float | None = 10.0) -> None:
        loop = asyncio.get_running_loop()
        m = _Manager(
            loop=loop,
            host=self.host,
            port=self.port,
            username=self._username,
            secret=self._secret,
            ping_delay=10,
            ping_interval=10,
            reconnect_timeout=self.reconnect_timeout,
            events=self.events,
            on_login=self._logged_in,
        )
        m.client = self
        for pattern, handler in self._handlers:
            m.register_event(pattern, handler)
        self._manager = m
        m.connect()
        if wait:
            await self.wait_connected(wait)

    def handled_events(self) -> tuple[str, ...] | None:
        """The event names this client's handlers take (None: a wildcard)."""
        names = {pattern for pattern, _ in self._handlers}
        if any(ch in name for name in names for ch in "*?[]().^$|+\\"):
            return None
        return tuple(sorted(names | set(ALWAYS_RECEIVED)))

    def wanted_events(self) -> tuple[str, ...] | None:
        """The event names this session narrows itself to with AMI ``Filter``
        (None: no Filter). Only a session given ``only`` does: the service's
        own AMI user is narrowed by Asterisk itself (``eventfilter`` in
        manager.conf, rendered from the slices' ``ami_events``), and has no
        ``system`` write permission, which ``Filter`` needs. Test and bench
        tools (the test AMI user) narrow their sessions this way."""
        if self.only is None:
            return None
        return tuple(sorted(set(self.only) | set(ALWAYS_RECEIVED)))

    def _logged_in(self, manager: Manager) -> None:
        self.logins += 1
        log.info("AMI logged in to %s:%s (login #%d)", self.host, self.port, self.logins)
        self._own(self._after_login(manager, self.logins), "ami-after-login")

    async def _after_login(self, manager: Manager, login: int) -> None:
        """Set the event whitelist, then open the client to actions and run
        the login hooks: nothing the session must see (an OriginateResponse)
        can fall between two Filter actions."""
        wanted = self.wanted_events()
        if wanted is not None:
            try:
                await asyncio.gather(
                    *(
                        self._send(
                            # A Filter is a regex over the event's text: the
                            # name ends where a non-word character follows
                            # (else "Hangup" lets HangupRequest through too).
                            {
                                "Action": "Filter",
                                "Operation": "Add",
                                "Filter": f"Event: {name}[^A-Za-z0-9]",
                            },
                            manager,
                        )
                        for name in wanted
                    )
                )
            except AmiError as exc:
                # Events are then all delivered: more traffic, nothing lost.
                log.warning("AMI event filter not set (%s); receiving every event", exc)
        if login != self.logins or self.closing or manager.protocol is None:
            return  # lost (or superseded by a newer login) meanwhile
        self._connected.set()
        for hook in self._login_hooks:
            self._own(hook(), "ami-login-hook")

    async def wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError as exc:
            raise AmiUnavailable(
                f"AMI at {self.host}:{self.port} not reachable in {timeout}s"
            ) from exc

    async def close(self) -> None:
        self.closing = True
        self._connected.clear()
        if self._manager is not None:
            self._manager.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    # -- actions ----------------------------------------------------------------
    async def action(
        self, action: dict[str, Any], *, as_list: bool | None = None, timeout: float | None = None
    ) -> Any:
        if self._manager is None or not self.connected:
            raise AmiUnavailable("AMI is not connected")
        return await self._send(action, self._manager, as_list=as_list, timeout=timeout)

    async def _send(
        self,
        action: dict[str, Any],
        manager: Manager,
        *,
        as_list: bool | None = None,
        timeout: float | None = None,
    ) -> Any:
        action = dict(action)
        action.setdefault("ActionID", self.new_action_id(str(action.get("Action", "a")).lower()))
        # panoramisk reads action['async'] for any "... successfully queued"
        # answer (PlayDTMF, Redirect...) and fails with KeyError without it.
        action.setdefault("Async", "false")
        fut = manager.send_action(action, as_list=as_list)
        try:
            return await asyncio.wait_for(fut, timeout or self.action_timeout)
        except TimeoutError as exc:
            raise AmiError(f"AMI action {action.get('Action')} timed out") from exc
