"""Writes that survive (issue 13, items 1 and 5), on SQLite and PostgreSQL:
a call's row, journal and appeal written while the database is away go to
the spool and are replayed in order, once, by the next process (a crash
between spooling and replay); a replay repeated after a crash between
applying and checkpointing duplicates nothing; ``started_at`` is never
moved later."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.spool import Spool, _records
from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService, uniqueid_time
from crm_bridge.db import Database
from crm_bridge.durable import DurableWrites
from crm_bridge.models import Appeal, AppealChannel, Call, CallEvent
from telephony.journal import JournalEntry

T0 = datetime(2026, 12, 6, 9, 0, 0, 250000, tzinfo=UTC)


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def _writes(db: Database, spool_dir: Path, *, limit: float = 2.0) -> DurableWrites:
    spool = Spool(spool_dir, "node1", reserve_bytes=0)
    spool.open()
    return DurableWrites(CallService(db), AppealService(db), spool, _in_thread, limit=limit)


async def _a_call(durable: DurableWrites, uid: str) -> Any:
    await durable.record_call(
        uid,
        {"caller_number": "+79001234567", "started_at": T0, "queue_name": "operators"},
        [("queue_join", {"queue": "operators"}, T0 + timedelta(seconds=20))],
        source="ami",
    )
    await durable.append_events(
        uid,
        [
            JournalEntry(1, T0.timestamp() + 1, "prompt", {"id": "common/recording_warning"}),
            JournalEntry(2, T0.timestamp() + 9, "dtmf", {"digits": "*"}),
            JournalEntry(3, T0.timestamp() + 12, "end", {"outcome": "completed"}),
        ],
    )
    return await durable.register_appeal(
        call_uniqueid=uid,
        received_at=T0,
        channel=AppealChannel.PHONE,
        content="Звонок на горячую линию: долг.",
        reply_contact="+79001234567",
    )


def _counts(db: Database, uid: str) -> tuple[int, int, int]:
    with db.session() as s:
        calls = s.execute(select(func.count()).where(Call.uniqueid == uid)).scalar_one()
        events = s.execute(select(func.count()).where(CallEvent.call_uniqueid == uid)).scalar_one()
        appeals = s.execute(
            select(func.count()).select_from(Appeal).join(Call).where(Call.uniqueid == uid)
        ).scalar_one()
    return calls, events, appeals


def test_writes_while_the_database_is_away_are_replayed_by_the_next_process(
    db: Database, tmp_path: Path
) -> None:
    away = (
        Database("postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
        if db.dialect == "postgresql"
        else Database(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    )
    spool_dir = tmp_path / "spool"
    uid = "1765011600.42"

    async def during_outage() -> Any:
        durable = _writes(away, spool_dir)
        appeal = await _a_call(durable, uid)
        assert durable.spooled == 3
        assert durable.spool is not None and durable.spool.stats().records == 3
        durable.spool.close()  # the process ends (or dies) before any replay
        return appeal

    assert asyncio.run(during_outage()) is None, "no number while spooled"
    assert _counts(db, uid) == (0, 0, 0)

    nxt = _writes(db, spool_dir)
    assert nxt.spool is not None and nxt.spool.has_backlog()
    assert nxt.replay() == 3
    assert _counts(db, uid) == (1, 4, 1)
    call = CallService(db).get(uid)
    assert call is not None and call.started_at == T0 and call.queue_name == "operators"
    kinds = [e.kind for e in CallService(db).events(uid)]
    assert kinds == ["prompt", "dtmf", "end", "queue_join"]
    nxt.spool.close()


def test_a_replay_repeated_after_a_crash_duplicates_nothing(db: Database, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    uid = "1765011600.43"
    away = (
        Database("postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
        if db.dialect == "postgresql"
        else Database(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    )
    first = _writes(away, spool_dir)
    asyncio.run(_a_call(first, uid))
    assert first.spool is not None
    first.spool.close()
    # Applied, then the replaying process dies before its checkpoint: the
    # next one applies the same records again.
    records: list[dict[str, Any]] = []
    second = _writes(db, spool_dir)
    assert second.spool is not None
    for path in spool_dir.glob("*.spool"):
        if path != second.spool.path:
            records += [r for r, _ in _records(path, 0)]
    for r in records:
        second.apply(r)
    assert second.replay() == 3
    assert _counts(db, uid) == (1, 4, 1)
    # And the call's own flow, retrying the same appeal, gets the same one.
    again = asyncio.run(_a_call(_writes(db, tmp_path / "other"), uid))
    assert again is not None and again.number
    assert _counts(db, uid) == (1, 4, 1)


def test_a_frozen_database_spools_within_the_limit(db: Database, tmp_path: Path) -> None:
    """A database that never answers (its thread held): the write is
    spooled once the limit passes; when it thaws, the late write and the
    replay leave one row and one appeal."""
    thaw = threading.Event()
    pool = ThreadPoolExecutor(max_workers=4)

    async def frozen(fn: Callable[..., Any], *args: Any) -> Any:
        def held() -> Any:
            thaw.wait(30)
            return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(pool, held)

    spool = Spool(tmp_path / "spool", "node1", reserve_bytes=0)
    spool.open()
    durable = DurableWrites(CallService(db), AppealService(db), spool, frozen, limit=0.3)
    uid = "1765011600.44"

    async def go() -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        appeal = await _a_call(durable, uid)
        return appeal, loop.time() - started

    appeal, took = asyncio.run(go())
    assert appeal is None
    assert durable.spooled == 3, "the first write waited the limit, the others joined the spool"
    thaw.set()
    pool.shutdown(wait=True)  # the late writes land
    durable.replay()
    assert _counts(db, uid) == (1, 4, 1)
    spool.close()
    assert took < 30


def test_started_at_is_never_moved_later(db: Database) -> None:
    calls = CallService(db)
    uid = "1765011600.45"
    calls.upsert(uid, ivr_path=["menu"])  # created by the IVR, before the listener
    assert calls.get(uid).started_at == uniqueid_time(uid)  # type: ignore[union-attr]
    precise = uniqueid_time(uid) + timedelta(milliseconds=300)  # type: ignore[operator]
    calls.upsert(uid, started_at=precise)  # the listener's Newchannel: refines the second
    assert calls.get(uid).started_at == precise  # type: ignore[union-attr]
    calls.upsert(uid, started_at=precise + timedelta(minutes=3))  # a resync after a restart
    calls.upsert(uid, started_at=None)
    assert calls.get(uid).started_at == precise  # type: ignore[union-attr]
    earlier = precise - timedelta(seconds=5)
    calls.upsert(uid, started_at=earlier)
    assert calls.get(uid).started_at == earlier  # type: ignore[union-attr]
    late = "t-no-time-in-this-id"
    calls.upsert(late, started_at=T0)
    calls.upsert(late, answered_at=T0 + timedelta(seconds=1), started_at=T0 + timedelta(hours=1))
    assert calls.get(late).started_at == T0  # type: ignore[union-attr]
