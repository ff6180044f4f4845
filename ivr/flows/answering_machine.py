"""The after-hours answering machine (route ``answering-machine``): REQ-T3, T5, T6, A8.

The caller is told the working hours and what a message needs (REQ-T5),
then asked in turn — each answer recorded into the spool after a beep:

1. surname, name and patronymic;
2. the account number or the address;
3. a phone or address for the reply: the calling number confirmed with 1,
   another number keyed in (2), or said after the beep (3, or silence);
4. the message itself (only when a reply contact was given).

A reply contact exists when a phone was confirmed or keyed, or when the
spoken contact recording holds speech (energy detector,
:func:`ivr.flows.common.has_speech`: Record() ends on 3 s of silence, so a
silent caller leaves a recording without voiced frames). Without one the
message is registered as «не рассматривается» / ``no_contact`` (REQ-T5,
A8) — kept with its recordings, never dropped — and the caller is told why.

The appeal (channel ``answering_machine``, kind
``answering_machine_message``) holds the recordings and, when a Vosk model
is configured (``deps.speech``), their transcripts, decoded off the
event loop. With a phone, a callback task is created in the next working
hours (REQ-T6); its window ends at the appeal's deadline (10 days, the last
working hours before it, :mod:`crm_bridge.deadlines`). A caller who hangs
up half-way still leaves a registered message with what was recorded.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select

from crm_bridge.appeals import AppealView
from crm_bridge.calls import CallService
from crm_bridge.durable import is_unavailable
from crm_bridge.models import (
    AppealChannel,
    AppealKind,
    Callback,
    Category,
    ClassificationCode,
    ReplyChannel,
)
from crm_bridge.phones import is_valid_phone, try_normalize_phone
from ivr import phrases_ru
from ivr.deps import IvrDeps
from ivr.flows.common import (
    ChoiceStatus,
    call_now,
    callback_window,
    choose,
    create_callback,
    has_speech_async,
    host_path,
    working_hours,
)
from ivr.phrases_ru import speak
from telephony.channel import CallerHangup, Channel
from telephony.contract import Var
from telephony.typeahead import type_ahead

__all__ = ["ANSWERS", "flow"]

log = logging.getLogger(__name__)

ANSWERS: Final = (
    ("name", "am/say_name", 20.0),
    ("account", "am/say_account_or_address", 25.0),
    ("contact", "am/say_contact", 25.0),
    ("message", "am/say_message", 90.0),
)
"""(answer, prompt, longest recording in seconds), in the order asked."""
SILENCE_SECONDS: Final = 3.0
TRANSCRIBE_TIMEOUT: Final = 30.0


@dataclass(slots=True)
class _Answer:
    name: str
    asterisk_path: str
    host: Path
    speech: bool = False
    transcript: str = ""


@dataclass(slots=True)
class _Message:
    ch: Channel
    deps: IvrDeps
    now: datetime
    answers: dict[str, _Answer] = field(default_factory=dict)
    phone: str | None = None
    phone_source: str = ""
    appeal: AppealView | None = None
    registered: bool = False
    classification: ClassificationCode | None = None
    """The menu's code when the caller came from it (``HOTLINE_CLASS``):
    e.g. КЭ for a caller told of an emergency outage before the menu."""

    @property
    def has_contact(self) -> bool:
        contact = self.answers.get("contact")
        return bool(self.phone) or bool(contact and contact.speech)


async def flow(ch: Channel, deps: IvrDeps) -> None:
    ch = type_ahead(ch)  # a key that stops a prompt answers the next question
    now = await call_now(ch, deps)
    msg = _Message(ch, deps, now)
    ch.journal.add("step", name="answering-machine")
    msg.classification = _code(await ch.get_var(Var.CLASSIFICATION))
    try:
        await ch.play("am/out_of_hours", "am/requirements")
        await _ask(msg, "name")
        await _ask(msg, "account")
        await _contact(msg)
        if msg.has_contact:
            await _ask(msg, "message")
    except CallerHangup:
        await _register(msg, hung_up=True)
        raise
    await _register(msg)
    if msg.appeal is not None:
        await ch.set_var(Var.APPEAL, msg.appeal.number)
    if msg.appeal is not None:
        # REQ-A11: the notice of registration, with the number — also of a
        # message without a contact (kept, not considered: its number lets
        # the caller refer to it when calling again).
        await ch.play("am/registered_number")
        seq = msg.appeal.seq
        await speak(ch, phrases_ru.value("appeal", seq, "nom"))
    if msg.has_contact:
        await ch.play("am/thank_you_callback")
    else:
        await ch.play("am/no_contact")
    await ch.hangup()


def _code(raw: str | None) -> ClassificationCode | None:
    try:
        return ClassificationCode(raw) if raw else None
    except ValueError:
        return None


def _spec(answer: str) -> tuple[str, float]:
    for name, prompt, seconds in ANSWERS:
        if name == answer:
            return prompt, seconds
    raise KeyError(answer)


async def _ask(msg: _Message, answer: str) -> _Answer:
    """Ask one question and record the reply (kept even if the caller hangs up)."""
    ch, deps = msg.ch, msg.deps
    prompt, seconds = _spec(answer)
    file_name = f"am-{_safe(ch.call_id)}-{answer}"
    asterisk_path = f"{ch.spool_dir.rstrip('/')}/{file_name}"
    item = _Answer(answer, asterisk_path, host_path(deps.settings, asterisk_path + ".wav"))
    msg.answers[answer] = item
    ch.journal.add("step", name=f"am-{answer}")
    await ch.play(prompt)
    try:
        await ch.record(file_name, max_seconds=seconds, silence_seconds=SILENCE_SECONDS)
    finally:
        item.speech = await has_speech_async(item.host)
        ch.journal.add("step", name=f"am-{answer}-recorded", speech=item.speech)
    return item


async def _contact(msg: _Message) -> None:
    """The reply contact: caller ID confirmed (1), keyed (2), or spoken (3 / silence)."""
    ch = msg.ch
    caller = try_normalize_phone(ch.caller_number) if ch.caller_number else None
    if caller:
        await ch.play("am/callback_caller_id")
        await speak(ch, phrases_ru.value("phone", caller, "acc"))
        prompts: tuple[str, ...] = ("am/contact_options",)
        keys = "123"
    else:
        prompts = ("am/contact_options_no_cid",)
        keys = "23"
    choice = await choose(
        ch, prompts, keys, name="am-contact", attempts=1, back=False, quiet_failure=True
    )
    if choice.status is ChoiceStatus.OK and choice.key == "1" and caller:
        msg.phone, msg.phone_source = caller, "caller-id"
    elif choice.status is ChoiceStatus.OK and choice.key == "2":
        result = await ch.read_digits(
            "queue/enter_number",
            max_digits=12,
            timeout=8.0,
            inter_digit_timeout=4.0,
            attempts=2,
            valid=is_valid_phone,
            retry_prompt="queue/invalid_number",
        )
        if result.digits:
            msg.phone, msg.phone_source = try_normalize_phone(result.digits), "keyed"
    if msg.phone:
        ch.journal.add("step", name="am-contact", source=msg.phone_source)
        return
    await _ask(msg, "contact")


async def _transcribe(msg: _Message) -> None:
    """Transcripts of the recordings with speech, when a Vosk model is loaded."""
    speech = msg.deps.speech
    engine = getattr(speech, "engine", None)
    if engine is None or not getattr(speech, "available", False):
        return
    for item in msg.answers.values():
        if not item.speech:
            continue
        try:
            final = await asyncio.wait_for(engine.recognise_file(item.host), TRANSCRIBE_TIMEOUT)
        except TimeoutError:
            log.warning("transcription of an answering-machine recording timed out")
            continue
        item.transcript = final.text if final.recognised else ""


async def _register(msg: _Message, *, hung_up: bool = False) -> None:
    if msg.registered:
        return
    msg.registered = True
    ch, deps = msg.ch, msg.deps
    await _transcribe(msg)
    answers = msg.answers
    contact = answers.get("contact")
    if msg.phone:
        reply_contact: str | None = msg.phone
    elif contact is not None and contact.speech:
        reply_contact = contact.transcript or f"голосом, запись {contact.host.name}"
    else:
        reply_contact = None
    labels = {
        "name": "ФИО",
        "account": "лицевой счёт или адрес",
        "contact": "контакт",
        "message": "сообщение",
    }
    parts = [f"{labels[a.name]}: «{a.transcript}»" for a in answers.values() if a.transcript]
    content = (
        "Сообщение на автоответчике (ФИО, лицевой счёт или адрес, контакт и суть — в записях)."
    )
    if parts:
        content += " Распознано: " + "; ".join(parts) + "."
    if hung_up:
        content += " Абонент завершил звонок до окончания сообщения."
    recordings = [str(a.host) for a in answers.values() if a.host.exists()]
    transcript = (
        "\n".join(f"{labels[a.name]}: {a.transcript}" for a in answers.values() if a.transcript)
        or None
    )
    service = deps.crm.appeals
    name = answers.get("name")
    account = answers.get("account")
    fields: dict[str, Any] = {
        "channel": AppealChannel.ANSWERING_MACHINE,
        "kind": AppealKind.ANSWERING_MACHINE_MESSAGE,
        "category": Category.FL,
        "content": content,
        "applicant_name": (name.transcript or None) if name else None,
        "address_text": (account.transcript or None) if account else None,
        "reply_channel": ReplyChannel.PHONE,
        "reply_contact": reply_contact,
        "classification": msg.classification,
        "received_at": msg.now,
        "recordings": recordings,
        "transcript": transcript,
    }
    callback: dict[str, Any] | None = None
    if msg.phone:
        start, _ = callback_window(working_hours(deps), msg.now)
        callback = {
            "phone": msg.phone,
            "due_at": start,
            "window_start": start,
            "note": "Перезвонить по сообщению на автоответчике в рабочее время (REQ-T6).",
        }
    if ch.call_id:
        # Durable (issue 13): the message is never lost with the database
        # away — spooled with its recordings and its callback (REQ-T6),
        # both registered on replay, once.
        msg.appeal = await deps.durable.register_appeal(
            call_uniqueid=ch.call_id, callback=callback, **fields
        )
    else:
        msg.appeal = await deps.run_db(lambda: service.register(**fields))
    appeal = msg.appeal
    if appeal is None:
        ch.journal.add(
            "step",
            name="appeal",
            spooled=True,
            contact=reply_contact is not None,
            callback=callback is not None,
        )
        await _record_path(msg)
        return
    ch.journal.add(
        "step",
        name="appeal",
        number=appeal.number,
        status=appeal.status.value,
        contact=reply_contact is not None,
    )
    if callback is not None and appeal.is_open:
        if ch.call_id:
            callback_id = await deps.run_db(lambda: _callback_of(deps, appeal.id))
        else:
            due = appeal.effective_due_at or callback["due_at"]
            callback_id = await deps.run_db(
                lambda: create_callback(
                    deps.db,
                    phone=callback["phone"],
                    due_at=callback["due_at"],
                    window_start=callback["window_start"],
                    window_end=due,
                    appeal_id=appeal.id,
                    note=callback["note"],
                )
            )
        ch.journal.add("step", name="callback", id=callback_id)
    await _record_path(msg)


async def _record_path(msg: _Message) -> None:
    ch, deps = msg.ch, msg.deps
    if not ch.call_id:
        return
    service = CallService(deps.db)

    def update() -> None:
        current = service.get(ch.call_id)
        path = list(current.ivr_path) if current else []
        path.append("answering-machine:" + ("message" if msg.has_contact else "no-contact"))
        service.upsert(ch.call_id, ivr_path=path)

    try:
        await deps.run_db(update)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # The database is away: the path is bookkeeping, the message is spooled.
        ch.journal.add("step", name="path-not-recorded", reason=type(exc).__name__)


def _callback_of(deps: IvrDeps, appeal_id: int) -> int | None:
    """The callback the durable registration created with the appeal."""
    with deps.db.session(readonly=True) as s:
        found = s.scalars(
            select(Callback.id).where(Callback.appeal_id == appeal_id).limit(1)
        ).first()
    return int(found) if found is not None else None


def _safe(call_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in call_id) or "call"
