"""The fault tier (issue 13, "Must show"): real Asterisk, simulated callers
(AMI Originate of Local channels into ``hotline-inbound``) served by a node
in its own process (``hotline.faultrig``), and the faults: PostgreSQL
stopped and frozen mid-call under 20 callers, the service SIGKILLed under 50
callers. Each test asserts what the callers heard — the recording warning
first and once, then the menu, and the fallback or the queue instead of
silence, reached while the database was still away (nobody waited for it to
come back) — and what the database holds afterwards: every call its row,
its appeal and its journal, 0 rows left open, 0 duplicates. The figures'
table, with the longest silence heard, is printed by ``bench/faults.py``.
"""

from __future__ import annotations

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
    database_fault,
    fell_back,
    figures,
    flow_prompts,
    press,
    service_killed,
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
