"""The callback scheduling notices' sweep (issue 18 item 3): what the SMS
sender pays on each tick (every couple of seconds) to find the callbacks
that need a notice, with ``--callbacks`` pending callbacks of customers who
chose SMS.

    .venv/bin/python bench/callback_notices.py [--callbacks 2000] [--rounds 50]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:55491/postgres]

Printed: the first sweeps that queue every notice (notices queued per
second), then the idle sweep (all notified: nothing to queue, no write
lock) p50/p95/p99 in milliseconds, and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import fresh_pg_database, pct

from core.settings import Settings

DB_NAME = "hotline_bench_callback_notices"


def _seed(db_url: str, n: int) -> None:
    """``n`` customers who chose SMS, an appeal each, a pending callback each."""
    from sqlalchemy import select, update

    from crm_bridge.accounts import AccountData, upsert_accounts
    from crm_bridge.db import Database, utcnow
    from crm_bridge.models import Account, Appeal, AppealChannel, Callback, CallbackStatus

    db = Database(db_url)
    with db.session(write=True) as s:
        upsert_accounts(
            s,
            [
                AccountData(f"{7000000000 + i}", f"Абонент {i}", phones=(f"+7903{i:07d}",))
                for i in range(n)
            ],
        )
        s.execute(update(Account).values(notify_by="sms"))
    from crm_bridge.appeals import AppealService

    appeals = AppealService(db)
    with db.session() as s:
        ids = list(s.scalars(select(Account.id).order_by(Account.id)))
    start = utcnow() + timedelta(days=1)
    for account_id in ids:
        appeals.register(channel=AppealChannel.PHONE, content="Перезвоните", account_id=account_id)
    with db.session(write=True) as s:
        for appeal_id, account_id, number in s.execute(
            select(Appeal.id, Appeal.account_id, Account.number).join(
                Account, Account.id == Appeal.account_id
            )
        ):
            s.add(
                Callback(
                    phone=f"+7903{int(number) - 7000000000:07d}",
                    due_at=start,
                    window_start=start,
                    window_end=start + timedelta(hours=2),
                    appeal_id=appeal_id,
                    account_id=account_id,
                    status=CallbackStatus.PENDING,
                )
            )
    db.dispose()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--callbacks", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--pg-url", default="")
    args = ap.parse_args()

    import asyncio

    from crm_bridge.db import Database
    from hotline.services import Services
    from sms.notices import NoticeBridge

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = fresh_pg_database(args.pg_url, DB_NAME) if args.pg_url else ""
        settings = Settings(
            asterisk_root=work, data_dir=work / "data", database_url=url, log_level="WARNING"
        ).resolve()
        services = Services.create(settings)  # migrates
        asyncio.run(services.aclose())
        _seed(settings.db_url, args.callbacks)
        db = Database(settings.db_url)
        bridge = NoticeBridge(db, zone=ZoneInfo("Europe/Moscow"))
        t0 = time.perf_counter()
        queued = 0
        while n := bridge.queue_callbacks():
            queued += n
        first = time.perf_counter() - t0
        idle: list[float] = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            assert bridge.queue_callbacks() == 0
            idle.append((time.perf_counter() - t) * 1000)
        db.dispose()
    backend = "PostgreSQL" if args.pg_url else "SQLite"
    print(f"{backend}, {args.callbacks} pending callbacks of customers who chose SMS")
    print(f"queued {queued} notices in {first:.2f} s: {queued / first:.0f} notices/s")
    print(
        f"idle sweep ({args.rounds} rounds): p50 {pct(idle, 50):.1f} ms, "
        f"p95 {pct(idle, 95):.1f} ms, p99 {pct(idle, 99):.1f} ms"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if queued == args.callbacks else 1


if __name__ == "__main__":
    sys.exit(main())
