"""Meter readings by voice and keypad (REQ-T14), route ``meter-readings``.

The caller is identified through the identity gate (:mod:`ivr.identity`,
REQ-T9, T13): a calling number on file is proven with the last four digits
of the account (then the address is read back for confirmation: 1 = mine,
2 = another account, whose whole number is asked); otherwise the account
number is keyed or spoken. Nothing of the account — address, meters,
previous reading — is said before the proof; a proof made earlier in the
call (the menu's debt branch) is not asked again. Then
for each meter and each tariff zone the flow asks for the reading. The caller
may speak it or key it at any moment: a key pressed during a prompt or while
the recogniser listens wins (barge-in) and the entry continues on the keypad.

Every value is read back and confirmed (1 = correct, 2 = correct it); an
ambiguous utterance is resolved by asking ("…12 345 — press 1, 123 456 —
press 2"), never by guessing. Validation (:mod:`crm_bridge.readings`): below
the previous reading is refused unless it is a rollover; a suspicious jump
must be entered again and is stored flagged for review; outside the reading
period the reading is accepted and the caller is told when it counts.

Speech: streamed from Asterisk over AudioSocket to the Vosk recogniser
(``deps.speech``, :class:`ivr.speech_lang.SpeechComponent`), or, if
streaming is not available, recorded then recognised. Two failed recognitions
switch the call to keypad-only; failed keypad input sends the caller to an
operator (``HOTLINE_NEXT=queue``) — out of hours to the answering machine
(REQ-T16: the readings are taken around the clock, only the operators keep
working hours). No model configured: keypad only.

The appeal of kind ``meter_reading`` is registered for the call unless the
inbound flow already registered one (``HOTLINE_APPEAL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from crm_bridge.identify import IdentMethod
from crm_bridge.models import (
    AppealChannel,
    AppealKind,
    ClassificationCode,
    ReadingSource,
    ReadingStatus,
    TariffZone,
)
from crm_bridge.readings import (
    AccountBrief,
    ConfirmationRequired,
    MeterView,
    ReadingRejected,
    ReadingService,
    StoredReading,
    Verdict,
)
from ivr import phrases_ru
from ivr.deps import IvrDeps
from ivr.flows.common import call_now, dynamic_prompt
from ivr.identity import P_NOT_IDENTIFIED, IdentityGate
from ivr.phrases_ru import speak
from ivr.speech import EndReason, Final, SpeechUnavailable
from ivr.speech_lang import LanguagePack, SpeechComponent
from telephony.channel import Channel
from telephony.contract import Next, Var
from telephony.typeahead import key_ahead, type_ahead, typed_key

log = logging.getLogger(__name__)

P_NOT_IDENTIFIED_CLOSED = "ident/not_identified_closed"
KEY_TIMEOUT = 7.0
"""Seconds to wait for the first key after a prompt."""
INTER_DIGIT_TIMEOUT = 4.0
MENU_ATTEMPTS = 3
KEYPAD_ATTEMPTS = 3
"""Failed keypad entries of one reading before the operator is offered."""
VOICE_FAILURES_TO_KEYPAD = 2
"""Failed recognitions in a call after which the call is keypad-only."""
ACCOUNT_ATTEMPTS = 3
MAX_ACCOUNT_DIGITS = 20
EXEC_GRACE = 5.0
"""Seconds for ``AudioSocket()`` to return after the server closed the stream."""
RECORD_MAX_SECONDS = 12.0
RECORD_SILENCE_SECONDS = 2.0
ALL_KEYS = "0123456789*#"

ZONE_PROMPTS: dict[int, dict[TariffZone, str]] = {
    2: {TariffZone.T1: "readings/zone_day", TariffZone.T2: "readings/zone_night"},
    3: {
        TariffZone.T1: "readings/zone_peak",
        TariffZone.T2: "readings/zone_night",
        TariffZone.T3: "readings/zone_semipeak",
    },
}
"""Russian convention: two-zone T1 day / T2 night; three-zone T1 peak,
T2 night, T3 semi-peak."""
ZONE_LABELS = {
    TariffZone.T1: "readings/label_t1",
    TariffZone.T2: "readings/label_t2",
    TariffZone.T3: "readings/label_t3",
}

_ADDRESS_WORDS = (
    (r"\bг\.\s*", "город "),
    (r"\bул\.\s*", "улица "),
    (r"\bпр-т\.?\s*", "проспект "),
    (r"\bпер\.\s*", "переулок "),
    (r"\bш\.\s*", "шоссе "),
    (r"\bпл\.\s*", "площадь "),
    (r"\bб-р\.?\s*", "бульвар "),
    (r"\bпос\.\s*", "посёлок "),
    (r"\bс\.\s*", "село "),
    (r"\bд\.\s*", "дом "),
    (r"\bкорп\.\s*", "корпус "),
    (r"\bстр\.\s*", "строение "),
    (r"\bкв\.\s*", "квартира "),
)


class Operator(Exception):
    """Internal: give up and send the caller to an operator."""


class InputKind(StrEnum):
    VALUE = "value"
    KEY = "key"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Entry:
    """One value the caller gave."""

    value: int
    source: ReadingSource
    text: str | None = None
    confidence: float | None = None
    audio_ref: str | None = None
    confirmed: bool = False
    """Already confirmed (chosen among candidates): no read-back needed."""


@dataclass(frozen=True, slots=True)
class Heard:
    """The outcome of one listening turn."""

    kind: InputKind
    entry: Entry | None = None
    key: str | None = None


@dataclass
class _Call:
    ch: Channel
    deps: IvrDeps
    readings: ReadingService
    speech: SpeechComponent | None
    lang: LanguagePack | None
    voice_failures: int = 0
    streaming_broken: bool = False
    listen_count: int = 0
    recording_var: str | None = None
    period_told: bool = False
    stored: list[StoredReading] = field(default_factory=list)
    open: bool = True
    """Operators at work (REQ-T16): else the answering machine takes their place."""

    @property
    def operator(self) -> Next:
        return Next.QUEUE if self.open else Next.ANSWERING_MACHINE

    @property
    def voice(self) -> bool:
        return (
            self.speech is not None
            and self.lang is not None
            and self.speech.available
            and self.voice_failures < VOICE_FAILURES_TO_KEYPAD
        )


async def flow(ch: Channel, deps: IvrDeps) -> None:
    """The ``meter-readings`` route (REQ-T14)."""
    ch = type_ahead(ch)  # a key that stops a prompt answers the next question
    speech = deps.speech
    lang = speech.lang if speech is not None else None
    call = _Call(
        ch,
        deps,
        ReadingService.from_settings(deps.db, deps.settings),
        speech,
        lang,
    )
    call.open = deps.hours.is_open(await call_now(ch, deps))
    ch.journal.add("step", name="readings", voice=call.voice, open=call.open)
    await ch.play("readings/intro")
    account = await _identify(call)
    if account is None:
        await ch.play(P_NOT_IDENTIFIED if call.open else P_NOT_IDENTIFIED_CLOSED)
        await ch.next(call.operator)
        return
    await ch.set_var(Var.ACCOUNT, account.number)
    meters = await deps.run_db(call.readings.meters, account.id)
    if not meters:
        await ch.play("readings/no_meters")
        if call.open:
            await ch.play("common/connecting_operator")
        await _register_appeal(call, account)
        await ch.next(call.operator)
        return
    try:
        for meter in meters:
            if len(meters) > 1:
                await _announce_meter(call, meter)
            for zone in meter.zones:
                stored = await _capture_zone(call, account, meter.id, zone)
                call.stored.append(stored)
    except Operator:
        ch.journal.add("step", name="readings-operator", stored=len(call.stored))
        if call.open:
            await ch.play("readings/not_accepted_operator")
        else:
            await ch.play("readings/not_accepted")
        await _register_appeal(call, account)
        await ch.next(call.operator)
        return
    await _summary(call)
    await _register_appeal(call, account)
    await ch.play("common/goodbye")
    await ch.next(Next.HANGUP)


# -- identification ----------------------------------------------------------------------


async def _identify(call: _Call) -> AccountBrief | None:
    """The account, proven through the identity gate (REQ-T9); None: failed."""
    ch, deps = call.ch, call.deps
    gate = IdentityGate(ch, deps)
    asker = functools.partial(_ask_account_number, call)
    result = await gate.require(ask_account=asker)
    if not result.passed or result.verified is None:
        return None
    verified = result.verified
    account = await deps.run_db(call.readings.account, verified.account_id)
    if verified.way is IdentMethod.PHONE_TAIL and verified.fresh:
        # Proven: the address may be said, as a check of the account chosen.
        answer = await _ask_address(call, account)
        if answer != "1":
            await gate.forget()
            result = await gate.require(whole_number=True, ask_account=asker)
            if not result.passed or result.verified is None:
                return None
            verified = result.verified
            account = await deps.run_db(call.readings.account, verified.account_id)
    ch.journal.add("step", name="identified", method=verified.way.value)
    return account


async def _ask_address(call: _Call, account: AccountBrief) -> str | None:
    """Read the account's address back: 1 = it is mine, 2 = another account."""
    ch = call.ch
    for _ in range(MENU_ATTEMPTS):
        key = await ch.play("readings/address_is")
        if key is None:
            key = await _speak_address(call, account)
        if key is None:
            key = await ch.play("readings/address_confirm")
        if key is None:
            key = await ch.wait_digit(KEY_TIMEOUT)
        if key in ("1", "2"):
            ch.journal.add("input", digits=key, reason="ok", what="address")
            return key
        if key is not None:
            await ch.play("common/invalid_choice")
    return None


