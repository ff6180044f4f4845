"""The SMS channel in ``hotline demo``: a real Kannel with its fake SMSC next
to the demo's services, and one customer's reading sent by SMS.

:func:`prepare` (before the services are built) chooses free ports and
points ``sms_kannel_url`` at the demo's Kannel, or says why not (Kannel not
installed: the demo goes on without SMS). :func:`gateway` runs bearerbox,
smsbox and fakesmsc once the web server is up; :func:`send_reading` makes
the demo customer send «Т1 … Т2 …» (a little above the meter's last values)
from the phone on file and returns what the phone received.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from crm_bridge.identify import Identifier
from crm_bridge.readings import ReadingService
from sms.fakesmsc import FAKESMSC, FakeSmsc, PhoneMessage
from sms.kannel import KannelConf, KannelProcess, SmscFake, smsc_online
from sms.service import callback_base, inbound_key, sendsms_password

__all__ = ["DemoPorts", "gateway", "prepare", "send_reading"]

DEMO_SERVICE_NUMBER = "7377"


@dataclass(frozen=True)
class DemoPorts:
    admin: int
    smsbox: int
    sendsms: int
    fake: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(settings: Any) -> DemoPorts | str:
    """Ports for the demo's Kannel and the settings pointing at it, or why not."""
    why = KannelProcess.available()
    if why is None and not Path(FAKESMSC).exists():
        why = f"{FAKESMSC} is missing: install kannel-extras"
    if why is not None:
        return why
    ports = DemoPorts(_free_port(), _free_port(), _free_port(), _free_port())
    settings.sms_kannel_url = f"http://127.0.0.1:{ports.sendsms}/cgi-bin/sendsms"
    if not settings.sms_sender:
        settings.sms_sender = DEMO_SERVICE_NUMBER
    return ports


@asynccontextmanager
async def gateway(settings: Any, ports: DemoPorts, web_url: str) -> AsyncIterator[FakeSmsc]:
    """bearerbox + smsbox (configuration in ``<data>/kannel-demo``) and the phones."""
    conf = KannelConf(
        workdir=Path(settings.data) / "kannel-demo",
        admin_port=ports.admin,
        smsbox_port=ports.smsbox,
        sendsms_port=ports.sendsms,
        admin_password=settings.generated_secret("kannel-admin"),
        sendsms_user=settings.sms_kannel_user,
        sendsms_password=sendsms_password(settings),
        mo_url=f"{callback_base(settings, web_url)}/sms/kannel/mo?key={inbound_key(settings)}",
        smsc=SmscFake(ports.fake),
        max_parts=settings.sms_max_parts,
    )
    async with KannelProcess(conf), FakeSmsc(ports.fake) as phones:
        await smsc_online(conf)
        yield phones


def _reading_text(db: Any, settings: Any, phone: str) -> str:
    ident = Identifier(db).by_phone(phone)
    if ident.account_id is None:
        raise LookupError("the demo phone is on no single account")
    meter = ReadingService.from_settings(db, settings).meters(ident.account_id)[0]
    parts = []
    for i, zone in enumerate(meter.zones):
        last = meter.last.get(zone) or Decimal(0)
        parts.append(f"Т{i + 1} {int(last) + 120 - 60 * min(i, 1)}")
    return " ".join(parts)


async def send_reading(
    services: Any, phones: FakeSmsc, phone: str, timeout: float = 30.0
) -> tuple[str, PhoneMessage]:
    """The demo customer sends a reading from ``phone``; (its text, the reply)."""
    text = await services.run_db(_reading_text, services.db, services.settings, phone)
    await phones.send(phone, services.settings.sms_sender or DEMO_SERVICE_NUMBER, text)
    return text, await phones.received(timeout)
