"""The hotline's inbound flow (route ``inbound``): REQ-T1–T4, T7, T9, T10, T13, A1, A2, A4.

Order of a call:

1. ``common/recording_warning`` — before anything else (REQ-T4); the
   dialplan has already started MixMonitor on ``HOTLINE_RECORDING`` and the
   file is linked to the call row.
2. An emergency outage at the caller's address (issue 16, :mod:`ivr.flows.
   outage_first`): when an account of the calling number is inside an
   active emergency outage of the register, the caller is told so (and
   when the power is expected back) before the menu; a key pressed then is
   the menu's choice. The appeal is classified as the outage (КЭ, or Ог for
   a limitation), whatever the caller chooses next, unless it becomes a
   meter reading (Э).
3. Working hours (REQ-T2, T3, T16): the menu works around the clock; out of
   hours, or on a public holiday, the caller is told that the self-service
   works and that the operator's place is taken by the answering machine:
   every way to an operator (0, failed input, a proof that failed, the
   specialist) ends in the answering machine (``HOTLINE_NEXT=
   answering-machine``), which registers its own appeal with a callback in
   working hours. Readings, outages and debt are given as by day.
4. The main menu (``*`` repeats, ``#`` goes back, three failed tries → an
   operator):

   ===  ====================================  ==========================  =====
   key  branch                                where it ends               code
   ===  ====================================  ==========================  =====
   1    meter readings (REQ-T14)              ``meter-readings`` flow     Э
   2    planned and emergency outages         announcement; 1 = operator  КЭ
   3    connection and standard answers       sub-menu (REQ-T10)          С/Т/Об
   4    debt and payments                     after identification (T9)   Об
   5    a visit to a customer office (T11)    ``visits`` route (visits/)  Об
   0    operator                              queue                       Пр
   ===  ====================================  ==========================  =====

   Classification (REQ-A4), the pre-filled code of the appeal and of
   ``HOTLINE_CLASS`` for the operator card: readings are household supply
   (Э); outages are power quality (КЭ); connection questions С, tariffs Т,
   payments, offices and debt Об (customer service); a plain request for
   the operator, or failed input, Пр (other). The operator corrects it.
5. Debt (REQ-T9, T13), and the outages at the caller's address: only after
   the caller has passed the identity gate (:mod:`ivr.identity`: the last
   four digits of the account of a calling number on file, or the whole
   account number); the calling number alone never unlocks them. Three
   failed proofs → operator; the outages without a proof: the public
   schedule only. A proof is asked once per call.
6. Before the queue: the caller's position and the estimated wait (REQ-T7).

Every call is registered as an appeal (REQ-A1, A2) when it leaves the menu
— or when the caller hangs up — except one the answering machine takes
(that flow registers the message), with the channel
``phone``, the kind (consultation, appeal, meter reading), the category of
the identified account (else ФЛ), the classification and the call link;
its number goes to ``HOTLINE_APPEAL``. The call row gets the direction, the
calling number, the recording and the IVR path; the AMI listener completes
queue, operator and hangup data.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from crm_bridge.appeals import AppealView
from crm_bridge.db import utcnow
from crm_bridge.errors import NotIdentified
from crm_bridge.identify import AccountCard, Identification, Identifier
from crm_bridge.models import AppealChannel, AppealKind, Category, ClassificationCode
from crm_bridge.outages import CallerEmergency, OutageKind, OutageService, OutageView
from ivr import phrases_ru
from ivr.deps import IvrDeps
from ivr.flows import outage_first
from ivr.flows.common import (
    ChoiceStatus,
    call_now,
    choose,
    host_path,
    say_datetime,
    working_hours,
)
from ivr.identity import P_NOT_IDENTIFIED, IdentityGate, OnFile, Outcome, Verified, on_file
from ivr.phrases_ru import speak
from ivr.schedule import WorkingHours
from telephony.channel import CallerHangup, Channel
from telephony.contract import Next, Var
from telephony.typeahead import type_ahead

__all__ = ["CLASSIFICATION", "CONSULT_ANSWERS", "estimate_wait", "flow"]

log = logging.getLogger(__name__)

P_WARNING: Final = "common/recording_warning"
P_WELCOME: Final = "common/welcome"
P_MAIN: Final = "menu/main"
P_HINT: Final = "common/repeat_back_hint"
P_MAIN_REPEAT: Final = "menu/main_repeat"
P_SORRY_OPERATOR: Final = "common/sorry_transfer_operator"
P_CONNECTING: Final = "common/connecting_operator"
P_QUEUE_POSITION: Final = "queue/position_is"
P_QUEUE_WAIT: Final = "queue/estimated_wait"
P_AFTER_HOURS: Final = "common/after_hours_self_service"
P_NOT_IDENTIFIED_CLOSED: Final = "ident/not_identified_closed"

CLASSIFICATION: Final = {
    "readings": ClassificationCode.E,
    "outages": ClassificationCode.KE,
    "consult": ClassificationCode.S,
    "debt": ClassificationCode.OB,
    "visits": ClassificationCode.OB,
    "operator": ClassificationCode.PR,
}
"""REQ-A4 code pre-filled by the main-menu branch (see the module docstring)."""

CONSULT_ANSWERS: Final[dict[str, tuple[tuple[str, ...], ClassificationCode, str]]] = {
    "1": (("consult/tc_howto",), ClassificationCode.S, "как подать заявку на техприсоединение"),
    "2": (
        ("consult/tc_documents", "consult/tc_cost"),
        ClassificationCode.S,
        "документы и плата за техприсоединение",
    ),
    "3": (("consult/tariffs",), ClassificationCode.T, "тарифы"),
    "4": (
        ("consult/payment_methods", "consult/payment_due"),
        ClassificationCode.OB,
        "способы и сроки оплаты",
    ),
    "5": (
        ("consult/office_hours", "consult/visit_booking"),
        ClassificationCode.OB,
        "офисы обслуживания и запись на приём",
    ),
}
"""Standard answers of the consultation sub-menu (REQ-T10, T11): key →
(prompts, classification, topic for the appeal)."""

DEFAULT_HANDLE_SECONDS: Final = 180
"""Average handling time per caller ahead, when the queue has no history."""


@dataclass(frozen=True, slots=True)
class _CallerContext:
    """What the database knows of the calling number, fetched in one trip
    while the recording warning plays: the menu then answers «outages» and
    checks an account number keyed by its own holder without a database
    trip while the caller waits for the next prompt (nothing of it is
    spoken before identification, REQ-T9)."""

    account_id: int | None = None
    """The only account of the calling number, if exactly one."""
    number: str | None = None
    by_account: Identification | None = None
    """The identification by that account's own number, as a keyed one gives."""
    outages: tuple[OutageView, ...] = ()
    on_file: OnFile | None = None
    """The calling number's accounts, for the identity gate (:mod:`ivr.identity`)."""


