"""Retention of personal data (152-FZ): what is kept no longer than needed.

Call recordings (and answering-machine messages) in the recordings
directory, the IVR and AMI call journals (``call_events``: what a caller
keyed and heard) and rotated log files are deleted once older than their
configured number of days (``retention_recordings_days``,
``retention_journal_days``, ``retention_logs_days``; 0 keeps them for ever).
A call whose recording is gone keeps its row, with ``recording_file``
cleared, so no page offers a file that does not exist.

``hotline retention --dry-run`` says what would go, without deleting; the
``retention`` component of ``hotline run`` does it once a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from crm_bridge.db import Database, utcnow
from crm_bridge.models import Call, CallEvent

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".gsm", ".ogg", ".mp3", ".sln", ".ulaw", ".alaw")
ACTIVE_LOGS = frozenset({"full", "messages", "console.log", "queue_log"})
"""Log files being written now: never deleted (their rotated copies are)."""


@dataclass(frozen=True)
class RetentionPolicy:
    recordings_days: int = 365
    journal_days: int = 365
    logs_days: int = 90

    @classmethod
    def from_settings(cls, s: Any) -> RetentionPolicy:
        return cls(s.retention_recordings_days, s.retention_journal_days, s.retention_logs_days)


@dataclass
class RetentionReport:
    dry_run: bool
    recordings: list[Path] = field(default_factory=list)
    calls_unlinked: int = 0
    journal_rows: int = 0
    logs: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        verb = "будет удалено" if self.dry_run else "удалено"
        return (
            f"{verb}: записей разговоров {len(self.recordings)}, "
            f"строк журнала звонков {self.journal_rows}, файлов журналов {len(self.logs)}; "
            f"ссылок на записи у звонков снято {self.calls_unlinked}"
        )


class Retention:
    def __init__(
        self,
        db: Database,
        recordings_dir: Path,
        log_dirs: Sequence[Path],
        policy: RetentionPolicy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.recordings_dir = recordings_dir
        self.log_dirs = tuple(log_dirs)
        self.policy = policy
        self.clock = clock

    def run(self, *, dry_run: bool = False) -> RetentionReport:
        now = self.clock()
        report = RetentionReport(dry_run)
        if self.policy.recordings_days > 0:
            cutoff = now - timedelta(days=self.policy.recordings_days)
            report.recordings = _old_files(self.recordings_dir, cutoff, AUDIO_SUFFIXES)
            report.calls_unlinked = self._unlink_recordings(cutoff, dry_run)
        if self.policy.journal_days > 0:
            cutoff = now - timedelta(days=self.policy.journal_days)
            report.journal_rows = self._journal(cutoff, dry_run)
        if self.policy.logs_days > 0:
            cutoff = now - timedelta(days=self.policy.logs_days)
            for d in self.log_dirs:
                report.logs += [p for p in _old_files(d, cutoff, None) if p.name not in ACTIVE_LOGS]
        if not dry_run:
            for path in (*report.recordings, *report.logs):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        log.info("retention%s: %s", " (dry run)" if dry_run else "", report.summary())
        return report

    def _unlink_recordings(self, cutoff: datetime, dry_run: bool) -> int:
        old = (Call.started_at < cutoff) & Call.recording_file.is_not(None)
        with self.db.session(write=not dry_run) as session:
            count = int(session.scalar(select(func.count()).select_from(Call).where(old)) or 0)
            if not dry_run and count:
                session.execute(update(Call).where(old).values(recording_file=None))
        return count

    def _journal(self, cutoff: datetime, dry_run: bool) -> int:
        old = CallEvent.ts < cutoff
        with self.db.session(write=not dry_run) as session:
            count = int(session.scalar(select(func.count()).select_from(CallEvent).where(old)) or 0)
            if not dry_run and count:
                session.execute(delete(CallEvent).where(old))
        return count


def _old_files(root: Path, cutoff: datetime, suffixes: tuple[str, ...] | None) -> list[Path]:
    """Files under ``root`` last written before ``cutoff``."""
    if not root.is_dir():
        return []
    limit = cutoff.timestamp()
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and (suffixes is None or p.suffix.lower() in suffixes)
        and p.stat().st_mtime < limit
    )


class RetentionJob:
    """The ``retention`` component: :meth:`Retention.run` now and every day."""

    INTERVAL = 24 * 3600.0

    def __init__(self, retention: Retention, run_db: Callable[..., Any]) -> None:
        self.retention = retention
        self.run_db = run_db
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_db(self.retention.run)
            except Exception:  # one failed round is logged; the next day tries again
                log.exception("retention round failed")
            await asyncio.sleep(self.INTERVAL)
