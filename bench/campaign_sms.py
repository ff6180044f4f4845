"""A campaign's SMS end to end through Kannel (issue 18 item 3): how fast a
campaign of ``--contacts`` customers who chose SMS reaches their phones,
and how soon each contact is settled «положительный» by its delivery report.

A real Kannel 1.4.5 (bearerbox + smsbox on private ports) with its fake
SMSC; ``fakesmsc`` plays the phones. The hotline is the real runtime
(``Runtime`` with ``web``, ``sms`` and ``sms-campaigns``) in a process of its
own. The campaign (kind «Произвольное сообщение», channels ``sms,phone``,
every customer's chosen form SMS, premises in a zone where it is daytime) is
launched; the component routes the contacts, checks the call policy,
queues the messages; the sender hands them to ``sendsms``; the phones get
them; Kannel's reports reach ``/sms/kannel/dlr``; the component closes each
attempt as ``delivered``.

    .venv/bin/python bench/campaign_sms.py [--contacts 1000]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:55486/postgres]

Printed: messages at the phones per second (from the launch to the last
arrival), contacts settled per second (to the last positive), the delay
from the launch to a message's arrival p50/p95/p99, the CPU seconds of the
hotline's process and of Kannel, and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import free_port, fresh_pg_database, pct, proc_cpu, serve, served_settings

REPO = Path(__file__).resolve().parent.parent
SERVICE_NUMBER = "7377"


def _phone(i: int) -> str:
    return f"+7902{i:07d}"


def _daytime_zone() -> str:
    """A fixed-offset zone where it is now 12:00–14:59 (inside every window)."""
    now = datetime.now(UTC)
    for offset in range(-12, 15):
        if 12 <= (now.hour + offset) % 24 < 15:
            return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"
    raise AssertionError("unreachable")


def _seed(db_url: str, n: int) -> int:
    """Customers who chose SMS, and a campaign launched over them; its id."""
    from sqlalchemy import update

    from autoinformer.campaigns import CampaignService
    from autoinformer.contacts import ContactListService
    from crm_bridge.accounts import AccountData, upsert_accounts
    from crm_bridge.db import Database
    from crm_bridge.models import Account

    db = Database(db_url)
    zone = _daytime_zone()
    with db.session(write=True) as s:
        upsert_accounts(
            s,
            [
                AccountData(f"{6000000000 + i}", f"Абонент {i}", phones=(_phone(i),), timezone=zone)
                for i in range(n)
            ],
        )
        s.execute(update(Account).values(notify_by="sms"))
    cs = CampaignService(db)
    cid = cs.create(
        "Бенчмарк СМС",
        "custom",
        scenario=[{"prompt": "outbound/readings_reminder"}],
        channels="sms,phone",
        start_at=datetime(2000, 1, 1, tzinfo=UTC),
        end_at=datetime(2100, 1, 1, tzinfo=UTC),
    )
    res = ContactListService(db).import_rows(cid, [{"phone": _phone(i)} for i in range(n)])
    assert res.accepted == n, res.rejected[:3]
    cs.submit(cid, "bench")
    cs.approve(cid, "boss", "supervisor")
    db.dispose()
    return cid


def _launch(db_url: str, cid: int) -> None:
    from autoinformer.campaigns import CampaignService
    from crm_bridge.db import Database

    db = Database(db_url)
    CampaignService(db).launch(cid)
    db.dispose()


def _positive(db_url: str, cid: int) -> int:
    from sqlalchemy import func, select

    from autoinformer.models import Contact
    from crm_bridge.db import Database

    db = Database(db_url)
    with db.session(readonly=True) as s:
        n = s.scalar(
            select(func.count()).where(Contact.campaign_id == cid, Contact.positive.is_(True))
        )
    db.dispose()
    return int(n or 0)


async def _run(args: argparse.Namespace, workdir: Path) -> int:
    from hotline.services import Services
    from sms.fakesmsc import FakeSmsc
    from sms.kannel import KannelConf, KannelProcess, SmscFake, smsc_online

    admin, smsbox, sendsms, fake, web_port = (free_port() for _ in range(5))
    fields: dict[str, object] = {
        "database_url": fresh_pg_database(args.pg_url, "hotline_bench_campaign_sms")
        if args.pg_url
        else "",
        "web_host": "127.0.0.1",
        "web_port": web_port,
        "sms_kannel_url": f"http://127.0.0.1:{sendsms}/cgi-bin/sendsms",
        "sms_sender": SERVICE_NUMBER,
        "log_level": "WARNING",
    }
    settings = served_settings(workdir, fields)
    services = Services.create(settings)  # migrates
    await services.aclose()
    cid = await asyncio.to_thread(_seed, settings.db_url, args.contacts)
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
    arrivals: list[float] = []
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
            start = time.monotonic()
            await asyncio.to_thread(_launch, settings.db_url, cid)
            while len(arrivals) < args.contacts:
                msg = await phones.received(timeout=120)
                arrivals.append(msg.at - start)
            received = time.monotonic()
            while await asyncio.to_thread(_positive, settings.db_url, cid) < args.contacts:
                if time.monotonic() - received > 180:
                    raise RuntimeError("not every contact was settled positive")
                await asyncio.sleep(0.2)
            settled = time.monotonic()
            cpu1, load1 = cpu(), os.getloadavg()
    finally:
        if hotline.returncode is None:
            hotline.terminate()
        await hotline.wait()
    db = "PostgreSQL" if args.pg_url else "SQLite"
    ms = [a * 1000 for a in arrivals]
    n = args.contacts
    print(f"Campaign SMS end to end through Kannel 1.4.5 + fakesmsc, {db}, {os.cpu_count()} cores")
    print(f"  contacts            {n} (chose SMS; channels sms,phone)")
    print(
        f"  at the phones       {n / (received - start):.1f}/s  (last after {received - start:.1f} s)"
    )
    print(
        f"  settled positive    {n / (settled - start):.1f}/s  (last after {settled - start:.1f} s)"
    )
    print(
        "  launch → phone ms   "
        f"p50 {pct(ms, 50):.0f}  p95 {pct(ms, 95):.0f}  p99 {pct(ms, 99):.0f}  max {max(ms):.0f}"
    )
    hot, kan = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    print(
        f"  CPU s               hotline {hot:.1f} ({hot / n * 1000:.1f} ms a contact)"
        f"  kannel {kan:.1f}"
    )
    print(f"  load average        before {load0[0]:.2f}  after {load1[0]:.2f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--contacts", type=int, default=1000)
    ap.add_argument("--pg-url", default="", help="a PostgreSQL server (else SQLite)")
    ap.add_argument("--serve", nargs=2, metavar=("WORKDIR", "SETTINGS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(
            serve(Path(args.serve[0]), json.loads(args.serve[1]), ("web", "sms", "sms-campaigns"))
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="hotline-bench-campaign-sms-") as tmp:
        return asyncio.run(_run(args, Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
