"""The notices component (``digest``): the outbox sender of the customer's
notices (:mod:`supervision.notices`) and the daily digest of what falls due.

The digest (REQ-A5, A12) goes once a day at ``digest_time`` (the company's
local time) to ``digest_to`` (a comma list of addresses; empty: off). It
lists the overdue appeals, those due within a day, routing overdue, and the
REQ-A12 measures terms ending within a day — numbers, terms, codes and
executors, no applicants' personal data. Once a day, whatever the number of
nodes or restarts: the day is claimed in ``digest_runs`` (its primary key)
before the letter is sent; a failed send releases the day for a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.utils import make_msgid
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from autoinformer.email import Letter, SmtpConfig, send_letter
from crm_bridge.appeals import AppealView
from crm_bridge.db import Database, utcnow
from supervision.life import AppealLife
from supervision.models import DigestRun
from supervision.notices import NoticeSender, last_day, run_sender_loop

__all__ = ["Digest", "DigestComponent", "DigestStore", "build_digest", "parse_digest_time"]

log = logging.getLogger(__name__)

CHECK_EVERY: Final = 30.0
"""Seconds between checks of the digest's time (and sender rounds)."""
RETRY_AFTER: Final = timedelta(minutes=10)


def parse_digest_time(raw: str) -> time:
    try:
        hh, mm = raw.strip().split(":")
        return time(int(hh), int(mm))
    except ValueError as exc:
        raise ValueError(f"digest_time must be HH:MM, got {raw!r}") from exc


def recipients(raw: str) -> list[str]:
    return [a.strip() for a in raw.split(",") if a.strip()]


@dataclass(frozen=True)
class Digest:
    day: date
    subject: str
    body: str
    count: int


def _line(a: AppealView, zone: ZoneInfo, due: datetime | None) -> str:
    parts = [f"№ {a.number}"]
    if due is not None:
        parts.append(f"срок {last_day(due, zone).strftime('%d.%m.%Y')}")
    if a.classification:
        parts.append(a.classification.value)
    if a.complaint_category:
        parts.append(f"жалоба {a.complaint_category.value}")
    parts.append(f"исполнитель: {a.passed_to}" if a.passed_to else "не передано на исполнение")
    return "  " + ", ".join(parts)


def build_digest(life: AppealLife, now: datetime | None = None) -> Digest:
    """What falls due, as a Russian letter to the supervisors."""
    now = now or life.now()
    zone = life.zone
    overdue = life.overdue(now=now)
    soon = life.due_within(timedelta(days=1), now=now)
    measures = life.measures_due(timedelta(days=1), now=now)
    day = now.astimezone(zone).date()
    sections = [
        ("Просрочены", overdue, lambda a: a.effective_due_at),
        ("Срок ответа истекает в течение суток", soon, lambda a: a.effective_due_at),
        (
            "Меры по обратной связи (14 дней, REQ-A12): срок истекает в течение суток или истёк",
            measures,
            lambda a: a.measures_due_at,
        ),
    ]
    lines = [f"Сводка по срокам обращений на {day.strftime('%d.%m.%Y')}", ""]
    for title, items, due_of in sections:
        lines.append(f"{title}: {len(items)}")
        lines += [_line(a, zone, due_of(a)) for a in items]
        lines.append("")
    lines.append("Подробно: раздел «Обращения» горячей линии.")
    count = len(overdue) + len(soon)
    subject = (
        f"Сроки обращений на {day.strftime('%d.%m.%Y')}: "
        f"просрочено {len(overdue)}, истекает за сутки {len(soon)}"
    )
    return Digest(day, subject, "\n".join(lines), count + len(measures))


class DigestStore:
    """Which days' digests were sent (blocking)."""

    def __init__(self, db: Database, node: str) -> None:
        self.db = db
        self.node = node

    def claim(self, day: date, now: datetime | None = None) -> bool:
        """Take the day; False when it is taken (sent, or being sent elsewhere)."""
        try:
            with self.db.session(write=True) as s:
                s.add(
                    DigestRun(day=day, status="sending", node=self.node, started_at=now or utcnow())
                )
        except IntegrityError:
            return False
        return True

    def sent(self, day: date, recipients: int) -> None:
        with self.db.session(write=True) as s:
            run = s.get(DigestRun, day)
            if run is not None:
                run.status = "sent"
                run.sent_at = utcnow()
                run.recipients = recipients

    def release(self, day: date) -> None:
        """A send that failed: the day may be tried again."""
        with self.db.session(write=True) as s:
            s.execute(delete(DigestRun).where(DigestRun.day == day, DigestRun.status == "sending"))

    def was_sent(self, day: date) -> bool:
        with self.db.session() as s:
            run = s.get(DigestRun, day)
            return run is not None and run.status == "sent"


