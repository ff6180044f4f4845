"""The statistics page on a big database (issue 14, REQ-A10, REQ-T7): a year
of 1 000 000 calls, 300 000 appeals and the operators' presence intervals,
written in bulk into SQLite and into PostgreSQL; then what ``/statistics/``
does for a month and for the year (the SQL aggregation, the tables and the
SVG charts), timed several times on each database.

    .venv/bin/python bench/stats_page.py --pg-url postgresql+psycopg://postgres@127.0.0.1:55471/postgres
        [--calls 1000000] [--appeals 300000] [--runs 7] [--dir /tmp/hotline-bench-stats] [--reuse]

The PostgreSQL URL names a server (a throw-away one: scripts/pg-test-cluster.sh);
the bench creates and fills its own database ``hotline_bench_stats`` there.
``--reuse`` keeps the data of an earlier run when its counts match.
Printed: p50 / p99 per database side by side, the target (< 2 s) and the
ratios (p99 ÷ target; PostgreSQL ÷ SQLite), and the machine's load.
All calls fall in 2025 (the worst case for the year: every row is in it).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import pct

TARGET_S = 2.0
YEAR = 2025
MONTH = 3
ZONE = ZoneInfo("Europe/Moscow")
OPERATORS = 60
BENCH_DB = "hotline_bench_stats"
CHANNELS = (
    ("phone", 40),
    ("in_person", 25),
    ("web", 10),
    ("email", 8),
    ("post", 7),
    ("answering_machine", 8),
    ("sms", 2),
)
KINDS = (
    ("appeal", 30),
    ("consultation", 35),
    ("request", 15),
    ("complaint", 1),
    ("meter_reading", 15),
    ("answering_machine_message", 4),
)
TOPICS = ("КЭ", "С", "Се", "Об", "Ог", "Т", "Пр", "Э", None)
CALL_COLUMNS = (
    "id",
    "uniqueid",
    "direction",
    "ivr_path",
    "started_at",
    "queue_name",
    "queue_entered_at",
    "queue_left_at",
    "wait_seconds",
    "ended_at",
    "operator_id",
    "outcome",
    "answered_within_sla",
    "campaign_id",
)
APPEAL_COLUMNS = (
    "id",
    "number",
    "seq",
    "category",
    "received_at",
    "channel",
    "kind",
    "content",
    "classification",
    "classification_corrected",
    "complaint_category",
    "urgent",
    "status",
    "extended_days",
    "customer_notified",
    "recordings",
    "search_text",
    "created_at",
    "updated_at",
)
PRESENCE_COLUMNS = ("id", "operator_id", "state", "reason", "started_at", "ended_at")


# -- the data ------------------------------------------------------------------


def _year_seconds() -> tuple[datetime, int]:
    start = datetime(YEAR, 1, 1, tzinfo=ZONE).astimezone(UTC)
    end = datetime(YEAR + 1, 1, 1, tzinfo=ZONE).astimezone(UTC)
    return start, int((end - start).total_seconds())


def _weighted(rng: random.Random, items: tuple[tuple[str, int], ...]) -> Callable[[], str]:
    values = [v for v, _ in items]
    weights = [w for _, w in items]
    cum: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)

    def pick() -> str:
        import bisect

        return values[bisect.bisect(cum, rng.random() * total)]

    return pick


def calls(n: int) -> Iterator[tuple[Any, ...]]:
    """Calls over the year, in time order: 5 % outbound, 10 % IVR only, the
    rest through the queue (90 % answered, 8 % abandoned, 2 % left)."""
    rng = random.Random(14)
    start, span = _year_seconds()
    moments = sorted(rng.randrange(span * 1000) for _ in range(n))
    for i, ms in enumerate(moments, 1):
        t = start + timedelta(milliseconds=ms)
        r = rng.random()
        row: dict[str, Any] = {"id": i, "uniqueid": f"bench.{i}", "started_at": t}
        if r < 0.05:
            row |= {"direction": "out", "ended_at": t + timedelta(seconds=60), "campaign_id": 1}
            row["outcome"] = "answered"
        elif r < 0.15:
            row |= {"direction": "in", "ended_at": t + timedelta(seconds=90), "outcome": "ivr"}
        else:
            entered = t + timedelta(seconds=20)
            wait = min(600.0, rng.expovariate(1 / 35))
            left = entered + timedelta(seconds=wait)
            row |= {
                "direction": "in",
                "queue_name": "operators",
                "queue_entered_at": entered,
                "queue_left_at": left,
                "wait_seconds": wait,
            }
            q = rng.random()
            if q < 0.90:
                row |= {
                    "operator_id": rng.randint(1, OPERATORS),
                    "ended_at": left + timedelta(seconds=60 + rng.expovariate(1 / 120)),
                    "outcome": "answered",
                    "answered_within_sla": wait <= 40,
                }
            elif q < 0.98:
                row |= {"ended_at": left, "outcome": "abandoned", "answered_within_sla": False}
            else:
                row |= {"ended_at": left, "outcome": "left-queue", "answered_within_sla": False}
        yield tuple(row.get(c, "[]" if c == "ivr_path" else None) for c in CALL_COLUMNS)


def appeals(n: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(15)
    start, span = _year_seconds()
    channel = _weighted(rng, CHANNELS)
    kind = _weighted(rng, KINDS)
    moments = sorted(rng.randrange(span) for _ in range(n))
    for i, s in enumerate(moments, 1):
        t = start + timedelta(seconds=s)
        k = kind()
        category = rng.choice(("А", "Б")) if k == "complaint" else None
        yield (
            i,
            f"{i}-ФЛ",
            i,
            "ФЛ",
            t,
            channel(),
            k,
            "",
            rng.choice(TOPICS),
            False,
            category,
            False,
            "closed",
            0,
            False,
            "[]",
            "",
            t,
            t,
        )


def presence(days: int = 365) -> Iterator[tuple[Any, ...]]:
    """Each operator's working days (Monday–Saturday from 08:00 local): about
    as many ready → talking → wrap-up turns as the calls give an operator a
    day (~48), two breaks, a lunch, and now and then training — some 150
    intervals a day, ~2.8 million a year for 60 operators."""
    rng = random.Random(16)
    i = 0
    for op in range(1, OPERATORS + 1):
        for d in range(days):
            day = datetime(YEAR, 1, 1, 8, tzinfo=ZONE) + timedelta(days=d)
            if day.weekday() == 6:
                continue
            t = day.astimezone(UTC)
            turns: list[tuple[str, str | None, int]] = []
            for _ in range(48):
                turns += [
                    ("ready", None, rng.randint(30, 300)),
                    ("talking", None, rng.randint(60, 400)),
                    ("wrapup", None, rng.randint(20, 120)),
                ]
            turns.insert(40, ("paused", "break", 600))
            turns.insert(80, ("paused", "lunch", 2700))
            turns.insert(120, ("paused", "break", 600))
            if rng.random() < 0.1:
                turns.insert(20, ("paused", "training", 1800))
            for state, reason, secs in turns:
                i += 1
                stop = t + timedelta(seconds=secs)
                yield (i, op, state, reason, t, stop)
                t = stop


# -- writing it ------------------------------------------------------------------


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v


def fill_sqlite(path: Path, n_calls: int, n_appeals: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        for table, columns, rows in (
            ("calls", CALL_COLUMNS, calls(n_calls)),
            ("appeals", APPEAL_COLUMNS, appeals(n_appeals)),
            ("presence_intervals", PRESENCE_COLUMNS, presence()),
        ):
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            conn.executemany(sql, (tuple(_sqlite_value(v) for v in row) for row in rows))
    conn.close()


def _copy_text(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def fill_postgres(url: str, n_calls: int, n_appeals: int) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        for table, columns, rows in (
            ("calls", CALL_COLUMNS, calls(n_calls)),
            ("appeals", APPEAL_COLUMNS, appeals(n_appeals)),
            ("presence_intervals", PRESENCE_COLUMNS, presence()),
        ):
            with conn.cursor() as cur:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    buf = io.StringIO()
                    for k, row in enumerate(rows, 1):
                        buf.write("\t".join(_copy_text(v) for v in row) + "\n")
                        if k % 50000 == 0:
                            copy.write(buf.getvalue())
                            buf = io.StringIO()
                    copy.write(buf.getvalue())
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _operators(db: Any) -> None:
    from crm_bridge.models import Operator

    with db.session(write=True) as session:
        session.add_all(
            Operator(id=i, login=f"op{i}", name=f"Оператор {i:02d}", password_hash="x")
            for i in range(1, OPERATORS + 1)
        )


def _counts(db: Any) -> tuple[int, int]:
    from sqlalchemy import func, select

    from crm_bridge.models import Appeal, Call

    with db.session() as session:
        return (
            int(session.scalar(select(func.count()).select_from(Call)) or 0),
            int(session.scalar(select(func.count()).select_from(Appeal)) or 0),
        )


def prepare_sqlite(directory: Path, n_calls: int, n_appeals: int, reuse: bool) -> Any:
    from crm_bridge.db import Database
    from hotline.slices import upgrade

    path = directory / "stats.db"
    if reuse and path.exists():
        db = Database(f"sqlite:///{path}")
        upgrade(db)
        if _counts(db) == (n_calls, n_appeals):
            return db
        db.dispose()
    for p in directory.glob("stats.db*"):
        p.unlink()
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    _operators(db)
    db.dispose()
    started = time.monotonic()
    fill_sqlite(path, n_calls, n_appeals)
    print(f"SQLite: written in {time.monotonic() - started:.0f} s ({path})", flush=True)
    return Database(f"sqlite:///{path}")


def prepare_postgres(server_url: str, n_calls: int, n_appeals: int, reuse: bool) -> Any:
    import psycopg
    from sqlalchemy.engine import make_url

    from crm_bridge.db import Database
    from hotline.slices import upgrade

    server = make_url(server_url)
    url = server.set(database=BENCH_DB).render_as_string(hide_password=False)
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    if reuse:
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,))
            found = exists.fetchone() is not None
        if found:
            db = Database(url)
            upgrade(db)
            if _counts(db) == (n_calls, n_appeals):
                return db
            db.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    db = Database(url)
    upgrade(db)
    _operators(db)
    started = time.monotonic()
    raw = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    fill_postgres(raw, n_calls, n_appeals)
    print(f"PostgreSQL: written in {time.monotonic() - started:.0f} s", flush=True)
    return db


# -- timing ----------------------------------------------------------------------


NOW = datetime(YEAR + 1, 2, 1, tzinfo=UTC)
"""Every month of the year closed (two days and more ago)."""


def page(db: Any, month: int | None) -> None:
    """What ``/statistics/`` computes for its page."""
    from supervision.stats_web import page_context

    page_context(db, YEAR, month, tz=ZONE, now=NOW)


def timings(db: Any, month: int | None, runs: int, *, cold: bool = False) -> list[float]:
    """``cold``: every run first forgets the kept months (``stats_rollups``),
    so the year reads all its rows and keeps its months again — what the
    first reader of a year sees once a month has closed."""
    from supervision.stats import drop_rollups, keep_closed_months

    if not cold:
        drop_rollups(db)
        started = time.perf_counter()
        keep_closed_months(db, tz=ZONE, now=NOW, years=[YEAR])  # the daily job
        print(f"  the daily job kept the closed months in {time.perf_counter() - started:.2f} s")
    page(db, month)  # warm the caches once
    out = []
    for _ in range(runs):
        if cold:
            drop_rollups(db)
        started = time.perf_counter()
        page(db, month)
        out.append(time.perf_counter() - started)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg-url", default=os.environ.get("HOTLINE_BENCH_PG_URL"))
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--appeals", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/hotline-bench-stats"))
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args()
    if not args.pg_url:
        print("bench: --pg-url (a throw-away PostgreSQL server) is needed", file=sys.stderr)
        return 2
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; cpus {os.cpu_count()}")
    databases = {
        "SQLite": prepare_sqlite(args.dir, args.calls, args.appeals, args.reuse),
        "PostgreSQL": prepare_postgres(args.pg_url, args.calls, args.appeals, args.reuse),
    }
    from sqlalchemy import func, select

    from shift.models import PresenceInterval

    with databases["SQLite"].session() as session:
        intervals = session.scalar(select(func.count()).select_from(PresenceInterval))
    print(
        f"data: {args.calls} calls, {args.appeals} appeals,"
        f" {intervals} presence intervals of {OPERATORS} operators, all in {YEAR}"
    )
    results: dict[tuple[str, str], list[float]] = {}
    scopes = (("month", MONTH, False), ("year", None, False), ("year, first read", None, True))
    for name, db in databases.items():
        for scope, month, cold in scopes:
            results[(name, scope)] = timings(db, month, args.runs, cold=cold)
    print(f"\n{args.runs} runs each after one warm-up; seconds; target < {TARGET_S:.0f} s")
    print(
        "year: the closed months from their rollups (stats_rollups), kept by the daily job "
        "(digest component); first read: none kept (forgotten before each run)"
    )
    print(
        f"{'scope':<17} {'SQLite p50':>11} {'p99':>7} {'PG p50':>8} {'p99':>7}"
        f" {'SQLite p99/target':>18} {'PG p99/target':>14} {'PG/SQLite p50':>14}"
    )
    for scope, _, _ in scopes:
        s, p = results[("SQLite", scope)], results[("PostgreSQL", scope)]
        s50, s99, p50, p99 = pct(s, 50), pct(s, 99), pct(p, 50), pct(p, 99)
        print(
            f"{scope:<17} {s50:>11.3f} {s99:>7.3f} {p50:>8.3f} {p99:>7.3f}"
            f" {s99 / TARGET_S:>18.2f} {p99 / TARGET_S:>14.2f} {p50 / s50:>14.2f}"
        )
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    for db in databases.values():
        db.dispose()
    worst = max(pct(v, 99) for (_, scope), v in results.items() if scope != "year, first read")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
