"""Operators' presence in the queue (issue 12, REQ-T7): log-in, pauses with a
reason, the talk and the wrap-up after it, and the intervals they leave.

Asterisk keeps the queue's members; this service drives them over AMI and
keeps what it saw as intervals (``presence_intervals``: who, state, reason,
from, to):

* **log-in** ``QueueAdd`` of the operator's own PJSIP endpoint, member name =
  the login (the call listener finds the operator by either); **log-out**
  ``QueueRemove``;
* **pause** ``QueuePause`` with a reason (break, lunch, training,
  post-processing); **resume** unpauses;
* **talking** from ``AgentConnect`` of the member to ``AgentComplete``;
* **wrap-up** after every call: the member is paused (reason ``wrapup``) for at
  most ``shift_wrapup_seconds`` (5 minutes by default, REQ-T7's
  post-processing target) and back in the queue when the operator ends it or
  the time is up. The queue's own ``wrapuptime`` (a few seconds) only covers
  the moment between the call's end and that pause.

Every change is published on the operator's topic of the
:class:`~crm_bridge.live.EventBus` (``presence``), which the workplace shows
live. The phone's registration comes from ``ContactStatus`` events and, when
asked, the ``DEVICE_STATE()`` of the endpoint; a logged-in operator whose
phone is not registered is told so.

After an (re)connection to Asterisk :meth:`ShiftService.reconcile` compares
the queue's members (``QueueStatus``) with the open intervals: a member
Asterisk still has is adopted with its pause; an operator the database says
is logged in but Asterisk lost (it restarted; members are not persistent) is
added again with the same state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, TypeVar

from sqlalchemy import select, update

from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService
from crm_bridge.db import Database, utcnow
from crm_bridge.live import EventBus, operator_topic
from crm_bridge.models import Operator
from shift.models import PresenceInterval, SipCredential
from telephony.ami import AmiLike

__all__ = [
    "PAUSE_REASONS",
    "PauseReason",
    "Presence",
    "PresenceError",
    "ShiftService",
    "State",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class State(StrEnum):
    OFFLINE = "offline"
    READY = "ready"
    PAUSED = "paused"
    TALKING = "talking"
    WRAPUP = "wrapup"


STATE_TITLES: Final = {
    State.OFFLINE: "Не в очереди",
    State.READY: "Готов принимать звонки",
    State.PAUSED: "Пауза",
    State.TALKING: "Разговор",
    State.WRAPUP: "Обработка после звонка",
}


class PauseReason(StrEnum):
    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    POSTPROCESSING = "postprocessing"


PAUSE_REASONS: Final[dict[str, str]] = {
    PauseReason.BREAK: "Перерыв",
    PauseReason.LUNCH: "Обед",
    PauseReason.TRAINING: "Обучение",
    PauseReason.POSTPROCESSING: "Постобработка",
}
WRAPUP_REASON: Final = "wrapup"
"""The member's pause reason in Asterisk while the operator wraps up."""

_PHONE_UP: Final = frozenset({"Created", "Reachable", "NonQualified", "Updated"})
_PHONE_DOWN: Final = frozenset({"Removed", "Unreachable"})


class PresenceError(Exception):
    """A presence change that cannot be made (message in Russian)."""


RunDb = Callable[..., Awaitable[Any]]