def _caller_context(db: Any, phone: str | None, now: datetime) -> _CallerContext:
    known = on_file(db, phone)
    found = known.by_phone
    if found.account_id is None or not found.candidates:
        return _CallerContext(on_file=known)
    number = found.candidates[0].number
    outages = OutageService(db).affecting(account_id=found.account_id, now=now)
    return _CallerContext(
        account_id=found.account_id,
        number=number,
        by_account=known.own.get(number),
        outages=tuple(outages),
        on_file=known,
    )


@dataclass(slots=True)
class _Call:
    ch: Channel
    deps: IvrDeps
    now: datetime
    hours: WorkingHours
    recording: str = ""
    open: bool = True
    path: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    classification: ClassificationCode | None = None
    kind: AppealKind = AppealKind.CONSULTATION
    account: Verified | None = None
    """The account the caller has proven (the identity gate passed)."""
    gate: IdentityGate | None = None
    appeal: AppealView | None = None
    registered: bool = False
    served: bool = False
    """The menu gave the caller what was asked (a standard answer, the
    outages at the address, the balance): a consultation answered in the call."""
    prefetch: asyncio.Future[_CallerContext] | None = None
    emergency_check: asyncio.Future[CallerEmergency | None] | None = None
    emergency: CallerEmergency | None = None
    """The emergency outage announced before the menu (issue 16)."""
    _context: _CallerContext | None = None

    async def context(self) -> _CallerContext:
        """The caller context fetched at the start (see :class:`_CallerContext`);
        fetched now when that look-up failed."""
        if self._context is None and self.prefetch is not None:
            try:
                self._context = await self.prefetch
            except Exception as exc:
                log.warning("call %s: caller look-up failed: %r", self.ch.call_id, exc)
        if self._context is None:
            deps = self.deps
            self._context = await deps.run_db(
                _caller_context, deps.db, self.ch.caller_number, self.now
            )
        return self._context

    async def on_file(self) -> OnFile:
        ctx = await self.context()
        if ctx.on_file is not None:
            return ctx.on_file
        return await self.deps.run_db(on_file, self.deps.db, self.ch.caller_number)

    def identity(self) -> IdentityGate:
        """The call's one identity gate (REQ-T9)."""
        if self.gate is None:
            self.gate = IdentityGate(self.ch, self.deps, on_file=self.on_file)
        return self.gate

    def step(self, name: str, **detail: Any) -> None:
        self.path.append(name)
        self.ch.journal.add("step", name=name, **detail)

    def classify(self, code: ClassificationCode) -> None:
        self.classification = code

    def code(self) -> ClassificationCode:
        """The appeal's REQ-A4 code: the announced emergency's, unless the
        call became a meter reading; else the last branch's, else Пр."""
        if self.emergency is not None and self.kind is not AppealKind.METER_READING:
            return self.emergency.outage.classification
        return self.classification or ClassificationCode.PR

    def not_identified(self) -> str:
        """«Not identified»: by day «…соединяем с оператором», out of hours
        without it (the answering machine says what follows)."""
        return P_NOT_IDENTIFIED if self.open else P_NOT_IDENTIFIED_CLOSED


