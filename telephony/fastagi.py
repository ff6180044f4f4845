"""FastAGI service on panoramisk, with panoramisk's faults fixed in our layer.

panoramisk 1.4's ``Application.handler`` reads headers with no timeout and no
size cap (and spins at 100 % CPU on EOF), swallows every exception including
cancellation, and has no notion of owned tasks or shutdown. Here:

- the request header is read with a timeout and a size cap, and EOF closes
  the connection cleanly — each such fault costs one log line;
- the route table is built at start-up, duplicates and plain functions
  rejected;
- every call task is owned, and cancelled on shutdown after a grace period;
- a hangup (``HANGUP`` / ``511``) ends the flow quietly;
- any unexpected failure sets ``HOTLINE_STATUS=FAILED`` so the dialplan sends
  the caller to the fallback branch (apology + operator queue), never silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from panoramisk.fast_agi import Application

from telephony.callrunner import FAILED, HANGUP, CallEndHook, Flow, run_call
from telephony.channel import (
    AgiChannel,
    AgiProtocolError,
    AgiResponse,
    CallerHangup,
    PromptResolver,
    parse_response,
)
from telephony.journal import JournalHub

log = logging.getLogger(__name__)


class DuplicateRoute(ValueError):
    pass


class RouteTable:
    """Explicit registration: built once at start-up, then frozen."""

    def __init__(self) -> None:
        self._routes: dict[str, Flow] = {}
        self._frozen = False

    def add(self, route: str, flow: Flow) -> None:
        if self._frozen:
            raise RuntimeError("the route table is frozen once the server starts")
        if route in self._routes:
            raise DuplicateRoute(f"route {route!r} is already registered")
        if not inspect.iscoroutinefunction(flow):
            raise TypeError(f"route {route!r}: the flow must be an async function")
        self._routes[route] = flow

    def get(self, route: str) -> Flow | None:
        return self._routes.get(route)

    def freeze(self) -> None:
        self._frozen = True

    def __contains__(self, route: object) -> bool:
        return route in self._routes

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._routes))


RttObserver = Callable[[str, float], None]


class StreamTransport:
    """AGI commands over a FastAGI TCP stream, every read with a timeout."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeout: float,
        encoding: str = "utf-8",
        observer: RttObserver | None = None,
    ) -> None:
        self._r = reader
        self._w = writer
        self._timeout = timeout
        self._enc = encoding
        self._observer = observer
        self.round_trips = 0

    async def _readline(self) -> str:
        try:
            line = await self._r.readline()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise CallerHangup(f"connection lost: {exc}") from exc
        if not line:
            raise CallerHangup("connection closed by Asterisk")
        return line.decode(self._enc, "replace").rstrip("\r\n")

    async def command(self, command: str) -> AgiResponse:
        if "\n" in command or "\r" in command:
            raise ValueError("an AGI command is one line")
        started = time.perf_counter()
        self._w.write(command.encode(self._enc) + b"\n")
        try:
            async with asyncio.timeout(self._timeout):
                await self._w.drain()
                self.round_trips += 1
                while True:
                    line = await self._readline()
                    if line.startswith("100 "):
                        continue  # "100 Trying..." precedes the real answer
                    if line.startswith("520-"):
                        while not (await self._readline()).startswith("520 "):
                            pass
                        raise AgiProtocolError(f"AGI usage error for {command.split(' ', 1)[0]}")
                    resp = parse_response(line)
                    break
        except ConnectionError as exc:
            raise CallerHangup(f"connection lost: {exc}") from exc
        if self._observer is not None:
            self._observer(
                command.split(" ", 2)[0] + " " + command.split(" ", 2)[1]
                if " " in command
                else command,
                time.perf_counter() - started,
            )
        return resp


@dataclass(slots=True)
class ServerStats:
    connections: int = 0
    calls: int = 0
    active: int = 0
    completed: int = 0
    hangups: int = 0
    failures: int = 0
    rejected: int = 0


