"""The identity gate (``ivr.identity``, REQ-T9, T13) in every branch, against
a scripted caller (``telephony.fakechannel``) and the demo database.

A caller known only by the calling number proves the account — the last
four digits of its number, or the whole number — before hearing anything
personal: the debt (menu 4), the outages at the address (menu 2), the
address and previous reading of the meter readings. A wrong proof hears
nothing personal and, after three, the operator; a passed proof is asked
once per call, across routes; the keys of a proof never reach the journal.
The real-SIP calls of the same cases are in ``tests/e2e/test_identity_gate.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from crm_bridge.accounts import AccountData, upsert_accounts
from crm_bridge.db import Database
from crm_bridge.demo_data import (
    DEMO_ACCOUNTS,
    DEMO_CALLER,
    DEMO_HOUSE_ADDRESS,
    DEMO_NO_DEBT,
    DEMO_SHARED_A,
    DEMO_SHARED_B,
    DEMO_UNKNOWN_PHONE,
    load_demo,
)
from crm_bridge.outages import OutageService
from hotline.slices import upgrade
from ivr.flows import hotline, meter_readings, queue_callback
from ivr.identity import TAIL_LOCKOUT
from telephony.channel import AgiChannel, AgiResponse, mask_keys, parse_response
from telephony.contract import Route, Var
from telephony.fakechannel import FakeChannel, Step
from telephony.journal import CallJournal
from tests.unit.test_flow_branches import (
    CALLER,
    FREE_OPERATOR,
    account_id,
    call,
    done,
    in_order,
    make_deps,
    run,
    steps,
)

TAIL = DEMO_CALLER.number[-4:]
WRONG_TAIL = "9999"
PERSONAL_PROMPTS = (
    "debt/your_debt_is",
    "debt/overpayment_is",
    "debt/no_debt",
    "debt/as_of",
    "outage/planned_at_address",
    "outage/emergency_works",
    "outage/none_at_address",
    "readings/address_is",
    "readings/account_number_is",
    "readings/previous_was",
    "readings/meter_number",
)
"""Prompts that only ever precede something of the account."""
PERSONAL_SAYS = ("money:", "date:", "datetime:", "address:", "account:", "reading:", "digits:")


@pytest.fixture(scope="module")
def gate_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo accounts, a planned outage at the demo caller's house, and
    two accounts on one phone whose numbers end with the same four digits."""
    path = tmp_path_factory.mktemp("gate") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    load_demo(db, size=len(DEMO_ACCOUNTS))
    OutageService(db).add(
        kind="planned",
        starts_at=datetime.fromisoformat("2025-03-06T09:00:00+03:00"),
        ends_at=datetime.fromisoformat("2025-03-06T13:00:00+03:00"),
        address=DEMO_HOUSE_ADDRESS,
        reason="плановый ремонт",
    )
    twins = ("+79005550011",)
    with db.session(write=True) as session:
        upsert_accounts(
            session,
            [
                AccountData(
                    "3000004321",
                    "Первый Близнец",
                    address=DEMO_HOUSE_ADDRESS + ", кв. 40",
                    phones=twins,
                ),
                AccountData(
                    "4000004321",
                    "Второй Близнец",
                    address=DEMO_HOUSE_ADDRESS + ", кв. 41",
                    phones=twins,
                ),
            ],
        )
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture
async def deps(gate_template: Path, tmp_path: Path) -> AsyncIterator[Any]:
    path = tmp_path / "hotline.db"
    shutil.copyfile(gate_template, path)
    services = make_deps(f"sqlite:///{path}", tmp_path)
    yield services
    await services.aclose()


def nothing_personal(ch: FakeChannel) -> None:
    """The caller heard nothing of any account."""
    heard = ch.heard
    assert not [h for h in heard if h in PERSONAL_PROMPTS], heard
    assert not [h for h in heard if h.startswith(PERSONAL_SAYS) or h.startswith("dyn/")], heard


def no_digits_kept(ch: FakeChannel, *secrets: str) -> None:
    """152-FZ: the journal holds no key of a proof, nor the proof itself."""
    for e in ch.journal.entries:
        if e.kind == "dtmf" and e.detail.get("private"):
            assert set(str(e.detail["digits"])) <= {"x", "#"}, e.detail
        if e.kind == "var" and e.detail["name"] == Var.ACCOUNT.value:
            continue  # the identified account for the operator's card, once proven
        if e.kind in ("dtmf", "input", "step", "var", "error"):
            text = repr(e.detail)
            for secret in secrets:
                assert secret not in text, (secret, e.kind, e.detail)
    gate = [e for e in ch.journal.entries if e.kind == "step" and e.detail["name"] == "ident-gate"]
    assert gate, "every attempt is journalled"


