"""AudioSocket server: streams a call's audio from Asterisk into a recogniser.

Protocol (Asterisk ``app_audiosocket`` / ``chan_audiosocket``, TCP): every
message is ``kind`` (1 byte), ``length`` (2 bytes, big-endian), ``payload``.

===========  =====================================================================
``0x00``     hangup / terminate (either direction; we send it to end the session)
``0x01``     UUID, 16 bytes, always the first message from Asterisk
``0x03``     DTMF digit, 1 ASCII byte (added to Asterisk in 2025; 22.10 sends it)
``0x10``     audio: slin, 8 kHz, 16-bit signed little-endian mono (20 ms = 320 bytes)
``0xff``     error; payload is an optional error code
===========  =====================================================================

Some newer Asterisk builds define further audio kinds for higher slin rates
(0x11 and up); they are refused with one log line: use ``AudioSocket()`` or
``Dial(AudioSocket/.../c(slin))`` so the stream is 8 kHz slin.

How a call flow uses it (the server and the engine are owned by the app)::

    if not server.available:            # no model: keypad only
        ...
    async with server.expect(grammar=DIGIT_WORDS) as listen:
        # The dialplan application blocks until we send "hangup" after the result.
        await agi.exec("AudioSocket", listen.dialplan_args)  # "uuid,host:port"
        result = await listen.result(timeout=30)
    if result.reason is EndReason.DTMF:  # caller pressed a key: result.dtmf == "5"
        ...

``expect()`` registers the session *before* Asterisk connects; the connection
is matched by its UUID (single use; unknown UUIDs are refused). The result
arrives as soon as the end of speech is detected; the server then sends
``0x00`` so ``AudioSocket()`` returns and the dialplan/AGI continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
import uuid as uuid_mod
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ivr.speech.engine import (
    PHONE_RATE,
    Endpointing,
    EndReason,
    Final,
    Recogniser,
    SpeechEngine,
    SpeechUnavailable,
)

log = logging.getLogger(__name__)

HEADER = struct.Struct(">BH")
FRAME_BYTES = 320
"""20 ms of 8 kHz slin: what Asterisk sends per audio message."""


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class ProtocolError(Exception):
    """Malformed AudioSocket input; the connection is closed."""


def encode_message(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError("AudioSocket payload longer than 65535 bytes")
    return HEADER.pack(kind, len(payload)) + payload


_READER_TURNS = 3
"""Event-loop turns the reader gets to queue audio already in the socket
before the decoder fills a gap with silence."""

_KEYS = EndReason.DTMF
"""Queued by the reader for the decoder when the caller starts keying a
number: the recogniser stops without a result of its own."""


@dataclass(frozen=True, slots=True)
class AudioSocketLimits:
    max_payload: int = 4096
    """Largest audio payload accepted (Asterisk sends 320 bytes; 4096 = 256 ms)."""
    handshake_timeout: float = 5.0
    """The UUID message must arrive within this many seconds of the connection."""
    read_timeout: float = 10.0
    """No message at all for this long ends the session with ``TIMEOUT``."""
    gap_fill: float = 0.2
    """No audio for this long (silence suppression on the line) counts as
    silence, so end-pointing still happens in time."""
    connect_timeout: float = 10.0
    """Asterisk must connect within this many seconds of ``expect()``."""
    session_timeout: float = 60.0
    """Wall-clock limit of one connected session."""
    write_timeout: float = 2.0
    max_connections: int = 64
    max_pending: int = 1024
    queue_seconds: float = 30.0
    """Audio waiting for the decoder beyond this is dropped (logged once)."""
    max_batch_seconds: float = 0.5
    """Queued audio decoded in one pool call when the decoder falls behind."""


@dataclass(slots=True)
class AudioSocketStats:
    connections: int = 0
    sessions: int = 0
    refused: int = 0
    protocol_errors: int = 0
    results: dict[str, int] = field(default_factory=dict)


async def read_message(
    reader: asyncio.StreamReader,
    limits: AudioSocketLimits,
    timeout: float,
) -> tuple[int, bytes]:
    """One message, validated. Raises IncompleteReadError (EOF), TimeoutError,
    ProtocolError."""
    async with asyncio.timeout(timeout):
        header = await reader.readexactly(HEADER.size)
        kind, length = HEADER.unpack(header)
        if kind == Kind.AUDIO:
            if length > limits.max_payload:
                raise ProtocolError(f"audio payload of {length} bytes > {limits.max_payload}")
        elif kind == Kind.UUID:
            if length != 16:
                raise ProtocolError(f"UUID payload of {length} bytes, expected 16")
        elif kind == Kind.DTMF:
            if not 1 <= length <= 4:
                raise ProtocolError(f"DTMF payload of {length} bytes, expected 1")
        elif kind in (Kind.HANGUP, Kind.ERROR):
            if length > 64:
                raise ProtocolError(f"{Kind(kind).name} payload of {length} bytes")
        else:
            raise ProtocolError(
                f"unsupported message kind 0x{kind:02x} (length {length}); only 8 kHz slin "
                "(0x10) audio is supported"
            )
        payload = await reader.readexactly(length) if length else b""
    return kind, payload


class _Connection:
    """The writing side of one AudioSocket connection."""

    def __init__(self, writer: asyncio.StreamWriter, limits: AudioSocketLimits) -> None:
        self._writer = writer
        self._limits = limits
        self._lock = asyncio.Lock()
        self.closed = False

    async def _write(self, data: bytes) -> None:
        if self.closed or self._writer.is_closing():
            raise ConnectionError("AudioSocket connection closed")
        self._writer.write(data)
        async with asyncio.timeout(self._limits.write_timeout):
            await self._writer.drain()

    async def send_audio(self, pcm: bytes, *, pace: bool = True) -> None:
        """Play 8 kHz slin to the caller in 20 ms messages (paced in real time)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with self._lock:
            for index, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
                await self._write(encode_message(Kind.AUDIO, pcm[offset : offset + FRAME_BYTES]))
                if pace:
                    delay = start + (index + 1) * 0.02 - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)

    async def hangup_and_close(self) -> None:
        """Send ``0x00`` (AudioSocket() returns in the dialplan) and close."""
        if self.closed:
            return
        with contextlib.suppress(Exception):
            await self._write(encode_message(Kind.HANGUP))
        self.closed = True
        await _close_writer(self._writer, self._limits.write_timeout)


