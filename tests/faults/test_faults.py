"""The fault tier (issue 13, "Must show"): real Asterisk, simulated callers
(AMI Originate of Local channels into ``hotline-inbound``) served by a node
in its own process (``hotline.faultrig``), and the faults: PostgreSQL
stopped and frozen mid-call under 20 callers, the service SIGKILLed under 50
callers, the data directory full (a 48 MB tmpfs filled to the last byte). Each test asserts what the callers heard — the recording warning
first and once, then the menu, and the fallback or the queue instead of
silence, reached while the database was still away (nobody waited for it to
come back) — and what the database holds afterwards: every call its row,
its appeal and its journal, 0 rows left open, 0 duplicates. The figures'
table, with the longest silence heard, is printed by ``bench/faults.py``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from crm_bridge.db import Database
from crm_bridge.models import Call, CallEvent
from hotline.callrig import PlacedCall
from hotline.faultrig import (
    FaultNode,
    PrivatePostgres,
    database_fault,
    fell_back,
    figures,
    fill,
    flow_prompts,
    hang_up,
    in_queue,
    mounted_tmpfs,
    place_callers,
    press,
    service_killed,
    until,
    wait_recorded,
)
from telephony.contract import UserEvent

pytestmark = [pytest.mark.faults]

WARNING = "common/recording_warning"
CALLERS_DB = 20
CALLERS_KILL = 50


def _heard_the_warning_first_and_once(calls: Sequence[PlacedCall]) -> None:
    for call in calls:
        played = flow_prompts(call)
        assert played and played[0].endswith("/" + WARNING), played[:3]
        assert sum(p.endswith("/" + WARNING) for p in played) == 1, played
        assert call.user_events(UserEvent.FALLBACK_WARNING.value) == [], "warned twice"
        for fb in fell_back(call):
            assert fb.get("Warned") == "1", fb


def _assert_figures(db: Database, fault: str, calls: Sequence[PlacedCall]) -> Any:
    f = figures(db, fault, calls)
    n = len(calls)
    assert (f.rows, f.appeals, f.journals, f.open_rows, f.duplicates) == (n, n, n, 0, 0), f
    return f


async def test_postgres_stopped_mid_call(
    callers: Any, pg_node: FaultNode, private_pg: PrivatePostgres
) -> None:
    calls, db, _ = await database_fault(callers, pg_node, private_pg, CALLERS_DB, freeze=False)
    _heard_the_warning_first_and_once(calls)
    debt = [c for i, c in enumerate(calls) if press(i) == "4"]
    assert all(fell_back(c) for c in debt), "the account needs the database: the fallback"
    f = _assert_figures(db, "stopped", calls)
    assert f.ivr_journals == len(calls), "the flows' journals were spooled, then stored"


async def test_postgres_frozen_mid_call(
    callers: Any, pg_node: FaultNode, private_pg: PrivatePostgres
) -> None:
    """SIGSTOP: connections stay open and nothing answers — yet every caller
    reached the queue before the thaw (the flows' waits are bounded)."""
    calls, db, _ = await database_fault(callers, pg_node, private_pg, CALLERS_DB, freeze=True)
    _heard_the_warning_first_and_once(calls)
    debt = [c for i, c in enumerate(calls) if press(i) == "4"]
    assert all(fell_back(c) for c in debt)
    f = _assert_figures(db, "frozen", calls)
    assert f.ivr_journals == len(calls)
    with db.session(readonly=True) as s:
        errors = s.execute(
            select(CallEvent.detail).where(
                CallEvent.call_uniqueid.in_([c.call_id for c in debt]),
                CallEvent.source == "ivr",
                CallEvent.kind == "error",
            )
        ).scalars()
        reasons = [str(d.get("reason", "")) for d in errors]
    assert len(reasons) == len(debt), reasons
    assert all(r.startswith(("DatabaseUnavailable", "OperationalError")) for r in reasons), reasons


async def test_service_killed_under_50_callers(callers: Any, pg_node: FaultNode) -> None:
    """SIGKILL while 50 callers are in the main menu: every one reaches the
    fallback (no second warning) and the queue; the node comes back, and
    each call ends with its row, its reconstructed appeal and its journal."""
    calls, db, _ = await service_killed(callers, pg_node, CALLERS_KILL)
    assert all(fell_back(c) for c in calls)
    _heard_the_warning_first_and_once(calls)
    f = _assert_figures(db, "killed", calls)
    assert f.reconstructed == len(calls), f


async def test_data_directory_full(callers: Any, settings: Any, node_dir: Path) -> None:
    """The node's data (its SQLite database, the spool, the recordings) on a
    small file system, filled to the last byte: /health said the disk was
    low before it was full; callers are served (warning, menu, queue); each
    call's row, appeal and journal are kept (what the database cannot take
    goes to the spool's reserve, replayed once space is freed); the
    recordings that could not be written are marked missing (no 0-byte
    files)."""
    disk = settings.root / "var/lib/hotline" / f"faults-disk-{os.getpid()}"
    with mounted_tmpfs(disk, "48m"):
        (disk / "recordings").mkdir()
        node = FaultNode(
            settings,
            f"sqlite:///{disk / 'hotline.db'}",
            disk / "spool",
            log_path=node_dir / "node.log",
        )
        await node.start()
        try:
            health = await _health(node)
            assert any("«spool»" in p for p in health["problems"]), health  # low, not yet full
            filler = await asyncio.to_thread(fill, disk)
            calls = await place_callers(
                callers,
                node,
                CALLERS_DISK,
                extra={"HOTLINE_SPOOL": settings.ast_path(disk / "recordings")},
            )
            await asyncio.gather(*(callers.answer(c, "menu/main", "0", timeout=120) for c in calls))
            await until(lambda: all(in_queue(c) for c in calls), 90, "every caller in the queue")
            await hang_up(callers, calls)
            health = await _health(node)
            assert health["status"] == "degraded", health
            # What the database could not take waits in the spool's reserve
            # (SQLite may still take small writes into its WAL's free pages).
            assert health["spool"]["refused"] == 0, health
            assert health["spool"]["records"] > 0, health  # held by the reserve
            filler.unlink()  # space again: the spool is replayed
            db = await wait_recorded(node, calls)
            _heard_the_warning_first_and_once(calls)
            f = _assert_figures(db, "disk full", calls)
            assert f.ivr_journals == len(calls)
            await until(
                lambda: asyncio.to_thread(_recordings_marked, db, calls),
                60,
                "the recordings marked missing",
                interval=1.0,
            )
            assert not [p for p in (disk / "recordings").iterdir() if p.stat().st_size == 0]
            db.dispose()
        finally:
            node.stop()


CALLERS_DISK = 10


async def _health(node: FaultNode) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{node.web_url}/health") as resp:
            return dict(await resp.json())


def _recordings_marked(db: Database, calls: Sequence[PlacedCall]) -> bool:
    ids = [c.call_id for c in calls]
    with db.session(readonly=True) as s:
        kept = s.execute(
            select(func.count()).where(Call.uniqueid.in_(ids), Call.recording_file.is_not(None))
        ).scalar_one()
        marked = s.execute(
            select(func.count(func.distinct(CallEvent.call_uniqueid))).where(
                CallEvent.call_uniqueid.in_(ids), CallEvent.kind == "recording_missing"
            )
        ).scalar_one()
    return kept == 0 and marked == len(ids)
