"""Benchmark: caller lookup and appeal registration on a million accounts.

Targets (REQ-T7 asks for the caller's data within 45 s of an operator's
search; the IVR needs it before the next prompt, so the budget here is far
tighter):

* lookup by calling number and by account number: p99 < 2 ms;
* lookup by address (parsing included): p99 < 20 ms;
* appeal registration (REQ-A2 numbering, deadlines): ≥ 500 per second.

The database is generated once by :func:`crm_bridge.demo_data.generate` and
cached outside the repository (``~/.cache/hotline/bench/`` for SQLite; the
PostgreSQL database given with ``--pg`` keeps its tables between runs — give
it a database of its own, its tables are dropped when the cache is stale).
Lookups go through the real service (:class:`crm_bridge.identify.Identifier`:
a session per lookup, normalisation, the query), interleaved phone / account
/ address so that each kind sees the same cache conditions::

    python bench/lookup.py                      # SQLite, 1 000 000 accounts
    python bench/lookup.py --pg postgresql+psycopg://postgres@127.0.0.1:5433/hotline_bench
    python bench/lookup.py --accounts 100000 --lookups 2000   # quicker
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select, text, update

from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.demo_data import generate, generated_count
from crm_bridge.identify import Identification, Identifier
from crm_bridge.models import Account, AccountPhone, Appeal, Counter
from hotline.slices import upgrade

logger = logging.getLogger("bench.lookup")

TARGET_P99_MS = {"phone": 2.0, "account": 2.0, "address": 20.0}
TARGET_REGISTRATIONS_PER_S = 500.0
DEFAULT_CACHE = Path.home() / ".cache" / "hotline" / "bench"


@dataclass
class Samples:
    phones: list[str]
    accounts: list[str]
    addresses: list[str]


@dataclass
class Result:
    backend: str
    accounts: int
    latencies_ms: dict[str, list[float]]
    hits: dict[str, int]
    registrations_per_s: float
    registrations_threads: int
    concurrent_registrations_per_s: float


# -- database -------------------------------------------------------------------


def open_sqlite(cache_dir: Path, n: int, seed: int) -> Database:
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"accounts-{n}-seed{seed}.db"
    db = Database(f"sqlite:///{path}")
    if path.exists():
        try:
            upgrade(db)
            if generated_count(db) == n:
                print(f"sqlite: reusing {path}")
                return db
        except Exception as exc:  # a stale or broken cache file is rebuilt
            print(f"sqlite: cache unusable ({exc.__class__.__name__}), rebuilding")
        db.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = Database(f"sqlite:///{path}")
    build(db, n, seed, "sqlite")
    return db


def open_postgres(url: str, n: int, seed: int) -> Database:
    db = Database(url)
    try:
        upgrade(db)
        if generated_count(db) == n:
            print("postgresql: reusing the generated tables")
            return db
    except Exception as exc:  # a stale schema is rebuilt
        print(f"postgresql: cache unusable ({exc.__class__.__name__}), rebuilding")
    with db.engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        names = ", ".join(f'"{t}"' for t in tables)
        if names:
            conn.exec_driver_sql(f"DROP TABLE {names} CASCADE")
    build(db, n, seed, "postgresql")
    return db


def build(db: Database, n: int, seed: int, label: str) -> None:
    upgrade(db)
    print(f"{label}: generating {n:,} accounts (seed {seed}) …", flush=True)
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 10 or done == total:
            last[0] = now
            print(f"  {done:>9,} / {total:,}  ({now - started:.0f} s)", flush=True)

    generate(db, n, seed, progress=progress)
    print(f"{label}: generated in {time.perf_counter() - started:.1f} s", flush=True)


# -- samples and measurement ------------------------------------------------------------


def sample(db: Database, count: int, seed: int) -> Samples:
    rng = random.Random(seed)
    with db.session() as session:
        max_account = int(session.execute(select(func.max(Account.id))).scalar_one())
        max_phone = int(session.execute(select(func.max(AccountPhone.id))).scalar_one())
        account_ids = [rng.randint(1, max_account) for _ in range(count)]
        phone_ids = [rng.randint(1, max_phone) for _ in range(count)]
        accounts: dict[int, Account] = {}
        for start in range(0, count, 500):
            for account in session.execute(
                select(Account).where(Account.id.in_(account_ids[start : start + 500]))
            ).scalars():
                accounts[account.id] = account
        phones: dict[int, str] = {}
        for start in range(0, count, 500):
            rows = session.execute(
                select(AccountPhone.id, AccountPhone.phone).where(
                    AccountPhone.id.in_(phone_ids[start : start + 500])
                )
            ).all()
            phones.update((row_id, phone) for row_id, phone in rows)
    chosen = [accounts[i] for i in account_ids if i in accounts]
    return Samples(
        phones=[_as_dialled(phones[i], rng) for i in phone_ids if i in phones],
        accounts=[a.number for a in chosen],
        addresses=[_as_said(a, rng) for a in chosen],
    )


def _as_dialled(e164: str, rng: random.Random) -> str:
    """Caller ID as trunks deliver it: +7…, 8…, or the bare national number."""
    national = e164[2:]
    return rng.choice([e164, "8" + national, national])


def _as_said(account: Account, rng: random.Random) -> str:
    """The account's address as an operator would type it, in varied forms."""
    house = account.house or ""
    if account.building:
        house += rng.choice([f" корп. {account.building}", f"к{account.building}"])
    street = f"{account.street_type or ''} {account.street}".strip()
    flat = account.flat
    form = rng.randrange(3)
    if form == 0:
        tail = f", кв. {flat}" if flat else ""
        return f"{account.settlement}, {street}, д. {house}{tail}"
    if form == 1:
        return f"{account.settlement}, {account.street} {house}" + (f"-{flat}" if flat else "")
    return f"г {account.settlement} {street} дом {house}" + (f" квартира {flat}" if flat else "")