# -- the flow -----------------------------------------------------------------------------


async def flow(ch: Channel, deps: IvrDeps) -> None:
    # A key that stops a prompt answers the next question (issue 17): the
    # greeting's key is the main menu's choice, a key during a notice the
    # first digit of the number asked next.
    ch = type_ahead(ch)
    hours = working_hours(deps)
    call = _Call(ch, deps, utcnow(), hours)
    try:
        await ch.answer()
        # Silent look-ups first, so that a caller who hangs up during the
        # warning still leaves a complete call row.
        call.recording = await ch.get_var(Var.RECORDING) or ""
        call.now = await call_now(ch, deps)
        call.open = hours.is_open(call.now)
        # Both look-ups run while the warning plays; the menu works around
        # the clock (REQ-T16), so they are made in any hour.
        call.prefetch = asyncio.ensure_future(
            deps.run_db(_caller_context, deps.db, ch.caller_number, call.now)
        )
        call.emergency_check = outage_first.start_check(deps, ch.caller_number, call.now)
        # REQ-T4: the first thing the caller hears, and heard in full (no barge-in).
        await ch.play(P_WARNING, escape="")
        # The dialplan's fallback plays the warning unless this says it was heard.
        await ch.set_var(Var.WARNED, "1")
        await _upsert_call(call)
        await ch.set_var(Var.OPEN, "1" if call.open else "0")
        await _emergency_first(call)
        await ch.play(P_WELCOME)
        if not call.open:
            call.step("after-hours", open=False)
            await ch.play(P_AFTER_HOURS)
        where = await _main_menu(call)
    except CallerHangup:
        call.step("hangup")
        await _register(call, hung_up=True)
        raise
    finally:
        for future in (call.prefetch, call.emergency_check):
            if future is None:
                continue
            if future.done():
                if not future.cancelled():
                    future.exception()  # retrieved: a failure was logged where used
            else:
                future.cancel()
    if where is Next.ANSWERING_MACHINE:
        await _upsert_call(call)  # the machine registers the message
    else:
        await _register(call)
    variables: dict[str, str] = {}
    if call.appeal is not None:
        variables[Var.APPEAL] = call.appeal.number
    variables[Var.CLASSIFICATION] = call.code().value
    if call.account is not None:
        variables[Var.ACCOUNT] = call.account.number
    if where is Next.QUEUE:
        await _announce_queue(call)
    await ch.next(where, **variables)


async def _emergency_first(call: _Call) -> None:
    """Issue 16 item 2: an emergency outage at the caller's address, said
    before the menu (see :mod:`ivr.flows.outage_first`)."""
    if call.emergency_check is None:
        return
    found = await outage_first.wait_check(call.emergency_check, call.ch.call_id)
    if found is None:
        return
    call.emergency = found
    call.topics.append("аварийное отключение по адресу (сообщено до меню)")
    call.served = True
    await outage_first.announce(call.ch, found, call.now, call.hours.zone)


async def _main_menu(call: _Call) -> Next:
    ch = call.ch
    prompts: tuple[str, ...] = (P_MAIN, P_HINT)
    while True:
        call.step("menu")
        choice = await choose(ch, prompts, "123450", name="main", back=False, return_repeat=True)
        prompts = (P_MAIN,)
        if choice.status is ChoiceStatus.REPEAT:
            prompts = (P_MAIN_REPEAT, P_MAIN)
            continue
        if choice.status is ChoiceStatus.FAILED:
            return await _to_operator(call, failed=True)
        key = choice.key
        result: Next | None
        if key == "1":
            result = await _readings(call)
        elif key == "2":
            result = await _outages(call)
        elif key == "3":
            result = await _consult(call)
        elif key == "4":
            result = await _debt(call)
        elif key == "5":
            result = _visits(call)
        else:
            call.classify(call.classification or CLASSIFICATION["operator"])
            result = await _to_operator(call)
        if result is not None:
            return result


