"""The identity gate over real SIP (REQ-T9, T13; ``ivr.identity``).

A carrier's call from a number on file (the caller network, hotline.sipnet:
a PJSIP channel on the hotline's trunk, keys as RFC 4733 events sent once the
prompt they answer has started): the caller is asked to prove the account
before anything personal; a wrong proof hears nothing of the account; the
right one hears the address and the previous reading (meter readings), or
the operator takes over after three wrong ones (debt). What the caller heard
is checked twice: in the flow's journal, and in the commands Asterisk itself
executed on the channel (the address is a synthesised file played only after
the proof).
"""

from __future__ import annotations

from typing import Any

import pytest

from crm_bridge.demo_data import DEMO_CALLER
from telephony.journal import CallJournal

pytestmark = [pytest.mark.asterisk]

PHONE = (DEMO_CALLER.phone or "+79001234567").lstrip("+")
TAIL = DEMO_CALLER.number[-4:]
PERSONAL_PROMPTS = (
    "debt/your_debt_is",
    "debt/overpayment_is",
    "debt/no_debt",
    "outage/planned_at_address",
    "outage/none_at_address",
    "readings/address_is",
    "readings/account_number_is",
    "readings/previous_was",
    "readings/meter_number",
)
PERSONAL_SAYS = ("money:", "date:", "datetime:", "address:", "account:", "reading:", "digits:")


def personal(heard: list[str]) -> list[str]:
    return [
        h
        for h in heard
        if h in PERSONAL_PROMPTS or h.startswith(PERSONAL_SAYS) or h.startswith("dyn/")
    ]


def gate_steps(journal: CallJournal) -> list[str]:
    return [
        str(e.detail["result"])
        for e in journal.entries
        if e.kind == "step" and e.detail["name"] == "ident-gate"
    ]


def masked(journal: CallJournal) -> list[str]:
    """The proof's keys as journalled (every one private and masked)."""
    return [
        str(e.detail["digits"])
        for e in journal.entries
        if e.kind == "dtmf" and e.detail.get("private")
    ]


def received_keys(call: Any) -> str:
    """The keys the hotline's channel received as RFC 4733 events."""
    return "".join(
        e["Digit"]
        for e in call.events
        if e.get("Event") == "DTMFEnd"
        and e.get("Direction") == "Received"
        and e.get("Uniqueid") == call.call_id
    )


async def test_readings_wrong_proof_hears_nothing_right_proof_hears_the_address(
    sip: Any, runtime: Any
) -> None:
    """Menu 1 from the demo caller's number: «the last four digits» is asked;
    wrong digits hear «do not match» and nothing of the account; the right
    ones hear the address (synthesised), and a reading below the previous
    one hears the previous reading."""
    hub = runtime.services.hub
    call = await sip.place_sip(caller_number=PHONE)
    try:
        await sip.walk(
            call,
            [
                ("menu/main", "1"),
                ("ident/enter_last_digits", "9999#"),
                ("ident/enter_last_digits_or_account", TAIL + "#"),
                ("readings/address_confirm", "1"),
                ("readings/enter_reading_keypad", "1#"),
            ],
            timeout=60,
        )
        journal = await hub.wait_for(
            call.call_id,
            lambda j: (
                j.route == "meter-readings"
                and "readings/previous_was" in (h := j.heard())
                and len(h) > h.index("readings/previous_was") + 1
            ),
            60,
        )
        commands = list(call.agi_commands())
        await sip.hangup_caller(call)
        await sip.wait_end(call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    heard = journal.heard()
    proven = heard.index("ident/confirmed")
    before, after = heard[:proven], heard[proven:]
    assert before[:3] == [
        "readings/intro",
        "ident/enter_last_digits",
        "ident/digits_mismatch",
    ], heard
    assert personal(before) == [], before
    assert "readings/address_is" in after and any(h.startswith("address:") for h in after)
    i = after.index("readings/previous_was")
    assert after[i + 1].startswith("reading:"), after
    assert gate_steps(journal) == ["wrong", "passed"]
    assert masked(journal) == ["xxxx#", "xxxx#"], masked(journal)
    # Asterisk played the synthesised address only after the proof was accepted.
    first_address = next(n for n, c in enumerate(commands) if "/dyn/a" in c)
    confirmed = next(n for n, c in enumerate(commands) if "/ident/confirmed" in c)
    mismatch = next(n for n, c in enumerate(commands) if "/ident/digits_mismatch" in c)
    assert mismatch < confirmed < first_address
    assert "9999#" + TAIL + "#" in received_keys(call)


async def test_debt_three_wrong_proofs_hear_nothing_and_reach_the_operator(
    sip: Any, runtime: Any
) -> None:
    """Menu 4 from the demo debtor's number, three wrong proofs: nothing of
    the debt, «not identified», the operator queue."""
    hub = runtime.services.hub
    call = await sip.place_sip(caller_number=PHONE)
    try:
        await sip.walk(
            call,
            [
                ("menu/main", "4"),
                ("ident/enter_last_digits", "9999#"),
                ("ident/enter_last_digits_or_account", "1111#"),
                ("ident/enter_last_digits_or_account", "12399#"),
            ],
            timeout=60,
        )
        journal = await hub.wait_for(call.call_id, lambda j: j.route == "inbound" and j.ended, 60)
        await sip.hangup_caller(call)
        await sip.wait_end(call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    heard = journal.heard()
    assert personal(heard) == [], heard
    assert heard.count("ident/digits_mismatch") == 2 and heard.count("ident/account_not_found") == 1
    assert "ident/not_identified" in heard
    last = journal.last("next")
    assert last is not None and last.detail["where"] == "queue"
    assert gate_steps(journal) == ["wrong", "wrong", "wrong", "failed"]
    assert masked(journal) == ["xxxx#", "xxxx#", "xxxxx#"]
    variables = {e.detail["name"] for e in journal.entries if e.kind == "var"}
    assert "HOTLINE_ACCOUNT" not in variables and "HOTLINE_VERIFIED" not in variables
