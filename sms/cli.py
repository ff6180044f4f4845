"""``hotline sms …``: Kannel's configuration for this node, and a local
gateway with the fake SMSC for the demo.

* ``hotline sms conf [--smpp-host H --smpp-port P --smpp-system-id ID]``
  prints a ``kannel.conf`` whose SMS service calls this node and whose
  sendsms user is the hotline's (the SMPP password comes from
  ``HOTLINE_SMPP_PASSWORD``; without ``--smpp-host`` the fake SMSC);
* ``hotline sms gateway`` runs bearerbox, smsbox and ``fakesmsc`` on
  ports clear of a system Kannel (13100/13101/13113, fake SMSC 10100): lines typed as
  ``+79001234567 текст`` are sent as that phone's messages and every
  message delivered to a phone is printed. Run ``hotline run`` beside it
  with ``HOTLINE_SMS_KANNEL_URL=http://127.0.0.1:13113/cgi-bin/sendsms``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ADMIN_PORT = 13000
SMSBOX_PORT = 13001
SENDSMS_PORT = 13013
FAKE_PORT = 10000
"""Kannel's usual ports (``conf``, for a deployment)."""
DEMO_OFFSET = 100
"""``gateway`` (the demo) listens 100 above them: 13100, 13101, 13113 and 10100,
clear of a system Kannel."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "sms",
        help="канал СМС: конфигурация Kannel, местный шлюз",
        description="Канал СМС через Kannel: его конфигурация для этого узла и шлюз "
        "с имитатором SMSC для демонстрации.",
    )
    commands = parser.add_subparsers(
        dest="sms_command", required=True, metavar="ДЕЙСТВИЕ", title="действия"
    )
    conf = commands.add_parser("conf", help="напечатать kannel.conf для этого узла")
    conf.add_argument(
        "--workdir", default="/var/log/kannel", metavar="КАТАЛОГ", help="каталог журналов Kannel"
    )
    conf.add_argument(
        "--smpp-host",
        default="",
        metavar="ХОСТ",
        help="SMPP-сервер оператора связи (без него — имитатор SMSC); пароль — "
        "в HOTLINE_SMPP_PASSWORD",
    )
    conf.add_argument(
        "--smpp-port", type=int, default=2775, metavar="ПОРТ", help="порт SMPP (2775)"
    )
    conf.add_argument(
        "--smpp-system-id", default="", metavar="ID", help="идентификатор (system_id) SMPP"
    )
    conf.add_argument(
        "--smpp-system-type", default="", metavar="ТИП", help="тип системы (system_type) SMPP"
    )
    conf.add_argument(
        "--smpp-throughput",
        type=int,
        default=0,
        metavar="N",
        help="не больше N сообщений в секунду (0 — без ограничения)",
    )
    conf.set_defaults(fn=cmd_conf)
    gw = commands.add_parser("gateway", help="запустить Kannel с имитатором SMSC (демо)")
    gw.add_argument(
        "--workdir",
        default="",
        metavar="КАТАЛОГ",
        help="конфигурация и журналы (по умолчанию временный каталог)",
    )
    gw.set_defaults(fn=cmd_gateway)


def _conf(settings: Any, workdir: Path, smsc: Any, offset: int = 0) -> Any:
    from sms.kannel import KannelConf
    from sms.service import callback_base, inbound_key, sendsms_password

    return KannelConf(
        workdir=workdir,
        admin_port=ADMIN_PORT + offset,
        smsbox_port=SMSBOX_PORT + offset,
        sendsms_port=SENDSMS_PORT + offset,
        admin_password=settings.generated_secret("kannel-admin"),
        sendsms_user=settings.sms_kannel_user,
        sendsms_password=sendsms_password(settings),
        mo_url=f"{callback_base(settings)}/sms/kannel/mo?key={inbound_key(settings)}",
        smsc=smsc,
        max_parts=settings.sms_max_parts,
    )


def cmd_conf(args: argparse.Namespace) -> int:
    from core.settings import from_cli_args
    from sms.kannel import SmscFake, SmscSmpp, render_conf

    settings = from_cli_args(args)
    smsc: SmscFake | SmscSmpp = SmscFake(FAKE_PORT)
    if args.smpp_host:
        smsc = SmscSmpp(
            host=args.smpp_host,
            port=args.smpp_port,
            system_id=args.smpp_system_id,
            password=os.environ.get("HOTLINE_SMPP_PASSWORD", ""),
            system_type=args.smpp_system_type,
            throughput=args.smpp_throughput,
        )
    sys.stdout.write(render_conf(_conf(settings, Path(args.workdir), smsc)))
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from core.settings import from_cli_args

    settings = from_cli_args(args)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="hotline-kannel-"))
    return asyncio.run(_gateway(settings, workdir))


async def _gateway(settings: Any, workdir: Path) -> int:
    from sms.fakesmsc import FakeSmsc
    from sms.kannel import KannelProcess, SmscFake, smsc_online

    fake = FAKE_PORT + DEMO_OFFSET
    conf = _conf(settings, workdir, SmscFake(fake), DEMO_OFFSET)
    async with KannelProcess(conf), FakeSmsc(fake) as phones:
        await smsc_online(conf)
        print(f"Kannel: sendsms {conf.sendsms_url}, журналы в {workdir}", flush=True)
        print(
            "Наберите «+79001234567 текст» — сообщение с этого телефона; Ctrl-D — остановить.",
            flush=True,
        )

        async def show() -> None:
            while True:
                msg = await phones.received(timeout=3600)
                print(f"→ {msg.receiver}: {msg.text}", flush=True)

        shower = asyncio.create_task(show())
        loop = asyncio.get_running_loop()
        try:
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                number, _, text = line.strip().partition(" ")
                if number and text:
                    await phones.send(number, settings.sms_sender or "0000", text)
        finally:
            shower.cancel()
    return 0
