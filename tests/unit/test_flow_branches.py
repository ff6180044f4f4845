"""Flow branches against a scripted caller (``telephony.fakechannel``), fast.

The real flows — the hotline's inbound menu, the answering machine, meter
readings by keypad and the autoinformer's outbound message — run against
:class:`~telephony.fakechannel.FakeChannel` (the Channel protocol, no AGI
strings, no Asterisk) with a real migrated SQLite database holding the demo
accounts. This tier covers the branches that are slow or awkward to reach in
the real-Asterisk tier (tests/e2e/test_hotline.py, test_meter_readings.py,
test_autoinformer.py), beside it, never instead of it: the retry limits,
silences, unknown accounts, the after-hours and holiday branches and hang-ups
at each stage. Each test asserts the caller's path (what was heard, in order,
where the call went next, the variables set) and what the database holds.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.flow import outbound_message
from autoinformer.models import Attempt
from autoinformer.store import AttemptStore
from core.settings import Settings
from crm_bridge.appeals import AppealService, AppealView
from crm_bridge.calls import CallService
from crm_bridge.db import Database
from crm_bridge.demo_data import (
    DEMO_ACCOUNTS,
    DEMO_CALLER,
    DEMO_NO_DEBT,
    DEMO_UNKNOWN_PHONE,
    load_demo,
)
from crm_bridge.models import (
    Account,
    AppealChannel,
    AppealKind,
    AppealStatus,
    Callback,
    Meter,
    NotConsideredReason,
    Reading,
    ReadingSource,
    TariffZone,
)
from hotline.slices import upgrade
from ivr.flows import answering_machine, hotline, meter_readings, queue_callback
from telephony.callrunner import COMPLETED, HANGUP, Flow, run_call
from telephony.contract import Route, Var
from telephony.fakechannel import FakeChannel, Step
from telephony.journal import CallJournal

IN_HOURS = "2025-03-05T10:00:00+03:00"  # a Wednesday, 10:00 Moscow
OUT_OF_HOURS = "2025-03-05T22:00:00+03:00"  # the same Wednesday, 22:00
HOLIDAY = "2025-01-01T12:00:00+03:00"  # New Year: a public holiday, midday
MONDAY_NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
CALLER = DEMO_CALLER.phone or "+79001234567"
FREE_OPERATOR = {"QUEUE_MEMBER(operators,logged)": "1", "QUEUE_MEMBER(operators,free)": "1"}
"""Queue variables of a queue with a free operator (no wait announced)."""


# -- the database and the services ------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with the named demo accounts, made once."""
    path = tmp_path_factory.mktemp("flows") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    load_demo(db, size=len(DEMO_ACCOUNTS))
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


def make_deps(database_url: str, root: Path) -> Any:
    """The ``deps`` the flows receive: the composition root's services over
    an already migrated database, test mode on (``HOTLINE_TEST_NOW`` is
    "now"), every day in the reading period. The one place this tier builds
    them."""
    from hotline.services import Services

    settings = Settings(
        asterisk_root=root,
        data_dir=root / "data",
        database_url=database_url,
        test_mode=True,
        readings_period_start_day=1,
        readings_period_end_day=31,
    )
    return Services.create(settings, migrate=False)


@pytest.fixture
async def deps(demo_template: Path, tmp_path: Path) -> AsyncIterator[Any]:
    """Services over a fresh copy of the demo database (``deps.db``)."""
    path = tmp_path / "hotline.db"
    shutil.copyfile(demo_template, path)
    services = make_deps(f"sqlite:///{path}", tmp_path)
    yield services
    await services.aclose()


# -- helpers -----------------------------------------------------------------------------------


def call(
    script: Sequence[Step] = (),
    *,
    now: str = IN_HOURS,
    caller: str | None = CALLER,
    route: str = Route.INBOUND,
    **options: Any,
) -> FakeChannel:
    variables = {Var.TEST_NOW.value: now, **options.pop("variables", {})}
    return FakeChannel(script, caller_number=caller, route=route, variables=variables, **options)