async def _speak_address(call: _Call, account: AccountBrief) -> str | None:
    """Synthesise the address (cached by hash) and play it; the account number
    if no synthesiser is available."""
    if key_ahead(call.ch):
        return None  # the caller has already answered: nothing to synthesise
    prompt_id = await _address_prompt(call, account.address)
    if prompt_id is None:
        call.ch.journal.add("error", what="address-tts", fallback="account-number")
        key = await call.ch.play("readings/account_number_is")
        if key is None:
            key = await speak(call.ch, phrases_ru.value("account", account.number, "nom"))
        return key
    call.ch.journal.add("say", what="address", value=f"account-{account.id}", text="")
    return await call.ch.play(prompt_id)


def _address_text(address: str) -> str:
    text = address
    for pattern, words in _ADDRESS_WORDS:
        text = re.sub(pattern, words, text)
    return " ".join(text.replace(",", ", ").split())


async def _address_prompt(call: _Call, address: str) -> str | None:
    if not address:
        return None
    return await dynamic_prompt(call.deps, "a", _address_text(address), "address")


async def _ask_account_number(call: _Call) -> str | None:
    """The account number, keyed (``#`` ends it) or spoken (read back and confirmed)."""
    ch = call.ch
    prompt = "ident/enter_account_or_say" if call.voice else "ident/enter_account"
    first: str | None = None
    if call.voice:
        heard = await _listen(call, (prompt,), max_digits=MAX_ACCOUNT_DIGITS, account=True)
        if heard.kind is InputKind.VALUE and heard.entry is not None and heard.entry.text:
            digits = heard.entry.text
            key = await ch.play("ident/you_entered_account")
            if key is None:
                key = await speak(ch, phrases_ru.value("account", digits, "nom"))
            if key is None:
                key = await ch.play("ident/confirm_or_retry")
            if key is None:
                key = await ch.wait_digit(KEY_TIMEOUT)
            return digits if key == "1" else None
        if heard.kind is InputKind.KEY:
            first = heard.key
        else:
            return None
    keyed = await _collect_keys(
        call, (prompt,), first=first, max_len=MAX_ACCOUNT_DIGITS + 1, private=True
    )
    # The account's digits are never journalled (152-FZ): only the outcome.
    if keyed and keyed.isdigit():
        ch.journal.add("input", digits="", reason="ok", what="account", private=True)
        return keyed
    reason = "invalid" if keyed else "timeout"
    ch.journal.add("input", digits="", reason=reason, what="account", private=True)
    return None