async def _to_operator(call: _Call, *, failed: bool = False, announce: bool = True) -> Next:
    """The operator queue; ``failed``: after repeated wrong or no input.
    Out of hours the answering machine (REQ-T16: only the operators keep
    working hours); it tells the caller why."""
    call.step("operator", failed=failed)
    call.kind = AppealKind.APPEAL if call.kind is not AppealKind.METER_READING else call.kind
    if call.classification is None:
        call.classify(CLASSIFICATION["operator"])
    if not call.open:
        call.step("answering-machine", open=False)
        return Next.ANSWERING_MACHINE
    if failed:
        call.topics.append("не удалось выбрать пункт меню")
        await call.ch.play(P_SORRY_OPERATOR)
    elif announce:
        await call.ch.play(P_CONNECTING)
    call.topics.append("соединение с оператором")
    return Next.QUEUE


# -- 1: meter readings --------------------------------------------------------------------


async def _readings(call: _Call) -> Next:
    call.step("readings")
    call.classify(CLASSIFICATION["readings"])
    call.kind = AppealKind.METER_READING
    call.topics.append("передача показаний")
    return Next.METER_READINGS


# -- 5: a visit to an office (the visits slice's route) -----------------------------------


def _visits(call: _Call) -> Next:
    call.step("visits")
    call.classify(CLASSIFICATION["visits"])
    call.topics.append("запись на приём в офис обслуживания")
    call.served = True  # self-service: the visits route books, moves or cancels it
    return Next.VISITS


# -- 2: outages ---------------------------------------------------------------------------


async def _outages(call: _Call) -> Next | None:
    ch = call.ch
    call.step("outages")
    call.classify(CLASSIFICATION["outages"])
    call.topics.append("отключения электроэнергии")
    outcome, account_id, found = await _outage_account(call)
    if outcome is Outcome.FAILED:
        call.step("outages:not-identified")
        await ch.play(call.not_identified())
        return await _to_operator(call, announce=False)
    ch.journal.add(
        "step", name="outages-found", count=len(found), address_known=account_id is not None
    )
    while True:
        if account_id is None:
            await ch.play("outage/more_info_site")
        else:
            await _announce_outages(call, found)
            call.served = True
        choice = await choose(
            ch,
            ("outage/report_outage", P_HINT),
            "1",
            name="outages",
            return_repeat=True,
        )
        if choice.status is ChoiceStatus.REPEAT:
            continue
        if choice.status is ChoiceStatus.BACK:
            return None
        if choice.status is ChoiceStatus.FAILED:
            return await _to_operator(call, failed=True)
        call.topics.append("сообщение об отсутствии электроэнергии")
        return await _to_operator(call)


async def _outage_account(call: _Call) -> tuple[Outcome, int | None, list[OutageView]]:
    """The account whose address the announcement is about, with its outages.

    The outages at an address say where the holder of the calling number
    lives and when the house is without power, so they are told only after
    the identity gate (REQ-T9, T13; optional here: a caller who keys
    nothing hears the public schedule only, DECLINED)."""
    deps = call.deps
    if call.account is None:
        result = await call.identity().require(
            known_prompt="outage/enter_last_digits",
            unknown_prompt="outage/enter_account",
            optional=True,
        )
        if not result.passed:
            return result.outcome, None, []
        assert result.verified is not None
        call.account = result.verified
    ctx = await call.context()
    account_id = call.account.account_id
    if account_id == ctx.account_id:
        return Outcome.PASSED, account_id, list(ctx.outages)
    found = await deps.run_db(
        lambda: OutageService(deps.db).affecting(account_id=account_id, now=call.now)
    )
    return Outcome.PASSED, account_id, found


