"""Writes that survive (issue 13, item 1): what a call produces — its call
row, its journal, its appeal — and the AMI listener's updates are never
dropped because the database is away.

:class:`DurableWrites` tries the database within a time limit
(``call_db_wait_seconds``: a frozen database looks like a stopped one); when
it is unreachable, too slow, or records already wait in the spool, the write
goes to the node's durable spool (:class:`core.spool.Spool`) instead, and
:meth:`DurableWrites.replay` applies it, in order, once the database is
back. While anything waits, new writes join the end of the spool: a later
write never overtakes an earlier one.

Every operation is idempotent, keyed by the call's ``Uniqueid``:

* ``call.record`` — the row's fields (an upsert) and the listener's journal
  entries, which are skipped when an entry of the same kind and time is
  already stored (a write that timed out may still land later);
* ``call.events`` — the IVR journal, numbered by its own ``seq``;
* ``appeal.register`` — the appeal of a call registered once: an appeal of
  the same call received at the same time is the same appeal
  (``AppealService.register(once=True)``; the call's row is created first
  when nothing wrote it yet, so the appeal is linked and found again); with ``callback`` (the
  answering machine's, REQ-T6) its callback task is created with it, once
  per appeal (issue 13, the gaps);
* operations other slices register (:meth:`DurableWrites.register_op`),
  e.g. the dialer's ``attempt.finalise`` keyed by the attempt's ChannelId
  (:meth:`autoinformer.store.AttemptStore.finalise` records a result once).

A record the database refuses for a reason other than availability (a
constraint, a bad value) would block the spool for ever: it is set aside in
``rejected.jsonl`` beside the spool, logged, and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.spool import Spool, SpoolError
from crm_bridge.appeals import AppealService, AppealView
from crm_bridge.calls import CallService, JournalEntryLike
from crm_bridge.models import Callback, CallbackStatus

__all__ = ["DatabaseUnavailable", "DurableWrites", "is_unavailable"]

_BUILTIN_OPS: Final = frozenset({"call.record", "call.events", "appeal.register"})

log = logging.getLogger(__name__)
T = TypeVar("T")

RunDb = Callable[..., Awaitable[Any]]

_UNAVAILABLE: Final = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
    TimeoutError,
    ConnectionError,
)


class DatabaseUnavailable(TimeoutError):
    """The database did not answer within the call's time limit."""


def is_unavailable(exc: BaseException) -> bool:
    """The database is away (down, frozen, unreachable) — not a refused write."""
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, _UNAVAILABLE):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


# -- JSON with times --------------------------------------------------------------------