# -- one reading -------------------------------------------------------------------------


async def _announce_meter(call: _Call, meter: MeterView) -> None:
    tail = "".join(c for c in meter.serial if c.isdigit())[-4:]
    await call.ch.play("readings/meter_number")
    if tail:
        await speak(call.ch, phrases_ru.value("digits", tail, "acc"))


async def _capture_zone(
    call: _Call, account: AccountBrief, meter_id: int, zone: TariffZone
) -> StoredReading:
    """Ask, confirm, validate and store the reading of one zone. Raises Operator."""
    ch, deps = call.ch, call.deps
    meter = await deps.run_db(call.readings.meter, meter_id)
    zone_prompt = ZONE_PROMPTS.get(len(meter.zones), {}).get(zone)
    intro = (zone_prompt,) if zone_prompt else ()
    carried: Entry | None = None
    while True:
        entry = carried or await _get_reading(call, meter, intro)
        carried = None
        intro = ()
        check = call.readings.check(meter, zone, entry.value)
        ch.journal.add(
            "step", name="reading-check", zone=zone.value, value=entry.value, verdict=check.verdict
        )
        if check.verdict is Verdict.TOO_MANY_DIGITS:
            await ch.play("readings/too_many_digits")
            continue
        if check.verdict is Verdict.BELOW_PREVIOUS:
            await _below_previous(call, meter, zone)
            continue
        if not entry.confirmed:
            answer = await _confirm_value(call, entry.value)
            if answer is None:
                raise Operator
            if not answer:
                ch.journal.add("step", name="reading-correction", zone=zone.value)
                continue
        confirmed_jump = False
        if check.verdict is Verdict.SUSPICIOUS:
            await ch.play("readings/suspicious_jump")
            again = await _get_reading(call, meter, ())
            if again.value != entry.value:
                ch.journal.add("step", name="jump-not-repeated", zone=zone.value)
                carried = again
                continue
            confirmed_jump = True
        try:
            stored = await deps.run_db(
                functools.partial(
                    call.readings.submit,
                    meter_id=meter.id,
                    zone=zone,
                    value=entry.value,
                    source=entry.source,
                    recognised_text=entry.text,
                    confidence=entry.confidence,
                    audio_ref=entry.audio_ref,
                    call_uniqueid=ch.call_id or None,
                    confirmed_jump=confirmed_jump,
                )
            )
        except ReadingRejected:
            # The meter changed since we checked (another channel): re-validate.
            meter = await deps.run_db(call.readings.meter, meter_id)
            await _below_previous(call, meter, zone)
            continue
        except ConfirmationRequired:
            meter = await deps.run_db(call.readings.meter, meter_id)
            continue
        ch.journal.add(
            "step",
            name="reading-stored",
            zone=zone.value,
            value=entry.value,
            source=entry.source.value,
            status=stored.status.value,
            verdict=stored.verdict.value,
            reading_id=stored.id,
        )
        if stored.status is ReadingStatus.FLAGGED:
            await ch.play("readings/flagged")
        else:
            await ch.play("readings/accepted")
        if not stored.in_period and not call.period_told:
            call.period_told = True
            await ch.play("readings/outside_period")
            await speak(ch, phrases_ru.value("date", stored.counts_from, "gen"))
        return stored