class FastAgiServer(Application):
    """The hardened FastAGI server. ``deps`` is handed to every flow."""

    def __init__(
        self,
        routes: RouteTable,
        deps: Any = None,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        header_timeout: float = 5.0,
        max_header_bytes: int = 64 * 1024,
        command_timeout: float = 600.0,
        resolver: PromptResolver | None = None,
        spool_dir: str = "/tmp",
        hub: JournalHub | None = None,
        on_call_end: CallEndHook | None = None,
        rtt_observer: RttObserver | None = None,
        allow: Sequence[str] = ("127.0.0.1/32", "::1/128"),
        max_connections: int = 1000,
    ) -> None:
        """``allow``: the networks Asterisk may connect from (anything else is
        closed before a byte is read); ``max_connections``: calls served at
        once, a connection beyond them is closed at once (Asterisk's
        ``AGISTATUS`` then sends the caller to the fallback branch)."""
        # panoramisk's Application needs a loop argument only for legacy use.
        super().__init__(loop=asyncio.get_running_loop())
        self.routes = routes
        for route in routes:
            flow = routes.get(route)
            assert flow is not None
            self.add_route(route, flow)
        routes.freeze()
        self.deps = deps
        self.host = host
        self.port = port
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.command_timeout = command_timeout
        self.resolver = resolver
        self.spool_dir = spool_dir
        self.hub = hub or JournalHub()
        self.on_call_end = on_call_end
        self.rtt_observer = rtt_observer
        self.allow = tuple(ipaddress.ip_network(n, strict=False) for n in allow)
        self.max_connections = max_connections
        self.stats = ServerStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    # panoramisk API, made strict
    def add_route(self, path: str, endpoint: Flow) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"route {path!r}: the flow must be an async function")
        if path in self._route:
            raise DuplicateRoute(f"route {path!r} is already registered")
        self._route[path] = endpoint

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self.handler, self.host, self.port, limit=self.max_header_bytes, reuse_address=True
        )
        sock = self._server.sockets[0].getsockname()
        self.port = sock[1]
        log.info("FastAGI listening on %s:%s (%d routes)", self.host, self.port, len(self._route))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let calls finish for ``grace`` seconds, cancel the rest."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        tasks = set(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
        log.info("FastAGI stopped")

    @property
    def active_calls(self) -> int:
        return len(self._tasks)

    def _refusal(self, peer: Any) -> str | None:
        """Why a new connection is refused, or None."""
        host = peer[0] if isinstance(peer, tuple) and peer else ""
        try:
            address = ipaddress.ip_address(str(host).split("%", 1)[0])
        except ValueError:
            return "peer address unknown"
        if not any(address in net for net in self.allow):
            return f"peer {address} not in the allow-list"
        if len(self._tasks) >= self.max_connections:
            return f"{self.max_connections} calls already served"
        return None

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        refusal = self._refusal(writer.get_extra_info("peername"))
        if refusal is not None:
            self.stats.rejected += 1
            log.warning("FastAGI: connection refused: %s", refusal)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.connections += 1
        try:
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _read_headers(
        self, reader: asyncio.StreamReader, peer: object
    ) -> Mapping[str, str] | None:
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\n\n"), self.header_timeout)
        except TimeoutError:
            log.warning("FastAGI %s: no request within %.1fs, closed", peer, self.header_timeout)
        except asyncio.LimitOverrunError:
            log.warning("FastAGI %s: request over %d bytes, closed", peer, self.max_header_bytes)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                log.warning("FastAGI %s: connection closed mid-request, closed", peer)
            else:
                log.info("FastAGI %s: connection closed before any request", peer)
        except ConnectionError as exc:
            log.warning("FastAGI %s: %s", peer, exc)
        else:
            headers: dict[str, str] = {}
            for line in raw.decode("utf-8", "replace").splitlines():
                key, sep, value = line.partition(": ")
                if sep and key.startswith("agi_"):
                    headers[key] = value
            if "agi_network_script" not in headers:
                log.warning("FastAGI %s: not an AGI request (no agi_network_script), closed", peer)
                return None
            return headers
        self.stats.rejected += 1
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        headers = await self._read_headers(reader, peer)
        if headers is None:
            return
        route = headers["agi_network_script"].split("?", 1)[0].strip("/")
        transport = StreamTransport(
            reader, writer, self.command_timeout, observer=self.rtt_observer
        )
        call_id = headers.get("agi_uniqueid", "") or f"noid-{id(writer)}"
        journal = self.hub.open(call_id, route)
        journal.add("start", route=route, channel=headers.get("agi_channel", ""))
        channel = AgiChannel(transport, headers, journal, self.resolver, self.spool_dir)
        self.stats.calls += 1
        self.stats.active += 1
        outcome = FAILED
        try:
            outcome = await run_call(
                self._route.get(route),
                channel,
                self.deps,
                refuse="service is shutting down" if self._closing else None,
                on_call_end=self.on_call_end,
                round_trips=lambda: transport.round_trips,
            )
        finally:
            self.stats.active -= 1
            if outcome == HANGUP:
                self.stats.hangups += 1
            elif outcome == FAILED:
                self.stats.failures += 1
            else:
                self.stats.completed += 1
