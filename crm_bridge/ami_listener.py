"""The AMI listener: turns Asterisk's call events into call records (REQ-T7, A10).

All subscriptions are made in one place, :meth:`CallListener.subscribe`.
Every call is followed by its channel's full ``Uniqueid`` (and ``Linkedid``),
never by a part of it. What is recorded, through the idempotent
:meth:`crm_bridge.calls.CallService.upsert`:

* start, answer (``Newchannel``, ``Newstate``), caller number;
* queue entered / left and the wait (``QueueCallerJoin``, ``QueueCallerLeave``,
  ``QueueCallerAbandon``);
* the operator (``AgentConnect``: the member's interface, or its member name
  = the operator's login, → :class:`~crm_bridge.models.Operator`) and the
  service-level flag (connected within 40 s, derived by ``CallService``);
* hangup cause and the outcome (``Hangup``, ``UserEvent(HotlineCallEnd)``);
* the recording file (``MixMonitorStart`` → ``MIXMONITOR_FILENAME``).

Which channels are calls: a channel becomes a call record when it shows it
is a hotline call — it was created in a hotline context, joined the operator
queue, started the whole-call recording, or ran the hotline hangup handler
(``UserEvent(HotlineCallEnd)``). Operators' legs and the simulated callers'
halves are never recorded as calls.

The listener never registers appeals: the IVR does (``AppealService.register``);
the listener only links what it sees.

Ordering: handlers update the in-memory state synchronously, in event order,
and queue the call's database writes (:class:`_Write`) in the same order; the
returned coroutine (owned by :class:`telephony.ami.AmiClient`) flushes them.
The writes of one call are flushed one transaction at a time (a per-call
lock), and whatever has queued up meanwhile goes in one transaction
(:meth:`crm_bridge.calls.CallService.record`): a call's burst of events —
channel, answer, recording; the hotline's end event and the hangup — costs
one write, not one per event. A handler that must ask Asterisk first
(``Getvar``) reserves its place in the queue, so later writes never overtake
it. Different calls are written concurrently.

Asterisk restarts: the AMI client reconnects and calls :meth:`resync`, which
compares the live channels (``CoreShowChannels``) and queue entries
(``QueueStatus``) with what is open in memory and in the database: calls
that vanished while we were disconnected are closed with the outcome
``lost-during-restart``; live ones keep being followed. Everything is keyed
by ``Uniqueid`` and idempotent, so a resync never duplicates a call.

The card's channel variables come in the ``UserEvent(HotlineCard)`` the
dialplan raises before ``Queue()``; a caller who reached a queue without it
(transferred), and the recording's file name at ``MixMonitorStart``, are read
with AMI ``Getvar`` (``manager.conf`` filters ``VarSet`` out, and keeps it
that way).

Web-facing: when an operator is connected to a call, ``call_connected`` is
published on the :class:`~crm_bridge.live.EventBus` under the operator's
topic (the operator card), and ``call_ended`` when the call ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import unquote

from sqlalchemy import or_, select, true

from crm_bridge.calls import CallService
from crm_bridge.db import utcnow
from crm_bridge.live import EventBus, operator_topic
from crm_bridge.models import Account, Call, CallDirection, Operator
from telephony.ami import AmiLike
from telephony.contract import Context, UserEvent, Var

__all__ = [
    "CARD_VARS",
    "HOTLINE_CONTEXTS",
    "CallListener",
    "ChannelState",
    "Outcome",
]

if TYPE_CHECKING:
    from crm_bridge.services import CrmDeps

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The dialplan contract's names this listener reads (telephony.contract).
HOTLINE_CONTEXTS: Final = frozenset({str(Context.INBOUND), str(Context.OUTBOUND)})
CALL_END_EVENT: Final = str(UserEvent.CALL_END)
CARD_EVENT: Final = str(UserEvent.CARD)
VAR_ACCOUNT: Final = str(Var.ACCOUNT)
VAR_APPEAL: Final = str(Var.APPEAL)
VAR_CLASS: Final = str(Var.CLASSIFICATION)
VAR_CAMPAIGN: Final = str(Var.CAMPAIGN)
VAR_CONTACT: Final = str(Var.CONTACT)
VAR_RECORDING: Final = str(Var.RECORDING)
CARD_VARS: Final = (VAR_ACCOUNT, VAR_APPEAL, VAR_CLASS, VAR_CAMPAIGN, VAR_CONTACT, VAR_RECORDING)
"""Channel variables the operator card shows: announced by the dialplan
before ``Queue()`` (``UserEvent(HotlineCard)``), else read with ``Getvar``."""

_GETVAR_TIMEOUT: Final = 1.5
_RESYNC_TIMEOUT: Final = 8.0
_RESYNC_RETRY_DELAYS: Final = (1.0, 2.0, 4.0, 8.0, 8.0, 8.0)
"""Pauses between resync attempts: right after a restart Asterisk accepts the
AMI login while its modules are still loading, and an early QueueStatus can go
unanswered (seen in CI). A later login starts its own resync and ends these."""
_RECENT_KEEP: Final = 2000
_STATE_UP: Final = "6"


@dataclass(eq=False)
class _Write:
    """One queued write of a call: fields, journal entries, the end outcome."""

    values: dict[str, Any] = field(default_factory=dict)
    first: bool = False
    """The call's first write: the state's initial fields go with it."""
    events: list[tuple[str, dict[str, Any], datetime]] = field(default_factory=list)
    end_outcome: str | None = None
    """Store this outcome unless another writer set its own (the hangup)."""
    ready: bool = True
    """False while the handler still asks Asterisk (its place is kept)."""
    written: asyncio.Event = field(default_factory=asyncio.Event)


class Outcome(StrEnum):
    """``calls.outcome`` values written by the listener."""

    ANSWERED = "answered"
    """Connected to an operator."""
    ABANDONED = "abandoned"
    """Hung up while waiting in the queue."""
    LEFT_QUEUE = "left-queue"
    """Left the queue without an operator (timeout → callback offer, …)."""
    IVR = "ivr"
    """Served by the IVR alone."""
    LOST = "lost-during-restart"
    """Vanished while the AMI connection was down (Asterisk restart)."""
    ENDED_ABUSIVE = "ended-abusive"
    """The operator ended the call for obscenities or threats (REQ-T12)."""


_OWN_OUTCOMES: Final = frozenset(o.value for o in Outcome)
_REPLACEABLE_OUTCOMES: Final = _OWN_OUTCOMES - {Outcome.ENDED_ABUSIVE.value}
"""Outcomes the hangup may replace: the listener's own, except the operator's
ended-abusive (REQ-T12); an outcome another writer (the IVR) set is kept."""


RunDb = Callable[..., Awaitable[Any]]


async def _run_inline(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


@dataclass(eq=False)
class ChannelState:
    """What the listener knows about one channel (keyed by full Uniqueid)."""

    uniqueid: str
    channel: str = ""
    linkedid: str | None = None
    caller_number: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    tracked: bool = False
    """A hotline call: has (or will have) a ``calls`` row."""
    member_leg: bool = False
    """An operator's leg (a queue member's channel), never a call record."""
    queue: str | None = None
    queue_entered_at: datetime | None = None
    queue_left_at: datetime | None = None
    connected_at: datetime | None = None
    abandoned: bool = False
    operator_id: int | None = None
    operator_member: str | None = None
    member_uniqueid: str | None = None
    vars: dict[str, str] = field(default_factory=dict)
    card: dict[str, str] | None = None
    """The card's variables as the dialplan announced them before the queue
    (``HotlineCard``); None: not announced (a transferred caller), ask Asterisk."""
    ended: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    writes: deque[_Write] = field(default_factory=deque)

    def initial_fields(self) -> dict[str, Any]:
        values: dict[str, Any] = {"linkedid": self.linkedid or self.uniqueid}
        if self.caller_number:
            values["caller_number"] = self.caller_number
        if self.started_at:
            values["started_at"] = self.started_at
        if self.answered_at:
            values["answered_at"] = self.answered_at
        if self.queue:
            values["queue_name"] = self.queue
        if self.queue_entered_at:
            values["queue_entered_at"] = self.queue_entered_at
        return values

    def outcome(self) -> Outcome:
        if self.operator_id is not None or self.connected_at is not None:
            return Outcome.ANSWERED
        if self.abandoned:
            return Outcome.ABANDONED
        if self.queue_entered_at is not None:
            return Outcome.LEFT_QUEUE
        return Outcome.IVR


def _field(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    if value is None:
        return ""
    return str(value).strip()


def _caller(event: Mapping[str, Any]) -> str | None:
    num = _field(event, "CallerIDNum")
    return num if num and num.lower() not in ("<unknown>", "unknown", "anonymous") else None


def event_time(event: Mapping[str, Any]) -> datetime:
    """The event's own ``Timestamp`` (``timestampevents = yes``), else now."""
    raw = _field(event, "Timestamp")
    if raw:
        try:
            return datetime.fromtimestamp(float(raw), UTC)
        except ValueError:
            logger.debug("unparsable AMI timestamp %r", raw)
    return utcnow()


