"""Kannel, the SMS gateway in front of the operator's SMSC (SMPP), and how the
hotline speaks to it.

* :class:`KannelClient` sends through Kannel's ``sendsms`` HTTP interface:
  the text in UTF-8 with ``coding=2`` (UCS-2) when it is not all GSM
  alphabet, concatenated by Kannel up to ``max_parts`` segments, with a
  delivery report (``dlr-mask=31``: delivered, undelivered, buffered, SMSC
  accepted / rejected) to the hotline's ``/sms/kannel/dlr`` URL.
* :func:`render_conf` writes a complete ``kannel.conf``: bearerbox (the
  SMSC link, internal DLR store), smsbox (``sendsms`` for the hotline,
  ``mo-recode`` so UCS-2 texts arrive as UTF-8), the hotline's sendsms user
  and the catch-all SMS service whose ``get-url`` hands every incoming
  message to ``/sms/kannel/mo`` (``max-messages = 0``: the hotline replies
  itself, through ``sendsms``, with a delivery report). Every listener is
  bound to loopback and allows loopback only; logs at ``warning`` (smsbox's
  ``info`` lines carry the numbers and the texts: 152-FZ) and no access log.
* :class:`KannelProcess` runs bearerbox and smsbox from such a
  configuration (tests, the demo, the bench; a deployment runs Debian's
  ``kannel`` service with the rendered file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlencode

import aiohttp

from sms.encoding import UCS2

__all__ = [
    "DLR_MASK",
    "GatewayError",
    "KannelClient",
    "KannelConf",
    "KannelProcess",
    "SmscFake",
    "SmscSmpp",
    "render_conf",
]

log = logging.getLogger(__name__)

DLR_MASK: Final = 31
"""Every report: 1 delivered, 2 undelivered, 4 buffered, 8 SMSC accepted, 16 SMSC rejected."""
BEARERBOX: Final = "/usr/sbin/bearerbox"
SMSBOX: Final = "/usr/sbin/smsbox"


class GatewayError(Exception):
    """Kannel did not take a message; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


CONNECT_RETRIES: Final = (0.05, 0.2)
"""Pauses (s) before sending again when no connection could be made."""


