"""Call rows by Asterisk Uniqueid and the call journal (REQ-A1, REQ-T7)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from crm_bridge.calls import CallService
from crm_bridge.db import Database
from crm_bridge.models import CallDirection, Operator

from .conftest import NOW


@dataclass(frozen=True)
class Entry:
    """Shaped like telephony.journal.JournalEntry."""

    seq: int
    ts: float
    kind: str
    detail: dict[str, Any]


@pytest.fixture
def calls(db: Database) -> CallService:
    return CallService(db)


def test_upsert_creates_then_updates_only_given_fields(calls: CallService) -> None:
    uid = "1741000000.123"
    a = calls.upsert(uid, linkedid=uid, caller_number="8 (900) 123-45-67", started_at=NOW)
    assert a.uniqueid == uid
    assert a.caller_number == "+79001234567"
    assert a.direction is CallDirection.IN
    b = calls.upsert(uid, ivr_path=["menu", "debt"], queue_name="hotline")
    assert b.id == a.id
    assert b.caller_number == "+79001234567"  # untouched
    assert b.ivr_path == ("menu", "debt")
    assert calls.get(uid) == b
    assert calls.get("no.such") is None


def test_full_uniqueid_is_the_key(calls: CallService) -> None:
    """Two channels created in the same second differ only after the dot."""
    a = calls.upsert("1741000000.1")
    b = calls.upsert("1741000000.10")
    assert a.id != b.id


def test_unknown_field_is_refused(calls: CallService) -> None:
    with pytest.raises(TypeError):
        calls.upsert("1.1", no_such_field=1)
    with pytest.raises(ValueError):
        calls.upsert("  ")


def test_sla_flag_and_wait(db: Database, calls: CallService) -> None:
    """REQ-T7: connected to an operator within 40 s."""
    with db.session() as session:
        session.add(
            Operator(login="op101", name="Оператор", password_hash="x", interface="PJSIP/op101")
        )
    fast = calls.upsert(
        "1.1",
        queue_entered_at=NOW,
        queue_left_at=NOW + timedelta(seconds=35),
        operator_interface="PJSIP/op101",
    )
    assert fast.wait_seconds == 35
    assert fast.operator_id is not None
    assert fast.answered_within_sla is True
    slow = calls.upsert("2.2", queue_entered_at=NOW)
    slow = calls.upsert(
        "2.2", queue_left_at=NOW + timedelta(seconds=41), operator_interface="PJSIP/op101"
    )
    assert slow.answered_within_sla is False
    abandoned = calls.upsert(
        "3.3",
        queue_entered_at=NOW,
        queue_left_at=NOW + timedelta(seconds=90),
        ended_at=NOW + timedelta(seconds=90),
        outcome="abandoned",
    )
    assert abandoned.operator_id is None
    assert abandoned.answered_within_sla is False


def test_journal_before_call_row_and_idempotent(calls: CallService) -> None:
    uid = "1741000000.7"
    entries = [
        Entry(1, NOW.timestamp(), "start", {"route": "hotline"}),
        Entry(2, NOW.timestamp() + 1, "prompt", {"id": "greeting"}),
        Entry(3, NOW.timestamp() + 2, "dtmf", {"digit": "1"}),
    ]
    assert calls.append_events(uid, entries[:2]) == 2
    assert calls.append_events(uid, entries) == 1  # resent entries are skipped
    assert calls.append_events(uid, []) == 0
    calls.upsert(uid, started_at=NOW)
    events = calls.events(uid)
    assert [(e.seq, e.kind) for e in events] == [(1, "start"), (2, "prompt"), (3, "dtmf")]
    assert events[1].detail == {"id": "greeting"}
    assert events[0].ts == NOW


def test_append_event_numbers_per_source(calls: CallService) -> None:
    uid = "9.9"
    calls.append_events(uid, [Entry(1, NOW.timestamp(), "start", {})])
    assert calls.append_event(uid, "queue_join", {"queue": "hotline"}) == 1
    assert calls.append_event(uid, "agent_connect", {"member": "PJSIP/op101"}) == 2
    assert len(calls.events(uid)) == 3
    assert [e.kind for e in calls.events(uid, source="ami")] == ["queue_join", "agent_connect"]


def test_concurrent_upserts_make_one_row(db: Database) -> None:
    service = CallService(db)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            service.upsert("1741000000.555", outcome=f"w{i}")
            service.append_event("1741000000.555", "ping", {"i": i})
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not errors, errors
    assert service.get("1741000000.555") is not None
    assert sorted(e.seq for e in service.events("1741000000.555")) == [1, 2, 3, 4, 5, 6]


def test_an_outbound_call_is_marked_with_its_campaign(calls: CallService) -> None:
    """Issue 13 item 10: a campaign's call is ``out`` with its campaign and node,
    whether the listener wrote the row first or not."""
    calls.upsert("ai-1", started_at=NOW)  # the listener's row (direction: the default)
    assert calls.mark_outbound("ai-1", 7, "node-a") is True
    row = calls.get("ai-1")
    assert row is not None and row.started_at == NOW
    assert (row.direction, row.campaign_id, row.node) == (CallDirection.OUT, 7, "node-a")
    # No row yet: created when asked to, else left alone.
    assert calls.mark_outbound("ai-2", 7, create=False) is False
    assert calls.get("ai-2") is None
    assert calls.mark_outbound("ai-2", 7, "node-a") is True
    created = calls.get("ai-2")
    assert created is not None and created.direction is CallDirection.OUT
    assert created.started_at is not None and created.ended_at is None
