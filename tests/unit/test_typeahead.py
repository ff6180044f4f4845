"""Type-ahead (issue 17): a key that stops a prompt is the answer to the next
question, in every inbound flow and every chain of interruptible prompts.

The flows run against the scripted caller (:class:`~telephony.fakechannel.FakeChannel`,
which, as Asterisk does, hands the key that stopped a playback to the flow and
forgets it); :class:`~telephony.typeahead.TypeAhead`, which every inbound flow
wraps its channel in, keeps it for whatever asks next. The same cases over real
SIP with RFC 4733 keys: tests/e2e/test_typeahead.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_bridge.demo_data import DEMO_CALLER, DEMO_NO_DEBT, DEMO_UNKNOWN_PHONE
from crm_bridge.models import Callback
from ivr.flows import answering_machine, hotline, meter_readings, queue_callback
from telephony.contract import Route, Var
from telephony.fakechannel import FakeChannel, Step
from telephony.journal import CallJournal
from telephony.typeahead import TypeAhead, key_ahead, type_ahead, typed_key
from tests.unit import test_flow_branches as branches
from tests.unit.test_flow_branches import (
    CALLER,
    FREE_OPERATOR,
    OUT_OF_HOURS,
    appeal_of,
    call,
    done,
    readings_call,
    run,
    steps,
)

# The flow tier's fixtures: the demo database made once, a fresh copy per test.
demo_template = branches.demo_template
deps = branches.deps


def skipped(journal: CallJournal) -> list[str]:
    """What the caller did not hear because a key typed ahead answered it."""
    return [str(e.detail["id"]) for e in journal.entries if e.kind == "skip"]


def menu_inputs(journal: CallJournal) -> list[tuple[str, str]]:
    return [
        (str(e.detail.get("menu") or e.detail.get("what") or ""), str(e.detail["digits"]))
        for e in journal.entries
        if e.kind == "input"
    ]


# -- the wrapper itself ---------------------------------------------------------------------------


async def test_a_key_that_stops_a_prompt_answers_the_next_input() -> None:
    """The key that stopped a notice skips the prompts it may interrupt and
    is the next input's; a prompt it may not interrupt is still played."""
    ch = type_ahead(FakeChannel([("notice", "5")]))
    assert type_ahead(ch) is ch and isinstance(ch, TypeAhead)
    assert await ch.play("notice", "rest-of-notice") is None
    assert key_ahead(ch)
    await ch.play("warning", escape="")  # not interruptible: heard
    await ch.say("money", "10.00", ["десять"])  # interruptible: skipped
    assert await ch.wait_digit(5.0) == "5"
    assert not key_ahead(ch) and typed_key(ch) is None
    assert ch.heard == ["notice", "warning"]
    assert skipped(ch.journal) == ["rest-of-notice", "money:10.00"]


async def test_a_number_typed_ahead_is_completed_by_one_read() -> None:
    """The first digit stopped the notice; the rest comes from the same
    input, the «enter the number» prompt not played."""
    inner = FakeChannel([("notice", "1234#")])
    ch = type_ahead(inner)
    await ch.play("notice")
    got = await ch.read_digits("enter", max_digits=20, attempts=1, retry_prompt=None)
    assert got.digits == "1234" and got.reason == "ok"
    assert ch.heard == ["notice"] and skipped(ch.journal) == ["enter"]


async def test_a_plain_channel_forgets_the_key_as_asterisk_does() -> None:
    """Without the wrapper the key is the playback's result only (the bug
    the wrapper fixes, and what autoinformer's flow still relies on)."""
    ch = FakeChannel([("notice", "5")])
    assert await ch.play("notice") == "5"
    assert await ch.wait_digit(1.0) is None
    assert typed_key(ch) is None and not key_ahead(ch)


async def test_a_recording_drops_keys_typed_ahead() -> None:
    ch = type_ahead(FakeChannel([("notice", "7")]))
    await ch.play("notice")
    await ch.record("msg")
    assert not key_ahead(ch) and await ch.wait_digit(1.0) is None


# -- the hotline ----------------------------------------------------------------------------------