class KannelClient:
    """``sendsms`` over HTTP (one shared connection pool; every request has a timeout)."""

    def __init__(
        self,
        sendsms_url: str,
        *,
        username: str,
        password: str,
        sender: str = "",
        dlr_url: str = "",
        max_parts: int = 4,
        timeout: float = 10.0,
    ) -> None:
        self.sendsms_url = sendsms_url
        self.username = username
        self.password = password
        self.sender = sender
        self.dlr_url = dlr_url
        """``…/sms/kannel/dlr?key=…``; ``&id=<message>&type=%d`` is added per message."""
        self.max_parts = max_parts
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(limit=32)
            )
        return self._session

    def query(self, message_id: int, to: str, text: str, coding: int, sender: str = "") -> str:
        params = {
            "username": self.username,
            "password": self.password,
            "to": to,
            "text": text,
            "charset": "UTF-8",
            "coding": str(coding),
            "max-messages": str(self.max_parts) if coding == UCS2 or len(text) > 160 else "1",
        }
        if sender or self.sender:
            params["from"] = sender or self.sender
        if self.dlr_url:
            sep = "&" if "?" in self.dlr_url else "?"
            params["dlr-mask"] = str(DLR_MASK)
            params["dlr-url"] = f"{self.dlr_url}{sep}id={message_id}&type=%d"
        return urlencode(params, quote_via=quote)  # "%20": Kannel keeps a "+" as it is

    async def send(
        self, message_id: int, to: str, text: str, coding: int, sender: str = ""
    ) -> None:
        """Hand one message to Kannel; :class:`GatewayError` if it did not take it."""
        url = f"{self.sendsms_url}?{self.query(message_id, to, text, coding, sender)}"
        for pause in (*CONNECT_RETRIES, None):
            try:
                async with self._http().get(url) as resp:
                    body = (await resp.text(errors="replace")).strip()
                    if resp.status in (200, 202):
                        return
                break
            except aiohttp.ClientConnectorError as exc:
                # Not connected, so nothing was sent: trying again at once is
                # safe (a burst can fill smsbox's queue of connections; the
                # outbox's retry would wait seconds).
                if pause is None:
                    raise GatewayError(f"gateway unreachable: {type(exc).__name__}") from exc
                await asyncio.sleep(pause)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise GatewayError(f"gateway unreachable: {type(exc).__name__}") from exc
        # 4xx: our request is wrong (credentials, a number refused) — retrying cannot help
        raise GatewayError(
            f"gateway {resp.status}: {body[:120]}", permanent=400 <= resp.status < 500
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# -- configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class SmscFake:
    """Kannel's fake SMSC (``kannel-extras``' ``fakesmsc`` connects to ``port``)."""

    port: int

    def group(self) -> str:
        return (
            "group = smsc\n"
            "smsc = fake\n"
            "smsc-id = fake\n"
            f"port = {self.port}\n"
            "connect-allow-ip = 127.0.0.1\n"
        )


@dataclass(frozen=True)
class SmscSmpp:
    """The operator's SMPP link (the values come from the provider's contract)."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr_ton: int = 5
    """5: alphanumeric sender; 0/1 for a short/long number."""
    source_addr_npi: int = 0
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    throughput: int = 0
    """Messages per second the provider allows (0: no limit)."""

    def group(self) -> str:
        lines = [
            "group = smsc",
            "smsc = smpp",
            "smsc-id = smpp",
            f"host = {self.host}",
            f"port = {self.port}",
            "transceiver-mode = true",
            f"smsc-username = {self.system_id}",
            f"smsc-password = {self.password}",
            f"system-type = {self.system_type}",
            f"source-addr-ton = {self.source_addr_ton}",
            f"source-addr-npi = {self.source_addr_npi}",
            f"dest-addr-ton = {self.dest_addr_ton}",
            f"dest-addr-npi = {self.dest_addr_npi}",
            "alt-dcs = true",
            "msg-id-type = 0x01",
        ]
        if self.throughput:
            lines.append(f"throughput = {self.throughput}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class KannelConf:
    workdir: Path
    """Logs (and the rendered file) go here."""
    admin_port: int
    smsbox_port: int
    sendsms_port: int
    admin_password: str
    sendsms_user: str
    sendsms_password: str
    mo_url: str
    """``http://host:port/sms/kannel/mo?key=…`` (the sender, text and id are added)."""
    smsc: SmscFake | SmscSmpp
    max_parts: int = 4
    log_level: int = 2
    """2 = warning: smsbox's ``info`` lines carry numbers and texts (152-FZ)."""
    extra_allow: Sequence[str] = field(default_factory=tuple)

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"


def _quote(value: str) -> str:
    if '"' in value or "\n" in value:
        raise ValueError("a Kannel setting cannot hold quotes or line breaks")
    return f'"{value}"'


def render_conf(c: KannelConf) -> str:
    """The whole ``kannel.conf`` (see the module docstring)."""
    allow = ";".join(("127.0.0.1", *c.extra_allow))
    sep = "&" if "?" in c.mo_url else "?"
    get_url = f"{c.mo_url}{sep}from=%p&to=%P&text=%a&id=%I"
    return (
        "# Rendered by the hotline (sms.kannel.render_conf); do not edit by hand.\n"
        "group = core\n"
        f"admin-port = {c.admin_port}\n"
        "admin-interface = 127.0.0.1\n"
        f"admin-password = {_quote(c.admin_password)}\n"
        f"admin-allow-ip = {allow}\n"
        f"smsbox-port = {c.smsbox_port}\n"
        "smsbox-interface = 127.0.0.1\n"
        f"box-allow-ip = {allow}\n"
        f"log-file = {_quote(str(c.workdir / 'bearerbox.log'))}\n"
        f"log-level = {c.log_level}\n"
        "dlr-storage = internal\n"
        "sms-combine-concatenated-mo = true\n"
        "\n"
        f"{c.smsc.group()}"
        "\n"
        "group = smsbox\n"
        "bearerbox-host = 127.0.0.1\n"
        f"bearerbox-port = {c.smsbox_port}\n"
        f"sendsms-port = {c.sendsms_port}\n"
        "sendsms-interface = 127.0.0.1\n"
        f"log-file = {_quote(str(c.workdir / 'smsbox.log'))}\n"
        f"log-level = {c.log_level}\n"
        "mo-recode = true\n"
        "http-request-retry = 3\n"
        "http-queue-delay = 2\n"
        "\n"
        "group = sendsms-user\n"
        f"username = {_quote(c.sendsms_user)}\n"
        f"password = {_quote(c.sendsms_password)}\n"
        "concatenation = true\n"
        f"max-messages = {c.max_parts}\n"
        f"user-allow-ip = {allow}\n"
        "\n"
        "group = sms-service\n"
        "keyword = default\n"
        "catch-all = true\n"
        "max-messages = 0\n"
        "concatenation = true\n"
        # the hotline's own (empty) answer: its content type would otherwise
        # be logged as «Tried to set Coding field, denied» for every message
        "accept-x-kannel-headers = true\n"
        f"get-url = {_quote(get_url)}\n"
    )


# -- running it --------------------------------------------------------------------


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class KannelProcess:
    """bearerbox + smsbox from a rendered configuration (``async with``)."""

    def __init__(self, conf: KannelConf, *, start_timeout: float = 20.0) -> None:
        self.conf = conf
        self.start_timeout = start_timeout
        self.path = conf.workdir / "kannel.conf"
        self._procs: list[asyncio.subprocess.Process] = []

    @staticmethod
    def available() -> str | None:
        """None when Kannel is installed, else why not (for a clear failure)."""
        for binary in (BEARERBOX, SMSBOX):
            if not os.access(binary, os.X_OK):
                return f"{binary} is missing: install the Debian packages kannel kannel-extras"
        return None

    @property
    def pids(self) -> list[int]:
        """bearerbox's and smsbox's process ids (the bench counts their CPU)."""
        return [p.pid for p in self._procs]

    async def __aenter__(self) -> KannelProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _spawn(self, binary: str, name: str) -> asyncio.subprocess.Process:
        out = os.open(
            self.conf.workdir / f"{name}.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                binary,
                "-v",
                str(self.conf.log_level),  # the console too: no numbers or texts (152-FZ)
                str(self.path),
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        finally:
            os.close(out)
        self._procs.append(proc)
        return proc

    async def _wait_port(self, port: int, proc: asyncio.subprocess.Process, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while not await _port_open(port):
            if proc.returncode is not None:
                raise RuntimeError(f"{what} exited ({proc.returncode}); see {self.conf.workdir}")
            if loop.time() > deadline:
                raise TimeoutError(f"{what} did not listen on {port}; see {self.conf.workdir}")
            await asyncio.sleep(0.05)

    async def start(self) -> None:
        why = self.available()
        if why:
            raise RuntimeError(why)
        self.conf.workdir.mkdir(parents=True, exist_ok=True)
        self.path.write_text(render_conf(self.conf))
        os.chmod(self.path, 0o600)
        try:
            bearerbox = await self._spawn(BEARERBOX, "bearerbox")
            await self._wait_port(self.conf.smsbox_port, bearerbox, "bearerbox")
            smsbox = await self._spawn(SMSBOX, "smsbox")
            await self._wait_port(self.conf.sendsms_port, smsbox, "smsbox")
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
        self._procs.clear()


async def smsc_online(conf: KannelConf, timeout: float = 20.0) -> None:
    """Wait until bearerbox reports every SMSC link online and smsbox
    connected (admin ``status.txt``)."""
    url = f"http://127.0.0.1:{conf.admin_port}/status.txt?password={conf.admin_password}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as resp:
                    status = await resp.text()
                boxes, _, links = status.partition("SMSC connections:")
                lines = [line for line in links.splitlines() if line.strip()]
                if lines and all("(online" in line for line in lines) and "smsbox" in boxes:
                    return
            if loop.time() > deadline:
                raise TimeoutError("the SMSC link did not come online")
            await asyncio.sleep(0.05)
