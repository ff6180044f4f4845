"""Benchmark: what the identity gate (ivr.identity, REQ-T9) costs a call.

Before the gate, the inbound menu looked up the calling number and the
whole-number identification of its only account
(:meth:`Identifier.by_phone`, :meth:`Identifier.by_account`) while the
recording warning played. The gate's look-up, :func:`ivr.identity.on_file`,
adds the count of the number's recent wrong last-digit proofs in the stored
call journals (``call_events`` joined to ``calls``,
:func:`ivr.identity.wrong_tail_proofs`). Both run side by side on the same
sampled numbers, interleaved, over a generated database with a stored
journal history; the proof itself
(:func:`crm_bridge.identify.by_phone_and_tail`) is checked in memory. One run
prints the percentiles and the ratio gate / before; the budget is the
recording warning the look-up hides behind (p99 under 100 ms)::

    python bench/identity_gate.py                       # 100 000 accounts, 20 000 stored calls
    python bench/identity_gate.py --accounts 20000 --calls 5000 --lookups 1000   # quicker

The database is cached in ``~/.cache/hotline/bench/`` (accounts and calls
generated once per size and seed).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from _common import pct
from sqlalchemy import func, insert, select

from crm_bridge.db import Database, utcnow
from crm_bridge.demo_data import generate, generated_count
from crm_bridge.identify import Identifier, by_phone_and_tail
from crm_bridge.models import AccountPhone, Call, CallEvent
from hotline.slices import upgrade
from ivr.identity import TAIL_LOCKOUT_WINDOW, on_file, wrong_tail_proofs

DEFAULT_CACHE = Path.home() / ".cache" / "hotline" / "bench"
EVENTS_PER_CALL = 20


def open_db(cache: Path, accounts: int, calls: int, seed: int) -> Database:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"gate-{accounts}-{calls}-seed{seed}.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    if generated_count(db) == accounts:
        with db.session() as session:
            stored = int(session.execute(select(func.count()).select_from(Call)).scalar_one())
        if stored == calls:
            print(f"reusing {path}", flush=True)
            return db
    db.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    started = time.perf_counter()
    print(f"generating {accounts:,} accounts …", flush=True)
    generate(db, accounts, seed)
    print(f"storing {calls:,} calls of {EVENTS_PER_CALL} journal entries …", flush=True)
    store_calls(db, calls, seed)
    print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
    return db


def store_calls(db: Database, calls: int, seed: int) -> None:
    """Calls from the accounts' numbers over the last two days, each with a
    journal like the menu's: steps, prompts, keys, and gate attempts (a
    quarter of them wrong last digits)."""
    rng = random.Random(seed)
    with db.session() as session:
        phones = list(session.execute(select(AccountPhone.phone)).scalars())
    now = utcnow()
    for start in range(0, calls, 1000):
        call_rows, event_rows = [], []
        for n in range(start, min(calls, start + 1000)):
            uid = f"bench.{n}"
            at = now - timedelta(seconds=rng.randint(0, 2 * 86400))
            call_rows.append(
                {"uniqueid": uid, "caller_number": rng.choice(phones), "started_at": at}
            )
            for seq in range(1, EVENTS_PER_CALL + 1):
                if seq % 5 == 0:
                    detail = {
                        "name": "ident-gate",
                        "attempt": 1,
                        "way": "tail",
                        "result": "wrong" if rng.random() < 0.25 else "passed",
                    }
                    kind = "step"
                else:
                    kind, detail = "prompt", {"id": "menu/main"}
                event_rows.append(
                    {
                        "call_uniqueid": uid,
                        "source": "ivr",
                        "seq": seq,
                        "ts": at + timedelta(seconds=seq),
                        "kind": kind,
                        "detail": detail,
                    }
                )
        with db.session(write=True) as session:
            session.execute(insert(Call), call_rows)
            session.execute(insert(CallEvent), event_rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)

    db = open_db(args.cache, args.accounts, args.calls, args.seed)
    rng = random.Random(args.seed + 1)
    with db.session() as session:
        with_calls = list(session.execute(select(Call.caller_number).distinct()).scalars())
    numbers = [rng.choice(with_calls) for _ in range(args.lookups + args.warmup)]
    identifier = Identifier(db)

    def old_prefetch(number: str) -> None:
        found = identifier.by_phone(number)
        if found.account_id is not None and found.candidates:
            identifier.by_account(found.candidates[0].number)

    for number in numbers[: args.warmup]:
        old_prefetch(number)
        on_file(db, number)
    before: list[float] = []
    gate: list[float] = []
    count: list[float] = []
    proof: list[float] = []
    locked = 0
    clock = time.perf_counter_ns
    for number in numbers[args.warmup :]:
        started = clock()
        old_prefetch(number)
        before.append((clock() - started) / 1e6)
        started = clock()
        found = on_file(db, number)
        gate.append((clock() - started) / 1e6)
        started = clock()
        wrong_tail_proofs(db, number, since=utcnow() - TAIL_LOCKOUT_WINDOW)
        count.append((clock() - started) / 1e6)
        locked += found.tail_locked
        if found.by_phone.candidates:
            tail = found.by_phone.candidates[0].number[-4:]
            started = clock()
            by_phone_and_tail(found.by_phone, number, tail)
            proof.append((clock() - started) / 1e6)
    db.dispose()

    print()
    print(
        f"{args.accounts:,} accounts, {args.calls:,} stored calls "
        f"({args.calls * EVENTS_PER_CALL:,} journal entries), {len(before):,} numbers"
    )
    print(f"{'':<36}{'p50':>10}{'p95':>10}{'p99':>10}{'mean':>10}")
    for label, values in (
        ("before: by_phone + by_account (ms)", before),
        ("gate: on_file (ms)", gate),
        ("  of it: wrong proofs count (ms)", count),
        ("proof: by_phone_and_tail (ms)", proof),
    ):
        print(
            f"{label:<36}"
            + "".join(f"{pct(values, p):10.3f}" for p in (50, 95, 99))
            + f"{statistics.fmean(values):10.3f}"
        )
    print(
        "ratio gate / before:                "
        + "".join(f"{pct(gate, p) / pct(before, p):10.2f}" for p in (50, 95, 99))
        + f"{statistics.fmean(gate) / statistics.fmean(before):10.2f}"
    )
    print(f"numbers past the lockout (≥ 6 wrong proofs in 24 h): {locked:,} of {len(gate):,}")
    within = pct(gate, 99) < 100.0
    print(
        "on_file p99 within the warning's budget (< 100 ms)"
        if within
        else "on_file p99 OVER the warning's budget (100 ms)"
    )
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
