"""The customers' phones behind a fake SMSC: ``kannel-extras``' ``fakesmsc``
connected to bearerbox's fake SMSC port (tests, the demo, the bench).

:meth:`FakeSmsc.send` writes one message into fakesmsc's interactive input
(plain ``text`` when it is printable ASCII, else ``ucs2``: UTF-16BE,
URL-encoded) and waits until fakesmsc says it sent it; every message the
gateway delivers to a phone is read from fakesmsc's output («Got message N:
<from to type data>»), concatenated parts (a UDH with reference, total and
sequence) joined again, and handed out by :meth:`FakeSmsc.received` in
arrival order, stamped with the time it arrived.

Two properties of fakesmsc's interactive loop (``test/fakesmsc.c``) shape
this: it reads its input with ``fgets`` into a 256-byte buffer after a
``select`` on the descriptor, so (1) a line must stay under 256 bytes
(:class:`ValueError` otherwise: about 37 Cyrillic characters) and stdin is
made unbuffered (``stdbuf -i0``), else lines already pulled into stdio's
buffer wait for the next input; and (2) between inputs it reads the
SMSC's messages only once a second, so an empty line is written every
``tick`` seconds while idle (fakesmsc skips it and reads what arrived):
a reply is seen within ``tick`` of its arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote_to_bytes

__all__ = ["FAKESMSC", "FakeSmsc", "PhoneMessage"]

FAKESMSC: Final = "/usr/lib/kannel/test/fakesmsc"
_GOT: Final = re.compile(r"Got message \d+: <(.*)>\s*$")
_SENT: Final = re.compile(r"fakesmsc: sent message (\d+)")
MAX_LINE: Final = 255


@dataclass(frozen=True, slots=True)
class PhoneMessage:
    sender: str
    receiver: str
    text: str
    parts: int
    at: float
    """``time.monotonic()`` when its last part arrived."""


def _bytes(field: str) -> bytes:
    """Kannel's URL encoding (``octstr_url_encode``): a space byte is ``+``."""
    return unquote_to_bytes(field.replace("+", "%20"))


def _utf16(data: bytes) -> bool:
    highs = set(data[0::2])
    return len(data) % 2 == 0 and bool(highs) and highs <= {0x00, 0x04, 0x20, 0x21}


class FakeSmsc:
    def __init__(self, port: int, *, host: str = "127.0.0.1", tick: float = 0.005) -> None:
        self.port = port
        self.host = host
        self.tick = tick
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._write = asyncio.Lock()
        self._acked = 0
        self._ack = asyncio.Condition()
        self._inbox: asyncio.Queue[PhoneMessage] = asyncio.Queue()
        self._parts: dict[tuple[str, str, int], dict[int, bytes]] = {}
        self.sent = 0

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            "stdbuf",
            "-i0",
            FAKESMSC,
            "-i",
            "0",
            "-H",
            self.host,
            "-r",
            str(self.port),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = asyncio.create_task(self._read(), name="fakesmsc-reader")
        self._ticker = asyncio.create_task(self._tick(), name="fakesmsc-ticker")

    async def __aenter__(self) -> FakeSmsc:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._proc = None

    async def send(self, sender: str, receiver: str, text: str) -> None:
        """A customer's phone sends ``text`` to the hotline's number ``receiver``."""
        assert self._proc is not None and self._proc.stdin is not None, "start() first"
        if text.isascii() and text.isprintable():
            line = f"{sender} {receiver} text {text}\n"
        else:
            line = f"{sender} {receiver} ucs2 {quote(text.encode('utf-16-be'), safe='')}\n"
        if len(line.encode()) > MAX_LINE:
            raise ValueError(f"fakesmsc reads lines of at most {MAX_LINE} bytes")
        async with self._write:
            self._proc.stdin.write(line.encode())
            await self._proc.stdin.drain()
            self.sent += 1
            async with self._ack:
                await asyncio.wait_for(self._ack.wait_for(lambda: self._acked >= self.sent), 10)

    async def _tick(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        while True:
            await asyncio.sleep(self.tick)
            async with self._write:
                self._proc.stdin.write(b"\n")
                await self._proc.stdin.drain()

    async def received(self, timeout: float = 30.0) -> PhoneMessage:
        """The next whole message delivered to a phone."""
        return await asyncio.wait_for(self._inbox.get(), timeout)

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            text = line.decode("utf-8", "replace")
            if (m := _GOT.search(text)) is not None:
                self._got(m.group(1))
            elif (m := _SENT.search(text)) is not None:
                async with self._ack:
                    self._acked = int(m.group(1))
                    self._ack.notify_all()

    def _got(self, body: str) -> None:
        fields = body.split(" ")
        sender, receiver, kind = fields[0], fields[1], fields[2]
        now = time.monotonic()
        if kind == "udh" and len(fields) >= 6:
            udh = _bytes(fields[3])
            data = _bytes(fields[5])
            # 05 00 03 ref total seq: an 8-bit concatenation reference
            if len(udh) >= 6 and udh[1] == 0x00:
                ref, total, seq = udh[3], udh[4], udh[5]
                key = (sender, receiver, ref)
                parts = self._parts.setdefault(key, {})
                parts[seq] = data
                if len(parts) == total:
                    del self._parts[key]
                    whole = b"".join(parts[i] for i in sorted(parts))
                    text = whole.decode("utf-16-be") if _utf16(whole) else whole.decode("latin-1")
                    self._inbox.put_nowait(PhoneMessage(sender, receiver, text, total, now))
                return
        payload = " ".join(fields[3:])
        if kind == "text":
            text = payload
        elif kind in ("ucs-2", "ucs2"):
            text = _bytes(payload).decode("utf-16-be")
        else:
            raw = _bytes(payload)
            text = raw.decode("utf-16-be") if _utf16(raw) else raw.decode("latin-1")
        self._inbox.put_nowait(PhoneMessage(sender, receiver, text, 1, now))
