"""Type-ahead over real SIP (issue 17): a key that stops a prompt is the
answer to the next question.

The callers' telephone network (a second Asterisk, hotline.sipnet) calls the
hotline's trunk; keys are RFC 4733 events, each sent once the prompt it
interrupts has started playing (Asterisk's own AGIExecStart). Each test
proves, from Asterisk's record of what it played, that the question the key
answered was never played, and, from the flow's journal, that the key was
taken as its answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from crm_bridge.demo_data import DEMO_CALLER, DEMO_NO_DEBT, DEMO_UNKNOWN_PHONE
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk]


def _inputs(journal: Any) -> list[tuple[str, str]]:
    return [
        (str(e.detail.get("menu") or e.detail.get("what") or ""), str(e.detail["digits"]))
        for e in journal.entries
        if e.kind == "input"
    ]


def _skipped(journal: Any) -> list[str]:
    return [str(e.detail["id"]) for e in journal.entries if e.kind == "skip"]


async def _end(sip: Any, call: Any) -> Any:
    await sip.hangup_caller(call)
    await sip.wait_end(call)
    assert call.journal is not None
    return call.journal


async def test_key_during_the_greeting_lands_in_the_debt_item(sip: Any) -> None:
    """4 pressed during «Здравствуйте…» (REQ-T9 item 4): the caller is in the
    debt item without the main menu being played or pressed again."""
    assert DEMO_CALLER.phone is not None
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    try:
        await sip.answer(call, "common/welcome", "4")
        await sip.answer(call, "ident/required_for_debt", DEMO_CALLER.number + "#")
        await sip.heard_start(call, "debt/options")
        assert call.prompt_starts("menu/main") == 0, call.agi_commands()
        journal = await _end(sip, call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    heard = journal.heard()
    assert heard[:3] == [
        "common/recording_warning",
        "common/welcome",
        "ident/required_for_debt",
    ], heard
    assert "menu/main" not in heard and "menu/main" in _skipped(journal)
    assert _inputs(journal)[0] == ("main", "4")
    assert "debt/your_debt_is" in heard


async def test_key_during_a_notice_is_the_first_digit_of_the_read(sip: Any) -> None:
    """Meter readings from an unknown number: the caller starts keying the
    account during «Передача показаний»; that key stopped the notice and is
    the number's first digit, the rest comes in the Read() that follows,
    «enter the account» never played."""
    call = await sip.place_sip(caller_number=DEMO_UNKNOWN_PHONE.lstrip("+"))
    try:
        await sip.answer(call, "menu/main", "1")
        reads = sum(1 for c in call.agi_commands() if c.startswith("EXEC Read"))
        await sip.answer(call, "readings/intro", DEMO_NO_DEBT.number[0])
        # The rest once the hotline listens for it (a caller keys on).
        await until(
            lambda: sum(1 for c in call.agi_commands() if c.startswith("EXEC Read")) > reads,
            40,
            "the Read() of the rest of the number",
        )
        await sip.send_dtmf(call, DEMO_NO_DEBT.number[1:] + "#")
        await sip.heard_start(call, "ident/identified")
        journal = await _end(sip, call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    assert call.prompt_starts("ident/enter_account") == 0
    assert call.prompt_starts("ident/enter_account_or_say") == 0
    # The keys are journalled masked (the identity gate); the account was taken.
    assert [k for k, _ in _inputs(journal)][:1] == ["account"], _inputs(journal)
    heard = journal.heard()
    assert heard[heard.index("readings/intro") + 1] == "ident/identified", heard


async def test_key_during_the_spoken_amount_answers_the_debt_options(sip: Any) -> None:
    """0 pressed while the debt is being spoken: the date and the options are
    not played; the caller is put through to the operator."""
    assert DEMO_CALLER.phone is not None
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    try:
        await sip.walk(
            call, [("menu/main", "4"), ("ident/required_for_debt", DEMO_CALLER.number + "#")]
        )
        await sip.heard_start(call, "debt/your_debt_is")

        def amount_started() -> bool:
            # The first STREAM FILE after «Ваша задолженность составляет»:
            # the amount's first word (a file of the words catalogue or Asterisk's).
            commands = call.agi_commands()
            lead = max(i for i, c in enumerate(commands) if "/debt/your_debt_is " in c)
            return any(c.startswith("STREAM FILE") for c in commands[lead + 1 :])

        await until(amount_started, 40, "the amount to be spoken")
        await sip.send_dtmf(call, "0")
        await sip.heard_start(call, "common/connecting_operator")
        journal = await _end(sip, call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    assert call.prompt_starts("debt/as_of") == 0 and call.prompt_starts("debt/options") == 0
    assert ("debt", "0") in _inputs(journal), _inputs(journal)
    assert _skipped(journal)[-1] == "debt/options"
    heard = journal.heard()
    assert heard[heard.index(f"money:{DEMO_CALLER.debt}") + 1] == "common/connecting_operator"
