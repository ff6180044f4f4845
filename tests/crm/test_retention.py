"""Retention (152-FZ): recordings, call journals and rotated logs older than
their configured days are deleted; a dry run says what would go and deletes
nothing; calls keep their rows with the recording link cleared."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crm_bridge.calls import CallService
from crm_bridge.db import Database
from crm_bridge.retention import Retention, RetentionPolicy

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def aged(path: Path, days: float, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (t, t))
    return path


def test_dry_run_then_run(db: Database, tmp_path: Path) -> None:
    recordings, logs = tmp_path / "recordings", tmp_path / "log"
    old_rec = aged(recordings / "call-old.wav", 400)
    old_msg = aged(recordings / "am" / "msg-old.wav", 366)
    new_rec = aged(recordings / "call-new.wav", 10)
    note = aged(recordings / "readme.txt", 999)  # not audio: left alone
    rotated = aged(logs / "full.1", 100)
    active = aged(logs / "full", 100)  # being written: never deleted
    fresh_log = aged(logs / "messages.1", 5)
    calls = CallService(db)
    calls.upsert("old.1", started_at=NOW - timedelta(days=400), recording_file="/r/call-old.wav")
    calls.upsert("new.1", started_at=NOW - timedelta(days=10), recording_file="/r/call-new.wav")
    calls.append_event("old.1", "hangup", {}, ts=NOW - timedelta(days=400))
    calls.append_event("new.1", "hangup", {}, ts=NOW - timedelta(days=10))

    retention = Retention(db, recordings, [logs], RetentionPolicy(365, 365, 90), clock=lambda: NOW)
    plan = retention.run(dry_run=True)
    assert plan.recordings == sorted([old_rec, old_msg])
    assert plan.logs == [rotated] and plan.journal_rows == 1 and plan.calls_unlinked == 1
    assert "будет удалено" in plan.summary()
    assert all(p.exists() for p in (old_rec, old_msg, rotated))  # nothing deleted
    assert len(calls.events("old.1")) == 1

    done = retention.run()
    assert not old_rec.exists() and not old_msg.exists() and not rotated.exists()
    assert new_rec.exists() and note.exists() and active.exists() and fresh_log.exists()
    assert calls.events("old.1") == [] and len(calls.events("new.1")) == 1
    old, new = calls.get("old.1"), calls.get("new.1")
    assert old is not None and old.recording_file is None  # the row stays
    assert new is not None and new.recording_file == "/r/call-new.wav"
    assert done.journal_rows == 1 and not done.dry_run
    # A second run finds nothing more.
    again = retention.run()
    assert again.recordings == [] and again.journal_rows == 0 and again.logs == []


def test_zero_days_keeps_everything(db: Database, tmp_path: Path) -> None:
    rec = aged(tmp_path / "recordings" / "call.wav", 5000)
    report = Retention(
        db, tmp_path / "recordings", [], RetentionPolicy(0, 0, 0), clock=lambda: NOW
    ).run()
    assert rec.exists() and report.recordings == [] and report.journal_rows == 0