async def _below_previous(call: _Call, meter: MeterView, zone: TariffZone) -> None:
    await call.ch.play("readings/below_previous", "readings/previous_was")
    previous = meter.last.get(zone)
    if previous is not None:
        shown = int(previous)
        await speak(call.ch, phrases_ru.value("reading", shown, "nom"))


async def _confirm_value(call: _Call, value: int) -> bool | None:
    """«Вы передали: N. Верно — нажмите 1, исправить — 2». None: no answer."""
    ch = call.ch
    for _ in range(MENU_ATTEMPTS):
        key = await ch.play("readings/you_entered")
        if key is None:
            key = await speak(ch, phrases_ru.value("reading", value, "acc"))
        if key is None:
            key = await ch.play("readings/confirm")
        if key is None:
            key = await ch.wait_digit(KEY_TIMEOUT)
        if key == "1":
            ch.journal.add("input", digits="1", reason="ok", what="confirm")
            return True
        if key == "2":
            ch.journal.add("input", digits="2", reason="ok", what="confirm")
            return False
        if key is not None:
            await ch.play("common/invalid_choice")
    return None


async def _get_reading(call: _Call, meter: MeterView, intro: tuple[str, ...]) -> Entry:
    """One value from the caller, by voice or keypad. Raises Operator."""
    ch = call.ch
    keypad_failures = 0
    prompts: tuple[str, ...] = intro
    while True:
        first: str | None = None
        keypad_prompts: tuple[str, ...] = (*prompts, "readings/enter_reading_keypad")
        if call.voice:
            heard = await _listen(call, (*prompts, "readings/enter_reading"), meter.digits)
            prompts = ()
            if heard.kind is InputKind.VALUE and heard.entry is not None:
                return heard.entry
            if heard.kind is InputKind.KEY:
                first = heard.key
            else:
                call.voice_failures += 1
                ch.journal.add("step", name="voice-failed", failures=call.voice_failures)
                if call.voice_failures < VOICE_FAILURES_TO_KEYPAD:
                    first = await ch.play("common/input_not_recognized", "common/try_again")
                    if first is None:
                        continue
                else:
                    # «…введите их на клавиатуре и нажмите решётку» asks for the keys.
                    first = await ch.play("readings/switch_to_keypad")
                    keypad_prompts = ()
        digits = await _collect_keys(
            call,
            keypad_prompts if first is None else (),
            first=first,
            max_len=meter.digits + 1,
            timeout=KEY_TIMEOUT,
        )
        prompts = ()
        if digits and digits.isdigit() and len(digits.lstrip("0") or "0") <= meter.digits:
            ch.journal.add("input", digits=digits, reason="ok", what="reading")
            return Entry(int(digits), ReadingSource.KEYPAD, text=digits)
        reason = "invalid" if digits else "timeout"
        ch.journal.add("input", digits=digits or "", reason=reason, what="reading")
        keypad_failures += 1
        if keypad_failures >= KEYPAD_ATTEMPTS:
            raise Operator
        if digits and digits.isdigit():
            await ch.play("readings/too_many_digits")
        else:
            await ch.play("common/input_not_recognized")


