"""The message played to the answered callee (FastAGI route ``outbound-message``;
REQ-O1, O5, O6, O8).

The scenario of the campaign is played step by step — recorded phrases,
recordings the dispatcher uploaded, the contact's (or the campaign's)
variables spoken in Russian (money, dates, times, phone and account numbers;
``ivr.phrases_ru``, each in the case of the phrase before it) and questions, whose keys are stored as answers. Then: «1» repeats the message, «0»
transfers to the operator queue with the campaign, the contact and the
account on the operator's card (``HOTLINE_CAMPAIGN``/``HOTLINE_CONTACT``/
``HOTLINE_ACCOUNT``; :mod:`autoinformer.card`). A key pressed
during the message acts at once (barge-in).

What is written on the attempt row (``flow_state``), which the dialer turns
into the result when the call ends:

* ``playing`` — answered, message started;
* ``completed`` — the whole message was played: «положительный звонок» (O8);
* ``transferred`` — 0 pressed, sent to the operator queue (O5);
* ``hungup`` + ``hangup_second`` — hung up before the end, N s after answer;
* ``machine`` — AMD said MACHINE and the campaign retries machines;
  ``machine_left`` — the message was left on the machine.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from autoinformer.builder import MessageBuilder
from autoinformer.campaigns import step_cases, step_phrase
from autoinformer.deps import AutoinformerDeps
from autoinformer.store import AttemptStore, MessageContext
from ivr.phrases_ru import speak
from telephony.channel import CallerHangup, Channel
from telephony.contract import Next, Var

log = logging.getLogger(__name__)

__all__ = ["MAX_REPEATS", "outbound_message"]

MAX_REPEATS: Final = 3
HINT_WAIT: Final = 5.0
QUESTION_WAIT: Final = 6.0


class MessageNotFound(LookupError):
    """The call carries no (known) attempt id: the dialplan sends it to hangup."""


async def outbound_message(ch: Channel, deps: AutoinformerDeps) -> None:
    started = time.monotonic()
    raw = await ch.get_var(Var.ATTEMPT)
    store = AttemptStore(deps.db, deps.settings.node_name, campaigns=deps.campaigns)
    ctx: MessageContext | None = None
    if raw and raw.isdigit():
        ctx = await deps.run_db(store.message_context, int(raw))
    if ctx is None:
        ch.journal.add("step", name="outbound", error="unknown attempt")
        raise MessageNotFound(f"no attempt {raw!r}")
    await _deliver(ch, deps, store, ctx, started)


async def _deliver(
    ch: Channel, deps: AutoinformerDeps, store: AttemptStore, ctx: MessageContext, started: float
) -> None:
    update = functools.partial(store.flow_update, ctx.attempt_id)
    amd = (await ch.get_var("AMDSTATUS")) or None
    ch.journal.add("step", name="outbound", attempt=ctx.attempt_id, campaign=ctx.campaign_id)
    state = "playing"
    await deps.run_db(lambda: store.flow_update(ctx.attempt_id, flow_state=state, amd_status=amd))

    async def report(new_state: str, **extra: Any) -> None:
        nonlocal state
        state = new_state
        await deps.run_db(functools.partial(update, flow_state=new_state, **extra))

    uploads = {step.get("audio") or step.get("question") or "" for step in ctx.scenario} - {""}
    uploads = {u for u in uploads if u.startswith("upload/")}
    if uploads:
        # A recording uploaded on another node: this node's copy, from the database.
        builder = MessageBuilder(deps.campaigns, deps.settings.sounds_dir)
        for upload in sorted(uploads):
            await deps.run_db(builder.materialise, upload)
    try:
        if amd == "MACHINE" and ctx.amd == "retry":
            ch.journal.add("step", name="amd", status=amd, action="retry")
            await report("machine")
            await ch.hangup()
            return
        repeats = 0

        async def answered(question: str, key: str) -> None:
            await deps.run_db(store.record_answer, ctx.attempt_id, question, key)

        while True:
            digit = await _play_message(ch, ctx, answered)
            if digit is None:
                if state == "playing":
                    await report("machine_left" if amd == "MACHINE" else "completed")
                digit = await ch.play("outbound/repeat_hint", "outbound/operator_hint")
                if digit is None:
                    digit = await ch.wait_digit(HINT_WAIT)
            if digit == "1" and repeats < MAX_REPEATS:
                repeats += 1
                await deps.run_db(functools.partial(update, repeats=repeats))
                continue
            if digit == "0":
                await report("transferred")
                card = {
                    Var.CAMPAIGN.value: str(ctx.campaign_id),
                    Var.CONTACT.value: str(ctx.contact_id),
                }
                if ctx.account:  # the call row and the card know the account (REQ-O5)
                    card[Var.ACCOUNT.value] = str(ctx.account)
                await ch.next(Next.QUEUE, **card)
                return
            break
        await ch.play("outbound/goodbye", escape="")
        await ch.hangup()
    except CallerHangup:
        if state == "playing":
            second = round(time.monotonic() - started, 1)
            ch.journal.add("step", name="outbound", hungup_at=second)
            await deps.run_db(functools.partial(update, flow_state="hungup", hangup_second=second))
        raise


async def _play_message(
    ch: Channel, ctx: MessageContext, answered: Callable[[str, str], Awaitable[None]]
) -> str | None:
    """Play the scenario once; a key pressed stops it and is returned
    (except during a question, whose keys are its answers)."""
    for step, case in zip(ctx.scenario, step_cases(ctx.scenario), strict=True):
        if "question" in step:
            await _ask(ch, step, answered)
            continue
        if "prompt" in step:
            digit = await ch.play(step["prompt"])
        elif "audio" in step:
            digit = await ch.play(step["audio"])
        else:
            try:
                phrase = step_phrase(step, ctx.variables, ctx.timezone, case or "nom")
            except (ValueError, TypeError):
                # Validated at import; a value changed since is skipped, not invented.
                ch.journal.add("error", what="variable", var=step.get("var", ""))
                continue
            digit = await speak(ch, phrase)
        if digit in ("0", "1"):
            return digit
    return None


async def _ask(
    ch: Channel, step: Mapping[str, str], answered: Callable[[str, str], Awaitable[None]]
) -> None:
    """A question of the message: one of its keys is the answer (asked
    twice at most; silence or another key leaves it unanswered)."""
    keys = step["keys"]
    nps = step.get("scale") == "nps"  # 0–10: ten is keyed 1 then 0 (REQ-A13)
    result = await ch.read_digits(
        step["question"],
        max_digits=2 if nps else 1,
        timeout=QUESTION_WAIT,
        inter_digit_timeout=2.0,
        attempts=2,
        valid=(lambda d: d.isdigit() and int(d) <= 10) if nps else (lambda d: d in keys),
        retry_prompt=None,
    )
    ch.journal.add("step", name="question", question=step["name"], answered=bool(result.digits))
    if result.digits:
        await answered(step["name"], result.digits)
