"""Call records and the structured call journal (REQ-A1, REQ-T7, REQ-A10).

Written from two sides that do not wait for each other: the IVR's journal
(``telephony.journal``: what the caller heard and did) and the AMI listener (queue
entry, operator connect, hangup). Both key on the channel's full Asterisk
``Uniqueid`` (``1700000000.123``), never on a part of it.

* :meth:`CallService.upsert` creates the call row or updates only the fields
  given — atomically (``INSERT … ON CONFLICT DO NOTHING`` then a row-locked
  update), so two writers racing on a new call never create two rows.
* :meth:`CallService.append_events` stores journal entries idempotently
  (unique ``(call_uniqueid, seq)``; a resent entry is ignored), before or
  after the call row exists.

Derived on every upsert: ``wait_seconds`` (queue left − queue entered) and
``answered_within_sla`` (connected to an operator within 40 s, REQ-T7).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_bridge.db import Database, utcnow
from crm_bridge.models import Call, CallDirection, CallEvent, Operator
from crm_bridge.phones import try_normalize_phone

__all__ = ["SLA_SECONDS", "CallEventView", "CallService", "CallView", "JournalEntryLike"]

logger = logging.getLogger(__name__)

_APPEND_ATTEMPTS: Final = 5
SLA_SECONDS: Final = 40.0
"""Connection to an operator within 40 s (REQ-T7)."""

_UPDATABLE: Final = frozenset(
    {
        "linkedid",
        "direction",
        "caller_number",
        "called_number",
        "started_at",
        "answered_at",
        "ended_at",
        "ivr_path",
        "queue_name",
        "queue_entered_at",
        "queue_left_at",
        "wait_seconds",
        "operator_id",
        "recording_file",
        "hangup_cause",
        "outcome",
        "answered_within_sla",
        "account_id",
        "campaign_id",
        "node",
    }
)


class JournalEntryLike(Protocol):
    """What :class:`telephony.journal.JournalEntry` provides (duck-typed: no import)."""

    @property
    def seq(self) -> int: ...
    @property
    def ts(self) -> float: ...
    @property
    def kind(self) -> str: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class CallView:
    id: int
    uniqueid: str
    linkedid: str | None
    direction: CallDirection
    caller_number: str | None
    called_number: str | None
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    ivr_path: tuple[Any, ...]
    queue_name: str | None
    queue_entered_at: datetime | None
    queue_left_at: datetime | None
    wait_seconds: float | None
    operator_id: int | None
    recording_file: str | None
    hangup_cause: str | None
    outcome: str | None
    answered_within_sla: bool | None
    account_id: int | None
    campaign_id: int | None
    node: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CallView:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["ivr_path"] = tuple(row["ivr_path"] or ())
        return cls(**values)

    @classmethod
    def from_model(cls, call: Call) -> CallView:
        values = {f.name: getattr(call, f.name) for f in fields(cls)}
        values["ivr_path"] = tuple(call.ivr_path or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class CallEventView:
    call_uniqueid: str
    source: str
    seq: int
    ts: datetime
    kind: str
    detail: dict[str, Any]


def _as_datetime(ts: float | datetime) -> datetime:
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise ValueError("naive datetime in the call journal")
        return ts
    return datetime.fromtimestamp(ts, UTC)


class CallService:
    """Call rows by Asterisk ``Uniqueid`` and their journal."""

    def __init__(self, db: Database, *, sla_seconds: float = SLA_SECONDS) -> None:
        self.db = db
        self.sla_seconds = sla_seconds
        self._stmts = _RecordStatements(self._insert())

    def _insert(self) -> Any:
        return pg_insert if self.db.dialect == "postgresql" else sqlite_insert

    def upsert(
        self, uniqueid: str, *, operator_interface: str | None = None, **values: Any
    ) -> CallView:
        """Create or update the call ``uniqueid`` with the given fields only.

        ``values`` are :class:`~crm_bridge.models.Call` columns (``linkedid``,
        ``direction``, ``caller_number``, ``started_at``, ``queue_entered_at``,
        ``operator_id``, ``hangup_cause``, ``outcome``, ``ivr_path`` …); a
        ``None`` value clears a field. ``operator_interface`` (``PJSIP/op101``,
        from AMI ``AgentConnect``) is resolved to ``operator_id``. The caller
        number is stored in E.164 when it is a valid phone number.
        """
        return self.record(uniqueid, values, operator_interface=operator_interface)

    def record(
        self,
        uniqueid: str,
        values: Mapping[str, Any],
        events: Iterable[tuple[str, Mapping[str, Any], datetime]] = (),
        *,
        source: str = "ami",
        outcome_unless_set: tuple[str, frozenset[str]] | None = None,
        operator_interface: str | None = None,
    ) -> CallView:
        """:meth:`upsert` ``values`` and append ``events`` (kind, detail, time;
        numbered after the last of ``source``) in one transaction: the AMI
        listener's writes of one call, coalesced.

        ``outcome_unless_set`` = (outcome, writer's own outcomes): store that
        outcome unless ``values`` name one or the row already holds an outcome
        another writer set (one not in the given set)."""
        uniqueid = uniqueid.strip()
        if not uniqueid:
            raise ValueError("empty Uniqueid")
        values = dict(values)
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise TypeError(f"unknown call fields: {sorted(unknown)}")
        if values.get("caller_number"):
            raw = str(values["caller_number"])
            values["caller_number"] = try_normalize_phone(raw) or raw
        if "direction" in values and values["direction"] is not None:
            values["direction"] = CallDirection(values["direction"])
        if "ivr_path" in values:
            values["ivr_path"] = list(values["ivr_path"] or [])
        entries = list(events)
        # Core, not the ORM's unit of work: the listener writes every call
        # several times, and this is the service's hottest write.
        q = self._stmts
        with self.db.transaction(write=True) as conn:
            conn.execute(
                q.create,
                {
                    "uniqueid": uniqueid,
                    "direction": values.get("direction") or CallDirection.IN,
                    "ivr_path": [],
                    "started_at": values.get("started_at") or utcnow(),
                },
            )
            current = dict(conn.execute(q.row, {"b_uniqueid": uniqueid}).one()._mapping)
            if operator_interface:
                operator_id = conn.execute(
                    select(Operator.id).where(Operator.interface == operator_interface)
                ).scalar_one_or_none()
                if operator_id is not None:
                    values.setdefault("operator_id", operator_id)
            if outcome_unless_set is not None and "outcome" not in values:
                outcome, own = outcome_unless_set
                if not current["outcome"] or current["outcome"] in own:
                    values["outcome"] = outcome
            row = current | values
            values |= self._derived(row, explicit_sla="answered_within_sla" in values)
            row |= values
            if values:
                conn.execute(q.change, {"b_uniqueid": uniqueid, **values})
            if entries:
                _lock_call_journal(conn, uniqueid, source)
                last = conn.execute(
                    q.last_seq, {"b_uniqueid": uniqueid, "b_source": source}
                ).scalar_one()
                seq = int(last or 0)
                rows = []
                for kind, detail, ts in entries:
                    seq += 1
                    rows.append(
                        {
                            "call_uniqueid": uniqueid,
                            "source": source,
                            "seq": seq,
                            "ts": ts,
                            "kind": kind,
                            "detail": dict(detail),
                        }
                    )
                conn.execute(q.add_events, rows)
        return CallView.from_row(row)

    def _derived(self, row: Mapping[str, Any], *, explicit_sla: bool) -> dict[str, Any]:
        """``wait_seconds`` and ``answered_within_sla`` of a call row (REQ-T7)."""
        out: dict[str, Any] = {}
        wait = row["wait_seconds"]
        if row["queue_entered_at"] and row["queue_left_at"]:
            wait = out["wait_seconds"] = max(
                0.0, (row["queue_left_at"] - row["queue_entered_at"]).total_seconds()
            )
        if explicit_sla or wait is None:
            return out
        if row["operator_id"] is not None:
            out["answered_within_sla"] = wait <= self.sla_seconds
        elif row["ended_at"] is not None and row["queue_left_at"] is not None:
            # Abandoned in the queue: a miss once the caller waited past the
            # target; shorter abandons are not counted either way.
            out["answered_within_sla"] = False if wait > self.sla_seconds else None
        return out

    def get(self, uniqueid: str) -> CallView | None:
        with self.db.session() as session:
            call = session.execute(
                select(Call).where(Call.uniqueid == uniqueid)
            ).scalar_one_or_none()
            return CallView.from_model(call) if call else None

    def by_linkedid(self, linkedid: str) -> list[CallView]:
        """Every channel of one call (the caller's leg, the operator's leg…)."""
        with self.db.session() as session:
            calls = session.execute(
                select(Call).where(Call.linkedid == linkedid).order_by(Call.id)
            ).scalars()
            return [CallView.from_model(c) for c in calls]

    # -- the call journal -----------------------------------------------------

    def append_events(
        self, uniqueid: str, entries: Iterable[JournalEntryLike], *, source: str = "ivr"
    ) -> int:
        """Store journal entries with their own ``seq`` (idempotent: an entry
        already stored is skipped); returns how many were new."""
        rows = [
            {
                "call_uniqueid": uniqueid,
                "source": source,
                "seq": int(e.seq),
                "ts": _as_datetime(e.ts),
                "kind": str(e.kind),
                "detail": dict(e.detail),
            }
            for e in entries
        ]
        if not rows:
            return 0
        q = self._stmts
        with self.db.transaction(write=True) as conn:
            existing = set(
                conn.execute(
                    q.stored_seqs,
                    {
                        "b_uniqueid": uniqueid,
                        "b_source": source,
                        "b_seqs": [r["seq"] for r in rows],
                    },
                ).scalars()
            )
            new = [r for r in rows if r["seq"] not in existing]
            if new:
                conn.execute(q.add_new_events, new)
        return len(new)

    def mark_outbound(
        self, uniqueid: str, campaign_id: int, node: str | None = None, *, create: bool = True
    ) -> bool:
        """The call ``uniqueid`` is a campaign's outbound call (the dialer
        says so once Asterisk has the channel): direction ``out``, its
        campaign, its node; created if the listener has not written it yet
        (unless ``create`` is False). False when there was no row to mark."""
        with self.db.session(write=True) as session:
            values: dict[str, Any] = {"direction": CallDirection.OUT, "campaign_id": campaign_id}
            if node:
                values["node"] = node
            result = session.execute(update(Call).where(Call.uniqueid == uniqueid).values(**values))
            if int(getattr(result, "rowcount", 0) or 0):
                return True
        if not create:
            return False
        self.upsert(uniqueid, started_at=utcnow(), **values)
        return True

    def append_event(
        self,
        uniqueid: str,
        kind: str,
        detail: Mapping[str, Any] | None = None,
        *,
        source: str = "ami",
        ts: datetime | None = None,
    ) -> int:
        """Append one event numbered after the last one of ``source`` (for
        writers without their own numbering, e.g. the AMI listener); returns
        its ``seq``. Concurrent appends are serialised by the unique key."""
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                with self.db.session(write=True) as session:
                    _lock_call_journal(session, uniqueid, source)
                    last = session.execute(
                        select(func.max(CallEvent.seq)).where(
                            CallEvent.call_uniqueid == uniqueid, CallEvent.source == source
                        )
                    ).scalar_one()
                    seq = int(last or 0) + 1
                    session.add(
                        CallEvent(
                            call_uniqueid=uniqueid,
                            source=source,
                            seq=seq,
                            ts=ts or utcnow(),
                            kind=kind,
                            detail=dict(detail or {}),
                        )
                    )
                return seq
            except IntegrityError:
                logger.debug("call event seq collision, retry %s", attempt + 1)
        raise RuntimeError(f"could not append a call event after {_APPEND_ATTEMPTS} attempts")

    def events(self, uniqueid: str, *, source: str | None = None) -> list[CallEventView]:
        """The journal of a call, by ``ts`` then ``seq`` (all sources unless given)."""
        stmt = select(CallEvent).where(CallEvent.call_uniqueid == uniqueid)
        if source is not None:
            stmt = stmt.where(CallEvent.source == source)
        with self.db.session() as session:
            rows = session.execute(stmt.order_by(CallEvent.ts, CallEvent.seq)).scalars()
            return [
                CallEventView(e.call_uniqueid, e.source, e.seq, e.ts, e.kind, dict(e.detail or {}))
                for e in rows
            ]


class _RecordStatements:
    """:meth:`CallService.record`'s and ``append_events``' statements, built once with bound
    parameters (building a statement per call costs more than running it)."""

    def __init__(self, insert_fn: Any) -> None:
        table = Call.__table__
        self.create = insert_fn(table).on_conflict_do_nothing(index_elements=["uniqueid"])
        self.row = (
            select(table).where(table.c.uniqueid == bindparam("b_uniqueid")).with_for_update()
        )
        # No SET clause: the columns set are the parameters given (besides b_*).
        self.change = update(Call).where(Call.uniqueid == bindparam("b_uniqueid"))
        self.last_seq = select(func.max(CallEvent.seq)).where(
            CallEvent.call_uniqueid == bindparam("b_uniqueid"),
            CallEvent.source == bindparam("b_source"),
        )
        self.add_events = insert(CallEvent)
        self.stored_seqs = select(CallEvent.seq).where(
            CallEvent.call_uniqueid == bindparam("b_uniqueid"),
            CallEvent.source == bindparam("b_source"),
            CallEvent.seq.in_(bindparam("b_seqs", expanding=True)),
        )
        self.add_new_events = insert_fn(CallEvent).on_conflict_do_nothing(
            index_elements=["call_uniqueid", "source", "seq"]
        )


def _lock_call_journal(session: Session | Connection, uniqueid: str, source: str) -> None:
    """Serialise appends to one call's journal of one source, so the next
    ``seq`` read is the one written. On PostgreSQL a transaction-level
    advisory lock (held to commit): without it concurrent appenders collide
    on the unique key and retry in rounds, and under contention one of them
    can lose every round. SQLite already serialises writers (``BEGIN
    IMMEDIATE`` of a write session)."""
    dialect = session.get_bind().dialect if isinstance(session, Session) else session.dialect
    if dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"call_events:{source}:{uniqueid}"},
        )