async def run(flow: Flow, ch: FakeChannel, deps: Any) -> str:
    """The flow as the FastAGI server runs it (the journal's ``end``, the status)."""
    return await run_call(flow, ch, deps)


def inputs(journal: CallJournal) -> list[str]:
    return [str(e.detail["reason"]) for e in journal.entries if e.kind == "input"]


def steps(journal: CallJournal) -> list[str]:
    return [str(e.detail["name"]) for e in journal.entries if e.kind == "step"]


def in_order(heard: list[str], expected: list[str]) -> bool:
    """``expected`` is a subsequence of ``heard``."""
    it = iter(heard)
    return all(any(h == x for h in it) for x in expected)


async def appeal_of(deps: Any, ch: FakeChannel) -> AppealView:
    entry = next(
        e for e in reversed(ch.journal.entries) if e.kind == "step" and e.detail["name"] == "appeal"
    )
    return await deps.run_db(AppealService(deps.db).get_by_number, entry.detail["number"])


def account_id(db: Database, number: str) -> int:
    with db.session() as s:
        return int(s.execute(select(Account.id).where(Account.number == number)).scalar_one())


def readings_of(db: Database, serial: str) -> list[tuple[TariffZone, Decimal, ReadingSource]]:
    """Readings of the meter stored by calls (the demo history has no call)."""
    with db.session() as s:
        rows = s.execute(
            select(Reading.zone, Reading.value, Reading.source)
            .join(Meter, Meter.id == Reading.meter_id)
            .where(Meter.serial == serial, Reading.call_id.is_not(None))
            .order_by(Reading.id)
        ).all()
        return [(z, v, src) for z, v, src in rows]


def done(ch: FakeChannel, outcome: str, expected: str = COMPLETED) -> None:
    """The call ended as expected, every scripted step was reached, no error."""
    errors = [e.detail for e in ch.journal.entries if e.kind == "error"]
    assert outcome == expected, f"{outcome}: {errors}; heard {ch.heard}"
    assert ch.pending_steps == [], f"never reached: {ch.pending_steps}; heard {ch.heard}"
    assert not errors, errors
    assert ch.journal.entries[-1].kind == "end"


# -- the hotline's main menu (route inbound) -----------------------------------------------------