def send_digest(cfg: SmtpConfig, digest: Digest, to: list[str]) -> None:
    """Blocking: one letter per recipient."""
    for n, address in enumerate(to):
        send_letter(
            cfg,
            Letter(
                0,
                n,
                address,
                digest.subject,
                digest.body,
                make_msgid(idstring=f"digest-{digest.day.isoformat()}"),
            ),
        )


def deliver_digest(
    life: AppealLife,
    store: DigestStore,
    cfg: SmtpConfig,
    to: list[str],
    *,
    now: datetime | None = None,
) -> Digest | None:
    """Blocking: build and send today's digest unless the day is taken
    (None). A failed send releases the day and re-raises."""
    now = now or life.now()
    day = now.astimezone(life.zone).date()
    if not to or not store.claim(day, now):
        return None
    sent = False
    try:
        digest = build_digest(life, now)
        send_digest(cfg, digest, to)
        sent = True
    finally:
        if not sent:
            store.release(day)
    store.sent(day, len(to))
    log.info("digest of %s sent to %s recipients", day, len(to))
    return digest


class DigestComponent:
    """The component ``digest``: the notice sender and the daily digest,
    background tasks owned here (started, cancelled and awaited)."""

    def __init__(self, services: Any, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.services = services
        settings = services.settings
        self.cfg = SmtpConfig.from_settings(settings)
        self.life = AppealLife(services.db, services.crm.appeals, node=settings.node_name)
        self.sender = NoticeSender(services.run_db, self.life.notices, self.cfg, clock=clock)
        self.store = DigestStore(services.db, settings.node_name)
        self.at = parse_digest_time(settings.digest_time)
        self.to = recipients(settings.digest_to)
        self.interval = CHECK_EVERY
        self._clock = clock
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._retry_at: datetime | None = None
        self._rolled: date | None = None

    async def start(self) -> None:
        self._stop.clear()
        lost = await self.services.run_db(self.life.notices.recover)
        if lost:
            log.warning("%s notices of this node lost in a restart (not sent again)", lost)
        problem = self.cfg.insecure()
        if problem is not None:
            log.error("customer notices and the digest disabled: %s", problem)
            return
        self._tasks = [
            asyncio.create_task(
                run_sender_loop(self.sender, self.interval, self._stop), name="appeal-notices"
            ),
            asyncio.create_task(self._digest_loop(), name="appeal-digest"),
        ]

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def due(self, now: datetime) -> bool:
        """Whether the digest's local time has come today."""
        local = now.astimezone(self.life.zone)
        return bool(self.to) and local.time() >= self.at

    async def digest_once(self) -> Digest | None:
        """Send today's digest if its time has come and nobody sent it."""
        now = self._clock()
        if not self.due(now) or (self._retry_at is not None and now < self._retry_at):
            return None
        try:
            return await self.services.run_db(
                lambda: deliver_digest(self.life, self.store, self.cfg, self.to, now=now)
            )
        except (OSError, smtplib.SMTPException) as exc:
            self._retry_at = now + RETRY_AFTER
            log.warning("digest not sent (retry in 10 min): %s", type(exc).__name__)
            return None

    async def rollup_once(self) -> bool:
        """Once a day from the digest's time, keep the closed months of the
        statistics (``supervision.stats.keep_closed_months``), so that the
        year's page reads them kept; with or without digest recipients."""
        now = self._clock()
        local = now.astimezone(self.life.zone)
        if local.time() < self.at or self._rolled == local.date():
            return False
        from supervision.stats import keep_closed_months

        zone = self.services.settings.timezone
        await self.services.run_db_background(
            lambda: keep_closed_months(self.services.db, tz=zone, now=now)
        )
        self._rolled = local.date()
        return True

    async def _digest_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.rollup_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the statistics wait; the digest still goes
                log.exception("statistics rollup failed; retrying")
            try:
                await self.digest_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad round must not end the loop; logged, retried
                log.exception("digest round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
