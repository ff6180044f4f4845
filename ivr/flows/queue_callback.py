"""The callback offer after a long wait in the queue (route ``queue-callback``): REQ-T8.

The queue context runs ``Queue(…,${HOTLINE_CALLBACK_AFTER})``; when that
times out (default 120 s, ``settings.queue_callback_after``; a call may
override the channel variable) this flow offers a callback: 1 takes it, the
caller confirms the calling number (1) or keys another one (2), and a
pending callback task is created — due now when operators are at work,
else at the next opening (REQ-T6), promised within
``settings.queue_callback_within_minutes`` of working time; the caller hears
by when («сегодня, не позже чем в …») and the worklist marks it overdue after
that — linked to the call's appeal (``HOTLINE_APPEAL``; a call without one,
e.g. one the fallback path put in the queue, registers the request as an
appeal), whose number the caller then hears (REQ-A11). Anything else (or silence) returns the caller to the
queue (``HOTLINE_NEXT=queue``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from crm_bridge.appeals import AppealService, AppealView
from crm_bridge.calls import CallService
from crm_bridge.durable import is_unavailable
from crm_bridge.errors import AppealNotFound
from crm_bridge.models import (
    AppealChannel,
    AppealKind,
    Callback,
    Category,
    ClassificationCode,
)
from crm_bridge.phones import is_valid_phone, try_normalize_phone
from ivr import phrases_ru
from ivr.deps import IvrDeps
from ivr.flows.common import (
    ChoiceStatus,
    call_now,
    callback_promise,
    choose,
    create_callback,
    working_hours,
)
from ivr.phrases_ru import speak
from telephony.channel import Channel
from telephony.contract import Next, Var
from telephony.typeahead import type_ahead

__all__ = ["flow"]

log = logging.getLogger(__name__)


async def flow(ch: Channel, deps: IvrDeps) -> None:
    ch = type_ahead(ch)  # a key that stops a prompt answers the next question
    ch.journal.add("step", name="callback-offer")
    offer = await choose(
        ch,
        ("queue/callback_offer",),
        "1",
        name="callback-offer",
        attempts=1,
        back=False,
        quiet_failure=True,
    )
    if not (offer.status is ChoiceStatus.OK and offer.key == "1"):
        await _back_to_queue(ch)
        return
    phone = await _phone(ch)
    if phone is None:
        await _back_to_queue(ch)
        return
    now = await call_now(ch, deps)
    hours = working_hours(deps)
    start, end = callback_promise(hours, now, deps.settings.queue_callback_within_minutes)
    appeal_number = await ch.get_var(Var.APPEAL)
    note = "Обратный звонок вместо ожидания в очереди (REQ-T8)."
    if not appeal_number and ch.call_id:
        # No appeal of this call (the menu did not run: the fallback path):
        # the callback request is registered as one (REQ-A1), so that it has
        # a number — durably, with its callback task (issue 13): spooled with
        # the database away, both registered on replay.
        appeal = await deps.durable.register_appeal(
            call_uniqueid=ch.call_id,
            callback={
                "phone": phone,
                "due_at": start,
                "window_start": start,
                "window_end": end,
                "note": note,
            },
            **_fields(phone, now),
        )
        if appeal is not None:
            await ch.set_var(Var.APPEAL, appeal.number)
        callback_id = await _durable_callback(deps, ch, appeal)
    else:
        found = await deps.run_db(_appeal_of, deps.db, appeal_number)
        if found is None:
            found = await deps.run_db(_register, deps, ch.call_id, phone, now)
            await ch.set_var(Var.APPEAL, found.number)
        appeal = found

        def create() -> int:
            task = create_callback(
                deps.db,
                phone=phone,
                due_at=start,
                window_start=start,
                window_end=end,
                appeal_id=found.id,
                account_id=found.account_id,
                note=note,
            )
            _path(deps, ch.call_id)
            return task

        callback_id = await deps.run_db(create)
    ch.journal.add(
        "step",
        name="callback",
        id=callback_id,
        spooled=appeal is None,
        open=hours.is_open(now),
        by=end.isoformat(),
    )
    await ch.play("queue/will_call_number")
    await speak(ch, phrases_ru.value("phone", phone, "acc"))
    await ch.play("queue/callback_registered")
    await _say_when(ch, now.astimezone(hours.zone), end.astimezone(hours.zone))
    if appeal is not None:
        # REQ-A11: the notice of registration, with the appeal's number
        # (a spooled appeal gets its number on replay: none is said).
        await ch.play("queue/registered_number")
        await speak(ch, phrases_ru.value("appeal", appeal.seq, "nom"))
    await ch.play("common/goodbye")
    await ch.hangup()


async def _say_when(ch: Channel, now: datetime, by: datetime) -> None:
    """«сегодня | завтра | седьмого декабря, не позже чем в четырнадцать
    часов тридцать минут» (the promise, REQ-T8; local times)."""
    if by.date() == now.date():
        await ch.play("queue/today")
    elif by.date() == now.date() + timedelta(days=1):
        await ch.play("queue/tomorrow")
    else:
        await speak(ch, phrases_ru.value("date", by.date(), "gen"))
    await ch.play("queue/no_later_than")
    await speak(ch, phrases_ru.value("time", by.time(), "acc"))


async def _phone(ch: Channel) -> str | None:
    caller = try_normalize_phone(ch.caller_number) if ch.caller_number else None
    if caller:
        choice = await choose(ch, ("queue/confirm_number",), "12", name="callback-number")
        if choice.status is not ChoiceStatus.OK:
            return None
        if choice.key == "1":
            return caller
    result = await ch.read_digits(
        "queue/enter_number",
        max_digits=12,
        timeout=8.0,
        inter_digit_timeout=4.0,
        attempts=3,
        valid=is_valid_phone,
        retry_prompt="queue/invalid_number",
    )
    return try_normalize_phone(result.digits) if result.digits else None


async def _back_to_queue(ch: Channel) -> None:
    ch.journal.add("step", name="callback-declined")
    await ch.play("queue/back_to_queue")
    await ch.next(Next.QUEUE)


def _appeal_of(db: Any, number: str | None) -> AppealView | None:
    if not number:
        return None
    try:
        return AppealService(db).get_by_number(number)
    except AppealNotFound:
        log.warning("callback: appeal of the call not found")
        return None


def _fields(phone: str, now: datetime) -> dict[str, Any]:
    return {
        "channel": AppealChannel.PHONE,
        "kind": AppealKind.APPEAL,
        "category": Category.FL,
        "content": "Заявка на обратный звонок вместо ожидания в очереди.",
        "classification": ClassificationCode.PR,
        "reply_contact": phone,
        "received_at": now,
    }


def _register(deps: IvrDeps, call_id: str, phone: str, now: datetime) -> AppealView:
    return deps.crm.appeals.register(call_uniqueid=call_id or None, **_fields(phone, now))


def _path(deps: IvrDeps, call_id: str) -> None:
    """The call's menu path ends in ``queue-callback`` (bookkeeping)."""
    if call_id:
        calls = CallService(deps.db)
        current = calls.get(call_id)
        path = [*(current.ivr_path if current else ()), "queue-callback"]
        calls.upsert(call_id, ivr_path=path, outcome="callback")


async def _durable_callback(deps: IvrDeps, ch: Channel, appeal: AppealView | None) -> int | None:
    """The callback the durable registration created (None while spooled);
    the call's path recorded unless the database is away."""
    if appeal is None:
        return None

    def find() -> int | None:
        with deps.db.session(readonly=True) as s:
            found = s.scalars(
                select(Callback.id).where(Callback.appeal_id == appeal.id).limit(1)
            ).first()
        _path(deps, ch.call_id)
        return int(found) if found is not None else None

    try:
        return await deps.run_db(find)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        return None