class CallListener:
    """Follows hotline calls over AMI and completes their ``calls`` rows."""

    def __init__(
        self,
        calls: CallService,
        *,
        bus: EventBus | None = None,
        run_db: RunDb = _run_inline,
        node: str | None = None,
    ) -> None:
        self.calls = calls
        self.node = node
        """This listener's Asterisk node: stamped on the calls it records, and
        the only node whose open calls its resync may close (several nodes
        share one database)."""
        self.db = calls.db
        self.bus = bus
        self._run_db = run_db
        self.ami: AmiLike | None = None
        self._states: dict[str, ChannelState] = {}
        self._recent: OrderedDict[str, ChannelState] = OrderedDict()
        self.resyncs = 0
        self.getvars_asked = 0
        """Variables asked of Asterisk (``Getvar`` round trips), for tests and benches."""
        self._resync_generation = 0
        self._resync_lock = asyncio.Lock()
        self.lost_closed = 0
        self._resynced = asyncio.Event()

    @classmethod
    def from_services(cls, services: CrmDeps) -> CallListener:
        return cls(
            services.crm.calls,
            bus=services.event_bus,
            run_db=services.run_db_background,
            node=services.settings.node_name,
        )

    # -- wiring ---------------------------------------------------------------

    def subscribe(self, ami: AmiLike) -> None:
        """Register every AMI subscription of the listener (the one place)."""
        self.ami = ami
        handlers: dict[str, Callable[[Any], Coroutine[Any, Any, None] | None]] = {
            "Newchannel": self.on_newchannel,
            "NewCallerid": self.on_newcallerid,
            "Newstate": self.on_newstate,
            "QueueCallerJoin": self.on_queue_join,
            "QueueCallerLeave": self.on_queue_leave,
            "QueueCallerAbandon": self.on_queue_abandon,
            "AgentCalled": self.on_agent_called,
            "AgentConnect": self.on_agent_connect,
            "AgentComplete": self.on_agent_complete,
            "BridgeEnter": self.on_bridge_enter,
            "MixMonitorStart": self.on_mixmonitor_start,
            "UserEvent": self.on_user_event,
            "Hangup": self.on_hangup,
        }
        for name, handler in handlers.items():
            ami.on_event(name, handler)
        ami.on_login(self.resync)

    # -- queries for the web side --------------------------------------------

    def state(self, uniqueid: str) -> ChannelState | None:
        return self._states.get(uniqueid) or self._recent.get(uniqueid)

    def connected_call_of(self, operator_id: int) -> ChannelState | None:
        """The call an operator is connected to right now, if any."""
        for st in self._states.values():
            if st.operator_id == operator_id and not st.ended:
                return st
        return None

    def active_calls(self) -> list[ChannelState]:
        return [s for s in self._states.values() if s.tracked and not s.ended]

    async def wait_resynced(self, timeout: float) -> None:
        await asyncio.wait_for(self._resynced.wait(), timeout)

    # -- plumbing ------------------------------------------------------------

    def _get(self, event: Mapping[str, Any], key: str = "Uniqueid") -> ChannelState | None:
        uid = _field(event, key)
        if not uid:
            return None
        st = self._states.get(uid)
        if st is None and uid not in self._recent:
            st = self._states[uid] = ChannelState(
                uniqueid=uid,
                channel=_field(event, "Channel"),
                linkedid=_field(event, "Linkedid") or None,
                caller_number=_caller(event),
                started_at=event_time(event),
            )
        return st

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if kwargs:
            return await self._run_db(lambda: fn(*args, **kwargs))
        return await self._run_db(fn, *args)

    def _track(self, st: ChannelState) -> bool:
        """Mark as a hotline call; True when it was not tracked before."""
        if st.tracked or st.member_leg:
            return False
        st.tracked = True
        return True

    async def _upsert(self, st: ChannelState, values: dict[str, Any], *, first: bool) -> None:
        """A direct write (resync, under the call's lock)."""
        if first:
            values = {**st.initial_fields(), **values}
            if self.node:
                values["node"] = self.node
        if not values:
            return
        await self._db(self.calls.upsert, st.uniqueid, **values)

    def _enqueue(
        self,
        st: ChannelState,
        values: dict[str, Any] | None = None,
        *,
        first: bool = False,
        kind: str | None = None,
        detail: Mapping[str, Any] | None = None,
        ready: bool = True,
    ) -> _Write:
        """Queue a write of ``st`` in event order (see the module docstring)."""
        write = _Write(dict(values or {}), first=first, ready=ready)
        if kind:
            write.events.append((kind, dict(detail or {}), utcnow()))
        st.writes.append(write)
        return write

    async def _commit(self, st: ChannelState, write: _Write) -> None:
        """Flush the call's queued writes; return once ``write`` is stored."""
        async with st.lock:
            await self._flush(st)
        await write.written.wait()

    async def _flush(self, st: ChannelState) -> None:
        """Store every ready write at the head of the queue in one transaction
        (the caller holds ``st.lock``)."""
        batch: list[_Write] = []
        while st.writes and st.writes[0].ready:
            batch.append(st.writes.popleft())
        if not batch:
            return
        values: dict[str, Any] = {}
        events: list[tuple[str, dict[str, Any], datetime]] = []
        first = False
        end_outcome: str | None = None
        for write in batch:
            first = first or write.first
            if write.end_outcome is not None:
                values.pop("outcome", None)
                end_outcome = write.end_outcome
            values |= write.values
            events += write.events
        if first:
            values = {**st.initial_fields(), **values}
            if self.node:
                values["node"] = self.node
        try:
            if values or events or end_outcome:
                await self._db(
                    lambda: self.calls.record(
                        st.uniqueid,
                        values,
                        events,
                        source="ami",
                        outcome_unless_set=(end_outcome, _REPLACEABLE_OUTCOMES)
                        if end_outcome
                        else None,
                    )
                )
        finally:
            for write in batch:
                write.written.set()

    def _job(
        self,
        st: ChannelState,
        values: dict[str, Any] | None = None,
        *,
        first: bool = False,
        kind: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Coroutine[Any, Any, None] | None:
        if not st.tracked:
            return None
        return self._commit(st, self._enqueue(st, values, first=first, kind=kind, detail=detail))

    async def getvars(self, channel: str, names: tuple[str, ...] = CARD_VARS) -> dict[str, str]:
        """Channel variables by AMI ``Getvar`` (concurrently; missing → absent)."""
        if self.ami is None or not channel:
            return {}

        async def one(name: str) -> tuple[str, str]:
            self.getvars_asked += 1
            try:
                resp = await self.ami.action(  # type: ignore[union-attr]
                    {"Action": "Getvar", "Channel": channel, "Variable": name},
                    timeout=_GETVAR_TIMEOUT,
                )
            except (RuntimeError, OSError) as exc:  # AmiError/AmiUnavailable are RuntimeErrors
                logger.debug("Getvar %s failed: %s", name, exc)
                return name, ""
            return name, _field(resp, "Value")

        pairs = await asyncio.gather(*(one(n) for n in names))
        return {k: v for k, v in pairs if v}

    async def _card(self, st: ChannelState, channel: str) -> dict[str, str]:
        """The card's variables: as announced before the queue, else asked."""
        if st.card is not None:
            return dict(st.card)
        return await self.getvars(channel)

    # -- event handlers (synchronous state, returned coroutine for the DB) ---

    def on_newchannel(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        if st is None:
            return None
        context = _field(event, "Context")
        if context in HOTLINE_CONTEXTS and self._track(st):
            # A channel born in the outbound context is the dialer's call
            # (its campaign is stamped by the dialer, autoinformer.dialer).
            values = {"direction": CallDirection.OUT} if context == str(Context.OUTBOUND) else None
            return self._job(st, values, first=True)
        return None

    def on_newcallerid(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        caller = _caller(event)
        if st is None or not caller or caller == st.caller_number:
            return None
        st.caller_number = caller
        return self._job(st, {"caller_number": caller})

    def on_newstate(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        if st is None:
            return None
        if not st.caller_number and _caller(event):
            st.caller_number = _caller(event)
        if _field(event, "ChannelState") == _STATE_UP and st.answered_at is None:
            st.answered_at = event_time(event)
            return self._job(st, {"answered_at": st.answered_at})
        return None

    def on_queue_join(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        if st is None:
            return None
        first = self._track(st)
        st.queue = _field(event, "Queue") or st.queue
        st.queue_entered_at = event_time(event)
        st.caller_number = st.caller_number or _caller(event)
        values: dict[str, Any] = {
            "queue_name": st.queue,
            "queue_entered_at": st.queue_entered_at,
        }
        joined = self._enqueue(
            st,
            values,
            first=first,
            kind="queue_join",
            detail={"queue": st.queue, "position": _field(event, "Position")},
        )
        card = self._enqueue(st, ready=False)
        channel = _field(event, "Channel") or st.channel

        async def with_vars() -> None:
            await self._commit(st, joined)
            try:
                found = await self._card(st, channel)
                st.vars.update(found)
                card.values = await self._db(self._vars_fields, found)
            finally:
                card.ready = True
                await self._commit(st, card)

        return with_vars()

    def on_queue_leave(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        if st is None or st.queue_left_at is not None:
            return None
        st.queue_left_at = event_time(event)
        return self._job(st, {"queue_left_at": st.queue_left_at})

    def on_queue_abandon(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        if st is None:
            return None
        st.abandoned = True
        values: dict[str, Any] = {}
        if st.queue_left_at is None:
            st.queue_left_at = event_time(event)
            values["queue_left_at"] = st.queue_left_at
        return self._job(
            st,
            values,
            kind="queue_abandon",
            detail={"queue": _field(event, "Queue"), "hold_time": _field(event, "HoldTime")},
        )

    def on_agent_called(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        if st is None:
            return None
        member = self._get(event, "DestUniqueid")
        if member is not None:
            member.member_leg = True
        return self._job(st, kind="agent_called", detail={"member": _field(event, "MemberName")})

    def on_agent_connect(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        if st is None:
            return None
        first = self._track(st)
        at = event_time(event)
        st.connected_at = at
        st.operator_member = _field(event, "MemberName") or None
        st.member_uniqueid = _field(event, "DestUniqueid") or None
        member = self._get(event, "DestUniqueid")
        if member is not None:
            member.member_leg = True
            member.channel = _field(event, "DestChannel")
        if st.queue_left_at is None:
            st.queue_left_at = at
        st.queue = _field(event, "Queue") or st.queue
        interface = _field(event, "Interface")
        channel = _field(event, "Channel") or st.channel
        hold_time = _field(event, "HoldTime")
        write = self._enqueue(st, first=first, ready=False)

        async def work() -> None:
            try:
                await connect()
            finally:
                write.ready = True
                await self._commit(st, write)

        async def connect() -> None:
            found, operator_id = await asyncio.gather(
                self._card(st, channel),
                self._db(self._resolve_operator, interface, st.operator_member),
            )
            st.vars.update(found)
            st.operator_id = operator_id
            if operator_id is None:
                logger.warning("AgentConnect for an unknown operator (member %s)", interface)
            elif self.bus is not None:
                self.bus.publish(
                    operator_topic(operator_id),
                    "call_connected",
                    {
                        "uniqueid": st.uniqueid,
                        "linkedid": st.linkedid or st.uniqueid,
                        "operator_id": operator_id,
                        "queue": st.queue,
                        "hold_time": hold_time,
                        "connected_at": at.timestamp(),
                        "vars": dict(st.vars),
                    },
                )
            values: dict[str, Any] = {"queue_left_at": st.queue_left_at}
            if st.queue and st.queue_entered_at is None:
                # Joined before we were connected: the queue's own hold time.
                try:
                    st.queue_entered_at = at - timedelta(seconds=float(hold_time))
                except ValueError:
                    st.queue_entered_at = at
                values["queue_name"] = st.queue
                values["queue_entered_at"] = st.queue_entered_at
            if operator_id is not None:
                values["operator_id"] = operator_id
            values |= await self._db(self._vars_fields, found)
            write.values = values
            write.events.append(
                (
                    "operator_connected",
                    {
                        "operator_id": operator_id,
                        "member": st.operator_member,
                        "hold_time": hold_time,
                    },
                    utcnow(),
                )
            )

        return work()

    def on_agent_complete(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        if st is None:
            return None
        return self._job(
            st,
            kind="agent_complete",
            detail={
                "member": _field(event, "MemberName"),
                "talk_time": _field(event, "TalkTime"),
                "reason": _field(event, "Reason"),
            },
        )

    def on_bridge_enter(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._states.get(_field(event, "Uniqueid"))
        if st is None or not st.tracked:
            return None
        return self._job(
            st, kind="bridge_enter", detail={"bridge": _field(event, "BridgeUniqueid")}
        )

    def on_mixmonitor_start(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        st = self._get(event)
        if st is None:
            return None
        first = self._track(st)
        channel = _field(event, "Channel") or st.channel
        write = self._enqueue(st, first=first, ready=False)

        async def work() -> None:
            try:
                found = await self.getvars(channel, ("MIXMONITOR_FILENAME", VAR_RECORDING))
                path = found.get("MIXMONITOR_FILENAME") or (
                    f"{found[VAR_RECORDING]}.wav" if found.get(VAR_RECORDING) else None
                )
                if path:
                    write.values["recording_file"] = path
            finally:
                write.ready = True
                await self._commit(st, write)

        return work()

    def on_user_event(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        name = _field(event, "UserEvent")
        if name == CARD_EVENT:
            card_of = self._states.get(_field(event, "Uniqueid"))
            if card_of is not None:
                card_of.card = {
                    var: unquote(value) for var in CARD_VARS if (value := _field(event, var))
                }
            return None
        if name != CALL_END_EVENT:
            return None
        uid = _field(event, "Uniqueid")
        st = self._states.get(uid) or self._recent.get(uid)
        if st is None:
            st = self._get(event)
        if st is None:
            return None
        first = self._track(st)
        cause = _field(event, "Cause")
        values: dict[str, Any] = {"hangup_cause": cause} if cause else {}
        if st.ended:
            # The hangup handler's event came after Hangup: finish the record.
            values |= {"ended_at": event_time(event), "outcome": st.outcome().value}
        return self._job(st, values, first=first)

    def on_hangup(self, event: Mapping[str, Any]) -> Coroutine[Any, Any, None] | None:
        uid = _field(event, "Uniqueid")
        st = self._states.pop(uid, None)
        if st is None:
            return None
        st.ended = True
        self._recent[uid] = st
        while len(self._recent) > _RECENT_KEEP:
            self._recent.popitem(last=False)
        if not st.tracked:
            return None
        at = event_time(event)
        cause = _field(event, "Cause")
        outcome = st.outcome()
        values: dict[str, Any] = {"ended_at": at}
        if cause:
            values["hangup_cause"] = cause
        if st.queue_entered_at is not None and st.queue_left_at is None:
            st.queue_left_at = at
            values["queue_left_at"] = at

        # End time and outcome in one write: no reader sees an ended call
        # without its outcome.
        write = self._enqueue(
            st, values, kind="hangup", detail={"cause": cause, "outcome": outcome.value}
        )
        write.end_outcome = outcome.value

        async def work() -> None:
            await self._commit(st, write)
            if self.bus is not None and st.operator_id is not None:
                self.bus.publish(
                    operator_topic(st.operator_id),
                    "call_ended",
                    {"uniqueid": st.uniqueid, "outcome": outcome.value},
                )

        return work()

    # -- database helpers (run in the DB thread pool) -------------------------

    def _resolve_operator(self, interface: str, member: str | None) -> int | None:
        """The operator behind a queue member: its interface, else member name = login."""
        conds = []
        if interface:
            conds.append(Operator.interface == interface)
        if member:
            conds.append(Operator.login == member)
        if not conds:
            return None
        with self.db.session(readonly=True) as session:
            rows = session.execute(
                select(Operator.id, Operator.interface).where(or_(*conds)).order_by(Operator.id)
            ).all()
        for row in rows:
            if interface and row.interface == interface:
                return int(row.id)
        return int(rows[0].id) if rows else None

    def _vars_fields(self, found: Mapping[str, str]) -> dict[str, Any]:
        """Call columns from the card variables (account, campaign, recording)."""
        values: dict[str, Any] = {}
        number = found.get(VAR_ACCOUNT)
        if number:
            digits = "".join(ch for ch in number if ch.isdigit())
            with self.db.session(readonly=True) as session:
                account_id = session.execute(
                    select(Account.id).where(
                        or_(Account.number == digits, Account.number_key == digits.lstrip("0"))
                    )
                ).scalar()
            if account_id is not None:
                values["account_id"] = int(account_id)
        campaign = found.get(VAR_CAMPAIGN)
        if campaign:
            values["direction"] = CallDirection.OUT
            if campaign.isdigit():
                values["campaign_id"] = int(campaign)
        if found.get(VAR_RECORDING):
            values["recording_file"] = f"{found[VAR_RECORDING]}.wav"
        return values

    def _open_calls(self, before: datetime) -> list[str]:
        with self.db.session() as session:
            return list(
                session.execute(
                    select(Call.uniqueid).where(
                        Call.ended_at.is_(None),
                        Call.started_at <= before,
                        # Another node's calls are that node's listener's to close.
                        or_(Call.node.is_(None), Call.node == self.node) if self.node else true(),
                    )
                ).scalars()
            )

    def _close_lost(self, uniqueids: list[str], at: datetime) -> int:
        closed = 0
        for uid in uniqueids:
            current = self.calls.get(uid)
            if current is None or current.ended_at is not None:
                continue
            values: dict[str, Any] = {"ended_at": at, "outcome": Outcome.LOST.value}
            if current.queue_entered_at is not None and current.queue_left_at is None:
                values["queue_left_at"] = at
            self.calls.upsert(uid, **values)
            self.calls.append_event(uid, "lost_during_restart", {}, source="ami")
            closed += 1
        return closed

    # -- resynchronisation after (re)connecting --------------------------------

    async def resync(self, retry_delays: Sequence[float] = _RESYNC_RETRY_DELAYS) -> None:
        """Reconcile with Asterisk after a (re)login (see the module docstring).

        A failed snapshot is retried after each of ``retry_delays``; a newer
        resync (the next login) supersedes this one."""
        if self.ami is None:
            return
        self._resync_generation += 1
        generation = self._resync_generation
        attempt = 0
        while True:
            snapshot_at = utcnow()
            try:
                channels = await self.ami.action(
                    {"Action": "CoreShowChannels"}, as_list=True, timeout=_RESYNC_TIMEOUT
                )
                queue = await self.ami.action(
                    {"Action": "QueueStatus"}, as_list=True, timeout=_RESYNC_TIMEOUT
                )
                break
            except RuntimeError as exc:
                if attempt >= len(retry_delays):
                    logger.error("AMI resync gave up after %d attempts: %s", attempt + 1, exc)
                    return
                delay = retry_delays[attempt]
                attempt += 1
                logger.warning(
                    "AMI resync failed (%s); attempt %d in %.0fs", exc, attempt + 1, delay
                )
                await asyncio.sleep(delay)
                if generation != self._resync_generation:
                    return  # a newer login's resync took over
        async with self._resync_lock:
            if generation == self._resync_generation:
                await self._apply_snapshot(snapshot_at, channels, queue)

    async def _apply_snapshot(self, snapshot_at: datetime, channels: Any, queue: Any) -> None:
        live: dict[str, Mapping[str, Any]] = {}
        for msg in _messages(channels):
            if _field(msg, "Event") == "CoreShowChannel" and _field(msg, "Uniqueid"):
                live[_field(msg, "Uniqueid")] = msg
        waiting: dict[str, Mapping[str, Any]] = {}
        for msg in _messages(queue):
            if _field(msg, "Event") == "QueueEntry" and _field(msg, "Uniqueid"):
                waiting[_field(msg, "Uniqueid")] = msg
        # Followed in memory but gone: ended while we could not see it.
        gone = [uid for uid in self._states if uid not in live]
        for uid in gone:
            old = self._states.pop(uid)
            old.ended = True
            self._recent[uid] = old
        # Open in the database but not live (this process's or a previous one's).
        open_calls = await self._db(self._open_calls, snapshot_at)
        lost = [uid for uid in open_calls if uid not in live]
        closed = await self._db(self._close_lost, lost, snapshot_at) if lost else 0
        self.lost_closed += closed
        # Live channels we do not know yet (appeared while disconnected).
        adopted = 0
        for uid, msg in live.items():
            if uid in self._states:
                continue
            st = self._get(msg)
            if st is None:
                continue
            duration = _seconds(_field(msg, "Duration"))
            if duration is not None:
                st.started_at = snapshot_at - timedelta(seconds=duration)
            if _field(msg, "ChannelState") == _STATE_UP:
                st.answered_at = st.answered_at or st.started_at
            entry = waiting.get(uid)
            known_open = uid in open_calls
            if entry is None and not known_open and _field(msg, "Context") not in HOTLINE_CONTEXTS:
                continue
            self._track(st)
            if entry is not None:
                st.queue = _field(entry, "Queue") or None
                wait = _seconds(_field(entry, "Wait")) or 0.0
                st.queue_entered_at = snapshot_at - timedelta(seconds=wait)
            await self._adopt(st, resumed=known_open)
            adopted += 1
        self.resyncs += 1
        self._resynced.set()
        logger.info(
            "AMI resync #%d: %d live channel(s), %d lost call(s) closed, %d adopted",
            self.resyncs,
            len(live),
            closed,
            adopted,
        )

    async def _adopt(self, st: ChannelState, *, resumed: bool) -> None:
        async with st.lock:
            if resumed:
                await self._upsert_resumed(st)
            else:
                await self._upsert(st, {}, first=True)

    async def _upsert_resumed(self, st: ChannelState) -> None:
        """A call already recorded that is still up: keep its stored times."""
        current = await self._db(self.calls.get, st.uniqueid)
        if current is None:
            await self._upsert(st, {}, first=True)
            return
        st.started_at = current.started_at or st.started_at
        st.answered_at = current.answered_at or st.answered_at
        st.queue = current.queue_name or st.queue
        st.queue_entered_at = current.queue_entered_at or st.queue_entered_at
        st.queue_left_at = current.queue_left_at
        st.operator_id = current.operator_id
        if st.queue_entered_at and not current.queue_entered_at:
            await self._upsert(
                st, {"queue_name": st.queue, "queue_entered_at": st.queue_entered_at}, first=False
            )


def _messages(resp: Any) -> list[Mapping[str, Any]]:
    if resp is None:
        return []
    if isinstance(resp, list):
        return resp
    return [resp]


def _seconds(raw: str) -> float | None:
    """``Duration`` (``HH:MM:SS``) or ``Wait`` (seconds) as seconds."""
    if not raw:
        return None
    try:
        if ":" in raw:
            total = 0.0
            for part in raw.split(":"):
                total = total * 60 + float(part)
            return total
        return float(raw)
    except ValueError:
        return None
