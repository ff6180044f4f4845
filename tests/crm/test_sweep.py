"""The periodic sweep (issue 13, items 3 and 8), on SQLite and PostgreSQL:
an open call row with no live channel is closed at the last time known of
it; an interrupted call gets its appeal reconstructed once, marked; a call
that ended normally is left alone; a recording that could not be written is
marked missing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService
from crm_bridge.db import Database
from crm_bridge.models import Appeal, Call
from faults.models import ReconstructedAppeal
from faults.sweep import RECONSTRUCTED_NOTE, Sweeper, interruption

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class _Ami:
    """Asterisk's answer to CoreShowChannels: the channels still live."""

    connected = True

    def __init__(self, live: list[str]) -> None:
        self.live = live

    async def action(self, action: dict[str, str], **_: Any) -> list[dict[str, str]]:
        assert action["Action"] == "CoreShowChannels"
        return [
            {"Response": "Success"},
            *({"Event": "CoreShowChannel", "Uniqueid": uid} for uid in self.live),
            {"Event": "CoreShowChannelsComplete"},
        ]


def _sweeper(db: Database, live: list[str], **kw: Any) -> Sweeper:
    sweeper = Sweeper(
        db,
        CallService(db),
        AppealService(db),
        node="node1",
        ami=_Ami(live),
        reconstruct_after=30,
        **kw,
    )
    sweeper.process_started = NOW - timedelta(hours=1)
    return sweeper


def test_an_open_row_without_a_channel_is_closed_at_the_last_known_time(db: Database) -> None:
    calls = CallService(db)
    t0 = NOW - timedelta(minutes=5)
    calls.upsert("1.1", started_at=t0, node="node1", queue_name="operators")
    calls.upsert("1.1", queue_entered_at=t0 + timedelta(seconds=30))
    calls.append_event("1.1", "queue_join", {}, ts=t0 + timedelta(seconds=31))
    calls.upsert("1.2", started_at=t0, node="node1")  # still live
    calls.upsert("1.3", started_at=t0, node="node2")  # another node's
    calls.upsert("1.4", started_at=NOW - timedelta(seconds=2), node="node1")  # too young
    report = asyncio.run(_sweeper(db, ["1.2"]).sweep(NOW))
    assert report.closed == 1
    closed = calls.get("1.1")
    assert closed is not None and closed.outcome == "ended-unobserved"
    assert closed.ended_at == t0 + timedelta(seconds=31), "the last time known, not the sweep's"
    assert closed.queue_left_at == closed.ended_at
    for uid in ("1.2", "1.3", "1.4"):
        assert calls.get(uid).ended_at is None  # type: ignore[union-attr]


def test_interrupted_calls_get_one_reconstructed_appeal(db: Database) -> None:
    calls = CallService(db)
    ended = NOW - timedelta(minutes=2)

    def a_call(uid: str, events: list[tuple[str, str]], **values: Any) -> None:
        calls.upsert(
            uid,
            started_at=ended - timedelta(minutes=1),
            ended_at=ended,
            node="node1",
            caller_number="+79001234567",
            **values,
        )
        for source, kind in events:
            calls.append_event(uid, kind, {"outcome": "failed"}, source=source)

    a_call("2.1", [("ami", "fallback")], queue_name="operators", ivr_path=["menu", "debt"])
    a_call("2.2", [("ivr", "start"), ("ivr", "end")])  # a flow that failed
    a_call("2.3", [("ivr", "start")])  # a flow that never ended (the service died)
    a_call("2.4", [], outcome="lost-during-restart")
    a_call("2.5", [("ami", "queue_join")], outcome="answered")  # normal, no evidence
    recent = "2.6"
    calls.upsert(
        recent, started_at=NOW - timedelta(seconds=20), ended_at=NOW - timedelta(seconds=5)
    )
    calls.append_event(recent, "fallback", {}, source="ami")  # ended too recently
    sweeper = _sweeper(db, [])
    assert asyncio.run(sweeper.sweep(NOW)).reconstructed == 4
    assert asyncio.run(sweeper.sweep(NOW)).reconstructed == 0, "once"
    with db.session() as s:
        rows = {
            uid: (appeal, marker)
            for uid, appeal, marker in s.execute(
                select(Call.uniqueid, Appeal, ReconstructedAppeal)
                .join(Appeal, Appeal.call_id == Call.id)
                .join(ReconstructedAppeal, ReconstructedAppeal.appeal_id == Appeal.id)
            )
        }
    assert sorted(rows) == ["2.1", "2.2", "2.3", "2.4"]
    appeal, marker = rows["2.1"]
    assert marker.reason == "fallback" and marker.sources["queue"] == "operators"
    assert "menu → debt" in appeal.content and "operators" in appeal.content
    assert appeal.reply_contact == "+79001234567"
    assert appeal.received_at == ended - timedelta(minutes=1), "received when the call began"
    assert appeal.note == RECONSTRUCTED_NOTE.format(reason="сценарий не смог обслужить звонок")
    assert rows["2.2"][1].reason == "flow-failed"
    assert rows["2.3"][1].reason == "flow-interrupted"
    assert rows["2.4"][1].reason == "lost-during-restart"
    kinds = [e.kind for e in calls.events("2.1")]
    assert kinds[-1] == "appeal_reconstructed"


def test_a_call_that_spanned_the_restart_counts_as_interrupted() -> None:
    assert interruption("abandoned", [("ami", "hangup", {})]) is None
    assert interruption("abandoned", [], spanned_restart=True) == "service-restart"


def test_a_recording_that_could_not_be_written_is_marked_missing(
    db: Database, tmp_path: Path
) -> None:
    calls = CallService(db)
    empty = tmp_path / "call-empty.wav"
    empty.write_bytes(b"")
    header_only = tmp_path / "call-header.wav"
    header_only.write_bytes(b"RIFF" + b"\0" * 40)
    good = tmp_path / "call-good.wav"
    good.write_bytes(b"RIFF" + b"\0" * 4000)
    ended = NOW - timedelta(seconds=30)
    for uid, path in (
        ("3.1", empty),
        ("3.2", header_only),
        ("3.3", good),
        ("3.4", tmp_path / "never-written.wav"),
    ):
        calls.upsert(uid, started_at=ended, ended_at=ended, recording_file=str(path))
    report = asyncio.run(_sweeper(db, []).sweep(NOW))
    assert report.recordings_missing == 3
    assert not empty.exists() and not header_only.exists() and good.exists()
    assert calls.get("3.3").recording_file == str(good)  # type: ignore[union-attr]
    for uid in ("3.1", "3.2", "3.4"):
        assert calls.get(uid).recording_file is None  # type: ignore[union-attr]
        assert [e.kind for e in calls.events(uid)] == ["recording_missing"]
