"""An operator's SIP phone for tests, benches and the demo: baresip (Debian
``baresip-core``) registered to the hotline's Asterisk with the operator's
generated credentials, answering incoming calls by itself.

Each phone is its own baresip process with its own configuration directory
(``config``, ``accounts``), a SIP port and a control port on loopback. It
speaks a steady tone (``ausine``: a file source would end, and baresip hangs
up when its source ends) and plays what it receives into ``aubridge`` (no
sound device). It is driven over baresip's
``ctrl_tcp`` module (netstring-framed JSON): commands (``hangup``,
``dial``, ``reginfo``) and the events it reports (``CALL_ESTABLISHED``,
``CALL_CLOSED`` …; an auto-answered call reports no ``CALL_INCOMING``),
which the tests wait for instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODULES = (
    "g711.so",
    "ausine.so",
    "aubridge.so",
    "account.so",
    "ctrl_tcp.so",
    "menu.so",
)
MODULE_PATH = Path("/usr/lib/baresip/modules")


class SoftphoneError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass
class Softphone:
    """One registered phone (``endpoint``/``password`` on ``host:port``)."""

    endpoint: str
    password: str
    host: str
    port: int
    workdir: Path
    answer: bool = True
    """Answer incoming calls automatically (an operator with a headset)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    _proc: asyncio.subprocess.Process | None = None
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _pump: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _replies: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def aor(self) -> str:
        return f"sip:{self.endpoint}@{self.host}:{self.port}"

    def _configure(self) -> int:
        if shutil.which("baresip") is None:
            raise SoftphoneError("baresip is not installed (Debian: baresip-core)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        sip_port, ctrl_port = _free_port(), _free_port()
        modules = "\n".join(f"module\t\t\t{m}" for m in MODULES)
        (self.workdir / "config").write_text(
            f"""poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{sip_port}
sip_transports\t\tudp
audio_player\t\taubridge,nil
audio_source\t\tausine,440
ausrc_srate\t\t48000
ausrc_channels\t\t2
audio_alert\t\taubridge,nil
module_path\t\t{MODULE_PATH}
{modules}
ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}
""",
            encoding="utf-8",
        )
        answer = ";answermode=auto" if self.answer else ""
        account = (
            f"<{self.aor};transport=udp>;auth_pass={self.password}"
            f";regint=300;audio_codecs=PCMU,PCMA{answer}\n"
        )
        accounts = self.workdir / "accounts"
        accounts.write_text(account, encoding="utf-8")
        accounts.chmod(0o600)
        (self.workdir / "contacts").write_text("", encoding="utf-8")
        return ctrl_port

    async def start(self, timeout: float = 15.0) -> None:
        """Start baresip and wait until the hotline accepted its registration."""
        ctrl_port = self._configure()
        self._proc = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            'exec baresip -f "$1" >>"$1/baresip.log" 2>&1',
            "baresip",
            str(self.workdir),
            stdin=asyncio.subprocess.DEVNULL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", ctrl_port)
                break
            except OSError:
                if loop.time() > deadline or self._proc.returncode is not None:
                    raise SoftphoneError(
                        f"baresip's control port did not open: {self.log_tail()}"
                    ) from None
                await asyncio.sleep(0.1)
        self._pump = asyncio.create_task(self._read(), name=f"softphone-{self.endpoint}")
        # The registration may complete before the control connection opens
        # (its REGISTER_OK event then goes to nobody): ask baresip.
        while not await self.registered():
            if self.seen("REGISTER_FAIL") or loop.time() > deadline:
                raise SoftphoneError(f"{self.endpoint}: not registered: {self.log_tail()}")
            await asyncio.sleep(0.2)

    async def registered(self) -> bool:
        """The hotline accepted the registration (baresip's ``reginfo``)."""
        info = str((await self.command("reginfo")).get("data", ""))
        return any(
            line.lstrip("> ").startswith(f"sip:{self.endpoint}@") and " OK " in line
            for line in info.replace("\x1b[32m", " ").replace("\x1b[;m", " ").splitlines()
        )

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "baresip.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while True:
                length = await self._reader.readuntil(b":")
                body = await self._reader.readexactly(int(length[:-1]))
                await self._reader.readexactly(1)  # the netstring's ","
                message = json.loads(body)
                if message.get("event"):
                    message["received_at"] = time.time()
                    self.events.append(message)
                    self._changed.set()
                    self._changed = asyncio.Event()
                elif message.get("response"):
                    future = self._replies.pop(str(message.get("token", "")), None)
                    if future is not None and not future.done():
                        future.set_result(message)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            log.debug("softphone %s control closed: %r", self.endpoint, exc)

    def seen(self, type_: str, after: int = 0) -> dict[str, Any] | None:
        for event in self.events[after:]:
            if event.get("type") == type_:
                return event
        return None

    async def wait_event(
        self, type_: str, *, after: int = 0, timeout: float = 15.0
    ) -> dict[str, Any]:
        """The first ``type_`` event at index ``after`` or later."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (found := self.seen(type_, after)) is None:
            if type_ == "REGISTER_OK" and self.seen("REGISTER_FAIL", after):
                raise SoftphoneError(f"{self.endpoint}: registration refused: {self.log_tail()}")
            left = deadline - loop.time()
            if left <= 0:
                raise SoftphoneError(
                    f"{self.endpoint}: no {type_} within {timeout:.0f} s; "
                    f"events {[e.get('type') for e in self.events]}"
                )
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
        return found

    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        if self._writer is None:
            raise SoftphoneError("the phone is not started")
        token = str(next(self._tokens))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[token] = future
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        return await asyncio.wait_for(future, timeout)

    async def hangup(self) -> None:
        await self.command("hangup")

    async def stop(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.command("quit"), 2.0)
            self._writer.close()
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 5.0)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