async def _collect_keys(
    call: _Call,
    prompt_ids: tuple[str, ...],
    *,
    first: str | None,
    max_len: int,
    timeout: float = KEY_TIMEOUT,
    private: bool = False,
) -> str | None:
    """Keys until ``#``, ``max_len`` keys or a pause. ``first`` is a key the
    caller already pressed (barge-in). None: nothing pressed. ``private``:
    journalled masked (an account number).

    The keys are collected inside Asterisk (one ``Read()``): a key that
    arrives between two AGI commands is lost, so a command per key would drop
    digits of a reading on a busy machine."""
    buf = first or ""
    if not buf.endswith("#") and len(buf) < max_len:
        buf += await call.ch.collect_digits(
            () if buf else prompt_ids,
            max_digits=max_len - len(buf),
            timeout=INTER_DIGIT_TIMEOUT if buf else timeout,
            private=private,
        )
    if not buf:
        return None
    return buf[:-1] if buf.endswith("#") else buf


# -- speech ------------------------------------------------------------------------------


async def _listen(
    call: _Call, prompt_ids: tuple[str, ...], max_digits: int, *, account: bool = False
) -> Heard:
    """Play the prompt (a key barges in), then recognise one utterance."""
    ch = call.ch
    await ch.play(*prompt_ids)
    key = typed_key(ch)  # a key that stopped them (or an earlier prompt): no listening
    if key is not None:
        return Heard(InputKind.KEY, key=key)
    assert call.speech is not None and call.lang is not None
    call.listen_count += 1
    final: Final | None = None
    audio_ref: str | None = None
    mode = "audiosocket"
    if call.speech.streaming and not call.streaming_broken:
        final, audio_ref = await _listen_audiosocket(
            call, None if account else max_digits, keys=max_digits + 1
        )
        if final.reason in (EndReason.UNAVAILABLE, EndReason.ERROR) or (
            final.reason is EndReason.TIMEOUT and audio_ref is None
        ):
            log.warning("AudioSocket listening failed (%s): record-then-recognise", final.reason)
            call.streaming_broken = True
            final = None
    if final is None:
        mode = "record"
        final, audio_ref = await _listen_record(call)
    ch.journal.add(
        "speech",
        mode=mode,
        reason=final.reason.value,
        text=final.text,
        confidence=round(final.confidence, 3),
        elapsed=round(final.elapsed, 3),
        # the line's audio decoded, and the time filled in where nothing came
        heard=round(final.audio_time - final.filled_time, 2),
        filled=round(final.filled_time, 2),
    )
    if final.reason is EndReason.DTMF and final.dtmf:
        ch.journal.add("dtmf", digits=final.dtmf, barge_in=True)
        return Heard(InputKind.KEY, key=final.dtmf)
    if final.reason is EndReason.HANGUP:
        # Asterisk closed the stream: find out whether the caller is still there.
        await ch.get_var("CHANNEL(state)")
    if not final.recognised:
        return Heard(InputKind.FAILED)
    if account:
        parsed = call.lang.parse_reading(final.text, max_digits=None)
        if parsed.ok and parsed.digits:
            return Heard(
                InputKind.VALUE,
                Entry(int(parsed.digits), ReadingSource.VOICE, parsed.digits, final.confidence),
            )
        return Heard(InputKind.FAILED)
    parsed = call.lang.parse_reading(final.text, max_digits=max_digits)
    ch.journal.add(
        "step",
        name="parse",
        value=parsed.value,
        candidates=list(parsed.candidates),
        reason=parsed.reason,
    )
    if parsed.ambiguous:
        chosen = await _choose(call, parsed.candidates)
        if chosen is None:
            return Heard(InputKind.FAILED)
        return Heard(
            InputKind.VALUE,
            Entry(
                chosen,
                ReadingSource.VOICE,
                final.text,
                final.confidence,
                audio_ref,
                confirmed=True,
            ),
        )
    if parsed.value is None:
        return Heard(InputKind.FAILED)
    return Heard(
        InputKind.VALUE,
        Entry(parsed.value, ReadingSource.VOICE, final.text, final.confidence, audio_ref),
    )


