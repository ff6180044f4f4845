"""Contact-list import benchmark: a 100 000-row XLSX as an office prepares it.

    .venv/bin/python bench/list_import.py [--rows 100000] [--database-url URL] [--runs 1]

Setup (not timed): a fresh database (SQLite in a temporary directory, or the
PostgreSQL database at ``--database-url``, whose tables are dropped first —
its name must contain ``test``) with one account per row and its contract
phone, and an XLSX list with two title rows above a Russian header (ФИО,
Лицевой счёт, Номер телефона, Сумма долга, Оплатить до) and ДД.ММ.ГГГГ dates;
every 1000th row carries a bad date (rejected with its reason).

Timed: ``ContactListService.import_file`` of a payment-reminder campaign (the
date is spoken, so every row is parsed, validated and inserted), each run in
a child process of its own, so that the peak resident memory it reports
(``ru_maxrss``) is the import's and not the setup's.

Prints per run: wall and CPU seconds (on a shared machine the CPU figure is
the one that does not depend on the others' load; a database server's CPU is
not in it), rows per second, the child's resident memory
before the import and its peak (MB); targets: < 30 s and < 500 MB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 30.0
TARGET_MB = 500.0


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _phone(i: int) -> str:
    return f"+7910{i:07d}"


def setup(url: str, rows: int, xlsx: Path) -> int:
    from openpyxl import Workbook

    from autoinformer.campaigns import CampaignService
    from crm_bridge.accounts import AccountData, upsert_accounts
    from crm_bridge.db import Database
    from hotline.slices import upgrade

    db = Database(url)
    if url.startswith("postgresql"):
        if "test" not in url.rsplit("/", 1)[-1]:
            raise SystemExit("--database-url: the database name must contain 'test'")
        from sqlalchemy import text

        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(db)
    batch: list[AccountData] = []
    for i in range(rows):
        batch.append(
            AccountData(
                number=f"90{i:08d}",
                holder_name=f"Абонент {i}",
                phones=(_phone(i),),
                debt=Decimal("1500.00"),
            )
        )
        if len(batch) == 5000:
            with db.session(write=True) as s:
                upsert_accounts(s, batch)
            batch = []
    if batch:
        with db.session(write=True) as s:
            upsert_accounts(s, batch)
    cid = CampaignService(db).create("Напоминание, 100 000", "payment_reminder", created_by="bench")
    db.dispose()

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Должники")
    ws.append(["Список должников на 01.12.2026"])
    ws.append(["Филиал «Центральный»"])
    ws.append(["ФИО", "Лицевой счёт", "Номер телефона", "Сумма долга, руб.", "Оплатить до"])
    for i in range(rows):
        due = "31.02.2026" if i % 1000 == 999 else f"{i % 28 + 1:02d}.12.2026"
        ws.append([f"Иванов Иван {i}", f"90{i:08d}", f"8 910 {i:07d}", f"1 {i % 1000:03d},50", due])
    wb.save(str(xlsx))
    return cid


def child(url: str, cid: int, xlsx: Path) -> None:
    """One timed import; prints a JSON line."""
    from autoinformer.contacts import ContactListService
    from crm_bridge.db import Database

    db = Database(url)
    data = xlsx.read_bytes()
    before = _rss_mb()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    res = ContactListService(db).import_file(cid, data, xlsx.name, by="bench")
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db.dispose()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": cpu,
                "accepted": res.accepted,
                "rejected": len(res.rejected),
                "rss_before_mb": before,
                "peak_mb": peak,
            }
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--database-url")
    ap.add_argument("--child", nargs=3, metavar=("URL", "CAMPAIGN", "XLSX"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), Path(args.child[2]))
        return 0
    with tempfile.TemporaryDirectory(prefix="list-import-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        xlsx = Path(tmp) / "Список должников.xlsx"
        t0 = time.perf_counter()
        cid = setup(url, args.rows, xlsx)
        print(
            f"setup: {args.rows} accounts and the XLSX ({xlsx.stat().st_size / 2**20:.1f} MB) "
            f"in {time.perf_counter() - t0:.1f} s; database {url.split(':', 1)[0]}"
        )
        print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
        ok = True
        for run in range(1, args.runs + 1):
            if run > 1:  # the same list again into a fresh campaign
                from autoinformer.campaigns import CampaignService
                from crm_bridge.db import Database

                db = Database(url)
                cid = CampaignService(db).create(f"Повтор {run}", "payment_reminder")
                db.dispose()
            proc = subprocess.run(
                [sys.executable, __file__, "--child", url, str(cid), str(xlsx)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rate = args.rows / r["seconds"]
            print(
                f"run {run}: {r['seconds']:.1f} s wall, {r['cpu']:.1f} s CPU of this process "
                f"({rate:,.0f} rows/s), accepted {r['accepted']}, "
                f"rejected {r['rejected']}; RSS before {r['rss_before_mb']:.0f} MB, "
                f"peak {r['peak_mb']:.0f} MB"
            )
            ok = ok and r["seconds"] < TARGET_SECONDS and r["peak_mb"] < TARGET_MB
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        print(
            f"targets: < {TARGET_SECONDS:.0f} s and < {TARGET_MB:.0f} MB peak: "
            + ("met" if ok else "NOT met")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
