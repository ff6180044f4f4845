"""A minimal SMTP server for the tests (RFC 5321 subset: HELO/EHLO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT) on asyncio. It keeps what it received and can
refuse recipients: addresses starting with ``reject`` get 550, ``later``
get 451 (a temporary failure)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpServer:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        sender = ""
        rcpts: list[str] = []
        try:
            await say("220 test-smtp ready")
            while True:
                raw = await reader.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line[:4].upper()
                if verb in ("HELO", "EHLO"):
                    if verb == "EHLO":
                        await say("250-test-smtp")
                        await say("250 8BITMIME")
                    else:
                        await say("250 test-smtp")
                elif verb == "MAIL":
                    sender = line.split(":", 1)[1].strip().split()[0].strip("<>")
                    rcpts = []
                    await say("250 OK")
                elif verb == "RCPT":
                    to = line.split(":", 1)[1].strip().split()[0].strip("<>")
                    if to.startswith("reject"):
                        await say("550 no such user")
                    elif to.startswith("later"):
                        await say("451 try again later")
                    else:
                        rcpts.append(to)
                        await say("250 OK")
                elif verb == "DATA":
                    if not rcpts:
                        await say("503 no recipients")
                        continue
                    await say("354 end with .")
                    chunks: list[bytes] = []
                    while True:
                        data = await reader.readline()
                        if data in (b".\r\n", b".\n", b""):
                            break
                        chunks.append(data[1:] if data.startswith(b"..") else data)
                    self.received.append(Received(sender, rcpts, b"".join(chunks)))
                    await say("250 queued")
                elif verb == "RSET":
                    sender, rcpts = "", []
                    await say("250 OK")
                elif verb == "NOOP":
                    await say("250 OK")
                elif verb == "QUIT":
                    await say("221 bye")
                    return
                else:
                    await say("502 not implemented")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