async def _choose(call: _Call, candidates: tuple[int, ...]) -> int | None:
    """Ask which of the readings the caller meant (never guess)."""
    ch = call.ch
    options = candidates[:3]
    for _ in range(2):
        key = await ch.play("readings/which_one")
        for index, value in enumerate(options, start=1):
            if key is None:
                key = await speak(ch, phrases_ru.value("reading", value, "nom"))
            if key is None:
                key = await ch.play(f"readings/press_{index}")
        if key is None:
            key = await ch.play("readings/press_0_reenter")
        if key is None:
            key = await ch.wait_digit(KEY_TIMEOUT)
        if key is not None and key.isdigit() and 1 <= int(key) <= len(options):
            ch.journal.add("input", digits=key, reason="ok", what="candidate")
            return options[int(key) - 1]
        if key == "0":
            return None
        if key is not None:
            await ch.play("common/invalid_choice")
    return None


async def _call_recording(call: _Call) -> str | None:
    if call.recording_var is None:
        call.recording_var = await call.ch.get_var(Var.RECORDING) or ""
    return f"{call.recording_var}.wav" if call.recording_var else None


async def _listen_audiosocket(
    call: _Call, digits: int | None, *, keys: int = 1
) -> tuple[Final, str | None]:
    """Stream the caller to the recogniser while ``AudioSocket()`` holds the channel.

    ``digits``: the meter's digit count; a complete reading (every digit
    dictated, or a whole number filling the meter and ending with a closing
    word) ends at the first short pause instead of waiting for the trailing
    silence. ``keys``: a caller who starts keying instead has the rest of
    the number (up to ``#``, this many keys or a pause) collected within the
    same stream, so no key is lost between this and a next command.
    Returns the result and the audio
    reference (None when Asterisk never connected).
    """
    ch = call.ch
    speech = call.speech
    assert speech is not None and speech.server is not None and call.lang is not None
    try:
        endpointing = speech.endpointing
        if digits:
            endpointing = dataclasses.replace(
                endpointing, complete=functools.partial(call.lang.reading_complete, digits=digits)
            )
        expectation = speech.server.expect(
            call.lang.grammar,
            endpointing=endpointing,
            keys=keys,
            inter_digit=INTER_DIGIT_TIMEOUT,
        )
    except (SpeechUnavailable, RuntimeError, ValueError) as exc:
        log.warning("AudioSocket session not registered: %s", exc)
        return Final("", EndReason.UNAVAILABLE), None
    async with expectation:
        ch.journal.add(
            "step",
            name="listen",
            mode="audiosocket",
            session=expectation.uuid,
            complete_digits=digits,
        )
        # -1 is how AudioSocket() ends when the stream closes: not a hang-up.
        exec_task = asyncio.create_task(
            ch.exec("AudioSocket", expectation.dialplan_args, check_hangup=False),
            name=f"audiosocket-exec-{ch.call_id}",
        )
        result_task = asyncio.create_task(
            expectation.result(timeout=speech.listen_timeout), name="audiosocket-result"
        )
        try:
            await asyncio.wait({exec_task, result_task}, return_when=asyncio.FIRST_COMPLETED)
            if exec_task.done() and not result_task.done():
                # AudioSocket() returned first: it could not connect, or the caller left.
                expectation.cancel(
                    EndReason.HANGUP if expectation.connected else EndReason.UNAVAILABLE
                )
            final = await result_task
            # The server hangs the stream up after the result: AudioSocket() returns.
            try:
                async with asyncio.timeout(EXEC_GRACE):
                    exit_code = await asyncio.shield(exec_task)
            except TimeoutError:
                log.error("AudioSocket() did not return after the result; call %s", ch.call_id)
                raise
        except BaseException:
            for task in (exec_task, result_task):
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(exec_task, result_task, return_exceptions=True)
            raise
    connected = expectation.connected
    ch.journal.add(
        "step",
        name="audiosocket",
        connected=connected,
        result=str(exit_code),
        reason=final.reason.value,
    )
    if exit_code == -1:
        # AudioSocket() ends with -1 when the stream is closed; a hung-up caller
        # makes the next command raise CallerHangup.
        await ch.get_var("CHANNEL(state)")
    ref = await _call_recording(call) if connected else None
    return final, (ref or (f"audiosocket:{expectation.uuid}" if connected else None))


