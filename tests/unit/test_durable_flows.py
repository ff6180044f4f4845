"""The flows' appeals go through the durable write path (issue 13, item 1):
the answering machine's message with its callback (REQ-T6), the queue's
callback request of a call without an appeal (REQ-T8) and the meter
readings' appeal (REQ-T9) are spooled while the database is away and
registered — with their callbacks — when the spool is replayed, once.

The database is "away" for the durable writes only (they are given an
unreachable one), as when it goes away between two steps of a call; the
real database then takes the replay. SQLite here; the replay of appeals
with callbacks is proven on PostgreSQL too in ``tests/crm/test_durable_gaps.py``.
"""

# ruff: noqa: F811 - the fixtures imported below are parameters here

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.spool import Spool, _records
from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService
from crm_bridge.db import Database
from crm_bridge.durable import DurableWrites
from crm_bridge.models import Appeal, AppealChannel, AppealKind, Call, Callback
from ivr.flows import answering_machine, meter_readings, queue_callback
from telephony.contract import Route, Var
from tests.unit.test_flow_branches import (  # noqa: F401 - fixtures
    CALLER,
    DEMO_CALLER,
    OUT_OF_HOURS,
    call,
    demo_template,
    deps,
    done,
    readings_call,
    run,
    steps,
)


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def database_away(deps: Any, tmp_path: Path) -> DurableWrites:
    """The flows' durable writes now meet an unreachable database, spooling
    to the node's spool; returns the node's writes as they are once it is
    back (the same spool, the real database)."""
    spool = Spool(tmp_path / "write-spool", "node1", reserve_bytes=0)
    spool.open()
    away = Database(f"sqlite:///{tmp_path / 'gone' / 'hotline.db'}")
    deps.durable = DurableWrites(
        CallService(away), AppealService(away), spool, _in_thread, limit=2.0
    )
    return DurableWrites(deps.crm.calls, deps.crm.appeals, spool, _in_thread, limit=2.0)


def appeals_of(deps: Any, uniqueid: str) -> list[Appeal]:
    with deps.db.session() as s:
        return list(
            s.scalars(
                select(Appeal).join(Call).where(Call.uniqueid == uniqueid).order_by(Appeal.id)
            )
        )


def callbacks_of(deps: Any, appeal_id: int) -> list[Callback]:
    with deps.db.session() as s:
        return list(s.scalars(select(Callback).where(Callback.appeal_id == appeal_id)))


async def replay_twice(back: DurableWrites) -> int:
    """Replay the spool; then the same again, as after a crash before the
    checkpoint (nothing may be duplicated)."""
    assert back.spool is not None
    records = [r for p in back.spool.directory.glob("*.spool") for r, _ in _records(p, 0)]
    n = await asyncio.to_thread(back.replay)
    for record in records:
        await asyncio.to_thread(back.apply, record)
    assert back.rejected == 0
    return n


async def test_answering_machine_message_and_callback_survive_the_database_away(
    deps: Any, tmp_path: Path
) -> None:
    back = database_away(deps, tmp_path)
    ch = call(
        [("am/contact_options", "1")],
        now=OUT_OF_HOURS,
        route=Route.ANSWERING_MACHINE,
        spool_dir="/spool",
    )
    done(ch, await run(answering_machine.flow, ch, deps))
    # No number is said (none is given yet); the callback is still promised.
    assert "am/registered_number" not in ch.heard
    assert ch.heard[-1] == "am/thank_you_callback"
    step = next(e.detail for e in ch.journal.entries if e.detail.get("name") == "appeal")
    assert step["spooled"] is True and step["callback"] is True
    assert appeals_of(deps, ch.call_id) == []

    assert await replay_twice(back) == 1
    (appeal,) = appeals_of(deps, ch.call_id)
    assert appeal.channel is AppealChannel.ANSWERING_MACHINE and appeal.reply_contact == CALLER
    (task,) = callbacks_of(deps, appeal.id)
    assert task.phone == CALLER
    assert task.window_end == (appeal.extended_due_at or appeal.due_at)


