"""Asterisk restarts mid-call: the AMI listener neither duplicates nor loses a
call (issue 3, item 5), against the real Asterisk 22.

A caller waits in the operator queue; Asterisk is restarted (``core restart
now``: every channel dies). The runtime's AMI client reconnects and the
listener resynchronises: the call's record is closed exactly once (normally
``lost-during-restart``, or from the Hangup events Asterisk sent before it
went down), and a call placed after the restart is followed as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_bridge.ami_listener import Outcome
from crm_bridge.calls import CallService
from crm_bridge.models import Call
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk]

TEST_CONTEXT = "hotline-test-crm"
NO_IVR = {"TEST_SKIP_IVR": "1", "TEST_CLASS": "Пр"}


def _rows(db: Any, uniqueid: str) -> int:
    with db.session() as session:
        return int(
            session.execute(
                select(func.count()).select_from(Call).where(Call.uniqueid == uniqueid)
            ).scalar_one()
        )


async def test_restart_mid_call_neither_duplicates_nor_loses(
    rig: Any, runtime: Any, asterisk: Any
) -> None:
    services = runtime.services
    calls = CallService(services.db)
    listener = services.call_listener
    await listener.wait_resynced(15)
    call = await rig.place(TEST_CONTEXT, "s", caller_number="79001112299", variables=NO_IVR)
    waiting = await until(
        lambda: (c := calls.get(call.call_id)) and c.queue_entered_at and c,
        20,
        "the caller in the queue",
    )
    assert waiting.ended_at is None
    logins, resyncs = runtime.ami.logins, listener.resyncs

    await asyncio.to_thread(asterisk.cli, "core restart now", 15.0, False)
    await until(lambda: runtime.ami.logins > logins, 60, "the AMI reconnect")
    await until(lambda: listener.resyncs > resyncs, 30, "the listener's resync")
    await asyncio.to_thread(asterisk.up)  # fully booted again (returns at once if up)
    await until(lambda: rig.ami.connected, 30, "the test rig's AMI reconnect")

    closed = calls.get(call.call_id)
    assert closed is not None and closed.ended_at is not None
    assert closed.outcome in (Outcome.LOST, Outcome.LEFT_QUEUE, Outcome.ABANDONED)
    assert _rows(services.db, call.call_id) == 1
    lost_marks = [e for e in calls.events(call.call_id) if e.kind == "lost_during_restart"]
    assert len(lost_marks) <= 1
    if closed.outcome == Outcome.LOST:
        assert lost_marks

    # A second resync (another reconnect) changes nothing.
    before = calls.get(call.call_id)
    await listener.resync()
    assert calls.get(call.call_id) == before
    assert _rows(services.db, call.call_id) == 1

    # Calls after the restart are followed as before.
    after = await rig.place(TEST_CONTEXT, "w300-h", caller_number="79001112298", variables=NO_IVR)
    await rig.wait_end(after, timeout=30)
    done = await until(
        lambda: (c := calls.get(after.call_id)) and c.ended_at and c, 15, "the new call's end"
    )
    assert done.outcome in (Outcome.ABANDONED, Outcome.LEFT_QUEUE, Outcome.IVR)
    assert _rows(services.db, after.call_id) == 1


async def test_call_ending_while_disconnected_is_closed_as_lost(rig: Any, runtime: Any) -> None:
    """The AMI connection drops (not Asterisk): a call that ends meanwhile sends
    its Hangup to nobody; the resync after the reconnect closes it, once."""
    services = runtime.services
    calls = CallService(services.db)
    listener = services.call_listener
    call = await rig.place(TEST_CONTEXT, "s", caller_number="79001112297", variables=NO_IVR)
    await until(
        lambda: (c := calls.get(call.call_id)) and c.queue_entered_at, 20, "the caller in the queue"
    )
    logins, resyncs = runtime.ami.logins, listener.resyncs
    manager = runtime.ami._manager  # test only: cut the runtime's AMI connection
    manager.protocol.transport.close()
    await rig.hangup_caller(call)  # the rig's own AMI connection is untouched
    await rig.wait_end(call, timeout=20)
    await until(lambda: runtime.ami.logins > logins, 30, "the AMI reconnect")
    await until(lambda: listener.resyncs > resyncs, 30, "the listener's resync")
    closed = calls.get(call.call_id)
    assert closed is not None and closed.ended_at is not None
    assert closed.outcome == Outcome.LOST
    assert _rows(services.db, call.call_id) == 1
    assert [e.kind for e in calls.events(call.call_id)].count("lost_during_restart") == 1