async def _close_writer(writer: asyncio.StreamWriter, timeout: float) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout):
            await writer.wait_closed()


class Expectation:
    """A recognition session registered before Asterisk connects.

    Created by :meth:`AudioSocketServer.expect`. Use as an async context manager
    (cancels and unregisters on exit) or call :meth:`cancel` yourself.
    """

    def __init__(
        self,
        server: AudioSocketServer,
        ident: str,
        grammar: Sequence[str] | None,
        endpointing: Endpointing | None,
        partials: bool,
        keys: int = 1,
        inter_digit: float = 4.0,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.server = server
        self.uuid = ident
        self.grammar = tuple(grammar) if grammar is not None else None
        self.endpointing = endpointing
        self.partials = partials
        self.keys = max(1, keys)
        """Keys to collect once the caller presses one: 1 ends the session at
        the first key; more keep it open for the rest of a keyed number (up
        to ``#``, ``keys`` keys or a pause of ``inter_digit`` seconds), so no
        key falls between this and the next AGI command."""
        self.inter_digit = inter_digit
        self.created = time.monotonic()
        self.connect_deadline = loop.time() + server.limits.connect_timeout
        self._future: asyncio.Future[Final] = loop.create_future()
        self._progress = asyncio.Event()
        self.connection: _Connection | None = None

    @property
    def dialplan_args(self) -> str:
        """Arguments of the dialplan application: ``AudioSocket(<this>)``."""
        return f"{self.uuid},{self.server.dial_address}"

    @property
    def connected(self) -> bool:
        return self.connection is not None

    @property
    def done(self) -> bool:
        return self._future.done()

    def _attach(self, connection: _Connection) -> None:
        self.connection = connection
        self._progress.set()

    def _resolve(self, final: Final) -> bool:
        if self._future.done():
            return False
        self._future.set_result(final)
        self._progress.set()
        self.server._forget(self)
        self.server.stats.results[final.reason.value] = (
            self.server.stats.results.get(final.reason.value, 0) + 1
        )
        return True

    def cancel(self, reason: EndReason = EndReason.CANCELLED) -> None:
        """Give up: unregister, resolve with ``reason``; a live connection is hung up."""
        self._resolve(Final("", reason))

    async def send_audio(self, pcm: bytes, *, pace: bool = True) -> None:
        """Play 8 kHz slin to the caller over the connection (once connected)."""
        if self.connection is None:
            raise ConnectionError("Asterisk has not connected yet")
        await self.connection.send_audio(pcm, pace=pace)

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until Asterisk connects (or the session ends); False on timeout."""
        loop = asyncio.get_running_loop()
        limit = self.connect_deadline - loop.time() if timeout is None else timeout
        try:
            async with asyncio.timeout(max(0.0, limit)):
                await self._progress.wait()
        except TimeoutError:
            return False
        return self.connected

    async def result(self, timeout: float | None = None) -> Final:
        """The final result. Never raises for the expected failures: no connection
        within ``connect_timeout`` or nothing within ``timeout`` -> ``TIMEOUT``."""
        loop = asyncio.get_running_loop()
        limits = self.server.limits
        total = (
            timeout
            if timeout is not None
            else limits.connect_timeout + limits.session_timeout + 2 * limits.write_timeout
        )
        deadline = loop.time() + total
        if not self._future.done() and self.connection is None:
            try:
                async with asyncio.timeout_at(min(deadline, self.connect_deadline)):
                    await self._progress.wait()
            except TimeoutError:
                if self.connection is None and self._resolve(Final("", EndReason.TIMEOUT)):
                    log.warning(
                        "AudioSocket %s: Asterisk did not connect in time; keypad only", self.uuid
                    )
        done, _ = await asyncio.wait({self._future}, timeout=max(0.0, deadline - loop.time()))
        if not done:
            log.warning("AudioSocket %s: no result within %.1f s", self.uuid, total)
            self.cancel(EndReason.TIMEOUT)
        return self._future.result()

    async def __aenter__(self) -> Expectation:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._future.done():
            self.cancel()


class AudioSocketServer:
    """Asyncio AudioSocket server feeding :class:`~ivr.speech.engine.SpeechEngine`.

    ``host``/``port`` are where it listens (``port=0``: any free port);
    ``advertise_host`` is what Asterisk should dial if it differs (e.g. listening
    on 0.0.0.0).
    """

    def __init__(
        self,
        engine: SpeechEngine,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: AudioSocketLimits | None = None,
        advertise_host: str | None = None,
    ) -> None:
        self.engine = engine
        self.host = host
        self.limits = limits or AudioSocketLimits()
        self.advertise_host = advertise_host
        self.stats = AudioSocketStats()
        self._port = port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._expected: dict[str, Expectation] = {}
        self._live: set[Expectation] = set()
        self._stopping = False

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Speech can be used: the engine has a model and the server is running."""
        return self.engine.available and self._server is not None and not self._stopping

    @property
    def port(self) -> int:
        return self._port

    @property
    def dial_address(self) -> str:
        return f"{self.advertise_host or self.host}:{self._port}"

    @property
    def active_connections(self) -> int:
        return len(self._tasks)

    @property
    def pending(self) -> int:
        return len(self._expected)

    async def start(self) -> None:
        if self._server is not None:
            return
        self._stopping = False
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self._port, limit=2 * 65536
        )
        sockets = self._server.sockets or ()
        if sockets:
            self._port = int(sockets[0].getsockname()[1])
        log.info("AudioSocket server listening on %s:%d", self.host, self._port)

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, cancel every session (results: ``CANCELLED``), close sockets."""
        self._stopping = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for expectation in [*self._expected.values(), *self._live]:
            expectation.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, still = await asyncio.wait(tasks, timeout=timeout)
            if still:
                log.error("AudioSocket: %d session(s) did not stop in %.1f s", len(still), timeout)
        if server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await server.wait_closed()

    async def __aenter__(self) -> AudioSocketServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- registration -------------------------------------------------------------------

    def expect(
        self,
        grammar: Sequence[str] | None = None,
        *,
        uuid: str | None = None,
        endpointing: Endpointing | None = None,
        partials: bool = False,
        keys: int = 1,
        inter_digit: float = 4.0,
    ) -> Expectation:
        """Register a recognition session; Asterisk then runs
        ``AudioSocket(<expectation.dialplan_args>)``. Raises SpeechUnavailable
        (check :attr:`available` first) or RuntimeError (server not running)."""
        if not self.engine.available:
            raise SpeechUnavailable(self.engine.unavailable_reason or "speech unavailable")
        if self._server is None or self._stopping:
            raise RuntimeError("AudioSocket server is not running")
        self._purge()
        if len(self._expected) >= self.limits.max_pending:
            raise RuntimeError("too many AudioSocket sessions waiting for Asterisk")
        ident = str(uuid_mod.UUID(uuid)) if uuid is not None else str(uuid_mod.uuid4())
        if ident in self._expected:
            raise ValueError(f"AudioSocket session {ident} is already registered")
        expectation = Expectation(
            self, ident, grammar, endpointing, partials, keys=keys, inter_digit=inter_digit
        )
        self._expected[ident] = expectation
        return expectation

    def _forget(self, expectation: Expectation) -> None:
        if self._expected.get(expectation.uuid) is expectation:
            del self._expected[expectation.uuid]

    def _purge(self) -> None:
        now = asyncio.get_running_loop().time()
        for expectation in list(self._expected.values()):
            if expectation.connection is None and now > expectation.connect_deadline:
                if expectation._resolve(Final("", EndReason.TIMEOUT)):
                    log.warning("AudioSocket %s: Asterisk never connected", expectation.uuid)

    # -- connections --------------------------------------------------------------------

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        if self._stopping or len(self._tasks) >= self.limits.max_connections:
            self.stats.refused += 1
            log.warning(
                "AudioSocket: connection from %s refused (%s)",
                writer.get_extra_info("peername"),
                "stopping" if self._stopping else "too many connections",
            )
            writer.transport.abort()
            return
        task = asyncio.create_task(self._serve(reader, writer), name="audiosocket-conn")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _protocol_problem(self, peer: object, message: str, *args: object) -> None:
        self.stats.protocol_errors += 1
        log.warning("AudioSocket %s: " + message, peer, *args)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        expectation: Expectation | None = None
        connection = _Connection(writer, self.limits)
        try:
            try:
                kind, payload = await read_message(
                    reader, self.limits, self.limits.handshake_timeout
                )
            except asyncio.IncompleteReadError as exc:
                self._protocol_problem(peer, "closed before the UUID (%d bytes)", len(exc.partial))
                return
            except ConnectionError as exc:
                self._protocol_problem(peer, "connection lost before the UUID (%r)", exc)
                return
            except TimeoutError:
                self._protocol_problem(peer, "no UUID within %.1f s", self.limits.handshake_timeout)
                return
            except ProtocolError as exc:
                self._protocol_problem(peer, "%s", exc)
                return
            if kind != Kind.UUID:
                self._protocol_problem(peer, "first message is 0x%02x, not a UUID", kind)
                return
            ident = str(uuid_mod.UUID(bytes=payload))
            self._purge()
            expectation = self._expected.pop(ident, None)
            if expectation is None or expectation.done:
                self._protocol_problem(peer, "unknown or expired session %s: refused", ident)
                expectation = None
                return
            self.stats.sessions += 1
            expectation._attach(connection)
            self._live.add(expectation)
            await self._run_session(expectation, reader, connection)
        except asyncio.CancelledError:
            if expectation is not None:
                expectation.cancel()
            raise
        except Exception:
            log.exception("AudioSocket %s: session failed", peer)
            if expectation is not None:
                expectation.cancel(EndReason.ERROR)
        finally:
            if expectation is not None:
                self._live.discard(expectation)
            await connection.hangup_and_close()

    async def _run_session(
        self, expectation: Expectation, reader: asyncio.StreamReader, connection: _Connection
    ) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            rec = await self.engine.open(
                expectation.grammar,
                PHONE_RATE,
                endpointing=expectation.endpointing,
                partials=expectation.partials,
            )
        except SpeechUnavailable as exc:
            log.warning("AudioSocket %s: %s", expectation.uuid, exc)
            expectation.cancel(EndReason.UNAVAILABLE)
            return
        except TimeoutError:
            log.error("AudioSocket %s: creating a recogniser timed out", expectation.uuid)
            expectation.cancel(EndReason.TIMEOUT)
            return
        queue: asyncio.Queue[bytes | EndReason] = asyncio.Queue()
        tasks = {
            asyncio.create_task(
                self._guard(expectation, self._read_loop(expectation, reader, queue, rec, started)),
                name="audiosocket-read",
            ),
            asyncio.create_task(
                self._guard(expectation, self._decode_loop(expectation, rec, queue)),
                name="audiosocket-asr",
            ),
        }
        try:
            remaining = self.limits.session_timeout - (loop.time() - started)
            done, _ = await asyncio.wait({expectation._future}, timeout=max(0.0, remaining))
            if not done:
                log.warning(
                    "AudioSocket %s: session longer than %.0f s, cut",
                    expectation.uuid,
                    self.limits.session_timeout,
                )
                for task in tasks:
                    task.cancel()
                try:
                    final = await self.engine.finish(
                        rec, EndReason.TIMEOUT, timeout=self.limits.write_timeout
                    )
                except Exception:
                    final = Final("", EndReason.TIMEOUT)
                expectation._resolve(final)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=self.limits.write_timeout)

    @staticmethod
    async def _guard(expectation: Expectation, work: Coroutine[Any, Any, None]) -> None:
        """Run one half of a session; an unexpected failure ends the session (ERROR)."""
        try:
            await work
        except Exception:
            log.exception("AudioSocket %s: session failed", expectation.uuid)
            expectation.cancel(EndReason.ERROR)

    async def _read_loop(
        self,
        expectation: Expectation,
        reader: asyncio.StreamReader,
        queue: asyncio.Queue[bytes | EndReason],
        rec: Recogniser,
        started: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        limits = self.limits
        cap = int(limits.queue_seconds / 0.02)
        dropping = False
        peer = expectation.uuid
        while True:
            try:
                kind, payload = await read_message(reader, limits, limits.read_timeout)
            except (asyncio.IncompleteReadError, ConnectionError):
                queue.put_nowait(EndReason.HANGUP)
                return
            except TimeoutError:
                log.warning(
                    "AudioSocket %s: nothing received for %.1f s", peer, limits.read_timeout
                )
                queue.put_nowait(EndReason.TIMEOUT)
                return
            except ProtocolError as exc:
                self._protocol_problem(peer, "%s", exc)
                queue.put_nowait(EndReason.ERROR)
                return
            if kind == Kind.AUDIO:
                if queue.qsize() < cap:
                    queue.put_nowait(payload)
                elif not dropping:
                    dropping = True
                    log.warning(
                        "AudioSocket %s: decoder behind by %.0f s, dropping audio",
                        peer,
                        limits.queue_seconds,
                    )
            elif kind == Kind.DTMF:
                digit = payload[:1].decode("ascii", "replace")
                if expectation.keys > 1:
                    queue.put_nowait(_KEYS)  # the recogniser stops: no result from it now
                    digit = await self._more_keys(expectation, reader, digit)
                expectation._resolve(
                    Final(
                        f"dtmf:{digit}",
                        EndReason.DTMF,
                        confidence=1.0,
                        audio_time=rec.audio_time,
                        elapsed=loop.time() - started,
                        dtmf=digit,
                    )
                )
                return
            elif kind == Kind.HANGUP:
                queue.put_nowait(EndReason.HANGUP)
                return
            elif kind == Kind.ERROR:
                log.warning(
                    "AudioSocket %s: Asterisk reported error %s", peer, payload.hex() or "-"
                )
                queue.put_nowait(EndReason.HANGUP if payload[:1] == b"\x01" else EndReason.ERROR)
                return
            else:  # a second UUID
                self._protocol_problem(peer, "unexpected message 0x%02x mid-stream", kind)
                queue.put_nowait(EndReason.ERROR)
                return

    async def _more_keys(
        self, expectation: Expectation, reader: asyncio.StreamReader, keys: str
    ) -> str:
        """The rest of a keyed number, read from the stream itself. Ends with
        ``#`` when the caller pressed it or paused (the number is complete),
        without it at ``expectation.keys`` keys or when the stream ends."""
        limits = self.limits
        while not keys.endswith("#") and len(keys) < expectation.keys:
            try:
                kind, payload = await read_message(reader, limits, expectation.inter_digit)
            except TimeoutError:
                return keys + "#"
            except (asyncio.IncompleteReadError, ConnectionError, ProtocolError):
                return keys
            if kind == Kind.DTMF:
                keys += payload[:1].decode("ascii", "replace")
            elif kind in (Kind.HANGUP, Kind.ERROR):
                return keys
        return keys

    async def _decode_loop(
        self,
        expectation: Expectation,
        rec: Recogniser,
        queue: asyncio.Queue[bytes | EndReason],
    ) -> None:
        loop = asyncio.get_running_loop()
        limits = self.limits
        max_batch = max(FRAME_BYTES, int(limits.max_batch_seconds * PHONE_RATE) * 2)
        accounted = loop.time()
        while True:
            item: bytes | EndReason
            filled = False
            try:
                async with asyncio.timeout(limits.gap_fill):
                    item = await queue.get()
            except TimeoutError:
                # This loop may itself have been the one stalled (a busy
                # machine), with the caller's audio waiting in the socket:
                # let the reader take it before deciding that nothing came.
                # Silence filled into a word makes Vosk lose the word.
                for _ in range(_READER_TURNS):
                    await asyncio.sleep(0)
                if not queue.empty():
                    continue
                # Nothing on the line (silence suppression, or a stall): the
                # time still passes, marked as filled in for the recogniser.
                now = loop.time()
                item = bytes(int(min(now - accounted, 1.0) * PHONE_RATE) * 2)
                filled = True
            accounted = loop.time()
            end: EndReason | None = None
            if isinstance(item, EndReason):
                end = item
                batch = b""
            elif filled:
                batch = item
            else:
                parts = [item]
                size = len(item)
                while size < max_batch and not queue.empty():
                    nxt = queue.get_nowait()
                    if isinstance(nxt, EndReason):
                        end = nxt
                        break
                    parts.append(nxt)
                    size += len(nxt)
                batch = b"".join(parts)
            if end is _KEYS:
                return
            try:
                if batch:
                    result = await self.engine.feed(rec, batch, filled=filled)
                    if isinstance(result, Final):
                        expectation._resolve(result)
                        return
                if end is not None:
                    expectation._resolve(
                        await self.engine.finish(rec, end, timeout=limits.write_timeout)
                    )
                    return
            except (TimeoutError, SpeechUnavailable) as exc:
                log.error("AudioSocket %s: recogniser stalled or gone: %r", expectation.uuid, exc)
                expectation.cancel(EndReason.ERROR)
                return