async def _announce_outages(call: _Call, found: list[OutageView]) -> None:
    ch, zone = call.ch, call.hours.zone
    if not found:
        await ch.play("outage/none_at_address")
        return
    for outage in found:
        if outage.kind is OutageKind.EMERGENCY:
            eta = outage.estimate(call.now)
            if eta is None:  # not known, or overdue and not restored yet
                await ch.play("outage/emergency_works", "outage/restore_unknown")
            else:
                await ch.play("outage/emergency_works", "outage/estimated_restore")
                await say_datetime(ch, eta, zone, "nom")
        else:
            await ch.play("outage/planned_at_address")
            starts, ends = outage.starts_at.astimezone(zone), outage.ends_at.astimezone(zone)
            await speak(ch, phrases_ru.time_range(starts, ends))
            await ch.play("outage/reason_repair")


# -- 3: consultations ---------------------------------------------------------------------


async def _consult(call: _Call) -> Next | None:
    ch = call.ch
    call.step("consult")
    call.classify(CLASSIFICATION["consult"])
    while True:
        choice = await choose(ch, ("consult/menu",), "123450", name="consult")
        if choice.status is ChoiceStatus.BACK:
            return None
        if choice.status is ChoiceStatus.FAILED:
            return await _to_operator(call, failed=True)
        if choice.key == "0":
            call.topics.append("консультация специалиста")
            if call.open:
                await ch.play("consult/specialist_transfer")
            return await _to_operator(call, announce=False)
        assert choice.key is not None
        prompts, code, topic = CONSULT_ANSWERS[choice.key]
        call.step(f"consult:{choice.key}")
        call.classify(code)
        call.topics.append(topic)
        after = await _answer(call, prompts)
        if after is not None:
            return after


async def _answer(call: _Call, prompts: tuple[str, ...]) -> Next | None:
    """Play a standard answer; ``*`` repeats it, ``#`` returns to the
    sub-menu (None), ``0`` the operator — also as keys pressed during the
    answer (typed ahead into the «after the answer» menu)."""
    ch = call.ch
    while True:
        await ch.play(*prompts)
        call.served = True  # heard (or cut short by the caller; a hang-up raised)
        choice = await choose(
            ch, ("consult/after_answer",), "0", name="consult-answer", return_repeat=True
        )
        if choice.status is ChoiceStatus.FAILED:
            return await _to_operator(call, failed=True)
        if choice.status is ChoiceStatus.REPEAT:
            continue
        if choice.status is ChoiceStatus.BACK:
            return None
        return await _to_operator(call)


# -- 4: debt and payments (REQ-T9) ---------------------------------------------------------


async def _debt(call: _Call) -> Next | None:
    ch, deps = call.ch, call.deps
    call.step("debt")
    call.classify(CLASSIFICATION["debt"])
    call.topics.append("задолженность и оплата")
    if call.account is None or call.account.ident is None:
        # A caller who knows the number may key it in during this notice.
        result = await call.identity().require(notice=("ident/required_for_debt",))
        if not result.passed or result.verified is None or result.verified.ident is None:
            call.step("debt:not-identified")
            await ch.play(call.not_identified())
            return await _to_operator(call, announce=False)
        call.account = result.verified
    assert call.account.ident is not None
    identifier = Identifier(deps.db)
    try:
        card = await deps.run_db(identifier.card, call.account.ident)
    except NotIdentified:
        log.warning("call %s: identification no longer valid", ch.call_id)
        await ch.play(call.not_identified())
        return await _to_operator(call, announce=False)
    call.step("debt:balance")
    while True:
        await _speak_balance(call, card)
        call.served = True
        choice = await choose(ch, ("debt/options",), "10", name="debt", return_repeat=True)
        if choice.status is ChoiceStatus.REPEAT:
            continue
        if choice.status is ChoiceStatus.BACK:
            return None
        if choice.status is ChoiceStatus.FAILED:
            return await _to_operator(call, failed=True)
        if choice.key == "0":
            return await _to_operator(call)
        call.step("debt:payment-methods")
        call.topics.append("способы оплаты")
        await ch.play("consult/payment_methods", "consult/payment_due")


async def _speak_balance(call: _Call, card: AccountCard) -> None:
    ch = call.ch
    debt = card.debt
    if debt > 0:
        await ch.play("debt/your_debt_is")
        await speak(ch, phrases_ru.value("money", debt, "nom"))
    elif debt < 0:
        await ch.play("debt/overpayment_is")
        await speak(ch, phrases_ru.value("money", -debt, "gen"))
    else:
        await ch.play("debt/no_debt")
        return
    if card.debt_as_of is not None:
        await ch.play("debt/as_of")
        await speak(ch, phrases_ru.value("date", card.debt_as_of, "acc"))


# -- queue (REQ-T7) ------------------------------------------------------------------------


