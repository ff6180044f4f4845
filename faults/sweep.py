"""Nothing stays open, every call becomes an appeal (issue 13, items 3 and 8).

:class:`Sweeper` runs every ``sweep_interval_seconds`` on each node:

1. **Open rows with no live channel** — a call row of this node still open
   whose channel Asterisk no longer has (``CoreShowChannels``) ended while
   nobody could see it (the service or the database was away). It is closed
   with the outcome ``ended-unobserved`` at the *last time known* of it (the
   latest of its row's times and its journal), not at the time of the sweep.
   Not only at AMI log-in (the listener's resync): periodically.
2. **Appeals of interrupted calls** — an inbound call that ended without its
   flow registering the appeal gets one afterwards, from what is known: the
   call row (caller number, account, queue, operator), its journal (the menu
   path) and the AMI events. Registered as the call's appeal (received at
   the call's start), marked reconstructed in ``reconstructed_appeals`` and
   in the appeal's note. Only calls with evidence of an interruption (a
   fallback, a lost or unobserved end, a flow that failed or never ended, a
   channel adopted after a restart, a call that began before this process
   started and ended after it), only once the call ended
   ``reconstruct_after_seconds`` ago and the spool is empty — the call's own
   appeal may still be waiting there.
3. **Recordings that could not be written** (a full disk) — a call that
   ended with a recording file that is missing or holds no audio has its
   ``recording_file`` cleared and a ``recording_missing`` journal entry; a
   0-byte file is removed.

Nothing personal is logged: counts only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import exists, func, or_, select

from crm_bridge.ami_listener import Outcome
from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService
from crm_bridge.db import Database, utcnow
from crm_bridge.models import (
    Appeal,
    AppealChannel,
    AppealKind,
    Call,
    CallDirection,
    CallEvent,
    ClassificationCode,
    Operator,
)
from faults.models import ReconstructedAppeal

__all__ = ["SweepReport", "Sweeper", "interruption"]

log = logging.getLogger(__name__)

_GRACE: Final = timedelta(seconds=10)
"""An open row younger than this is left alone (its channel may be about to show)."""
_WINDOW: Final = timedelta(days=2)
"""How far back ended calls are looked at."""
_RECORDING_WINDOW: Final = timedelta(minutes=15)
_RECORDING_SETTLE: Final = timedelta(seconds=5)
_WAV_HEADER: Final = 44
"""A WAV file of this size or less holds no audio."""
_EVIDENCE: Final = {
    "fallback": "fallback",
    "lost_during_restart": Outcome.LOST.value,
    "ended_unobserved": Outcome.UNOBSERVED.value,
    "adopted": "service-restart",
    "resumed_after_restart": "service-restart",
}
"""Journal entries (source ``ami``) that show a call was interrupted → the reason."""
RECONSTRUCTED_NOTE: Final = (
    "Обращение восстановлено по данным звонка: звонок был прерван сбоем "
    "(причина: {reason}), и обращение не было зарегистрировано во время звонка."
)


@dataclass
class SweepReport:
    closed: int = 0
    reconstructed: int = 0
    recordings_missing: int = 0
    skipped: str | None = None


def interruption(
    outcome: str | None,
    events: Sequence[tuple[str, str, Mapping[str, Any]]],
    *,
    spanned_restart: bool = False,
) -> str | None:
    """Why a call counts as interrupted (``None``: it does not), from its
    outcome and its journal ``(source, kind, detail)``; ``spanned_restart``:
    it began before this process started and ended after (the process that
    served it died with what it held in memory)."""
    if outcome in (Outcome.LOST.value, Outcome.UNOBSERVED.value):
        return outcome
    if spanned_restart:
        return "service-restart"
    for source, kind, _detail in events:
        if source == "ami" and kind in _EVIDENCE:
            return _EVIDENCE[kind]
    ivr = [(kind, detail) for source, kind, detail in events if source == "ivr"]
    if ivr:
        ends = [detail for kind, detail in ivr if kind == "end"]
        if not ends:
            return "flow-interrupted"
        if any(str(d.get("outcome")) == "failed" for d in ends):
            return "flow-failed"
    return None


class Sweeper:
    """The periodic sweep of one node (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        calls: CallService,
        appeals: AppealService,
        *,
        node: str | None,
        ami: Any = None,
        listener: Any = None,
        spool: Any = None,
        settings: Any = None,
        interval: float = 20.0,
        reconstruct_after: float = 30.0,
        run_db: Any = None,
    ) -> None:
        self.db = db
        self.calls = calls
        self.appeals = appeals
        self.node = node
        self.ami = ami
        self.listener = listener
        self.spool = spool
        self.settings = settings
        self.interval = interval
        self.reconstruct_after = timedelta(seconds=reconstruct_after)
        self._run_db = run_db
        self._task: asyncio.Task[None] | None = None
        self.process_started = utcnow()
        """When this process started: a call that began before and ended after
        it spanned a restart of the service."""
        self.sweeps = 0
        self.totals = SweepReport()

    @classmethod
    def from_runtime(cls, runtime: Any) -> Sweeper:
        services = runtime.services
        s = services.settings
        return cls(
            services.db,
            services.crm.calls,
            services.crm.appeals,
            node=s.node_name,
            ami=runtime.ami,
            listener=services.call_listener,
            spool=services.durable.spool,
            settings=s,
            interval=s.sweep_interval_seconds,
            reconstruct_after=s.reconstruct_after_seconds,
            run_db=services.run_db_background,
        )

    # -- the component ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="faults-sweep")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away: next round
                log.warning("sweep failed: %s", type(exc).__name__)

    async def _db(self, fn: Any, *args: Any) -> Any:
        if self._run_db is None:
            return await asyncio.to_thread(fn, *args)
        return await self._run_db(fn, *args)

    # -- one sweep ---------------------------------------------------------------------------

    async def sweep(self, now: datetime | None = None) -> SweepReport:
        report = SweepReport()
        at = now or utcnow()
        live = await self._live()
        if live is None:
            report.skipped = "asterisk"
        else:
            following = set()
            if self.listener is not None:
                following = {st.uniqueid for st in self.listener.active_calls()}
            report.closed = await self._db(self.close_unobserved, live | following, at)
        report.recordings_missing = await self._db(self.check_recordings, at)
        if self.spool is not None and self.spool.has_backlog():
            report.skipped = "spool"
        else:
            report.reconstructed = await self._db(self.reconstruct, at)
        self.sweeps += 1
        self.totals.closed += report.closed
        self.totals.reconstructed += report.reconstructed
        self.totals.recordings_missing += report.recordings_missing
        if report.closed or report.reconstructed or report.recordings_missing:
            log.info(
                "sweep: %d open call(s) closed, %d appeal(s) reconstructed, "
                "%d recording(s) missing",
                report.closed,
                report.reconstructed,
                report.recordings_missing,
            )
        return report

    async def _live(self) -> set[str] | None:
        """Uniqueids of Asterisk's live channels; None when Asterisk cannot say."""
        ami = self.ami
        if ami is None or not getattr(ami, "connected", False):
            return None
        try:
            resp = await ami.action({"Action": "CoreShowChannels"}, as_list=True, timeout=8.0)
        except (RuntimeError, OSError, TimeoutError) as exc:
            log.warning("sweep: CoreShowChannels failed: %s", exc)
            return None
        messages = resp if isinstance(resp, list) else [resp]
        if not any(str(m.get("Response", "")).lower() == "success" for m in messages):
            if not any(m.get("Event") == "CoreShowChannelsComplete" for m in messages):
                return None
        return {
            str(m.get("Uniqueid"))
            for m in messages
            if m.get("Event") == "CoreShowChannel" and m.get("Uniqueid")
        }

    # -- 1. open rows --------------------------------------------------------------------------

    def _mine(self) -> Any:
        return (
            or_(Call.node.is_(None), Call.node == self.node) if self.node else Call.id.is_not(None)
        )

    def close_unobserved(self, live: set[str], at: datetime) -> int:
        with self.db.session(readonly=True) as session:
            open_rows = session.execute(
                select(Call.uniqueid).where(
                    Call.ended_at.is_(None), Call.started_at <= at - _GRACE, self._mine()
                )
            ).scalars()
            gone = [uid for uid in open_rows if uid not in live]
        closed = 0
        for uid in gone:
            with self.db.session(readonly=True) as session:
                call = session.execute(select(Call).where(Call.uniqueid == uid)).scalar_one()
                last_event = session.execute(
                    select(func.max(CallEvent.ts)).where(CallEvent.call_uniqueid == uid)
                ).scalar_one()
                if call.ended_at is not None:
                    continue
                times = [
                    t
                    for t in (
                        call.started_at,
                        call.answered_at,
                        call.queue_entered_at,
                        call.queue_left_at,
                        last_event,
                    )
                    if t is not None
                ]
                queue_open = call.queue_entered_at is not None and call.queue_left_at is None
            last = max(times) if times else at
            values: dict[str, Any] = {"ended_at": last, "outcome": Outcome.UNOBSERVED.value}
            if queue_open:
                values["queue_left_at"] = last
            self.calls.record(
                uid, values, [("ended_unobserved", {"swept_at": at.isoformat()}, at)], source="ami"
            )
            closed += 1
        return closed

    # -- 2. appeals of interrupted calls ----------------------------------------------------

    def reconstruct(self, at: datetime) -> int:
        with self.db.session(readonly=True) as session:
            candidates = session.execute(
                select(Call.uniqueid).where(
                    Call.direction == CallDirection.IN,
                    Call.ended_at.is_not(None),
                    Call.ended_at <= at - self.reconstruct_after,
                    Call.ended_at >= at - _WINDOW,
                    Call.campaign_id.is_(None),
                    self._mine(),
                    ~exists().where(Appeal.call_id == Call.id),
                    ~exists().where(ReconstructedAppeal.call_uniqueid == Call.uniqueid),
                )
            ).scalars()
            uids = list(candidates)
        done = 0
        for uid in uids:
            if self._reconstruct_one(uid, at):
                done += 1
        return done

    def _reconstruct_one(self, uid: str, at: datetime) -> bool:
        with self.db.session(readonly=True) as session:
            call = session.execute(select(Call).where(Call.uniqueid == uid)).scalar_one()
            rows = session.execute(
                select(CallEvent.source, CallEvent.kind, CallEvent.detail)
                .where(CallEvent.call_uniqueid == uid)
                .order_by(CallEvent.ts, CallEvent.seq)
            ).all()
            operator = (
                session.execute(
                    select(Operator.name).where(Operator.id == call.operator_id)
                ).scalar_one_or_none()
                if call.operator_id is not None
                else None
            )
        events = [(r.source, r.kind, dict(r.detail or {})) for r in rows]
        spanned = (
            call.started_at is not None
            and call.ended_at is not None
            and call.started_at < self.process_started <= call.ended_at
        )
        reason = interruption(call.outcome, events, spanned_restart=spanned)
        if reason is None:
            return False
        path = [str(p) for p in (call.ivr_path or [])]
        steps = [str(d.get("name")) for s, k, d in events if s == "ivr" and k == "step"]
        menu = path or [s for s in steps if s and s != "None"]
        parts = [f"Звонок на горячую линию прерван сбоем ({_REASONS.get(reason, reason)})."]
        parts.append(f"Путь в голосовом меню: {' → '.join(menu) if menu else 'не известен'}.")
        if call.queue_name:
            parts.append(f"Очередь: {call.queue_name}.")
        if operator:
            parts.append(f"Оператор: {operator}.")
        received = call.started_at or call.ended_at or at
        appeal = self.appeals.register(
            channel=AppealChannel.PHONE,
            kind=AppealKind.APPEAL,
            content=" ".join(parts),
            classification=ClassificationCode.PR,
            account_id=call.account_id,
            call_uniqueid=uid,
            received_at=received,
            reply_contact=call.caller_number,
            note=RECONSTRUCTED_NOTE.format(reason=_REASONS.get(reason, reason)),
            once=True,
        )
        sources = {"menu": menu, "queue": call.queue_name, "operator_id": call.operator_id}
        with self.db.session(write=True) as session:
            if session.get(ReconstructedAppeal, appeal.id) is None:
                session.add(
                    ReconstructedAppeal(
                        appeal_id=appeal.id,
                        call_uniqueid=uid,
                        reason=reason,
                        reconstructed_at=at,
                        sources=sources,
                    )
                )
        self.calls.append_event(uid, "appeal_reconstructed", {"number": appeal.number})
        return True

    # -- 3. recordings --------------------------------------------------------------------------

    def check_recordings(self, at: datetime) -> int:
        with self.db.session(readonly=True) as session:
            rows = session.execute(
                select(Call.uniqueid, Call.recording_file).where(
                    Call.ended_at.is_not(None),
                    Call.ended_at <= at - _RECORDING_SETTLE,
                    Call.ended_at >= at - _RECORDING_WINDOW,
                    Call.recording_file.is_not(None),
                    self._mine(),
                )
            ).all()
        missing = 0
        for uid, recording in rows:
            path = self._host_path(str(recording))
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                size = -1
            except OSError:
                continue
            if size > _WAV_HEADER:
                continue
            if size >= 0:
                with contextlib.suppress(OSError):
                    path.unlink()
            self.calls.record(
                uid,
                {"recording_file": None},
                [("recording_missing", {"bytes": max(size, 0)}, at)],
                source="ami",
            )
            missing += 1
        return missing

    def _host_path(self, recording: str) -> Path:
        path = Path(recording)
        if path.exists() or self.settings is None:
            return path
        try:
            host = Path(self.settings.host_path(recording))
        except (AssertionError, ValueError):
            return path
        return host if host.exists() else path


_REASONS: Final = {
    "fallback": "сценарий не смог обслужить звонок",
    Outcome.LOST.value: "звонок завершился, пока Asterisk перезапускался",
    Outcome.UNOBSERVED.value: "завершение звонка не было зафиксировано",
    "service-restart": "служба перезапускалась во время звонка",
    "flow-interrupted": "сценарий прервался",
    "flow-failed": "сбой сценария",
}
