"""Health that tells the truth (issue 13, item 7): the parts a call needs,
measured — the database (reachable, and how fast, within a time limit: a
frozen database is as down as a stopped one), free space on the data and
recordings disks (reported *before* they are full), Asterisk (AMI
connected), the call flows that failed in the last minutes (FastAGI).

``/health`` (JSON, 503 when degraded) and ``/metrics`` (the Prometheus text
format) read a fresh check; :class:`HealthMonitor` checks every
``health_interval_seconds`` in the background, keeps the latest report for
the warning the supervisor's and dispatcher's pages show, and e-mails
``health_alert_to`` once when the node becomes degraded (with what is
wrong) and once when it recovers. Nothing here says anything personal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any, Final

from sqlalchemy import text

log = logging.getLogger(__name__)

__all__ = ["DiskState", "HealthMonitor", "HealthReport", "metrics_text"]

DB_TIMEOUT: Final = 2.0
"""Seconds a database check may take before the database counts as down."""
FAILURE_WINDOW: Final = 300.0
"""Flow failures are counted over the last five minutes."""


@dataclass(frozen=True)
class DiskState:
    name: str
    """``data`` or ``recordings``."""
    path: str
    free_bytes: int
    total_bytes: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass
class HealthReport:
    node: str
    checked_at: datetime
    database_ok: bool = False
    database_ms: float | None = None
    database_error: str | None = None
    disks: list[DiskState] = field(default_factory=list)
    ami: bool | None = None
    """None: this process has no AMI (a web-only node)."""
    fastagi_active: int | None = None
    fastagi_failures: int | None = None
    recent_failures: int | None = None
    spool: dict[str, Any] | None = None
    """The durable spool's backlog (issue 13): records waiting for the database."""
    problems: list[str] = field(default_factory=list)
    """What is wrong, in Russian, for people."""

    @property
    def status(self) -> str:
        return "degraded" if self.problems else "ok"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "node": self.node,
            "checked_at": self.checked_at.isoformat(timespec="seconds"),
            "database": "ok" if self.database_ok else f"error: {self.database_error}",
            "database_ms": self.database_ms,
            "disks": {
                d.name: {
                    "path": d.path,
                    "free_mb": d.free_bytes // (1024 * 1024),
                    "free_percent": round(d.free_percent, 1),
                }
                for d in self.disks
            },
            "problems": self.problems,
        }
        if self.ami is not None:
            out["ami"] = "connected" if self.ami else "disconnected"
        if self.spool is not None:
            out["spool"] = self.spool
        if self.fastagi_active is not None:
            out["fastagi"] = {
                "active": self.fastagi_active,
                "failures": self.fastagi_failures,
                "failures_last_5_min": self.recent_failures,
            }
        return out