def estimate_wait(
    position: int,
    *,
    logged_in: int,
    free: int,
    holdtime: int,
    handle_seconds: int = DEFAULT_HANDLE_SECONDS,
) -> int:
    """Estimated wait in seconds for the caller at ``position`` (1 = next).

    The queue's average hold time when it has one; else the callers ahead
    shared among the logged-in operators, each taking ``handle_seconds``.
    Never below one minute when nobody is free (it is spoken in minutes).
    """
    if position <= free:
        return 0
    if holdtime > 0:
        estimate = holdtime * max(1, math.ceil(position / max(1, logged_in)))
    else:
        estimate = math.ceil(position / max(1, logged_in)) * handle_seconds
    return max(60, estimate)


async def _announce_queue(call: _Call) -> None:
    """«Ваш номер в очереди N, примерное время ожидания M минут»."""
    ch, queue = call.ch, call.deps.settings.queue_name
    waiting = _int(await ch.get_var(f"QUEUE_WAITING_COUNT({queue})"))
    logged = _int(await ch.get_var(f"QUEUE_MEMBER({queue},logged)"))
    free = _int(await ch.get_var(f"QUEUE_MEMBER({queue},free)"))
    await ch.get_var(f"QUEUE_VARIABLES({queue})")  # sets QUEUEHOLDTIME on the channel
    holdtime = _int(await ch.get_var("QUEUEHOLDTIME"))
    position = waiting + 1
    wait = estimate_wait(position, logged_in=logged, free=free, holdtime=holdtime)
    ch.journal.add(
        "step", name="queue-info", position=position, wait=wait, logged=logged, free=free
    )
    if wait == 0:
        return
    minutes = math.ceil(wait / 60)
    await ch.play(P_QUEUE_POSITION)
    await speak(ch, phrases_ru.value("number", position, "nom"))
    await ch.play(P_QUEUE_WAIT)
    await speak(ch, phrases_ru.value("duration", minutes * 60, "nom"))


def _int(value: str | None) -> int:
    try:
        return int(str(value or "0").strip() or 0)
    except ValueError:
        return 0


# -- records ------------------------------------------------------------------------------

ANSWERED_BY_MENU: Final = "Консультация дана голосовым меню (самообслуживание)."


async def _upsert_call(call: _Call, *, ended: bool = False) -> None:
    ch, deps = call.ch, call.deps
    if not ch.call_id:
        return
    values: dict[str, Any] = {
        "linkedid": ch.linked_id,
        "direction": "in",
        "caller_number": ch.caller_number,
        "ivr_path": list(call.path),
    }
    if call.recording:
        values["recording_file"] = str(host_path(deps.settings, call.recording + ".wav"))
    if call.account is not None:
        values["account_id"] = call.account.account_id
    if ended:
        values["ended_at"] = utcnow()
    # Durable (issue 13): to the database within the caller's time limit,
    # else to the node's spool, replayed when the database is back.
    await deps.durable.record_call(ch.call_id, values, source="ivr")


async def _register(call: _Call, *, hung_up: bool = False) -> None:
    """REQ-A1/A2: register the contact (once), link it to the call row."""
    if call.registered:
        return
    call.registered = True
    ch, deps = call.ch, call.deps
    await _upsert_call(call, ended=hung_up)
    service = deps.crm.appeals
    topics = "; ".join(dict.fromkeys(call.topics)) or "без выбора пункта меню"
    content = f"Звонок на горячую линию: {topics}."
    if hung_up:
        content += " Абонент завершил звонок в голосовом меню."
    account = call.account
    # A consultation the menu answered is over with the call (issue 14):
    # registered closed, so it never shows as overdue.
    answered = call.kind is AppealKind.CONSULTATION and call.served
    fields: dict[str, Any] = {
        "channel": AppealChannel.PHONE,
        "kind": call.kind,
        "answered_in_call": ANSWERED_BY_MENU if answered else None,
        "category": account.category if account else Category.FL,
        "content": content,
        "classification": call.code(),
        "account_id": account.account_id if account else None,
        "received_at": call.now,
        "reply_contact": ch.caller_number,
    }
    if not ch.call_id:
        call.appeal = await deps.run_db(lambda: service.register(**fields))
    else:
        # Durable: spooled when the database is away, its number given on replay.
        call.appeal = await deps.durable.register_appeal(call_uniqueid=ch.call_id, **fields)
    if call.appeal is None:
        ch.journal.add("step", name="appeal", spooled=True)
        return
    ch.journal.add("step", name="appeal", number=call.appeal.number)
