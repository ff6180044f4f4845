"""Visits (REQ-T11): what a caller waits for in the voice menu — the next
free slots of an office whose two weeks are mostly booked — and booking
under contention (many bookers racing for the same few slots: every
booking either takes a free seat or is refused, never a double booking).

    .venv/bin/python bench/visits.py [--db URL] [--accounts 3000] [--n 300] [--threads 8]

Without ``--db`` a fresh SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import pct  # noqa: E402
from crm_bridge.accounts import AccountData, upsert_accounts  # noqa: E402
from crm_bridge.calendar_ru import ProductionCalendar  # noqa: E402
from crm_bridge.db import Database  # noqa: E402
from hotline.slices import upgrade  # noqa: E402
from visits.service import OfficeDraft, SlotTaken, VisitError, VisitService  # noqa: E402

NOW = datetime(2025, 3, 3, 5, 0, tzinfo=UTC)  # Monday 08:00 Moscow


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="")
    ap.add_argument("--accounts", type=int, default=3000)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    db = Database(url)
    upgrade(db)
    with db.session(write=True) as s:
        ids = upsert_accounts(
            s,
            [
                AccountData(number=f"77{n:08d}", holder_name=f"Bench {n}", settlement="Бенчград")
                for n in range(args.accounts)
            ],
        ).ids
    accounts = list(ids.values())
    cal = ProductionCalendar()
    svc = VisitService(db, cal, clock=lambda: NOW)
    office = svc.save_office(
        OfficeDraft(
            name=f"Bench {time.time_ns()}",
            address="Бенчград",
            settlement="Бенчград",
            spoken="офис",
            hours={d: "08:00-12:00, 13:00-17:00" for d in range(5)},
            slot_minutes=30,
            capacity=3,
            horizon_days=14,
        )
    )
    # fill the fortnight but for the last slots: the menu has to look far ahead
    slots = [
        a
        for k in range(15)
        for a, _ in office.hours.slots((NOW + timedelta(days=k)).date(), cal)
        if a >= NOW + timedelta(minutes=30)
    ]
    keep_free = 3
    booked = 0
    started = time.perf_counter()
    for at in slots[:-keep_free]:
        for _ in range(office.capacity):
            svc.book(office.id, accounts[booked], at, source="ivr", by="bench")
            booked += 1
    fill = time.perf_counter() - started
    print(f"database: {db.dialect}; office slots in 14 days: {len(slots)}, visits booked: {booked}")
    print(f"sequential booking: {booked / fill:8.1f} bookings/s")
    samples = []
    for _ in range(args.n):
        t0 = time.perf_counter()
        found = svc.free_slots(office.id, limit=3)
        samples.append((time.perf_counter() - t0) * 1000)
    assert len(found) == 3, found
    print(
        f"next 3 free slots (two weeks full): p50 {pct(samples, 50):6.1f} ms  "
        f"p95 {pct(samples, 95):6.1f} ms  p99 {pct(samples, 99):6.1f} ms"
    )
    # contention: the threads race for the last free seats
    free_seats = keep_free * office.capacity
    racers = accounts[booked : booked + args.threads * 4]
    barrier = threading.Barrier(args.threads)
    outcome = {"booked": 0, "taken": 0}
    lock = threading.Lock()

    def race(chunk: list[int]) -> None:
        service = VisitService(db, cal, clock=lambda: NOW)
        barrier.wait()
        for acc in chunk:
            for at in slots[-keep_free:]:
                try:
                    service.book(office.id, acc, at, source="ivr", by="bench")
                    with lock:
                        outcome["booked"] += 1
                    break
                except SlotTaken:
                    with lock:
                        outcome["taken"] += 1
                except VisitError:
                    break

    chunks = [racers[i :: args.threads] for i in range(args.threads)]
    threads = [threading.Thread(target=race, args=(c,)) for c in chunks]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    race_s = time.perf_counter() - t0
    day = svc.free_slots(office.id, limit=10)
    print(
        f"race: {len(racers)} bookers in {args.threads} threads for {free_seats} seats: "
        f"booked {outcome['booked']}, refused «занято» {outcome['taken']} in {race_s:.2f} s; "
        f"free slots left: {len(day)} (double bookings: "
        f"{outcome['booked'] - free_seats if outcome['booked'] > free_seats else 0})"
    )
    db.dispose()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