async def _inline(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


@dataclass
class Presence:
    """What the workplace shows of one operator."""

    operator_id: int
    login: str
    interface: str | None
    state: State = State.OFFLINE
    reason: str | None = None
    since: datetime = field(default_factory=utcnow)
    wrapup_until: datetime | None = None
    phone: str = "unknown"
    """``registered``, ``unregistered`` or ``unknown`` (not asked yet)."""
    resume_to: State = State.READY
    """The state a call's wrap-up returns to (a pause asked for during the call)."""
    resume_reason: str | None = None
    queue: str | None = None
    """The queue this person serves (None: the service's first line)."""
    call_uniqueid: str | None = None
    """The caller's channel (Uniqueid) while talking."""
    call_channel: str | None = None
    caller_number: str | None = None
    """The caller's number while talking (AgentConnect's ``CallerIDNum``)."""
    phone_channel: str | None = None
    """The operator's own channel (the queue's call to the phone) while talking."""
    consulting: str | None = None
    """Whom the operator consults before passing the caller on (attended
    transfer under way; in Russian), None otherwise."""
    version: int = 0
    """Counts the published changes: a page shows a state only if it is not
    older than the one it shows (an action's answer may arrive after the
    live update that followed it)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "operator_id": self.operator_id,
            "state": self.state.value,
            "state_title": STATE_TITLES[self.state],
            "reason": self.reason,
            "reason_title": PAUSE_REASONS.get(self.reason) if self.reason else None,
            "since": self.since.isoformat(),
            "wrapup_until": self.wrapup_until.isoformat() if self.wrapup_until else None,
            "phone": self.phone,
            "interface": self.interface,
            "pending": self.resume_to.value if self.state is State.TALKING else None,
            "call": self.call_uniqueid,
            "consulting": self.consulting,
            "version": self.version,
            "queue": self.queue,
            "pause_reasons": [[r, title] for r, title in PAUSE_REASONS.items()],
        }


@dataclass(frozen=True)
class _Consult:
    """An attended transfer under way (keyed by the operator's channel)."""

    operator_id: int
    uniqueid: str | None
    target: str
    whom: str


RECONCILE_RETRY_DELAYS: Final = (1.0, 2.0, 4.0, 8.0, 8.0)
"""Seconds between the reconciliation's tries when Asterisk does not answer."""
SURVEY_TARGET: Final = "survey"
"""The transfer target that sends the caller to the CSI/NPS survey (REQ-A13)."""
CONSULT_CONTEXT: Final = "hotline-consult"
"""Where an attended transfer dials (dialplans/hotline.conf): the specialists'
number and operators' numbers (``op102`` → ``102``), digits only, as the
transfer feature reads the number as keys."""
SPECIALISTS_NUMBER: Final = "2000"


def _field(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name)
    return "" if value is None else str(value).strip()


def _ok(resp: Any) -> tuple[bool, str]:
    first = resp[0] if isinstance(resp, list) and resp else resp
    if first is None:
        return False, "нет ответа"
    return str(first.get("Response", "")).lower() == "success", str(first.get("Message", ""))


class ShiftService:
    """Presence of every operator who works a shift on this node."""

    def __init__(
        self,
        db: Database,
        *,
        queue: str,
        specialist_queue: str = "specialists",
        bus: EventBus | None = None,
        run_db: RunDb = _inline,
        wrapup_seconds: float = 300.0,
        node: str | None = None,
        appeals: AppealService | None = None,
        calls: CallService | None = None,
    ) -> None:
        self.db = db
        self.queue = queue
        self.specialist_queue = specialist_queue
        self.appeals = appeals
        self.calls = calls
        self.bus = bus
        self._run_db = run_db
        self.wrapup_seconds = wrapup_seconds
        self.node = node
        self.ami: AmiLike | None = None
        self._people: dict[int, Presence] = {}
        self._by_interface: dict[str, int] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._consults: dict[str, _Consult] = {}
        self._lock = asyncio.Lock()

    # -- wiring ---------------------------------------------------------------

    def subscribe(self, ami: AmiLike) -> None:
        self.ami = ami
        ami.on_event("AgentConnect", self.on_agent_connect)
        ami.on_event("AgentComplete", self.on_agent_complete)
        ami.on_event("ContactStatus", self.on_contact_status)
        ami.on_event("AttendedTransfer", self.on_attended_transfer)
        ami.on_login(self.reconcile)

    # -- queries --------------------------------------------------------------

    async def presence(self, operator_id: int) -> Presence:
        person = await self._person(operator_id)
        if person.interface and person.phone == "unknown":
            await self.refresh_phone(person)
        return person

    async def refresh_phone(self, person: Presence) -> None:
        """The phone's registration, from the endpoint's device state."""
        if self.ami is None or not person.interface:
            return
        try:
            resp = await self.ami.action(
                {"Action": "Getvar", "Variable": f"DEVICE_STATE({person.interface})"},
                timeout=2.0,
            )
        except (RuntimeError, OSError) as exc:
            logger.debug("device state of operator %s: %s", person.operator_id, exc)
            return
        value = _field(resp, "Value").upper()
        phone = "unregistered" if value in ("UNAVAILABLE", "INVALID") else "registered"
        if value and phone != person.phone:
            person.phone = phone
            self._publish(person)

    # -- the operator's actions -----------------------------------------------

    async def log_in(self, operator_id: int) -> Presence:
        person = await self._person(operator_id)
        if not person.interface:
            raise PresenceError("у вас нет телефона (SIP): попросите администратора его выдать")
        if person.state is not State.OFFLINE:
            return person
        await self._queue_add(person, paused=False)
        await self._set(person, State.READY, None)
        await self.refresh_phone(person)
        return person

    async def log_out(self, operator_id: int) -> Presence:
        person = await self._person(operator_id)
        if person.state is State.OFFLINE:
            return person
        if person.state is State.TALKING:
            raise PresenceError("сначала завершите разговор")
        await self._action(
            {
                "Action": "QueueRemove",
                "Queue": self.queue_of(person),
                "Interface": person.interface,
            },
            tolerate=("Not there",),
        )
        self._cancel_timer(operator_id)
        await self._set(person, State.OFFLINE, None)
        return person

    async def pause(self, operator_id: int, reason: str) -> Presence:
        try:
            why = PauseReason(reason)
        except ValueError as exc:
            raise PresenceError(f"неизвестная причина паузы «{reason}»") from exc
        person = await self._person(operator_id)
        if person.state is State.OFFLINE:
            raise PresenceError("вы не в очереди: сначала войдите в очередь")
        if person.state is State.TALKING:
            # Taken after the call's wrap-up.
            person.resume_to, person.resume_reason = State.PAUSED, why.value
            self._publish(person)
            return person
        self._cancel_timer(operator_id)
        await self._queue_pause(person, True, why.value)
        await self._set(person, State.PAUSED, why.value)
        return person

    async def resume(self, operator_id: int) -> Presence:
        person = await self._person(operator_id)
        if person.state is State.TALKING:
            person.resume_to, person.resume_reason = State.READY, None
            self._publish(person)
            return person
        if person.state not in (State.PAUSED, State.WRAPUP):
            return person
        self._cancel_timer(operator_id)
        await self._queue_pause(person, False, "")
        await self._set(person, State.READY, None)
        return person

    async def end_wrapup(self, operator_id: int) -> Presence:
        """The card is filled: back to the queue (or to the pause asked for)."""
        person = await self._person(operator_id)
        if person.state is not State.WRAPUP:
            return person
        self._cancel_timer(operator_id)
        target, reason = person.resume_to, person.resume_reason
        person.resume_to, person.resume_reason = State.READY, None
        if target is State.PAUSED and reason:
            await self._queue_pause(person, True, reason)
            await self._set(person, State.PAUSED, reason)
        else:
            await self._queue_pause(person, False, "")
            await self._set(person, State.READY, None)
        return person

    # -- AMI events -----------------------------------------------------------

    def _member(self, event: Mapping[str, Any]) -> Presence | None:
        interface = _field(event, "Interface")
        operator_id = self._by_interface.get(interface)
        person = self._people.get(operator_id) if operator_id is not None else None
        if person is None:
            person = next(
                (p for p in self._people.values() if p.login == _field(event, "MemberName")),
                None,
            )
        if person is None or _field(event, "Queue") not in ("", self.queue_of(person)):
            return None
        return person

    def queue_of(self, person: Presence) -> str:
        return person.queue or self.queue

    def on_agent_connect(self, event: Mapping[str, Any]) -> Awaitable[None] | None:
        person = self._member(event)
        if person is None or person.state is State.OFFLINE:
            return None
        person.call_uniqueid = _field(event, "Uniqueid") or None
        person.call_channel = _field(event, "Channel") or None
        person.caller_number = _field(event, "CallerIDNum") or None
        person.phone_channel = _field(event, "DestChannel") or None
        person.consulting = None
        return self._set(person, State.TALKING, None)

    def on_agent_complete(self, event: Mapping[str, Any]) -> Awaitable[None] | None:
        person = self._member(event)
        if person is None or person.state is not State.TALKING:
            return None
        uniqueid = _field(event, "Uniqueid")
        if person.call_uniqueid and uniqueid and uniqueid != person.call_uniqueid:
            return None  # a call this person passed on long ago
        person.call_uniqueid = person.call_channel = person.phone_channel = None
        person.caller_number = person.consulting = None
        return self._begin_wrapup(person)

    # -- calling out -----------------------------------------------------------------

    async def dial(self, operator_id: int, phone: str, *, label: str = "") -> None:
        """Ring the operator's phone; once answered, the hotline dials ``phone``
        through the trunk (``hotline-operators``, the hotline's caller ID)."""
        person = await self._person(operator_id)
        if not person.interface:
            raise PresenceError("у вас нет телефона (SIP)")
        if person.state is State.TALKING:
            raise PresenceError("сначала завершите разговор")
        digits = "".join(ch for ch in phone if ch.isdigit())
        if len(digits) != 11 or digits[0] not in "78":
            raise PresenceError(f"номер {phone} нельзя набрать")
        await self._action(
            {
                "Action": "Originate",
                "Channel": person.interface,
                "Context": "hotline-operators",
                "Exten": digits,
                "Priority": "1",
                "CallerID": f'"{label or "Обратный звонок"}" <{digits}>',
                "Timeout": "30000",
                "Async": "true",
            }
        )

    # -- transfers (REQ-T10) ------------------------------------------------------

    async def transfer(self, operator_id: int, target: str) -> str:
        """Send the operator's caller to the specialists (``specialists``) or
        to another operator's phone (its endpoint); the appeal of the call
        records to whom it was passed. Returns whom, in Russian."""
        person = await self._person(operator_id)
        if person.state is not State.TALKING or not person.call_channel:
            raise PresenceError("перевести можно только идущий разговор")
        if person.consulting:
            raise PresenceError("идёт консультация: соедините или вернитесь к абоненту")
        whom = self._whom(person, target)
        uniqueid = person.call_uniqueid
        survey = target == SURVEY_TARGET
        await self._action(
            {
                "Action": "Redirect",
                "Channel": person.call_channel,
                # The survey (surveys/, REQ-A13) is not a transfer of the appeal.
                "Context": "hotline-survey" if survey else "hotline-transfer",
                "Exten": "transfer" if survey else target,
                "Priority": "1",
            }
        )
        # The operator's part of the call is over (Asterisk reports the queue
        # call complete only when the caller hangs up, wherever they are then).
        person.call_uniqueid = person.call_channel = None
        await self._begin_wrapup(person)
        if uniqueid and not survey:
            await self._run_db(self._record_transfer, uniqueid, operator_id, target, whom)
        logger.info("operator %s transferred call %s to %s", operator_id, uniqueid, target)
        return whom

    def _whom(self, person: Presence, target: str) -> str:
        """Whom ``target`` names, in Russian (the specialists or another
        operator's endpoint); PresenceError for anything else."""
        if target == "specialists":
            return "специалисту (вторая линия)"
        if target == SURVEY_TARGET:
            return "на оценку качества обслуживания (опрос)"
        from shift.phones import ENDPOINT_RE

        if not ENDPOINT_RE.match(target) or f"PJSIP/{target}" == person.interface:
            raise PresenceError(f"нельзя перевести на «{target}»")
        return f"оператору {target}"

    async def consult(self, operator_id: int, target: str) -> str:
        """Attended transfer (REQ-T10): the caller waits on hold while the
        operator's phone is connected to the specialists (or to ``opNNN``);
        then :meth:`complete_transfer` leaves them together, or
        :meth:`cancel_transfer` takes the operator back to the caller. AMI
        ``Atxfer`` on the operator's own channel (the transfer feature of
        features.conf, the number dialled in ``hotline-consult``); the
        caller's number is what the consulted phone shows."""
        person = await self._person(operator_id)
        if person.state is not State.TALKING or not person.phone_channel:
            raise PresenceError("перевести можно только идущий разговор")
        if person.consulting:
            raise PresenceError("консультация уже идёт")
        whom = self._whom(person, target)
        if target == "specialists":
            number = SPECIALISTS_NUMBER
        elif target.startswith("op") and target[2:].isdigit():
            number = target[2:]
        else:
            raise PresenceError(f"с «{target}» можно только перевести без консультации")
        channel = person.phone_channel
        for stale in [ch for ch, c in self._consults.items() if c.operator_id == operator_id]:
            del self._consults[stale]  # a consultation whose call ended before it did
        caller = person.caller_number
        if caller and all(c.isdigit() or c == "+" for c in caller):
            # What the consulted phone shows: Asterisk gives the consultation
            # call the operator channel's caller ID (the two-party bridge's
            # connected line, passed on by the Local channel), so that is the
            # caller's number for the time of the transfer.
            await self._action(
                {
                    "Action": "Setvar",
                    "Channel": channel,
                    "Variable": "CALLERID(num)",
                    "Value": caller,
                }
            )
        self._consults[channel] = _Consult(operator_id, person.call_uniqueid, target, whom)
        try:
            await self._action(
                {
                    "Action": "Atxfer",
                    "Channel": channel,
                    "Exten": number,
                    "Context": CONSULT_CONTEXT,
                }
            )
        except PresenceError:
            self._consults.pop(channel, None)
            raise
        person.consulting = whom
        self._publish(person)
        logger.info("operator %s consults %s on call %s", operator_id, target, person.call_uniqueid)
        return whom

    async def complete_transfer(self, operator_id: int) -> Presence:
        """The consulted person takes the caller: the operator's phone leaves
        (its channel is hung up, which completes the transfer); the
        ``AttendedTransfer`` event records it, the queue's ``AgentComplete``
        starts the wrap-up."""
        person = await self._person(operator_id)
        if not person.consulting or not person.phone_channel:
            raise PresenceError("консультация не идёт")
        await self._action({"Action": "Hangup", "Channel": person.phone_channel})
        return person

    async def cancel_transfer(self, operator_id: int) -> Presence:
        """Back to the caller: the consultation call ends (AMI ``CancelAtxfer``)."""
        person = await self._person(operator_id)
        if not person.consulting or not person.phone_channel:
            raise PresenceError("консультация не идёт")
        await self._action({"Action": "CancelAtxfer", "Channel": person.phone_channel})
        self._consults.pop(person.phone_channel, None)
        person.consulting = None
        self._publish(person)
        return person

    def on_attended_transfer(self, event: Mapping[str, Any]) -> Awaitable[None] | None:
        """Asterisk joined the caller and the consulted phone: record whom."""
        consult = self._consults.pop(_field(event, "OrigTransfererChannel"), None)
        if consult is None:
            return None
        person = self._people.get(consult.operator_id)
        if person is not None and person.consulting:
            person.consulting = None
            self._publish(person)
        if _field(event, "Result") != "Success":
            logger.info(
                "attended transfer by operator %s: %s", consult.operator_id, _field(event, "Result")
            )
            return None
        logger.info(
            "operator %s transferred call %s to %s",
            consult.operator_id,
            consult.uniqueid,
            consult.target,
        )
        if not consult.uniqueid:
            return None
        return self._run_db(
            self._record_transfer,
            consult.uniqueid,
            consult.operator_id,
            consult.target,
            consult.whom,
        )

    def _record_transfer(self, uniqueid: str, operator_id: int, target: str, whom: str) -> None:
        if self.calls is not None:
            self.calls.append_event(
                uniqueid, "transferred", {"to": target, "operator_id": operator_id}, source="web"
            )
        if self.appeals is None:
            return
        from crm_bridge.models import Appeal, AppealStatus, Call

        with self.db.session() as session:
            appeal_id = session.execute(
                select(Appeal.id)
                .join(Call, Call.id == Appeal.call_id)
                .where(
                    Call.uniqueid == uniqueid,
                    Appeal.status.in_((AppealStatus.REGISTERED, AppealStatus.IN_PROGRESS)),
                )
                .order_by(Appeal.seq.desc())
            ).scalar()
        if appeal_id is not None:
            self.appeals.pass_to(appeal_id, whom)

    def on_contact_status(self, event: Mapping[str, Any]) -> None:
        aor = _field(event, "AOR")
        status = _field(event, "ContactStatus")
        for person in self._people.values():
            if person.interface == f"PJSIP/{aor}":
                phone = (
                    "registered"
                    if status in _PHONE_UP
                    else "unregistered"
                    if status in _PHONE_DOWN
                    else person.phone
                )
                if phone != person.phone:
                    person.phone = phone
                    self._publish(person)

    def _begin_wrapup(self, person: Presence) -> Coroutine[Any, Any, None]:
        """Wrap-up from now (the state at once; Asterisk's pause and the
        interval in the returned coroutine)."""
        persist = self._set(person, State.WRAPUP, None)
        person.wrapup_until = person.since + timedelta(seconds=self.wrapup_seconds)
        self._publish(person)
        loop = asyncio.get_running_loop()
        self._cancel_timer(person.operator_id)
        self._timers[person.operator_id] = loop.call_later(
            self.wrapup_seconds,
            lambda: asyncio.ensure_future(self._wrapup_over(person.operator_id)),
        )

        async def pause() -> None:
            try:
                await self._queue_pause(person, True, WRAPUP_REASON)
            finally:
                await persist

        return pause()

    async def _wrapup_over(self, operator_id: int) -> None:
        self._timers.pop(operator_id, None)
        try:
            await self.end_wrapup(operator_id)
        except (PresenceError, RuntimeError, OSError) as exc:
            logger.warning("wrap-up of operator %s could not end: %s", operator_id, exc)

    # -- after (re)connecting ---------------------------------------------------

    async def reconcile(self) -> None:
        """Asterisk's members against the open intervals (module docstring)."""
        if self.ami is None:
            return
        resp: Any = None
        for delay in (*RECONCILE_RETRY_DELAYS, None):
            try:
                resp = await self.ami.action({"Action": "QueueStatus"}, as_list=True, timeout=8.0)
                break
            except RuntimeError as exc:
                # Asterisk just (re)started and is still loading, or is busy:
                # the members must come back, so ask again.
                logger.warning("presence: QueueStatus failed (%s); again in %s s", exc, delay)
                if delay is None:
                    return
                await asyncio.sleep(delay)
        served = (self.queue, self.specialist_queue)
        members = {
            (_field(m, "Queue"), _field(m, "Location") or _field(m, "StateInterface")): m
            for m in (resp if isinstance(resp, list) else [resp])
            if m is not None
            and _field(m, "Event") == "QueueMember"
            and _field(m, "Queue") in served
        }
        open_rows = await self._run_db(self._open_intervals)
        for operator_id, (state, reason) in open_rows.items():
            try:
                person = await self._person(operator_id)
            except PresenceError:  # disabled or removed meanwhile: the shift ends
                await self._run_db(self._store, operator_id, State.OFFLINE, None, utcnow())
                continue
            member = members.pop((self.queue_of(person), person.interface or ""), None)
            if member is not None:
                paused = _field(member, "Paused") == "1"
                member_reason = _field(member, "PausedReason")
                if paused and member_reason in PAUSE_REASONS:
                    person.state, person.reason = State.PAUSED, member_reason
                elif paused:  # a wrap-up that outlived us: ends now
                    person.state = State.WRAPUP
                    await self.end_wrapup(operator_id)
                    continue
                else:
                    person.state, person.reason = State(state), reason
                    if person.state in (State.TALKING, State.WRAPUP):
                        person.state = State.READY
                        await self._set(person, State.READY, None)
                        continue
                self._publish(person)
                continue
            # Asterisk lost the member (it restarted): add it back as it was.
            logger.info("presence: operator %s re-added to the queue", operator_id)
            paused_reason = reason if state == State.PAUSED.value else None
            await self._queue_add(person, paused=paused_reason is not None)
            if paused_reason:
                await self._queue_pause(person, True, paused_reason)
                await self._set(person, State.PAUSED, paused_reason)
            else:
                await self._set(person, State.READY, None)
        # Members nobody logged in through us (a fixed team in queues.conf):
        # left alone, but shown to their operators if we know them.
        for (queue, interface), member in members.items():
            operator_id = self._by_interface.get(interface)
            if operator_id is None:
                operator_id = await self._run_db(self._operator_by_interface, interface)
            if operator_id is None:
                continue
            try:
                person = await self._person(operator_id)
            except PresenceError:  # a disabled operator takes no calls
                await self._action(
                    {"Action": "QueueRemove", "Queue": queue, "Interface": interface},
                    tolerate=("Not there",),
                )
                continue
            paused = _field(member, "Paused") == "1"
            await self._set(
                person,
                State.PAUSED if paused else State.READY,
                _field(member, "PausedReason") or None if paused else None,
            )

    # -- plumbing ---------------------------------------------------------------

    async def _person(self, operator_id: int) -> Presence:
        person = self._people.get(operator_id)
        if person is not None:
            return person
        row = await self._run_db(self._operator, operator_id)
        if row is None:
            raise PresenceError("нет такого сотрудника")
        login, interface, queue = row
        person = self._people.setdefault(
            operator_id, Presence(operator_id, login, interface, queue=queue)
        )
        if interface:
            self._by_interface[interface] = operator_id
        return person

    async def _queue_add(self, person: Presence, *, paused: bool) -> None:
        await self._action(
            {
                "Action": "QueueAdd",
                "Queue": self.queue_of(person),
                "Interface": person.interface,
                "MemberName": person.login,
                "StateInterface": person.interface,
                "Paused": "true" if paused else "false",
            },
            tolerate=("Already there",),
        )

    async def _queue_pause(self, person: Presence, paused: bool, reason: str) -> None:
        action = {
            "Action": "QueuePause",
            "Queue": self.queue_of(person),
            "Interface": person.interface,
            "Paused": "true" if paused else "false",
        }
        if reason:
            action["Reason"] = reason
        await self._action(action)

    async def _action(self, action: dict[str, Any], tolerate: tuple[str, ...] = ()) -> None:
        if self.ami is None:
            raise PresenceError("нет связи с АТС")
        try:
            # as_list=False: a queue action answers with one message.
            resp = await self.ami.action(action, as_list=False, timeout=5.0)
        except (RuntimeError, OSError) as exc:
            raise PresenceError(f"АТС не ответила: {exc}") from exc
        ok, message = _ok(resp)
        if not ok and not any(t.lower() in message.lower() for t in tolerate):
            raise PresenceError(f"АТС отказала: {message or action['Action']}")

    def _set(self, person: Presence, state: State, reason: str | None) -> Coroutine[Any, Any, None]:
        """Change the state now (so the next AMI event already sees it) and
        return the write of the interval (the open one closed, ``state``
        opened; writes run in the order they were asked for)."""
        at = utcnow()
        person.state, person.reason, person.since = state, reason, at
        if state is not State.WRAPUP:
            person.wrapup_until = None
        self._publish(person)
        return self._persist(person.operator_id, state, reason, at)

    async def _persist(
        self, operator_id: int, state: State, reason: str | None, at: datetime
    ) -> None:
        async with self._lock:
            await self._run_db(self._store, operator_id, state, reason, at)

    def _publish(self, person: Presence) -> None:
        person.version += 1
        if self.bus is not None:
            self.bus.publish(operator_topic(person.operator_id), "presence", person.as_json())

    def _cancel_timer(self, operator_id: int) -> None:
        timer = self._timers.pop(operator_id, None)
        if timer is not None:
            timer.cancel()

    # -- database (in the DB lane) ---------------------------------------------

    def _store(self, operator_id: int, state: State, reason: str | None, at: datetime) -> None:
        with self.db.session(write=True) as session:
            session.execute(
                update(PresenceInterval)
                .where(
                    PresenceInterval.operator_id == operator_id,
                    PresenceInterval.ended_at.is_(None),
                )
                .values(ended_at=at)
            )
            if state is not State.OFFLINE:
                session.add(
                    PresenceInterval(
                        operator_id=operator_id,
                        state=state.value,
                        reason=reason,
                        started_at=at,
                        node=self.node,
                    )
                )

    def _open_intervals(self) -> dict[int, tuple[str, str | None]]:
        with self.db.session() as session:
            stmt = select(
                PresenceInterval.operator_id, PresenceInterval.state, PresenceInterval.reason
            ).where(PresenceInterval.ended_at.is_(None))
            if self.node:
                stmt = stmt.where(
                    (PresenceInterval.node == self.node) | PresenceInterval.node.is_(None)
                )
            return {row.operator_id: (row.state, row.reason) for row in session.execute(stmt)}

    def _operator(self, operator_id: int) -> tuple[str, str | None, str | None] | None:
        with self.db.session() as session:
            row = session.execute(
                select(
                    Operator.login, Operator.interface, Operator.pjsip_endpoint, SipCredential.queue
                )
                .outerjoin(SipCredential, SipCredential.operator_id == Operator.id)
                .where(Operator.id == operator_id, Operator.active.is_(True))
            ).first()
        if row is None:
            return None
        interface = row.interface or (f"PJSIP/{row.pjsip_endpoint}" if row.pjsip_endpoint else None)
        return row.login, interface, row.queue

    def _operator_by_interface(self, interface: str) -> int | None:
        endpoint = interface.removeprefix("PJSIP/")
        with self.db.session() as session:
            found = session.execute(
                select(Operator.id).where(
                    (Operator.interface == interface) | (Operator.pjsip_endpoint == endpoint)
                )
            ).scalar()
        return int(found) if found is not None else None