async def test_key_during_the_greeting_is_the_main_menu_choice(deps: Any) -> None:
    """4 pressed during «Здравствуйте…»: the debt branch at once, the main
    menu never played; the account typed ahead during the notice."""
    script: list[Step] = [
        ("common/welcome", "4"),
        ("ident/required_for_debt", DEMO_CALLER.number + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard[:5] == [
        "common/recording_warning",
        "common/welcome",
        "ident/required_for_debt",
        "ident/enter_last_digits",  # the gate's one Read() that took the account
        "ident/identified",
    ], ch.heard
    assert "menu/main" not in ch.heard and skipped(ch.journal)[:2] == [
        "menu/main",
        "common/repeat_back_hint",
    ]
    assert menu_inputs(ch.journal)[0] == ("main", "4")
    assert ch.variables[Var.ACCOUNT] == DEMO_CALLER.number


async def test_key_during_the_warning_is_not_an_answer(deps: Any) -> None:
    """REQ-T4: the recording warning is heard in full; a key pressed during
    it is swallowed, as Asterisk does, and answers nothing."""
    ch = call([("common/recording_warning", "4"), ("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard[:3] == ["common/recording_warning", "common/welcome", "menu/main"]
    assert menu_inputs(ch.journal)[0] == ("main", "0")


async def test_key_during_the_spoken_amount_is_the_debt_menu_choice(deps: Any) -> None:
    """0 pressed while the debt is spoken: its date and the options are not
    played; the caller goes to the operator."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/required_for_debt", DEMO_CALLER.number + "#"),
        (f"money:{DEMO_CALLER.debt}", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    money = f"money:{DEMO_CALLER.debt}"
    assert ch.heard[ch.heard.index(money) :] == [money, "common/connecting_operator"], ch.heard
    assert skipped(ch.journal)[-3:] == ["debt/as_of", "date:2025-03-01", "debt/options"]
    assert ("debt", "0") in menu_inputs(ch.journal)
    assert ch.destinations == ["queue"]


async def test_key_during_identified_notice_skips_to_the_debt_options(deps: Any) -> None:
    """1 during «you are identified»: the caller asked for the payment
    methods before the balance (the next question's answer)."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/required_for_debt", DEMO_CALLER.number + "#"),
        ("ident/identified", "1"),
        ("consult/payment_due", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert "debt/your_debt_is" not in ch.heard
    assert "consult/payment_methods" in ch.heard and ("debt", "1") in menu_inputs(ch.journal)


async def test_key_during_an_invalid_choice_explanation_answers_the_menu(deps: Any) -> None:
    """A wrong key, then 0 during «неверный выбор»: the operator, without
    the main menu played again."""
    ch = call([("menu/main", "9"), ("common/invalid_choice", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard.count("menu/main") == 1, ch.heard
    assert menu_inputs(ch.journal) == [("main", "9"), ("main", "0")]
    assert ch.destinations == ["queue"]


async def test_key_during_a_standard_answer_is_the_after_answer_choice(deps: Any) -> None:
    """* during a standard answer repeats it, # returns to the consultation
    menu, both without «после ответа» being played first."""
    script: list[Step] = [
        ("menu/main", "3"),
        ("consult/menu", "3"),
        ("consult/tariffs", "*"),
        ("consult/tariffs", "#"),
        ("consult/menu", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard.count("consult/tariffs") == 2 and "consult/after_answer" not in ch.heard
    assert ch.heard.count("consult/menu") == 2 and ch.destinations == ["queue"]


async def test_outage_notice_key_is_the_report_menu_choice(deps: Any) -> None:
    """No account known: «see the site» interrupted with 1 is «report an
    outage»: the operator, without the question being played."""
    script: list[Step] = [
        ("menu/main", "2"),
        ("outage/enter_account", None),
        ("outage/more_info_site", "1"),
    ]
    ch = call(script, caller=DEMO_UNKNOWN_PHONE, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert "outage/report_outage" not in ch.heard
    assert ("outages", "1") in menu_inputs(ch.journal) and ch.destinations == ["queue"]


# -- meter readings -------------------------------------------------------------------------------


async def test_account_typed_during_the_readings_intro(deps: Any) -> None:
    """An unknown number: the account keyed during «Передача показаний» —
    its first key stopped the intro, the rest came in the same input."""
    script: list[Step] = [("readings/intro", DEMO_NO_DEBT.number + "#")]
    ch = readings_call(script, caller=None)
    done(ch, await run(meter_readings.flow, ch, deps))
    assert ch.heard[:2] == ["readings/intro", "ident/identified"], ch.heard
    assert "ident/enter_account" in skipped(ch.journal)
    # The keys are journalled masked (the identity gate); the account was taken.
    assert [k for k, _ in menu_inputs(ch.journal)][:1] == ["account"]
    assert ch.variables[Var.ACCOUNT] == DEMO_NO_DEBT.number


async def test_reading_typed_during_the_read_back_confirms_and_next_reading(deps: Any) -> None:
    """1 during the read-back of the reading confirms it; the next reading
    keyed during «принято» is taken whole."""
    script: list[Step] = [
        ("ident/enter_last_digits", DEMO_CALLER.number[-4:] + "#"),  # the gate first
        ("readings/address_is", "1"),
        ("readings/enter_reading_keypad", "12400#"),
        ("reading:12400", "1"),
        ("readings/accepted", "6800#"),
        ("readings/confirm", "1"),
    ]
    ch = readings_call(script, caller=CALLER)
    done(ch, await run(meter_readings.flow, ch, deps))
    assert ch.heard.count("readings/enter_reading_keypad") == 1, ch.heard
    assert ("confirm", "1") in menu_inputs(ch.journal)
    assert ("reading", "6800") in menu_inputs(ch.journal)
    assert [s for s in steps(ch.journal) if s == "reading-stored"] == ["reading-stored"] * 2


# -- the answering machine and the callback offer ------------------------------------------------


async def test_answering_machine_contact_choice_typed_during_the_number(deps: Any) -> None:
    """1 while the calling number is read back: it is the reply contact,
    the options not played."""
    ch = call([(f"phone:{CALLER}", "1")], now=OUT_OF_HOURS, route=Route.ANSWERING_MACHINE)
    done(ch, await run(answering_machine.flow, ch, deps))
    assert "am/contact_options" not in ch.heard and "am/say_message" in ch.heard
    appeal = await appeal_of(deps, ch)
    assert appeal.reply_contact == CALLER


async def test_callback_number_typed_during_the_invalid_number_notice(deps: Any) -> None:
    """A number refused; the right one keyed during «номер введён неверно»."""
    script: list[Step] = [
        ("queue/callback_offer", "1"),
        ("queue/confirm_number", "2"),
        ("queue/enter_number", "123#"),
        ("queue/invalid_number", "89001112233#"),
    ]
    ch = call(script, route=Route.QUEUE_CALLBACK)
    done(ch, await run(queue_callback.flow, ch, deps))
    assert ch.heard.count("queue/enter_number") == 1, ch.heard
    assert "queue/will_call_number" in ch.heard and "phone:+79001112233" in ch.heard


async def test_callback_tells_the_number_of_the_calls_appeal(deps: Any) -> None:
    """REQ-A11: the callback is linked to the appeal the menu registered, and
    the caller hears that appeal's number, not a new one."""
    inbound = call([("menu/main", "0")])
    done(inbound, await run(hotline.flow, inbound, deps))
    first = await appeal_of(deps, inbound)
    ch = call(
        [("queue/callback_offer", "1"), ("queue/confirm_number", "1")],
        route=Route.QUEUE_CALLBACK,
        variables={Var.APPEAL.value: first.number},
    )
    done(ch, await run(queue_callback.flow, ch, deps))
    assert ch.heard[-3:] == ["queue/registered_number", f"appeal:{first.seq}", "common/goodbye"]
    assert ch.variables[Var.APPEAL] == first.number
    with deps.db.session() as s:
        tasks = list(s.scalars(select(Callback)))
    assert [t.appeal_id for t in tasks] == [first.id]
