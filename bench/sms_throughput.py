"""Incoming SMS handled per second end to end through Kannel (issue 18,
REQ-T14), and the reply's delay as the phone sees it.

A real Kannel 1.4.5 (bearerbox + smsbox, rendered configuration on private
ports) with its fake SMSC; ``fakesmsc`` plays the customers' phones. The
hotline is the real runtime (``Runtime`` with the ``web`` and ``sms``
components: the web edge, the SMS slice's handler, the sender) in a process
of its own, so the phones' rig is never counted against it. Each of
``--messages`` customers (an account with a one-zone meter and a phone on
file) sends one reading «ЛС <account> Т1 <value>» at ``--rate`` messages
per second (open loop): SMSC → bearerbox → smsbox → ``/sms/kannel/mo`` →
readings rules, reading stored, appeal registered, reply queued → sender →
``sendsms`` → smsbox → bearerbox → the phone.

    .venv/bin/python bench/sms_throughput.py [--messages 1000] [--rate 150]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:55486/postgres]

Printed: messages handled per second (sent ÷ the time from the first
message sent to the last reply received) against the target (≥ 100/s on 2
cores), the reply delay p50/p95/p99/max (from fakesmsc taking the message
to the reply arriving at it; the rig sees a reply within its 5 ms tick),
the CPU seconds of the hotline's process and of Kannel, and the machine's load.
The PostgreSQL URL names a server; the bench creates its own database there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import free_port, fresh_pg_database, pct, proc_cpu, serve, served_settings

REPO = Path(__file__).resolve().parent.parent
TARGET_PER_S = 100.0
SERVICE_NUMBER = "7377"


def _phone(i: int) -> str:
    return f"+7901{i:07d}"


def _account(i: int) -> str:
    return f"{5000000000 + i}"


def _seed(db_url: str, n: int) -> None:
    from crm_bridge.accounts import AccountData, MeterData, upsert_accounts, upsert_meters
    from crm_bridge.db import Database

    db = Database(db_url)
    with db.session(write=True) as session:
        upsert_accounts(
            session,
            [
                AccountData(
                    _account(i), f"Абонент {i}", street="Ленина", house=str(i), phones=(_phone(i),)
                )
                for i in range(n)
            ],
        )
        upsert_meters(
            session,
            [
                MeterData(f"B-{i}", _account(i), zones=1, digits=6, last_t1=Decimal(1000))
                for i in range(n)
            ],
        )
    db.dispose()


async def _run(args: argparse.Namespace, workdir: Path) -> int:
    from hotline.services import Services
    from sms.fakesmsc import FakeSmsc
    from sms.kannel import KannelConf, KannelProcess, SmscFake, smsc_online

    admin, smsbox, sendsms, fake, web_port = (free_port() for _ in range(5))
    fields: dict[str, object] = {
        "database_url": fresh_pg_database(args.pg_url, "hotline_bench_sms") if args.pg_url else "",
        "web_host": "127.0.0.1",
        "web_port": web_port,
        "sms_kannel_url": f"http://127.0.0.1:{sendsms}/cgi-bin/sendsms",
        "sms_sender": SERVICE_NUMBER,
        "log_level": "WARNING",
    }
    settings = served_settings(workdir, fields)
    services = Services.create(settings)  # migrates
    await services.aclose()
    await asyncio.to_thread(_seed, settings.db_url, args.messages)
    conf = KannelConf(
        workdir=workdir / "kannel",
        admin_port=admin,
        smsbox_port=smsbox,
        sendsms_port=sendsms,
        admin_password="bench",
        sendsms_user=settings.sms_kannel_user,
        sendsms_password=settings.generated_secret("kannel-sendsms"),
        mo_url=f"http://127.0.0.1:{web_port}/sms/kannel/mo?key={settings.generated_secret('sms-inbound')}",
        smsc=SmscFake(fake),
    )
    hotline = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        str(workdir),
        json.dumps(fields),
        stdout=asyncio.subprocess.PIPE,
        cwd=str(REPO),
    )
    assert hotline.stdout is not None
    sent_at: dict[str, float] = {}
    delays: list[float] = []
    unexpected = 0
    try:
        line = await asyncio.wait_for(hotline.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError("the hotline did not start")
        async with KannelProcess(conf) as kannel, FakeSmsc(fake) as phones:
            await smsc_online(conf)
            kannel_pids = kannel.pids

            def cpu() -> tuple[float, float]:
                return (
                    proc_cpu(hotline.pid, children=False),
                    sum(proc_cpu(p, children=False) for p in kannel_pids),
                )

            cpu0, load0 = cpu(), os.getloadavg()

            async def receive() -> None:
                nonlocal unexpected
                while len(delays) < args.messages:
                    msg = await phones.received(timeout=60)
                    if not msg.text.startswith("Приняты"):
                        unexpected += 1
                    delays.append(msg.at - sent_at.pop(msg.receiver, msg.at))

            receiver = asyncio.create_task(receive())
            start = time.monotonic()
            for i in range(args.messages):
                due = start + i / args.rate
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                phone = _phone(i)
                sent_at[phone] = time.monotonic()
                await phones.send(phone, SERVICE_NUMBER, f"ЛС {_account(i)} Т1 {1050 + i % 40}")
            sending_done = time.monotonic()
            await asyncio.wait_for(receiver, 120)
            end = time.monotonic()
            cpu1, load1 = cpu(), os.getloadavg()
    finally:
        if hotline.returncode is None:
            hotline.terminate()
        await hotline.wait()
    span = end - start
    rate = args.messages / span
    db = "PostgreSQL" if args.pg_url else "SQLite"
    ms = [d * 1000 for d in delays]
    print(f"SMS end to end through Kannel 1.4.5 + fakesmsc, {db}, {os.cpu_count()} cores")
    print(
        f"  messages            {args.messages} offered at {args.rate:.0f}/s"
        f" (sent in {sending_done - start:.1f} s); replies not «Приняты»: {unexpected}"
    )
    print(
        f"  handled             {rate:.1f}/s  (target ≥ {TARGET_PER_S:.0f}/s: ratio {rate / TARGET_PER_S:.2f})"
    )
    print(
        "  reply delay ms      "
        f"p50 {pct(ms, 50):.0f}  p95 {pct(ms, 95):.0f}  p99 {pct(ms, 99):.0f}  max {max(ms):.0f}"
    )
    hot, kan = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    print(
        f"  CPU s               hotline {hot:.1f} ({hot / args.messages * 1000:.1f} ms a message)"
        f"  kannel {kan:.1f}  over {span:.1f} s"
    )
    print(f"  load average        before {load0[0]:.2f}  after {load1[0]:.2f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=150.0, help="messages offered per second")
    ap.add_argument("--pg-url", default="", help="a PostgreSQL server (else SQLite)")
    ap.add_argument("--serve", nargs=2, metavar=("WORKDIR", "SETTINGS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.serve[0]), json.loads(args.serve[1]), ("web", "sms")))
        return 0
    with tempfile.TemporaryDirectory(prefix="hotline-bench-sms-") as tmp:
        return asyncio.run(_run(args, Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