async def test_answering_machine_with_the_database_there_creates_one_callback(
    deps: Any,
) -> None:
    ch = call(
        [("am/contact_options", "1")],
        now=OUT_OF_HOURS,
        route=Route.ANSWERING_MACHINE,
        spool_dir="/spool",
    )
    done(ch, await run(answering_machine.flow, ch, deps))
    (appeal,) = appeals_of(deps, ch.call_id)
    (task,) = callbacks_of(deps, appeal.id)
    step = next(e.detail for e in ch.journal.entries if e.detail.get("name") == "callback")
    assert step["id"] == task.id


async def test_queue_callback_request_survives_the_database_away(deps: Any, tmp_path: Path) -> None:
    """The fallback put the caller in the queue (no appeal): the callback
    request is spooled as an appeal with its callback; the caller hears the
    promise without a number, and the replay registers both, once."""
    back = database_away(deps, tmp_path)
    ch = call(
        [("queue/callback_offer", "1"), ("queue/confirm_number", "1")],
        route=Route.QUEUE_CALLBACK,
    )
    done(ch, await run(queue_callback.flow, ch, deps))
    assert "queue/callback_registered" in ch.heard
    assert "queue/registered_number" not in ch.heard
    assert Var.APPEAL not in ch.variables
    step = next(e.detail for e in ch.journal.entries if e.detail.get("name") == "callback")
    assert step["spooled"] is True and step["id"] is None

    await replay_twice(back)
    (appeal,) = appeals_of(deps, ch.call_id)
    assert appeal.kind is AppealKind.APPEAL and appeal.reply_contact == CALLER
    (task,) = callbacks_of(deps, appeal.id)
    assert task.phone == CALLER
    assert task.window_end == datetime_of(step["by"]), "the promised deadline, not the appeal's"


def datetime_of(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value)


async def test_meter_readings_appeal_survives_the_database_away(
    deps: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The readings are stored; the database goes away before the appeal:
    the appeal is spooled (linked to the call on replay), nothing is lost."""
    script = [
        ("ident/enter_last_digits", DEMO_CALLER.number[-4:] + "#"),
        ("readings/address_confirm", "1"),
        ("readings/enter_reading_keypad", "12400#"),
        ("readings/confirm", "1"),
        ("readings/enter_reading_keypad", "6800#"),
        ("readings/confirm", "1"),
    ]
    ch = readings_call(script, caller=CALLER)
    real_register = meter_readings._register_appeal
    back: DurableWrites | None = None

    async def away_then_register(c: Any, account: Any) -> None:
        nonlocal back
        back = database_away(deps, tmp_path)
        await real_register(c, account)

    monkeypatch.setattr(meter_readings, "_register_appeal", away_then_register)
    done(ch, await run(meter_readings.flow, ch, deps))
    assert back is not None
    assert "appeal" in steps(ch.journal)
    step = next(e.detail for e in ch.journal.entries if e.detail.get("name") == "appeal")
    assert step["spooled"] is True
    assert Var.APPEAL not in ch.variables
    assert appeals_of(deps, ch.call_id) == []

    await replay_twice(back)
    (appeal,) = appeals_of(deps, ch.call_id)
    assert appeal.kind is AppealKind.METER_READING
    assert "DEMO-0001 T1: 12400 (принято)" in appeal.content


async def test_meter_readings_appeal_is_linked_to_its_call(deps: Any) -> None:
    script = [
        ("ident/enter_last_digits", DEMO_CALLER.number[-4:] + "#"),
        ("readings/address_confirm", "1"),
        ("readings/enter_reading_keypad", "12400#"),
        ("readings/confirm", "1"),
        ("readings/enter_reading_keypad", "6800#"),
        ("readings/confirm", "1"),
    ]
    ch = readings_call(script, caller=CALLER)
    done(ch, await run(meter_readings.flow, ch, deps))
    (appeal,) = appeals_of(deps, ch.call_id)
    assert ch.variables[Var.APPEAL] == appeal.number
    # A replay of the same registration finds the same appeal.
    again = await deps.durable.register_appeal(
        call_uniqueid=ch.call_id,
        received_at=appeal.received_at,
        channel=AppealChannel.PHONE,
        kind=AppealKind.METER_READING,
        category=appeal.category,
        content=appeal.content,
    )
    assert again is not None and again.id == appeal.id