def _pack(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): _pack(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_pack(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, (str, int)):  # enums
        return value.value
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$dt"}:
            return datetime.fromisoformat(value["$dt"])
        return {k: _unpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    return value


class _Entry:
    """A journal entry rebuilt from the spool (``JournalEntryLike``)."""

    __slots__ = ("detail", "kind", "seq", "ts")

    def __init__(self, seq: int, ts: float, kind: str, detail: Mapping[str, Any]) -> None:
        self.seq, self.ts, self.kind, self.detail = seq, ts, kind, detail


class DurableWrites:
    """The call path's writes, to the database or to the spool (module docstring)."""

    def __init__(
        self,
        calls: CallService,
        appeals: AppealService,
        spool: Spool | None,
        run_db: RunDb,
        *,
        limit: float = 2.0,
    ) -> None:
        self.calls = calls
        self.appeals = appeals
        self.spool = spool
        self._run_db = run_db
        self.limit = limit
        self.spooled = 0
        """Records this process spooled (tests, /metrics)."""
        self.replayed = 0
        self.rejected = 0
        self.last_error: str | None = None
        self._stragglers: set[asyncio.Future[Any]] = set()
        self._ops: dict[str, Callable[[Mapping[str, Any]], Any]] = {}
        self._watchers: dict[str, list[Callable[[Mapping[str, Any], Any], None]]] = {}

    def register_op(self, op: str, apply: Callable[[Mapping[str, Any]], Any]) -> None:
        """Another slice's durable operation: ``apply(args)`` runs in a
        database thread and must be idempotent (a replay repeats it)."""
        if op in self._ops or op in _BUILTIN_OPS:
            raise ValueError(f"spool operation {op!r} is already registered")
        self._ops[op] = apply

    def watch(
        self, op: str, callback: Callable[[Mapping[str, Any], Any], None]
    ) -> Callable[[], None]:
        """``callback(args, result)`` after each spooled ``op`` the replay
        applied, in the replay's database thread (hand over to your own loop
        there); a record applied again gets the op's answer to a repeat (the
        dialer's: None). Returns the function that stops watching."""
        self._watchers.setdefault(op, []).append(callback)

        def unwatch() -> None:
            with contextlib.suppress(ValueError):
                self._watchers[op].remove(callback)

        return unwatch

    def _straggler_done(self, attempt: asyncio.Future[Any]) -> None:
        self._stragglers.discard(attempt)
        if not attempt.cancelled():
            attempt.exception()  # retrieved: its record is in the spool

    @property
    def replay_ready(self) -> bool:
        """No write that timed out is still running (the replay may start)."""
        return not self._stragglers

    # -- the writes -------------------------------------------------------------------------

    async def record_call(
        self,
        uniqueid: str,
        values: Mapping[str, Any],
        events: Iterable[tuple[str, Mapping[str, Any], datetime]] = (),
        *,
        source: str = "ami",
        outcome_unless_set: tuple[str, frozenset[str]] | None = None,
        operator_interface: str | None = None,
    ) -> None:
        """:meth:`CallService.record`, durably."""
        args = {
            "uniqueid": uniqueid,
            "values": dict(values),
            "events": [list(e) for e in events],
            "source": source,
            "outcome_unless_set": [outcome_unless_set[0], sorted(outcome_unless_set[1])]
            if outcome_unless_set
            else None,
            "operator_interface": operator_interface,
        }
        await self._write("call.record", uniqueid, args)

    async def append_events(
        self,
        uniqueid: str,
        entries: Iterable[JournalEntryLike],
        *,
        source: str = "ivr",
        spool_now: bool = False,
    ) -> None:
        """:meth:`CallService.append_events` (the IVR journal), durably;
        ``spool_now``: the database is known to be away (the call's own wait
        just ran out) — straight to the spool, nobody waits the limit again."""
        rows = [
            {"seq": int(e.seq), "ts": float(e.ts), "kind": str(e.kind), "detail": dict(e.detail)}
            for e in entries
        ]
        if rows:
            await self._write(
                "call.events",
                uniqueid,
                {"uniqueid": uniqueid, "entries": rows, "source": source},
                spool_now=spool_now,
            )

    async def register_appeal(
        self, *, callback: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> AppealView | None:
        """:meth:`AppealService.register` of a call's appeal, durably: the
        view when the database registered it now, None when it was spooled
        (its number is given when the spool is replayed). ``call_uniqueid``
        and ``received_at`` are required: they are the appeal's identity.

        ``callback``: a callback task to create with the appeal while it is
        open (``phone``, ``due_at``, ``window_start``, ``note``; its window
        ends at ``window_end``, else at the appeal's deadline) — in the same operation, so a spooled
        appeal gets its callback on replay, once."""
        if not kwargs.get("call_uniqueid") or kwargs.get("received_at") is None:
            raise ValueError("a durable appeal needs its call_uniqueid and received_at")
        if callback is not None:
            kwargs["callback"] = dict(callback)
        result = await self._write("appeal.register", str(kwargs["call_uniqueid"]), kwargs)
        return result if isinstance(result, AppealView) else None

    async def write(self, op: str, key: str, args: Mapping[str, Any]) -> Any:
        """A registered operation (:meth:`register_op`), durably: its result
        when the database took it now, None when it was spooled."""
        if op not in self._ops:
            raise ValueError(f"unknown spool operation {op!r}")
        return await self._write(op, key, dict(args))

    async def _write(
        self, op: str, key: str, args: dict[str, Any], *, spool_now: bool = False
    ) -> Any:
        spool = self.spool
        if spool is None or not (spool_now or spool.has_backlog()):
            attempt = asyncio.ensure_future(self._run_db(self._apply_op, op, args))
            try:
                return await asyncio.wait_for(asyncio.shield(attempt), timeout=self.limit)
            except Exception as exc:
                if spool is None or not is_unavailable(exc):
                    raise
                if not attempt.done():
                    # Still running in its thread (a frozen database): it may
                    # land later, so the replay waits for it — a replayed later
                    # write must never be overwritten by this older one.
                    self._stragglers.add(attempt)
                    attempt.add_done_callback(self._straggler_done)
                self.last_error = type(exc).__name__
                log.warning("database unavailable (%s): %s spooled", self.last_error, op)
        record = {"op": op, "key": key, "at": time.time(), "args": _pack(args)}
        try:
            await asyncio.to_thread(spool.append, record)
        except SpoolError:
            log.error("%s of a call LOST: neither the database nor the spool took it", op)
            raise
        self.spooled += 1
        return None

    # -- applying (a database thread) -----------------------------------------------------

    def _apply_op(self, op: str, args: Mapping[str, Any]) -> Any:
        if op == "call.record":
            ous = args.get("outcome_unless_set")
            self.calls.record(
                args["uniqueid"],
                args["values"],
                [(k, d, ts) for k, d, ts in args.get("events") or ()],
                source=args.get("source", "ami"),
                outcome_unless_set=(ous[0], frozenset(ous[1])) if ous else None,
                operator_interface=args.get("operator_interface"),
                dedupe_events=True,
            )
            return None
        if op == "call.events":
            entries = [_Entry(e["seq"], e["ts"], e["kind"], e["detail"]) for e in args["entries"]]
            self.calls.append_events(args["uniqueid"], entries, source=args.get("source", "ivr"))
            return None
        if op == "appeal.register":
            fields = dict(args)
            callback = fields.pop("callback", None)
            uniqueid = str(fields["call_uniqueid"])
            if self.calls.get(uniqueid) is None:
                # The call's row first (the listener's may come later): the
                # appeal is linked to it, so a repeated replay finds it (once).
                self.calls.record(uniqueid, {}, source="ivr")
            view = self.appeals.register(**fields, once=True)
            if callback:
                self._ensure_callback(view, callback)
            return view
        apply = self._ops.get(op)
        if apply is None:
            raise ValueError(f"unknown spool operation {op!r}")
        return apply(args)

    def _ensure_callback(self, view: AppealView, spec: Mapping[str, Any]) -> int | None:
        """The appeal's callback task, created once (a replay finds it)."""
        if not view.is_open or not spec.get("phone"):
            return None
        db = self.appeals.db
        with db.session(write=True) as s:
            existing = s.scalars(
                select(Callback.id).where(Callback.appeal_id == view.id).limit(1)
            ).first()
            if existing is not None:
                return int(existing)
            start = spec["due_at"]
            task = Callback(
                phone=str(spec["phone"]),
                due_at=start,
                window_start=spec.get("window_start") or start,
                window_end=spec.get("window_end") or view.effective_due_at or start,
                appeal_id=view.id,
                account_id=view.account_id,
                status=CallbackStatus.PENDING,
                note=spec.get("note"),
            )
            s.add(task)
            s.flush()
            return int(task.id)

    def apply(self, record: Mapping[str, Any]) -> None:
        """Apply one spooled record (idempotent). An unavailable database
        raises (the replay stops and retries later); a refused record is set
        aside (see the module docstring)."""
        op, args = str(record["op"]), _unpack(record["args"])
        try:
            result = self._apply_op(op, args)
        except Exception as exc:
            if is_unavailable(exc):
                raise
            self.rejected += 1
            log.error("spooled %s refused by the database (%s): set aside", record.get("op"), exc)
            self._set_aside(record, exc)
            return
        self.replayed += 1
        for watcher in list(self._watchers.get(op, ())):
            try:
                watcher(args, result)
            except Exception:  # a watcher never stops the replay
                log.exception("a watcher of spooled %s failed", op)

    def _set_aside(self, record: Mapping[str, Any], exc: Exception) -> None:
        if self.spool is None:
            return
        path = Path(self.spool.directory) / "rejected.jsonl"
        line = json.dumps(
            {"record": record, "error": f"{type(exc).__name__}: {exc}"[:500]},
            ensure_ascii=False,
            default=str,
        )
        with path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def replay(self) -> int:
        """Apply everything waiting in the spool, in order (a database thread)."""
        if self.spool is None:
            return 0
        return self.spool.replay(self.apply)