async def _listen_record(call: _Call) -> tuple[Final, str | None]:
    """Record-then-recognise fallback: ``RECORD FILE`` (a key ends it), then Vosk."""
    ch, deps = call.ch, call.deps
    speech = call.speech
    assert speech is not None and call.lang is not None
    name = f"reading-{ch.call_id or 'call'}-{call.listen_count}"
    ch.journal.add("step", name="listen", mode="record")
    rec = await ch.record(
        name,
        fmt="wav",
        max_seconds=RECORD_MAX_SECONDS,
        silence_seconds=RECORD_SILENCE_SECONDS,
        beep=False,
        escape=ALL_KEYS,
    )
    if rec.dtmf:
        return Final(f"dtmf:{rec.dtmf}", EndReason.DTMF, confidence=1.0, dtmf=rec.dtmf), None
    host_path = Path(deps.settings.spool_dir) / f"{name}.wav"
    final = await speech.engine.recognise_file(
        host_path,
        call.lang.grammar,
        endpointing=speech.endpointing,
        timeout=speech.listen_timeout,
    )
    return final, f"{rec.asterisk_path}.{rec.fmt}"


# -- the end -----------------------------------------------------------------------------


async def _summary(call: _Call) -> None:
    """Say what was accepted."""
    ch = call.ch
    if not call.stored:
        return
    await ch.play("readings/summary")
    several = len(call.stored) > 1
    for stored in call.stored:
        if several:
            await ch.play(ZONE_LABELS[stored.zone])
        value = int(stored.value)
        await speak(ch, phrases_ru.value("reading", value, "nom"))
    if any(s.status is ReadingStatus.FLAGGED for s in call.stored):
        await ch.play("readings/flagged_summary")
    await ch.play("readings/all_accepted")


def _appeal_content(stored: list[StoredReading]) -> str:
    if not stored:
        return "Передача показаний по телефону: показания не приняты."
    parts = []
    for s in stored:
        value = format(s.value.quantize(Decimal(1)) if s.value == int(s.value) else s.value, "f")
        status = "на проверку" if s.status is ReadingStatus.FLAGGED else "принято"
        parts.append(f"{s.serial} {s.zone.value}: {value} ({status})")
    return "Показания приборов учёта по телефону: " + "; ".join(parts) + "."


async def _register_appeal(call: _Call, account: AccountBrief) -> None:
    """REQ-A1: the contact is registered, unless the inbound flow already did it."""
    ch, deps = call.ch, call.deps
    existing = await ch.get_var(Var.APPEAL)
    if existing:
        ch.journal.add("step", name="appeal-existing", readings=len(call.stored))
        return
    fields: dict[str, Any] = {
        "channel": AppealChannel.PHONE,
        "kind": AppealKind.METER_READING,
        "category": account.category,
        "content": _appeal_content(call.stored),
        "address_text": account.address,
        "classification": ClassificationCode.E,
        "account_id": account.id,
    }
    if ch.call_id:
        # Durable (issue 13), like the hotline's: the call row (the AMI
        # listener writes it too) and the appeal are spooled while the
        # database is away, registered on replay.
        await deps.durable.record_call(
            ch.call_id,
            {"linkedid": ch.linked_id, "caller_number": ch.caller_number},
            source="ivr",
        )
        view = await deps.durable.register_appeal(
            call_uniqueid=ch.call_id, received_at=await call_now(ch, deps), **fields
        )
        if view is None:
            ch.journal.add("step", name="appeal", spooled=True, readings=len(call.stored))
            return
    else:
        service = deps.crm.appeals
        view = await deps.run_db(lambda: service.register(**fields))
    ch.journal.add("step", name="appeal", number=view.number)
    await ch.set_var(Var.APPEAL, view.number)
