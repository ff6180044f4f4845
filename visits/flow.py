"""The voice menu's visit booking (route ``visits``, main menu key 5; REQ-T11, T16).

Reached from the main menu at any hour (self-service). The caller first
passes the identity gate (:mod:`ivr.identity`, REQ-T9: the visit is booked
on a proven account; a proof made earlier in the call is remembered). Then:

* **a visit already booked**: «Вы записаны на приём в понедельник, седьмого
  декабря, в десять часов тридцать минут», the office; 1 moves it (the same
  office's free slots), 2 cancels it (confirmed with 1), 0 the operator;
* **no visit**: the office of the account's settlement is offered (1 =
  this office, 2 = the next office, in turn); its next three free slots are
  said naturally (:func:`slot_phrase`), each followed by «нажмите N»; 9 the
  later ones; the chosen slot is repeated and confirmed with 1 (2 = another
  time). A slot taken meanwhile by someone else: «это время только что
  заняли» and the slots again. The confirmation goes by the channel on
  file: the e-mail on file; without one, a caller on a mobile of the
  account is offered SMS (1) — REQ-O12.

Every menu follows the hotline's conventions (:func:`ivr.flows.common.choose`:
``*`` repeats, three failures → operator); keys pressed while a slot or a
prompt is said answer the next question (type-ahead). The journal records
steps and the visit's id, never a digit of the account (152-FZ).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from crm_bridge.phones import try_normalize_phone
from ivr import phrases_ru
from ivr.deps import IvrDeps
from ivr.flows.common import ChoiceStatus, call_now, choose, dynamic_prompt
from ivr.identity import P_NOT_IDENTIFIED, IdentityGate
from ivr.phrases_ru import Phrase, speak
from telephony.channel import Channel
from telephony.contract import Next
from telephony.typeahead import key_ahead, type_ahead
from visits.models import NoticeChannel
from visits.service import (
    LEAD,
    Contact,
    OfficeView,
    SlotTaken,
    SlotView,
    VisitError,
    VisitService,
    VisitView,
)

__all__ = ["flow", "slot_phrase"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SLOTS_AT_ONCE: Final = 3
MORE_KEY: Final = "9"
P_ON: Final = tuple(f"visits/on_{d}" for d in range(7))
"""«в понедельник» … «в воскресенье»: then the date, genitive."""
P_AT: Final = "visits/at"
"""«в» + the time, accusative."""


def slot_phrase(at: datetime, zone: ZoneInfo) -> Phrase:
    """«в понедельник, седьмого декабря, в десять часов тридцать минут»."""
    local = at.astimezone(zone)
    return Phrase(
        (
            P_ON[local.weekday()],
            *phrases_ru.value("date", local.date(), "gen").parts,
            P_AT,
            *phrases_ru.value("time", local.time(), "acc").parts,
        )
    )


@dataclass(slots=True)
class _Call:
    ch: Channel
    deps: IvrDeps
    now: datetime
    service: VisitService
    account_id: int = 0

    def db(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        return self.deps.run_db(fn, *args)


class _ToOperator(Exception):
    pass


async def flow(ch: Channel, deps: IvrDeps) -> None:
    """The ``visits`` route."""
    ch = type_ahead(ch)
    now = await call_now(ch, deps)
    service = VisitService(
        deps.db, deps.crm.calendar, clock=lambda: now, zone=deps.settings.timezone
    )
    call = _Call(ch, deps, now, service)
    ch.journal.add("step", name="visits")
    await ch.play("visits/intro")
    result = await IdentityGate(ch, deps).require(notice=("visits/ident_required",))
    if not result.passed or result.verified is None:
        ch.journal.add("step", name="visits:not-identified")
        await ch.play(P_NOT_IDENTIFIED)
        await ch.next(Next.QUEUE)
        return
    call.account_id = result.verified.account_id
    try:
        upcoming = await call.db(service.upcoming, call.account_id)
        if upcoming:
            where = await _existing(call, upcoming[0])
        else:
            where = await _book(call)
    except _ToOperator:
        await ch.play("common/connecting_operator")
        where = Next.QUEUE
    if where is Next.HANGUP:
        await ch.play("common/goodbye")
    await ch.next(where)


# -- a visit already booked --------------------------------------------------------------


async def _existing(call: _Call, visit: VisitView) -> Next:
    ch = call.ch
    office = await call.db(call.service.office, visit.office_id)
    ch.journal.add("step", name="visits:existing", visit=visit.id)
    while True:
        await ch.play("visits/you_are_booked")
        await speak(ch, slot_phrase(visit.starts_at, office.zone))
        await _say_office(call, office)
        choice = await choose(
            ch,
            ("visits/existing_options",),
            "120",
            name="visits-existing",
            back=False,
            return_repeat=True,
        )
        if choice.status is ChoiceStatus.REPEAT:
            continue
        if choice.status is ChoiceStatus.FAILED or choice.key == "0":
            raise _ToOperator
        if choice.key == "1":
            return await _book(call, moving=visit, office=office)
        confirm = await choose(ch, ("visits/cancel_confirm",), "1", name="visits-cancel")
        if confirm.status is ChoiceStatus.BACK:
            continue
        if not confirm.ok:
            raise _ToOperator
        cancelled = await call.db(lambda: call.service.cancel(visit.id, by="ivr"))
        ch.journal.add("step", name="visit-cancelled", visit=cancelled.id)
        await ch.play("visits/cancelled")
        await _say_notice(call, cancelled.notify_channel)
        return Next.HANGUP


# -- booking (or moving) -----------------------------------------------------------------


async def _book(
    call: _Call, *, moving: VisitView | None = None, office: OfficeView | None = None
) -> Next:
    ch, service = call.ch, call.service
    if office is None:
        office = await _choose_office(call)
    while True:
        slot = await _choose_slot(call, office)
        ch.journal.add("step", name="visits:slot", at=slot.starts_at.isoformat())
        await ch.play("visits/you_choose")
        await speak(ch, slot_phrase(slot.starts_at, office.zone))
        confirm = await choose(
            ch, ("visits/confirm_options",), "12", name="visits-confirm", back=False
        )
        if not confirm.ok:
            raise _ToOperator
        if confirm.key == "2":
            continue
        try:
            if moving is not None:
                visit = await call.db(
                    lambda: service.move(moving.id, slot.starts_at, by="ivr")  # noqa: B023
                )
                ch.journal.add("step", name="visit-moved", visit=visit.id)
                await ch.play("visits/moved")
            else:
                contact = await _contact(call)
                visit = await call.db(
                    lambda: service.book(
                        office.id,
                        call.account_id,
                        slot.starts_at,  # noqa: B023
                        source="ivr",
                        by="ivr",
                        contact=contact,  # noqa: B023
                        topic="запись из голосового меню",
                        call_uniqueid=ch.call_id or None,
                    )
                )
                ch.journal.add("step", name="visit-booked", visit=visit.id)
                await ch.play("visits/booked")
        except SlotTaken:
            ch.journal.add("step", name="visits:slot-taken")
            await ch.play("visits/slot_taken")
            continue
        except VisitError as exc:
            log.warning("call %s: visit refused: %s", ch.call_id, exc)
            raise _ToOperator from exc
        await _say_notice(call, visit.notify_channel)
        return Next.HANGUP


async def _choose_office(call: _Call) -> OfficeView:
    """The account's settlement's office first, then the others in turn."""
    ch, service = call.ch, call.service
    nearest = await call.db(service.nearest_office, call.account_id)
    offices = await call.db(lambda: service.offices(active_only=True))
    if nearest is None or not offices:
        await ch.play("visits/no_offices")
        raise _ToOperator
    order = [nearest, *(o for o in offices if o.id != nearest.id)]
    i = 0
    while True:
        office = order[i % len(order)]
        await ch.play("visits/office_nearest" if i == 0 else "visits/office_other")
        await _say_office(call, office)
        choice = await choose(
            ch,
            ("visits/office_options",) if len(order) > 1 else ("visits/office_only",),
            "12" if len(order) > 1 else "1",
            name="visits-office",
            return_repeat=True,
        )
        if choice.status is ChoiceStatus.REPEAT:
            continue
        if choice.status is ChoiceStatus.BACK:
            i = 0
            continue
        if not choice.ok:
            raise _ToOperator
        if choice.key == "1":
            ch.journal.add("step", name="visits:office", office=office.id)
            return office
        i += 1


async def _choose_slot(call: _Call, office: OfficeView) -> SlotView:
    ch, service = call.ch, call.service
    after = call.now
    while True:
        slots = await call.db(
            lambda: service.free_slots(office.id, after=after, limit=SLOTS_AT_ONCE)  # noqa: B023
        )
        if not slots:
            await ch.play("visits/no_slots")
            raise _ToOperator
        await ch.play("visits/slots_intro")
        for n, slot in enumerate(slots, 1):
            await speak(ch, slot_phrase(slot.starts_at, office.zone))
            await ch.play(f"visits/press_{n}")
        keys = "".join(str(n) for n in range(1, len(slots) + 1)) + MORE_KEY
        choice = await choose(ch, ("visits/slots_more",), keys, name="visits-slot")
        if choice.status is ChoiceStatus.BACK:
            after = call.now
            continue
        if not choice.ok or choice.key is None:
            raise _ToOperator
        if choice.key == MORE_KEY:
            after = slots[-1].starts_at - LEAD + timedelta(seconds=1)
            continue
        return slots[int(choice.key) - 1]


async def _contact(call: _Call) -> Contact:
    """REQ-O12: the e-mail on file; else SMS to the calling mobile if the caller wants it."""
    service = call.service
    contact = await call.db(service.contact_for, call.account_id, "auto")
    if contact.channel is not NoticeChannel.NONE:
        return contact
    phone = try_normalize_phone(call.ch.caller_number)
    if phone is None or not phone.startswith("+79"):
        return contact
    try:
        sms = await call.db(service.contact_for, call.account_id, "sms", phone)
    except VisitError:
        return contact  # the calling mobile is not the account's
    choice = await choose(
        call.ch,
        ("visits/sms_offer",),
        "12",
        name="visits-sms",
        back=False,
        attempts=2,
        quiet_failure=True,  # silence: no SMS, the booking goes on
    )
    return sms if choice.ok and choice.key == "1" else contact


async def _say_notice(call: _Call, channel: NoticeChannel) -> None:
    prompt = {
        NoticeChannel.EMAIL: "visits/notice_email",
        NoticeChannel.SMS: "visits/notice_sms",
    }.get(channel, "visits/notice_none")
    await call.ch.play(prompt)


# -- the office, said -------------------------------------------------------------------


async def _say_office(call: _Call, office: OfficeView) -> str | None:
    """The office's spoken name, synthesised once (cached by its text); its
    number when no synthesiser is available."""
    ch = call.ch
    if key_ahead(ch):
        return None
    prompt = await dynamic_prompt(call.deps, "o", office.spoken, "office name")
    if prompt is None:
        ch.journal.add("error", what="office-tts", fallback="office-number")
        key = await ch.play("visits/office_number")
        if key is None:
            key = await speak(ch, phrases_ru.value("number", office.id, "nom"))
        return key
    ch.journal.add("say", what="office", value=f"office-{office.id}", text="")
    return await ch.play(prompt)