def measure(
    identifier: Identifier, samples: Samples, warmup: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    kinds: list[tuple[str, Callable[[str], Identification], list[str]]] = [
        ("phone", identifier.by_phone, samples.phones),
        ("account", identifier.by_account, samples.accounts),
        ("address", identifier.by_address, samples.addresses),
    ]
    for _, fn, values in kinds:
        for value in values[:warmup]:
            fn(value)
    latencies: dict[str, list[float]] = {k: [] for k, _, _ in kinds}
    hits: dict[str, int] = {k: 0 for k, _, _ in kinds}
    n = min(len(v) for _, _, v in kinds)
    clock = time.perf_counter_ns
    for i in range(warmup, n):
        for kind, fn, values in kinds:
            started = clock()
            ident = fn(values[i])
            latencies[kind].append((clock() - started) / 1e6)
            if ident.account_id is not None:
                hits[kind] += 1
    return latencies, hits


def registrations(db: Database, count: int, threads: int) -> tuple[float, float]:
    """(sequential rate, rate with ``threads`` concurrent registrars) per second."""
    service = AppealService(db)
    started = time.perf_counter()
    for i in range(count):
        service.register(channel="phone", category="ФЛ" if i % 3 else "ЮЛ", content="бенчмарк")
    sequential = count / (time.perf_counter() - started)

    per_thread = max(1, count // threads)
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        try:
            barrier.wait(timeout=60)
            for _ in range(per_thread):
                service.register(channel="phone", content="бенчмарк")
        except BaseException as exc:  # reported after join
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for t in pool:
        t.join(timeout=600)
    concurrent = per_thread * threads / (time.perf_counter() - started)
    if errors:
        raise RuntimeError(f"concurrent registration failed: {errors[0]!r}")
    with db.session(write=True) as session:  # keep the cached database unchanged
        session.execute(delete(Appeal))
        session.execute(update(Counter).where(Counter.name == "appeal").values(value=0))
    return sequential, concurrent


def run(label: str, db: Database, args: argparse.Namespace) -> Result:
    with db.session() as session:
        total = int(session.execute(select(func.count()).select_from(Account)).scalar_one())
    print(f"{label}: sampling {args.lookups} lookups of each kind …", flush=True)
    samples = sample(db, args.lookups + args.warmup, args.seed + 1)
    latencies, hits = measure(Identifier(db), samples, args.warmup)
    print(f"{label}: {args.registrations} registrations …", flush=True)
    sequential, concurrent = registrations(db, args.registrations, args.threads)
    return Result(label, total, latencies, hits, sequential, args.threads, concurrent)


# -- report ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def report(results: list[Result]) -> bool:
    ok = True
    print()
    header = f"{'metric':<28}" + "".join(f"{r.backend:>26}" for r in results)
    print(header)
    print("-" * len(header))
    print(f"{'accounts':<28}" + "".join(f"{r.accounts:>26,}" for r in results))
    for kind, target in TARGET_P99_MS.items():
        for q in (50, 99):
            cells = []
            for r in results:
                value = percentile(r.latencies_ms[kind], q)
                if q == 99:
                    passed = value < target
                    ok &= passed
                    cells.append(
                        f"{value:8.3f} ms ({value / target:4.2f}× {'ok' if passed else 'FAIL'})"
                    )
                else:
                    cells.append(f"{value:8.3f} ms")
            label = f"{kind} p{q}" + (f" (< {target:g} ms)" if q == 99 else "")
            print(f"{label:<28}" + "".join(f"{c:>26}" for c in cells))
        print(
            f"{kind + ' mean / max':<28}"
            + "".join(
                f"{statistics.fmean(r.latencies_ms[kind]):8.3f} / {max(r.latencies_ms[kind]):7.2f} ms".rjust(
                    26
                )
                for r in results
            )
        )
        print(
            f"{kind + ' identified':<28}"
            + "".join(f"{r.hits[kind]:>12,} / {len(r.latencies_ms[kind]):<11,}  " for r in results)
        )
    cells = []
    for r in results:
        passed = r.registrations_per_s >= TARGET_REGISTRATIONS_PER_S
        ok &= passed
        ratio = r.registrations_per_s / TARGET_REGISTRATIONS_PER_S
        cells.append(f"{r.registrations_per_s:8.0f}/s ({ratio:4.2f}× {'ok' if passed else 'FAIL'})")
    print(f"{'registrations (≥ 500/s)':<28}" + "".join(f"{c:>26}" for c in cells))
    print(
        f"{'registrations, threads':<28}"
        + "".join(
            f"{r.concurrent_registrations_per_s:8.0f}/s ({r.registrations_threads} thr)".rjust(26)
            for r in results
        )
    )
    print()
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pg", metavar="URL", help="also run on this PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    databases: list[tuple[str, Database]] = []
    if not args.no_sqlite:
        databases.append(("sqlite", open_sqlite(args.cache_dir, args.accounts, args.seed)))
    if args.pg:
        databases.append(("postgresql", open_postgres(args.pg, args.accounts, args.seed)))
    if not databases:
        parser.error("nothing to run: drop --no-sqlite or give --pg")
    results = [run(label, db, args) for label, db in databases]
    for _, db in databases:
        db.dispose()
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