class HealthMonitor:
    """Checks the node's parts; keeps the latest report; alerts by e-mail."""

    def __init__(
        self,
        services: Any,
        runtime: Any = None,
        *,
        send: Callable[[str, str], None] | None = None,
    ) -> None:
        self.services = services
        self.runtime = runtime
        self.settings = services.settings
        self.latest: HealthReport | None = None
        self._failures: deque[tuple[float, int]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._alerted = False
        self._send = send if send is not None else self._send_mail
        self.alerts: list[str] = []
        """Subjects of the alerts sent (tests, the log)."""

    # -- one check ---------------------------------------------------------------------

    async def check(self) -> HealthReport:
        s = self.settings
        report = HealthReport(node=s.node_name, checked_at=datetime.now(UTC))
        await self._check_database(report)
        self._check_disks(report)
        await self._check_spool(report)
        runtime = self.runtime
        if runtime is not None and getattr(runtime, "ami", None) is not None:
            report.ami = bool(runtime.ami.connected)
            if not report.ami:
                report.problems.append("нет связи с Asterisk (AMI): звонки не обслуживаются")
        fastagi = getattr(runtime, "fastagi", None) if runtime is not None else None
        if fastagi is not None:
            stats = fastagi.stats
            report.fastagi_active = stats.active
            report.fastagi_failures = stats.failures
            report.recent_failures = self._recent(stats.failures)
            if report.recent_failures >= s.health_failures_max:
                report.problems.append(
                    f"сбоев сценариев звонков за 5 минут: {report.recent_failures} "
                    f"(допустимо до {s.health_failures_max - 1})"
                )
        self.latest = report
        return report

    async def _check_database(self, report: HealthReport) -> None:
        db = self.services.db

        def ping() -> float:
            started = time.perf_counter()
            with db.engine.connect() as c:
                c.execute(text("select 1"))
            return (time.perf_counter() - started) * 1000.0

        try:
            # A thread of its own: a frozen database must not take the
            # calls' database threads, nor this check longer than the limit.
            ms = await asyncio.wait_for(asyncio.to_thread(ping), DB_TIMEOUT)
        except TimeoutError:
            report.database_error = f"не ответила за {DB_TIMEOUT:.0f} с"
        except Exception as exc:  # reported, not raised: this is the health check
            text_ = str(exc).lower()
            if "timeout" in text_ or "timed out" in text_:
                # The connection's own time limit (db_connect_timeout_seconds)
                # ran out first: the same answer as ours.
                report.database_error = f"не ответила за {DB_TIMEOUT:.0f} с"
            else:
                report.database_error = type(exc).__name__
        else:
            report.database_ok = True
            report.database_ms = round(ms, 1)
            if ms > self.settings.health_database_max_ms:
                report.problems.append(
                    f"база данных отвечает медленно: {ms:.0f} мс "
                    f"(порог {self.settings.health_database_max_ms} мс)"
                )
            return
        report.problems.append(f"база данных недоступна: {report.database_error}")

    async def _check_spool(self, report: HealthReport) -> None:
        durable = getattr(self.services, "durable", None)
        if durable is None or durable.spool is None:
            return
        spool = durable.spool
        stats = await asyncio.to_thread(spool.stats)
        report.spool = {
            "records": stats.records,
            "bytes": stats.bytes,
            "files": stats.files,
            "oldest_seconds": round(stats.oldest_age_seconds, 1)
            if stats.oldest_age_seconds is not None
            else None,
            "reserve_mb": stats.reserve_bytes // (1024 * 1024),
            "refused": spool.refused,
            "rejected": durable.rejected,
        }
        if stats.records:
            report.problems.append(
                f"записи звонков ждут базу данных в журнале узла: {stats.records}"
            )
        if spool.refused:
            report.problems.append(
                f"журнал узла не смог сохранить записей звонков: {spool.refused}"
            )
        if durable.rejected:
            report.problems.append(
                f"записей журнала узла база данных не приняла: {durable.rejected} "
                "(отложены в rejected.jsonl)"
            )
        if spool.is_open and spool.reserve_bytes and stats.reserve_bytes < spool.reserve_bytes:
            report.problems.append(
                "диск был заполнен: резерв журнала узла израсходован "
                f"(осталось {stats.reserve_bytes // (1024 * 1024)} МБ)"
            )

    def _check_disks(self, report: HealthReport) -> None:
        s = self.settings
        seen: set[int] = set()
        disks = [("data", s.data), ("recordings", s.spool_dir), ("spool", s.write_spool)]
        for name, path in disks:
            probe = Path(path)
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            try:
                usage = shutil.disk_usage(probe)
                device = probe.stat().st_dev
            except OSError as exc:
                report.problems.append(f"диск «{name}» не читается: {type(exc).__name__}")
                continue
            disk = DiskState(name, str(path), usage.free, usage.total)
            report.disks.append(disk)
            if device in seen:
                continue  # the same file system: one warning is enough
            seen.add(device)
            low_mb = disk.free_bytes < s.health_disk_min_mb * 1024 * 1024
            low_pct = disk.free_percent < s.health_disk_min_percent
            if low_mb or low_pct:
                report.problems.append(
                    f"мало места на диске «{name}» ({path}): свободно "
                    f"{disk.free_bytes // (1024 * 1024)} МБ, {disk.free_percent:.1f} %"
                )

    def _recent(self, total: int) -> int:
        """Failures within :data:`FAILURE_WINDOW` (from the counter's history)."""
        now = time.monotonic()
        self._failures.append((now, total))
        while len(self._failures) > 1 and now - self._failures[1][0] >= FAILURE_WINDOW:
            self._failures.popleft()
        return total - self._failures[0][1] if len(self._failures) > 1 else 0

    # -- in the background -----------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                report = await self.check()
                await self._alert(report)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("health check failed")
            await asyncio.sleep(self.settings.health_interval_seconds)

    async def _alert(self, report: HealthReport) -> None:
        degraded = bool(report.problems)
        if degraded == self._alerted:
            return
        self._alerted = degraded
        node = report.node
        if degraded:
            log.warning("node %s degraded: %s", node, "; ".join(report.problems))
            subject = f"Горячая линия, узел {node}: работа с нарушениями"
            body = (
                f"Проверка {report.checked_at:%d.%m.%Y %H:%M:%S} UTC обнаружила:\n"
                + "\n".join(f"- {p}" for p in report.problems)
                + "\n\nСостояние узла: /health, показатели: /metrics."
            )
        else:
            log.info("node %s healthy again", node)
            subject = f"Горячая линия, узел {node}: работа восстановлена"
            body = f"Проверка {report.checked_at:%d.%m.%Y %H:%M:%S} UTC: нарушений нет."
        self.alerts.append(subject)
        if not self.settings.health_alert_to:
            return
        try:
            await asyncio.to_thread(self._send, subject, body)
        except Exception as exc:  # the alert is best effort; the log has it
            log.warning("health alert not sent: %s", exc)

    def _send_mail(self, subject: str, body: str) -> None:
        import smtplib

        from autoinformer.email import SmtpConfig

        cfg = SmtpConfig.from_settings(self.settings)
        # The legacy API: email.message.EmailMessage folds a long Cyrillic
        # subject into encoded words and drops the space between them.
        msg = MIMEText(body, "plain", "utf-8")
        msg["From"] = cfg.sender
        msg["To"] = self.settings.health_alert_to
        msg["Subject"] = Header(subject, "utf-8")  # type: ignore[assignment]
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls()
            if cfg.user:
                smtp.login(cfg.user, cfg.password)
            smtp.send_message(msg)


def metrics_text(report: HealthReport) -> str:
    """The report in the Prometheus text exposition format (0.0.4)."""
    node = report.node.replace("\\", "\\\\").replace('"', '\\"')
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(f"{name}{{{labels}}} {value:g}")

    base = f'node="{node}"'
    metric("hotline_up", "gauge", "1 when nothing is wrong", [(base, 0 if report.problems else 1)])
    metric("hotline_database_up", "gauge", "the database answered", [(base, report.database_ok)])
    if report.database_ms is not None:
        metric(
            "hotline_database_latency_seconds",
            "gauge",
            "time of a trivial query",
            [(base, report.database_ms / 1000.0)],
        )
    metric(
        "hotline_disk_free_bytes",
        "gauge",
        "free space of the data and recordings directories",
        [(f'{base},disk="{d.name}"', d.free_bytes) for d in report.disks],
    )
    if report.ami is not None:
        metric("hotline_ami_up", "gauge", "AMI connected to Asterisk", [(base, report.ami)])
    if report.fastagi_failures is not None:
        metric(
            "hotline_fastagi_active_calls",
            "gauge",
            "calls in a flow now",
            [(base, report.fastagi_active or 0)],
        )
        metric(
            "hotline_fastagi_failures_total",
            "counter",
            "flows that failed (the caller went to the fallback)",
            [(base, report.fastagi_failures)],
        )
        metric(
            "hotline_fastagi_failures_recent",
            "gauge",
            "flows that failed in the last 5 minutes",
            [(base, report.recent_failures or 0)],
        )
    if report.spool is not None:
        metric(
            "hotline_spool_records",
            "gauge",
            "call writes waiting in the node's spool for the database",
            [(base, report.spool["records"])],
        )
        metric(
            "hotline_spool_refused_total",
            "counter",
            "call writes neither the database nor the spool could take",
            [(base, report.spool["refused"])],
        )
    metric("hotline_problems", "gauge", "problems found", [(base, len(report.problems))])
    return "\n".join(lines) + "\n"