def gate_results(ch: FakeChannel) -> list[str]:
    return [
        str(e.detail["result"])
        for e in ch.journal.entries
        if e.kind == "step" and e.detail["name"] == "ident-gate"
    ]


# -- menu 4: the debt ---------------------------------------------------------------------


async def test_debt_after_the_last_four_digits(deps: Any) -> None:
    """The calling number is on file: its account's last four digits prove
    it; only then the debt is said."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/enter_last_digits", TAIL + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert in_order(
        ch.heard,
        [
            "ident/required_for_debt",
            "ident/enter_last_digits",
            "ident/confirmed",
            "debt/your_debt_is",
            f"money:{DEMO_CALLER.debt}",
        ],
    ), ch.heard
    assert gate_results(ch) == ["passed"]
    assert ch.variables[Var.ACCOUNT] == DEMO_CALLER.number
    aid = account_id(deps.db, DEMO_CALLER.number)
    assert ch.variables[Var.VERIFIED] == f"phone_tail:{aid}:{ch.call_id}"
    no_digits_kept(ch, TAIL + "#")


async def test_debt_wrong_digits_hear_nothing_and_reach_the_operator(deps: Any) -> None:
    """Three wrong proofs: «digits do not match» each time, nothing of the
    account, «not identified» and the operator; the attempts journalled
    without the digits."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/enter_last_digits", WRONG_TAIL + "#"),
        ("ident/enter_last_digits_or_account", "1234#"),
        ("ident/enter_last_digits_or_account", "5678#"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard.count("ident/digits_mismatch") == 3, ch.heard
    assert in_order(ch.heard, ["ident/digits_mismatch", "ident/not_identified"]), ch.heard
    nothing_personal(ch)
    assert ch.destinations == ["queue"]
    assert Var.ACCOUNT.value not in ch.variables and Var.VERIFIED.value not in ch.variables
    assert gate_results(ch) == ["wrong", "wrong", "wrong", "failed"]
    assert "debt:not-identified" in steps(ch.journal)
    no_digits_kept(ch, WRONG_TAIL, "1234#", "5678#")


async def test_debt_silence_then_the_right_digits(deps: Any) -> None:
    """A silence is a try, explained; the retry accepts the digits."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/enter_last_digits_or_account", TAIL + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert in_order(
        ch.heard,
        ["ident/enter_last_digits", "common/no_input", "ident/enter_last_digits_or_account"],
    )
    assert f"money:{DEMO_CALLER.debt}" in ch.heard
    assert gate_results(ch) == ["no-input", "passed"]


async def test_another_accounts_whole_number_is_accepted(deps: Any) -> None:
    """A caller on a relative's phone names their own account in full."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/enter_last_digits", DEMO_NO_DEBT.number + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert in_order(ch.heard, ["ident/identified", "debt/no_debt"]), ch.heard
    assert ch.variables[Var.ACCOUNT] == DEMO_NO_DEBT.number
    no_digits_kept(ch, DEMO_NO_DEBT.number)


async def test_shared_phone_digits_choose_the_account(deps: Any) -> None:
    """One phone on two accounts: the last digits of one of them name it."""
    assert DEMO_SHARED_A.phone is not None
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/enter_last_digits", DEMO_SHARED_B.number[-4:] + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, caller=DEMO_SHARED_A.phone, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert "ident/confirmed" in ch.heard
    assert ch.variables[Var.ACCOUNT] == DEMO_SHARED_B.number


async def test_same_digits_on_two_accounts_ask_for_the_whole_number(deps: Any) -> None:
    """Two accounts of the number end with the same digits: no guess, the
    whole number decides (and that is not a failed try)."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/enter_last_digits", "4321#"),
        ("ident/enter_account", "4000004321#"),
        ("debt/options", "0"),
    ]
    ch = call(script, caller="+79005550011", variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert in_order(
        ch.heard,
        [
            "ident/enter_last_digits",
            "ident/several_accounts_match",
            "ident/enter_account",
            "ident/identified",
        ],
    ), ch.heard
    assert gate_results(ch) == ["ambiguous", "passed"]
    assert ch.variables[Var.ACCOUNT] == "4000004321"


async def test_unknown_number_is_asked_the_whole_account_number(deps: Any) -> None:
    """Not on file: four digits prove nothing, the whole number is asked."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/enter_account", TAIL + "#"),
        ("ident/enter_account", DEMO_CALLER.number + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, caller=DEMO_UNKNOWN_PHONE, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert "ident/enter_last_digits" not in ch.heard
    assert in_order(ch.heard, ["ident/account_not_found", "ident/identified", "debt/your_debt_is"])
    assert gate_results(ch) == ["wrong", "passed"]


# -- menu 2: the outages at the address ----------------------------------------------------


async def test_outages_at_the_address_after_the_digits(deps: Any) -> None:
    script: list[Step] = [
        ("menu/main", "2"),
        ("outage/enter_last_digits", TAIL + "#"),
        ("outage/report_outage", "#"),
        ("menu/main", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert in_order(
        ch.heard,
        ["outage/enter_last_digits", "ident/confirmed", "outage/planned_at_address"],
    ), ch.heard


async def test_outages_without_a_proof_are_the_public_schedule_only(deps: Any) -> None:
    """A caller who keys nothing hears where the schedule is published, and
    nothing tied to the address of the calling number's account."""
    script: list[Step] = [("menu/main", "2"), ("outage/report_outage", "#"), ("menu/main", "0")]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert in_order(ch.heard, ["outage/enter_last_digits", "outage/more_info_site"]), ch.heard
    nothing_personal(ch)
    assert gate_results(ch) == ["declined"]


async def test_outages_wrong_digits_reach_the_operator(deps: Any) -> None:
    script: list[Step] = [
        ("menu/main", "2"),
        ("outage/enter_last_digits", WRONG_TAIL + "#"),
        *[("ident/enter_last_digits_or_account", WRONG_TAIL + "#")] * 2,
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    nothing_personal(ch)
    assert "outage/more_info_site" not in ch.heard
    assert in_order(ch.heard, ["ident/digits_mismatch", "ident/not_identified"]), ch.heard
    assert ch.destinations == ["queue"] and gate_results(ch)[-1] == "failed"
    no_digits_kept(ch, WRONG_TAIL)


# -- once per call -----------------------------------------------------------------------------


async def test_a_passed_gate_is_not_asked_again_in_the_call(deps: Any) -> None:
    """Debt proven, back to the menu, outages: said at once."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/enter_last_digits", TAIL + "#"),
        ("debt/options", "#"),
        ("menu/main", "2"),
        ("outage/report_outage", "#"),
        ("menu/main", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard.count("ident/enter_last_digits") == 1
    assert "outage/enter_last_digits" not in ch.heard
    assert "outage/planned_at_address" in ch.heard
    assert gate_results(ch) == ["passed"]


async def test_meter_readings_after_the_menu_do_not_ask_again(deps: Any) -> None:
    """The proof made in the menu (debt) holds for the meter-readings route of
    the same channel; a mark made for another channel is ignored."""
    inbound = call(
        [
            ("menu/main", "4"),
            ("ident/enter_last_digits", TAIL + "#"),
            ("debt/options", "#"),
            ("menu/main", "1"),
        ]
    )
    done(inbound, await run(hotline.flow, inbound, deps))
    mark = inbound.variables[Var.VERIFIED.value]
    variables = {Var.VERIFIED.value: mark, Var.APPEAL.value: inbound.variables[Var.APPEAL.value]}
    script: list[Step] = [
        ("readings/enter_reading_keypad", "12400#"),
        ("readings/confirm", "1"),
        ("readings/enter_reading_keypad", "6800#"),
        ("readings/confirm", "1"),
    ]
    same = call(script, route=Route.METER_READINGS, variables=variables, call_id=inbound.call_id)
    done(same, await run(meter_readings.flow, same, deps))
    assert "ident/enter_last_digits" not in same.heard and "readings/address_is" not in same.heard
    assert same.heard[:2] == ["readings/intro", "readings/zone_day"], same.heard
    assert gate_results(same) == ["remembered"]

    other = call(
        (),
        route=Route.METER_READINGS,
        variables=variables,
        call_id="1700000099.7",
    )
    done(other, await run(meter_readings.flow, other, deps))
    assert "ident/enter_last_digits" in other.heard
    assert "readings/zone_day" not in other.heard
    nothing_personal(other)


# -- meter readings --------------------------------------------------------------------------


async def test_meter_readings_wrong_digits_hear_no_address(deps: Any) -> None:
    script: list[Step] = [
        ("ident/enter_last_digits", WRONG_TAIL + "#"),
        *[("ident/enter_last_digits_or_account", WRONG_TAIL + "#")] * 2,
    ]
    ch = call(script, route=Route.METER_READINGS)
    done(ch, await run(meter_readings.flow, ch, deps))
    nothing_personal(ch)
    assert ch.heard[-1] == "ident/not_identified" and ch.destinations == ["queue"]
    assert Var.ACCOUNT.value not in ch.variables
    no_digits_kept(ch, WRONG_TAIL)


async def test_meter_readings_not_my_address_asks_the_whole_number(deps: Any) -> None:
    """Proven digits, but «not my address» (2): the whole number of the
    caller's own account is asked, and the readings go there."""
    script: list[Step] = [
        ("ident/enter_last_digits", TAIL + "#"),
        ("readings/address_confirm", "2"),
        ("ident/enter_account", DEMO_NO_DEBT.number + "#"),
        ("readings/enter_reading_keypad", "12350#"),
        ("readings/confirm", "1"),
    ]
    ch = call(script, route=Route.METER_READINGS)
    done(ch, await run(meter_readings.flow, ch, deps))
    assert in_order(
        ch.heard,
        [
            "ident/confirmed",
            "readings/address_is",
            "readings/address_confirm",
            "ident/enter_account",
            "ident/identified",
            "readings/enter_reading_keypad",
        ],
    ), ch.heard
    assert ch.variables[Var.ACCOUNT] == DEMO_NO_DEBT.number
    aid = account_id(deps.db, DEMO_NO_DEBT.number)
    assert ch.variables[Var.VERIFIED] == f"account:{aid}:{ch.call_id}"
    no_digits_kept(ch, DEMO_NO_DEBT.number)


# -- the branches that disclose nothing --------------------------------------------------------


async def test_callback_request_says_nothing_of_the_account(deps: Any) -> None:
    """The queue's callback offer reads back the calling number only (the
    caller's own line): no gate, nothing of the account on file for it."""
    ch = call(
        [("queue/callback_offer", "1"), ("queue/confirm_number", "1")],
        route=Route.QUEUE_CALLBACK,
    )
    done(ch, await run(queue_callback.flow, ch, deps))
    assert f"phone:{CALLER}" in ch.heard
    nothing_personal(ch)
    assert not gate_results(ch)


async def test_consultations_need_no_proof(deps: Any) -> None:
    script: list[Step] = [("menu/main", "3"), ("consult/menu", "3"), ("consult/after_answer", "0")]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert "consult/tariffs" in ch.heard and not gate_results(ch)
    nothing_personal(ch)


# -- the channel keeps the keys of a proof out of the journal --------------------------------


class _OneRead:
    def __init__(self, keys: str) -> None:
        self.keys = keys

    async def command(self, command: str) -> AgiResponse:
        if command.startswith("GET FULL VARIABLE ${READSTATUS}"):
            return parse_response(f"200 result=1 (OK|{self.keys})")
        return parse_response("200 result=0")


@pytest.mark.parametrize("private", [True, False])
async def test_private_keys_are_journalled_masked(private: bool) -> None:
    journal = CallJournal("u1", "test")
    ch = AgiChannel(_OneRead("0001"), {"agi_uniqueid": "u1"}, journal)
    keyed = await ch.collect_digits(
        ("ident/enter_last_digits",), max_digits=21, timeout=6.0, private=private
    )
    assert keyed == "0001#"
    (entry,) = [e for e in journal.entries if e.kind == "dtmf"]
    assert entry.detail["digits"] == ("xxxx#" if private else "0001#")
    assert mask_keys("12*#") == "xxx#"


# -- across calls: the four-digit shortcut is not for guessing ---------------------------------


async def test_a_number_that_guessed_too_often_is_asked_the_whole_number(deps: Any) -> None:
    """Two calls of three wrong last-digit proofs each (six, journals stored
    as the server stores them): the next call from that number is not
    offered the shortcut — the whole account number only, which works."""
    assert TAIL_LOCKOUT == 6
    for n in range(2):
        script: list[Step] = [
            ("menu/main", "4"),
            ("ident/enter_last_digits", WRONG_TAIL + "#"),
            *[("ident/enter_last_digits_or_account", f"{n}{n}{n}{n}#")] * 2,
        ]
        failed = call(script, variables=FREE_OPERATOR, call_id=f"1700000100.{n}")
        done(failed, await run(hotline.flow, failed, deps))
        assert gate_results(failed)[-1] == "failed"
        await deps.save_journal(failed.journal)
    other_number = call(
        [("menu/main", "4"), ("ident/enter_last_digits", DEMO_NO_DEBT.number[-4:] + "#")],
        caller=DEMO_NO_DEBT.phone,
        variables=FREE_OPERATOR,
        call_id="1700000100.7",
    )
    done(other_number, await run(hotline.flow, other_number, deps))
    assert "ident/confirmed" in other_number.heard, "another number keeps its shortcut"

    script = [
        ("menu/main", "4"),
        ("ident/enter_account", TAIL + "#"),
        ("ident/enter_account", DEMO_CALLER.number + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR, call_id="1700000100.9")
    done(ch, await run(hotline.flow, ch, deps))
    assert "ident/enter_last_digits" not in ch.heard
    assert in_order(
        ch.heard, ["ident/account_not_found", "ident/identified", "debt/your_debt_is"]
    ), ch.heard
    assert gate_results(ch) == ["tail-locked", "wrong", "passed"]
