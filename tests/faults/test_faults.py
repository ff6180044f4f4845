"""The fault tier (issue 13, "Must show"): real Asterisk, simulated callers
(AMI Originate of Local channels into ``hotline-inbound``) served by a node
in its own process, and the faults: PostgreSQL stopped and frozen mid-call,
the service SIGKILLed under 50 callers. Each test asserts what the callers
heard — the recording warning first and once, then the menu, and the
fallback or the queue instead of silence (reached while the database was
still away: nobody waited for it to come back) — and what the database
holds afterwards: every call its row, its appeal and its journal, 0 rows
left open, 0 duplicates. The figures' table (and the longest silence) is
printed by ``bench/faults.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select

from crm_bridge.db import Database
from crm_bridge.models import CallEvent
from hotline.callrig import PlacedCall
from hotline.faultrig import (
    FaultNode,
    PrivatePostgres,
    complete,
    describe,
    fell_back,
    figures,
    flow_prompts,
    in_queue,
    place_callers,
)
from telephony.contract import UserEvent
from tests.e2e.waiting import until

pytestmark = [pytest.mark.faults]

WARNING = "common/recording_warning"
CALLERS_DB = 20
CALLERS_KILL = 50
ACCOUNT = "1000000001"


def _heard_the_warning_first_and_once(calls: Sequence[PlacedCall]) -> None:
    for call in calls:
        played = flow_prompts(call)
        assert played and played[0].endswith("/" + WARNING), played[:3]
        assert sum(p.endswith("/" + WARNING) for p in played) == 1, played
        assert call.user_events(UserEvent.FALLBACK_WARNING.value) == [], "warned twice"
        for fb in fell_back(call):
            assert fb.get("Warned") == "1", fb


async def _hang_up(rig: Any, calls: Sequence[PlacedCall]) -> None:
    for call in calls:
        await rig.hangup_caller(call)
    await asyncio.gather(*(rig.wait_end(c, timeout=60) for c in calls))


async def _everything_recorded(node: FaultNode, calls: Sequence[PlacedCall]) -> Database:
    db = Database(node.database_url)
    try:
        await until(
            lambda: asyncio.to_thread(complete, db, calls),
            120,
            "every call's row, appeal and journal",
            interval=1.0,
        )
    except AssertionError as exc:
        state = await asyncio.to_thread(describe, db, calls)
        missing = [s for s in state if s["open"] or not s["appeals"] or not s["journal"]]
        raise AssertionError(f"{exc}: {missing}") from exc
    return db


def _press(i: int) -> str:
    """Half the callers ask for the debt (4, then key in an account: the
    database is needed to find it), half for an operator (0: their appeal is
    registered)."""
    return "4" if i % 2 == 0 else "0"


async def _database_fault(
    callers: Any, node: FaultNode, pg: PrivatePostgres, *, freeze: bool
) -> tuple[list[PlacedCall], Database]:
    calls = await place_callers(callers, node, CALLERS_DB)
    await asyncio.gather(*(callers.heard_start(c, "menu/main", timeout=120) for c in calls))
    if freeze:
        pg.freeze()
    else:
        await asyncio.to_thread(pg.stop)

    async def choose(i: int, call: PlacedCall) -> None:
        await callers.send_dtmf(call, _press(i))
        if _press(i) == "4":  # asked for the account (the number is not on file)
            await callers.answer(call, "ident/required_for_debt", ACCOUNT + "#", timeout=60)

    await asyncio.gather(*(choose(i, c) for i, c in enumerate(calls)))
    # Everyone reaches the queue while the database is still away.
    await until(lambda: all(in_queue(c) for c in calls), 90, "every caller in the queue")
    await _hang_up(callers, calls)
    if freeze:
        pg.thaw()
    else:
        await asyncio.to_thread(pg.start)
    db = await _everything_recorded(node, calls)
    return calls, db


def _assert_figures(db: Database, fault: str, calls: Sequence[PlacedCall]) -> Any:
    f = figures(db, fault, calls)
    n = len(calls)
    assert (f.rows, f.appeals, f.journals, f.open_rows, f.duplicates) == (n, n, n, 0, 0), f
    return f


async def test_postgres_stopped_mid_call(
    callers: Any, pg_node: FaultNode, private_pg: PrivatePostgres
) -> None:
    calls, db = await _database_fault(callers, pg_node, private_pg, freeze=False)
    _heard_the_warning_first_and_once(calls)
    debt = [c for i, c in enumerate(calls) if _press(i) == "4"]
    assert all(fell_back(c) for c in debt), "the debt needs the database: the fallback"
    f = _assert_figures(db, "stopped", calls)
    assert f.ivr_journals == len(calls), "the flows' journals were spooled, then stored"


async def test_postgres_frozen_mid_call(
    callers: Any, pg_node: FaultNode, private_pg: PrivatePostgres
) -> None:
    """SIGSTOP: connections stay open and nothing answers — yet every caller
    reached the queue before the thaw (the flows' waits are bounded)."""
    calls, db = await _database_fault(callers, pg_node, private_pg, freeze=True)
    _heard_the_warning_first_and_once(calls)
    debt = [c for i, c in enumerate(calls) if _press(i) == "4"]
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
    fallback (no second warning) and the queue; the node comes back, adopts
    the live calls, and each call ends with its row, its reconstructed
    appeal and its journal."""
    calls = await place_callers(callers, pg_node, CALLERS_KILL)
    await asyncio.gather(*(callers.heard_start(c, "menu/main", timeout=180) for c in calls))
    killed = time.time()
    await asyncio.to_thread(pg_node.kill)
    await until(lambda: all(in_queue(c) for c in calls), 90, "every caller in the queue")
    assert all(fell_back(c) for c in calls)
    await pg_node.start()
    await _hang_up(callers, calls)
    db = await _everything_recorded(pg_node, calls)
    _heard_the_warning_first_and_once(calls)
    f = _assert_figures(db, "killed", calls)
    assert f.reconstructed == len(calls), f
    assert killed > 0