async def test_key_0_puts_the_caller_through_to_the_operator(deps: Any) -> None:
    """0 in the main menu: «connecting», the queue (a free operator: no wait
    announced), the appeal registered as Пр with the call linked."""
    ch = call([("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.answered
    assert ch.heard == [
        "common/recording_warning",
        "common/welcome",
        "menu/main",
        "common/connecting_operator",
    ]
    assert ch.destinations == ["queue"]
    assert ch.variables[Var.OPEN] == "1" and ch.variables[Var.CLASSIFICATION] == "Пр"
    assert ch.variables[Var.STATUS] == "OK"
    appeal = await appeal_of(deps, ch)
    assert ch.variables[Var.APPEAL] == appeal.number
    assert appeal.channel is AppealChannel.PHONE and appeal.kind is AppealKind.APPEAL
    assert appeal.classification is not None and appeal.classification.value == "Пр"
    assert appeal.reply_contact == CALLER and appeal.account_id is None
    row = await deps.run_db(CallService(deps.db).get, ch.call_id)
    assert row is not None and appeal.call_id == row.id
    assert row.caller_number == CALLER and "operator" in row.ivr_path


async def test_invalid_keys_then_silence_reach_the_retry_limit_and_the_operator(
    deps: Any,
) -> None:
    """Two wrong keys and a silence: each explained, the menu again; the
    third failure is an apology and the queue, with the position and the
    estimated wait announced (nobody free: REQ-T7)."""
    ch = call([("menu/main", "9"), ("menu/main", "8"), ("menu/main", None)])
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard == [
        "common/recording_warning",
        "common/welcome",
        "menu/main",
        "common/invalid_choice",
        "menu/main",
        "common/invalid_choice",
        "menu/main",
        "common/repeat_back_hint",
        "common/no_input",
        "common/sorry_transfer_operator",
        "queue/position_is",
        "number:1",
        "queue/estimated_wait",
        "duration:180",
    ]
    assert inputs(ch.journal) == ["invalid", "invalid", "timeout"]
    assert ch.destinations == ["queue"]
    appeal = await appeal_of(deps, ch)
    assert appeal.classification is not None and appeal.classification.value == "Пр"
    assert "не удалось выбрать пункт меню" in appeal.content


async def test_silence_repeats_the_menu_then_the_operator(deps: Any) -> None:
    """A caller who says nothing: the menu three times, each silence
    explained, then the operator (never silence, never a dead end)."""
    ch = call(variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    menu = ["menu/main", "common/repeat_back_hint", "common/no_input"]
    assert ch.heard == [
        "common/recording_warning",
        "common/welcome",
        *menu,
        *menu,
        *menu,
        "common/sorry_transfer_operator",
    ]
    assert inputs(ch.journal) == ["timeout"] * 3
    assert ch.destinations == ["queue"]


async def test_star_repeats_and_hash_replays_the_main_menu(deps: Any) -> None:
    """* repeats the menu with its lead-in, # in the main menu replays it,
    then 3 → 3 (tariffs) → 0: the operator, classified Т."""
    script: list[Step] = [
        ("menu/main", "*"),
        ("menu/main", "#"),
        ("menu/main", "3"),
        ("consult/menu", "3"),
        ("consult/after_answer", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert in_order(
        ch.heard,
        [
            "menu/main",
            "menu/main_repeat",
            "menu/main",
            "menu/main",
            "consult/menu",
            "consult/tariffs",
            "consult/after_answer",
            "common/connecting_operator",
        ],
    ), ch.heard
    assert ch.variables[Var.CLASSIFICATION] == "Т"
    assert "consult:3" in steps(ch.journal)


async def test_debtor_is_told_the_debt_once_the_account_is_keyed(deps: Any) -> None:
    """REQ-T9: the number typed ahead during «identification is required»;
    the debt, its date, then 0: the operator, with the account on the card."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/required_for_debt", DEMO_CALLER.number + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert in_order(
        ch.heard,
        [
            "menu/main",
            "ident/required_for_debt",
            "ident/identified",
            "debt/your_debt_is",
            f"money:{DEMO_CALLER.debt}",
            "debt/as_of",
            "date:2025-03-01",
            "debt/options",
            "common/connecting_operator",
        ],
    ), ch.heard
    assert ch.variables[Var.ACCOUNT] == DEMO_CALLER.number
    assert ch.variables[Var.CLASSIFICATION] == "Об"
    appeal = await appeal_of(deps, ch)
    assert appeal.account_id == account_id(deps.db, DEMO_CALLER.number)
    assert "debt:balance" in steps(ch.journal)


async def test_unknown_account_number_three_times_then_the_operator(deps: Any) -> None:
    """The caller ID is the debtor's, but a wrong number keyed three times
    (at the gate's «last four digits or the whole number»): nothing about
    the debt, «not identified» and the queue."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/enter_last_digits", "12399#"),
        *[("ident/enter_last_digits_or_account", "12399#")] * 2,
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard.count("ident/account_not_found") == 3, ch.heard
    assert in_order(ch.heard, ["ident/required_for_debt", "ident/not_identified"]), ch.heard
    assert not any(h.startswith("money:") for h in ch.heard)
    assert "debt/your_debt_is" not in ch.heard and "debt/no_debt" not in ch.heard
    assert ch.destinations == ["queue"] and Var.ACCOUNT.value not in ch.variables
    appeal = await appeal_of(deps, ch)
    assert appeal.account_id is None and appeal.kind is AppealKind.APPEAL
    assert appeal.classification is not None and appeal.classification.value == "Об"


@pytest.mark.parametrize(
    ("stage", "script", "hang_up_at"),
    [
        ("warning", [], "common/recording_warning"),
        ("main-menu", [], "menu/main"),
        ("identification", [("menu/main", "4")], "ident/enter_last_digits"),
        ("standard-answer", [("menu/main", "3"), ("consult/menu", "2")], "consult/tc_documents"),
    ],
)
async def test_hang_up_mid_prompt_loses_nothing(
    deps: Any, stage: str, script: list[Step], hang_up_at: str
) -> None:
    """A hang-up at any stage ends the flow quietly (outcome ``hangup``, no
    error, no status set); the call row is complete and the appeal registered."""
    ch = call(script, hangup_at=hang_up_at)
    done(ch, await run(hotline.flow, ch, deps), HANGUP)
    assert ch.heard[0] == "common/recording_warning" and ch.heard[-1] == hang_up_at
    kinds = ch.journal.kinds()
    assert kinds[kinds.index("hangup") - 1] == "prompt", "hung up as the prompt started"
    assert Var.STATUS.value not in ch.variables and ch.destinations == []
    row = await deps.run_db(CallService(deps.db).get, ch.call_id)
    assert row is not None and row.caller_number == CALLER
    assert row.ended_at is not None and row.ivr_path[-1] == "hangup", row.ivr_path
    appeal = await appeal_of(deps, ch)
    assert appeal.call_id == row.id and "завершил" in appeal.content


async def test_a_consultation_the_menu_answered_closes_with_the_call(deps: Any) -> None:
    """Issue 14: the caller heard a standard answer to the end and hung up: the
    consultation is registered answered and closed (it never goes overdue);
    one who hung up before the answer's end leaves an open appeal."""
    script: list[Step] = [("menu/main", "3"), ("consult/menu", "2")]
    ch = call(script, hangup_at="consult/after_answer")
    done(ch, await run(hotline.flow, ch, deps), HANGUP)
    appeal = await appeal_of(deps, ch)
    assert appeal.kind is AppealKind.CONSULTATION
    assert appeal.status is AppealStatus.CLOSED
    assert appeal.answered_at is not None and appeal.closed_at is not None
    assert appeal.note == hotline.ANSWERED_BY_MENU
    assert appeal.effective_due_at is not None  # its term stays on record

    # mid-answer; another channel (one call's appeal is registered once, issue 13)
    cut = call(script, hangup_at="consult/tc_documents", call_id="1700000000.2")
    done(cut, await run(hotline.flow, cut, deps), HANGUP)
    open_one = await appeal_of(deps, cut)
    assert open_one.status is AppealStatus.REGISTERED and open_one.answered_at is None


async def test_key_1_hands_the_call_to_meter_readings(deps: Any) -> None:
    ch = call([("menu/main", "1")])
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.destinations == ["meter-readings"]
    appeal = await appeal_of(deps, ch)
    assert appeal.kind is AppealKind.METER_READING
    assert appeal.classification is not None and appeal.classification.value == "Э"
    assert ch.variables[Var.APPEAL] == appeal.number


# -- the queue's callback offer (REQ-T8) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "when", "by"),
    [
        (IN_HOURS, ["queue/today"], "2025-03-05T11:00:00+03:00"),
        # 19:30: half an hour left today, the rest at Thursday's opening
        ("2025-03-05T19:30:00+03:00", ["queue/tomorrow"], "2025-03-06T08:30:00+03:00"),
        # Saturday 19:45: a quarter of an hour on Saturday, the rest on Monday (8:45 → 8:50)
        ("2025-03-15T19:45:00+03:00", ["date:2025-03-17"], "2025-03-17T08:50:00+03:00"),
    ],
    ids=["today", "tomorrow", "monday"],
)
async def test_the_callback_offer_says_by_when(
    deps: Any, now: str, when: list[str], by: str
) -> None:
    """1 takes the offer, 1 keeps the calling number: the caller hears by when
    the operator calls back (within ``queue_callback_within_minutes`` = 60 of
    working time), and the worklist's callback carries that deadline."""
    ch = call(
        [("queue/callback_offer", "1"), ("queue/confirm_number", "1")],
        now=now,
        route=Route.QUEUE_CALLBACK,
    )
    done(ch, await run(queue_callback.flow, ch, deps))
    deadline = datetime.fromisoformat(by)
    assert ch.heard[-9:] == [
        "queue/will_call_number",
        f"phone:{CALLER}",
        "queue/callback_registered",
        *when,
        "queue/no_later_than",
        f"time:{deadline:%H:%M}",
        "queue/registered_number",
        "appeal:1",
        "common/goodbye",
    ], ch.heard
    with deps.db.session() as s:
        task = s.scalars(select(Callback).order_by(Callback.id.desc())).first()
    assert task is not None and task.phone == CALLER
    # No appeal of the call (HOTLINE_APPEAL unset): the request is registered
    # as one, linked to the callback, and its number told (REQ-A1, A11).
    appeal = await deps.run_db(AppealService(deps.db).get_by_number, ch.variables[Var.APPEAL])
    assert task.appeal_id == appeal.id and appeal.seq == 1
    assert appeal.channel is AppealChannel.PHONE and appeal.reply_contact == CALLER
    assert task.window_end == deadline, task.window_end
    assert task.due_at <= deadline


# -- out of hours: the answering machine ---------------------------------------------------------


@pytest.mark.parametrize("now", [OUT_OF_HOURS, HOLIDAY], ids=["out-of-hours", "holiday"])
async def test_closed_hotline_offers_a_message_and_a_callback(deps: Any, now: str) -> None:
    """Closed (22:00, or a holiday at noon): the warning, the menu told to
    work around the clock (REQ-T16), 0 → the answering machine; the caller
    ID confirmed with 1 is the reply contact, the message registered and a
    callback due when the hotline next opens (REQ-T3, T5, T6)."""
    inbound = call([("menu/main", "0")], now=now)
    done(inbound, await run(hotline.flow, inbound, deps))
    assert inbound.heard == [
        "common/recording_warning",
        "common/welcome",
        "common/after_hours_self_service",
        "menu/main",
    ]
    assert inbound.destinations == ["answering-machine"] and inbound.variables[Var.OPEN] == "0"
    assert "appeal" not in steps(inbound.journal), "the machine registers the message"

    ch = call(
        [("am/contact_options", "1")],
        now=now,
        route=Route.ANSWERING_MACHINE,
        spool_dir="/spool",
    )
    done(ch, await run(answering_machine.flow, ch, deps))
    assert ch.heard == [
        "am/out_of_hours",
        "am/requirements",
        "am/say_name",
        "am/say_account_or_address",
        "am/callback_caller_id",
        f"phone:{CALLER}",
        "am/contact_options",
        "am/say_message",
        "am/registered_number",
        "appeal:1",
        "am/thank_you_callback",
    ]
    assert [r.asterisk_path for r in ch.recordings] == [
        f"/spool/am-{ch.call_id.replace('.', '-')}-{a}" for a in ("name", "account", "message")
    ]
    assert ch.destinations == ["hangup"]
    appeal = await appeal_of(deps, ch)
    assert ch.variables[Var.APPEAL] == appeal.number
    assert appeal.channel is AppealChannel.ANSWERING_MACHINE
    assert appeal.kind is AppealKind.ANSWERING_MACHINE_MESSAGE
    assert appeal.status is AppealStatus.REGISTERED and appeal.reply_contact == CALLER
    with deps.db.session() as s:
        tasks = list(s.scalars(select(Callback).where(Callback.appeal_id == appeal.id)))
    assert len(tasks) == 1 and tasks[0].phone == CALLER
    opening = datetime.fromisoformat(
        "2025-03-06T08:00:00+03:00" if now == OUT_OF_HOURS else "2025-01-09T08:00:00+03:00"
    )
    assert tasks[0].due_at == opening, tasks[0].due_at


async def test_answering_machine_without_a_contact_is_not_considered(deps: Any) -> None:
    """No caller ID, no key at the contact options, a silent contact: the
    message is kept but «не рассматривается» / no_contact (REQ-T5, A8)."""
    ch = call(now=OUT_OF_HOURS, caller=None, route=Route.ANSWERING_MACHINE)
    done(ch, await run(answering_machine.flow, ch, deps))
    assert in_order(
        ch.heard,
        [
            "am/say_name",
            "am/say_account_or_address",
            "am/contact_options_no_cid",
            "am/say_contact",
            "am/no_contact",
        ],
    ), ch.heard
    assert "am/say_message" not in ch.heard and "am/thank_you_callback" not in ch.heard
    appeal = await appeal_of(deps, ch)
    # REQ-A11: its number is told before why it will not be considered.
    assert ch.heard[-3:] == ["am/registered_number", f"appeal:{appeal.seq}", "am/no_contact"]
    assert appeal.status is AppealStatus.NOT_CONSIDERED
    assert appeal.not_considered_reason is NotConsideredReason.NO_CONTACT
    assert appeal.reply_contact is None


# -- meter readings by keypad (route meter-readings) ------------------------------------------------


def readings_call(script: Sequence[Step], *, caller: str | None, **options: Any) -> FakeChannel:
    return call(script, caller=caller, route=Route.METER_READINGS, **options)


async def test_meter_readings_by_keypad_both_zones_stored(deps: Any) -> None:
    """The caller ID's account proven by its last four digits (REQ-T9), then
    its address confirmed with 1; the day and night readings keyed, read
    back and confirmed; stored, summarised, an appeal (Э)."""
    script: list[Step] = [
        ("ident/enter_last_digits", DEMO_CALLER.number[-4:] + "#"),
        ("readings/address_confirm", "1"),
        ("readings/enter_reading_keypad", "12400#"),
        ("readings/confirm", "1"),
        ("readings/enter_reading_keypad", "6800#"),
        ("readings/confirm", "1"),
    ]
    ch = readings_call(script, caller=CALLER)
    done(ch, await run(meter_readings.flow, ch, deps))
    heard = [h for h in ch.heard if not h.startswith("dyn/")]  # the address's own audio
    assert heard == [
        "readings/intro",
        "ident/enter_last_digits",
        "ident/confirmed",
        "readings/address_is",
        f"address:account-{account_id(deps.db, DEMO_CALLER.number)}",
        "readings/address_confirm",
        "readings/zone_day",
        "readings/enter_reading_keypad",
        "readings/you_entered",
        "reading:12400",
        "readings/confirm",
        "readings/accepted",
        "readings/zone_night",
        "readings/enter_reading_keypad",
        "readings/you_entered",
        "reading:6800",
        "readings/confirm",
        "readings/accepted",
        "readings/summary",
        "readings/label_t1",
        "reading:12400",
        "readings/label_t2",
        "reading:6800",
        "readings/all_accepted",
        "common/goodbye",
    ]
    assert ch.destinations == ["hangup"] and ch.variables[Var.ACCOUNT] == DEMO_CALLER.number
    assert readings_of(deps.db, "DEMO-0001") == [
        (TariffZone.T1, Decimal(12400), ReadingSource.KEYPAD),
        (TariffZone.T2, Decimal(6800), ReadingSource.KEYPAD),
    ]
    appeal = await appeal_of(deps, ch)
    assert ch.variables[Var.APPEAL] == appeal.number
    assert appeal.kind is AppealKind.METER_READING
    assert "DEMO-0001 T1: 12400 (принято)" in appeal.content


async def test_meter_readings_below_the_previous_is_refused_then_corrected(deps: Any) -> None:
    """A value below the meter's last reading: refused with the previous value
    said, asked again; the corrected one is stored. The inbound flow's appeal
    (``HOTLINE_APPEAL``) is kept, no second one."""
    phone = DEMO_NO_DEBT.phone
    assert phone is not None
    script: list[Step] = [
        ("ident/enter_last_digits", DEMO_NO_DEBT.number[-4:] + "#"),
        ("readings/address_is", "1"),
        ("readings/enter_reading_keypad", "12000#"),
        ("readings/enter_reading_keypad", "12350#"),
        ("readings/confirm", "1"),
    ]
    ch = readings_call(script, caller=phone, variables={Var.APPEAL.value: "1-ФЛ"})
    done(ch, await run(meter_readings.flow, ch, deps))
    assert in_order(
        ch.heard,
        [
            "readings/enter_reading_keypad",
            "readings/below_previous",
            "readings/previous_was",
            "reading:12345",
            "readings/enter_reading_keypad",
            "readings/you_entered",
            "reading:12350",
            "readings/accepted",
        ],
    ), ch.heard
    assert "reading:12000" not in ch.heard, "a refused value is not read back"
    assert readings_of(deps.db, "DEMO-0002") == [
        (TariffZone.T1, Decimal(12350), ReadingSource.KEYPAD)
    ]
    assert "appeal-existing" in steps(ch.journal) and "appeal" not in steps(ch.journal)


async def test_meter_readings_unknown_account_three_times_then_the_operator(deps: Any) -> None:
    """A calling number on no account: the account number asked; three unknown
    numbers: «not identified» and the queue, nothing stored."""
    script: list[Step] = [("ident/enter_account", "12399#")] * 3
    ch = readings_call(script, caller=DEMO_UNKNOWN_PHONE)
    done(ch, await run(meter_readings.flow, ch, deps))
    assert ch.heard == [
        "readings/intro",
        *["ident/enter_account", "ident/account_not_found"] * 3,
        "ident/not_identified",
    ]
    assert ch.destinations == ["queue"]
    assert Var.ACCOUNT.value not in ch.variables and Var.APPEAL.value not in ch.variables


async def test_meter_readings_silence_at_the_keypad_ends_with_the_operator(deps: Any) -> None:
    """The account keyed (no caller ID), then three silences for the reading:
    «not accepted», the queue, and the call still registered (nothing stored)."""
    ch = readings_call([("ident/enter_account", DEMO_NO_DEBT.number + "#")], caller=None)
    done(ch, await run(meter_readings.flow, ch, deps))
    assert ch.heard == [
        "readings/intro",
        "ident/enter_account",
        "ident/identified",
        "readings/enter_reading_keypad",
        "common/input_not_recognized",
        "readings/enter_reading_keypad",
        "common/input_not_recognized",
        "readings/enter_reading_keypad",
        "readings/not_accepted_operator",
    ]
    assert ch.destinations == ["queue"]
    assert readings_of(deps.db, "DEMO-0002") == []
    appeal = await appeal_of(deps, ch)
    assert appeal.kind is AppealKind.METER_READING and "не приняты" in appeal.content


# -- the autoinformer's message (route outbound-message) ----------------------------------------------


def debt_attempt(db: Database) -> tuple[int, int, int]:
    """A launched debt campaign to the demo debtor, one claimed attempt:
    (attempt, campaign, contact)."""
    campaigns = CampaignService(db)
    cid = campaigns.create(
        "Долги",
        "debt",
        start_at=datetime(2000, 1, 1, tzinfo=UTC),
        end_at=datetime(2100, 1, 1, tzinfo=UTC),
    )
    result = ContactListService(db).import_rows(cid, [{"phone": CALLER}])
    assert result.accepted == 1, result.rejected
    campaigns.submit(cid, "disp")
    campaigns.approve(cid, "boss", "supervisor")
    campaigns.launch(cid)
    (claimed,) = AttemptStore(db, "node1").claim(1, now=MONDAY_NOON)
    return claimed.attempt_id, claimed.campaign_id, claimed.contact_id


def attempt_row(db: Database, attempt_id: int) -> Attempt:
    with db.session() as s:
        row = s.get(Attempt, attempt_id)
        assert row is not None
        return row


MESSAGE = [
    "outbound/greeting",
    "outbound/debt_account",
    f"account:{DEMO_CALLER.number}",
    "outbound/debt_amount",
    f"money:{DEMO_CALLER.debt}",
    "outbound/debt_request",
    "outbound/if_paid",
]


def outbound_call(db: Database, script: Sequence[Step] = (), **options: Any) -> FakeChannel:
    attempt, _, _ = debt_attempt(db)
    return FakeChannel(
        script,
        route=Route.OUTBOUND_MESSAGE,
        variables={Var.ATTEMPT.value: str(attempt)},
        **options,
    )


async def test_outbound_message_heard_to_the_end(deps: Any) -> None:
    """The whole debt message (account and amount spoken), the hints, silence:
    goodbye and hang-up; the attempt is ``completed`` (a positive call, O8)."""
    ch = outbound_call(deps.db)
    done(ch, await run(outbound_message, ch, deps))
    assert ch.heard == [
        *MESSAGE,
        "outbound/repeat_hint",
        "outbound/operator_hint",
        "outbound/goodbye",
    ]
    assert ch.destinations == ["hangup"]
    assert attempt_row(deps.db, int(ch.variables[Var.ATTEMPT])).flow_state == "completed"


async def test_outbound_message_repeated_with_1(deps: Any) -> None:
    ch = outbound_call(deps.db, [("outbound/repeat_hint", "1")])
    done(ch, await run(outbound_message, ch, deps))
    assert ch.heard == [
        *MESSAGE,
        "outbound/repeat_hint",
        *MESSAGE,
        "outbound/repeat_hint",
        "outbound/operator_hint",
        "outbound/goodbye",
    ]
    row = attempt_row(deps.db, int(ch.variables[Var.ATTEMPT]))
    assert row.flow_state == "completed" and row.repeats == 1


async def test_outbound_message_0_during_the_amount_transfers(deps: Any) -> None:
    """0 pressed while the amount is spoken (barge-in): the queue, with the
    campaign and the contact on the operator's card (O5)."""
    ch = outbound_call(deps.db, [(f"money:{DEMO_CALLER.debt}", "0")])
    done(ch, await run(outbound_message, ch, deps))
    assert ch.heard == MESSAGE[:5]
    attempt = int(ch.variables[Var.ATTEMPT])
    _, campaign, contact = attempt_ids(deps.db, attempt)
    assert ch.destinations == ["queue"]
    assert ch.variables[Var.CAMPAIGN] == str(campaign)
    assert ch.variables[Var.CONTACT] == str(contact)
    assert attempt_row(deps.db, attempt).flow_state == "transferred"


async def test_outbound_message_hang_up_mid_message(deps: Any) -> None:
    """Hung up as the amount starts: ``hungup`` with the second it happened."""
    ch = outbound_call(deps.db, hangup_at="outbound/debt_amount")
    done(ch, await run(outbound_message, ch, deps), HANGUP)
    assert ch.heard == MESSAGE[:4]
    row = attempt_row(deps.db, int(ch.variables[Var.ATTEMPT]))
    assert row.flow_state == "hungup" and row.hangup_second is not None


def attempt_ids(db: Database, attempt_id: int) -> tuple[int, int, int]:
    row = attempt_row(db, attempt_id)
    return row.id, row.campaign_id, row.contact_id
