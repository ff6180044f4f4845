"""«Нет света» first and the menu around the clock (issue 16 items 2 and 4,
REQ-T16), on the scripted caller (``telephony.fakechannel``) with the real
flows, the real outage register and a migrated SQLite database; the
real-Asterisk tier is tests/e2e/test_outage_ivr.py.

The scripted warning takes no time, so these tests give the emergency check
the time the warning would give it (``WAIT_AFTER_WARNING``); the fall-through
tests make the check never answer, or fail, instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from crm_bridge.accounts import AccountData, upsert_accounts
from crm_bridge.demo_data import DEMO_CALLER, DEMO_UNKNOWN_PHONE
from crm_bridge.models import (
    AppealChannel,
    AppealKind,
    AppealStatus,
    Callback,
    ClassificationCode,
    ReadingSource,
)
from crm_bridge.outages import OutageKind, OutageService
from ivr.flows import answering_machine, hotline, meter_readings, outage_first
from outages.register import Draft, EntryView, OutageRegister
from telephony.callrunner import HANGUP
from telephony.contract import Route, Var
from tests.unit import test_flow_branches as _branches
from tests.unit.test_flow_branches import (
    CALLER,
    FREE_OPERATOR,
    IN_HOURS,
    OUT_OF_HOURS,
    appeal_of,
    call,
    done,
    readings_of,
    run,
    steps,
)

demo_template = _branches.demo_template  # the fixtures of the flow tier
deps = _branches.deps

STARTED = "2025-03-05T08:00:00+03:00"
ETA = "2025-03-05T18:00:00+03:00"
LENINA = "г. Демоград, ул. Ленина, д. 1-9"  # the demo caller lives at Ленина 5


@pytest.fixture(autouse=True)
def check_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outage_first, "WAIT_AFTER_WARNING", 60.0)


def emergency(
    db: Any,
    *,
    eta: str | None = ETA,
    reason: str = "повреждение кабельной линии",
    lines: tuple[str, ...] = (LENINA,),
) -> EntryView:
    return OutageRegister(db).create(
        Draft(
            kind=OutageKind.EMERGENCY,
            starts_at=datetime.fromisoformat(STARTED),
            ends_at=datetime.fromisoformat(eta) if eta else None,
            addresses=list(lines),
            reason=reason,
        ),
        by="dispatcher",
    )


def said(ch: Any) -> list[str]:
    return [str(e.detail["text"]) for e in ch.journal.entries if e.kind == "say"]


def emergency_step(ch: Any) -> dict[str, Any]:
    found = [e.detail for e in ch.journal.entries if e.kind == "step"]
    return next(d for d in found if d["name"] == "emergency-outage")


# -- item 2: the emergency before the menu --------------------------------------------------


async def test_emergency_is_said_right_after_the_warning(deps: Any) -> None:
    """«По вашему адресу аварийное отключение электроэнергии. Восстановление
    ориентировочно в восемнадцать часов», then the usual greeting and menu;
    0 → the operator; the appeal is an outage appeal (КЭ)."""
    entry = await deps.run_db(lambda: emergency(deps.db))
    ch = call([("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard == [
        "common/recording_warning",
        "outage/emergency_at_address",
        "outage/restore_expected_at",
        "time:18:00",
        "common/welcome",
        "menu/main",
        "common/connecting_operator",
    ]
    assert said(ch) == ["восемнадцать часов"]
    step = emergency_step(ch)
    assert step["outage"] == entry.id and step["code"] == "КЭ"
    assert CALLER not in str(step) and DEMO_CALLER.number not in str(step)
    assert ch.destinations == ["queue"] and ch.variables[Var.CLASSIFICATION] == "КЭ"
    appeal = await appeal_of(deps, ch)
    assert appeal.classification is ClassificationCode.KE
    assert appeal.channel is AppealChannel.PHONE and appeal.kind is AppealKind.APPEAL
    assert "аварийное отключение" in appeal.content
    assert appeal.account_id is None, "the calling number alone identifies nobody (REQ-T9)"


async def test_a_key_during_the_notice_is_the_menu_choice(deps: Any) -> None:
    """Type-ahead: 4 pressed while the emergency is said stops it; the
    greeting and the menu are not played, the caller is in the debt item
    (another topic: the appeal stays the outage's)."""
    await deps.run_db(lambda: emergency(deps.db))
    ch = call(
        [
            ("outage/emergency_at_address", "4"),
            ("ident/required_for_debt", DEMO_CALLER.number + "#"),
            ("debt/options", "0"),
        ],
        variables=FREE_OPERATOR,
    )
    done(ch, await run(hotline.flow, ch, deps))
    heard = ch.heard
    assert heard[:3] == [
        "common/recording_warning",
        "outage/emergency_at_address",
        "ident/required_for_debt",
    ], heard
    skipped = [e.detail["id"] for e in ch.journal.entries if e.kind == "skip"]
    assert "menu/main" in skipped and "common/welcome" in skipped, skipped
    assert f"money:{DEMO_CALLER.debt}" in heard
    appeal = await appeal_of(deps, ch)
    assert appeal.classification is ClassificationCode.KE
    assert appeal.account_id is not None  # proven in the debt item


async def test_the_moved_estimate_is_what_is_said(deps: Any) -> None:
    """The dispatcher moves the restoration to tomorrow 09:30: «в девять
    часов тридцать минут шестого марта» (the date, as it is not today)."""
    entry = await deps.run_db(lambda: emergency(deps.db))
    register = OutageRegister(deps.db)
    moved = datetime.fromisoformat("2025-03-06T09:30:00+03:00")
    await deps.run_db(lambda: register.move_eta(entry.id, moved, by="dispatcher"))
    ch = call([("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert said(ch) == ["девять часов тридцать минут шестого марта"]
    assert datetime.fromisoformat(emergency_step(ch)["eta"]) == moved


@pytest.mark.parametrize(
    "eta",
    [None, "2025-03-05T09:30:00+03:00"],
    ids=["entered-without-estimate", "estimate-passed-not-restored"],
)
async def test_no_estimate_or_a_passed_one_is_sroki_utochnyayutsya(
    deps: Any, eta: str | None
) -> None:
    """An emergency entered with its restoration «уточняется», or one whose
    estimate (09:30) has passed at 10:00 without it being marked restored:
    still told, with «сроки восстановления уточняются» — never a time past."""
    entry = await deps.run_db(lambda: emergency(deps.db, eta=eta))
    ch = call([("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard[:4] == [
        "common/recording_warning",
        "outage/emergency_at_address",
        "outage/restore_unknown",
        "common/welcome",
    ]
    assert said(ch) == [] and not any(h.startswith("time:") for h in ch.heard)
    step = emergency_step(ch)
    assert step["outage"] == entry.id and step["eta"] is None


async def test_item_2_tells_an_overdue_emergency_as_sroki_utochnyayutsya(deps: Any) -> None:
    """Menu item 2 after the proof: the emergency at the address whose
    estimate has passed is «ведутся аварийно-восстановительные работы…
    сроки восстановления уточняются», not the time past."""
    await deps.run_db(lambda: emergency(deps.db, eta="2025-03-05T09:30:00+03:00"))
    ch = call(
        [
            ("menu/main", "2"),
            ("outage/enter_last_digits", DEMO_CALLER.number[-4:] + "#"),
        ],
        variables=FREE_OPERATOR,
    )
    await run(hotline.flow, ch, deps)
    heard = ch.heard
    at = heard.index("outage/emergency_works")
    assert heard[at + 1] == "outage/restore_unknown", heard
    assert "outage/estimated_restore" not in heard


async def test_a_limitation_is_an_og_appeal(deps: Any) -> None:
    """The register's reason names a limitation of consumption: Ог."""
    await deps.run_db(
        lambda: emergency(deps.db, reason="Введение графика ограничения режима потребления")
    )
    ch = call([("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert "outage/emergency_at_address" in ch.heard
    appeal = await appeal_of(deps, ch)
    assert appeal.classification is ClassificationCode.OG


async def test_any_account_of_the_number_counts(deps: Any) -> None:
    """A number on two accounts, the first on another street: the second's
    house is inside the emergency, so the caller hears it."""
    phone = "+79007770011"

    def accounts() -> None:
        with deps.db.session(write=True) as s:
            upsert_accounts(
                s,
                [
                    AccountData(
                        number="7700000001",
                        holder_name="Дачник Первый",
                        settlement="г. Демоград",
                        street_type="ул.",
                        street="Садовая",
                        house="40",
                        phones=(phone,),
                    ),
                    AccountData(
                        number="7700000002",
                        holder_name="Дачник Первый",
                        settlement="г. Демоград",
                        street_type="ул.",
                        street="Ленина",
                        house="7",
                        phones=(phone,),
                    ),
                ],
            )

    await deps.run_db(accounts)
    await deps.run_db(lambda: emergency(deps.db))
    ch = call([("menu/main", "0")], caller=phone, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard[1] == "outage/emergency_at_address", ch.heard
    found = await deps.run_db(
        lambda: OutageService(deps.db).emergency_for_phone(phone, datetime.fromisoformat(IN_HOURS))
    )
    assert found is not None
    with deps.db.session() as s:
        from crm_bridge.models import Account

        number = s.scalar(select(Account.number).where(Account.id == found.account_id))
    assert number == "7700000002"


@pytest.mark.parametrize(
    ("kind", "caller", "lines"),
    [
        ("planned", CALLER, (LENINA,)),  # planned: told in item 2, after the proof
        ("emergency", CALLER, ("г. Демоград, ул. Ленина, д. 7-9",)),  # not this house
        ("emergency", DEMO_UNKNOWN_PHONE, (LENINA,)),  # a number not on file
        ("emergency", None, (LENINA,)),  # no caller ID
    ],
    ids=["planned", "other-houses", "unknown-number", "no-caller-id"],
)
async def test_nothing_is_said_without_an_emergency_at_the_address(
    deps: Any, kind: str, caller: str | None, lines: tuple[str, ...]
) -> None:
    register = OutageRegister(deps.db)
    await deps.run_db(
        lambda: register.create(
            Draft(
                kind=OutageKind(kind),
                starts_at=datetime.fromisoformat(STARTED),
                ends_at=datetime.fromisoformat(ETA),
                decided_at=datetime.fromisoformat(STARTED) - timedelta(days=5),
                addresses=list(lines),
            ),
            by="dispatcher",
        )
    )
    ch = call([("menu/main", "0")], caller=caller, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard[:3] == ["common/recording_warning", "common/welcome", "menu/main"]
    assert "emergency-outage" not in steps(ch.journal)


async def test_a_restored_outage_is_no_longer_said(deps: Any) -> None:
    entry = await deps.run_db(lambda: emergency(deps.db))
    register = OutageRegister(
        deps.db, clock=lambda: datetime.fromisoformat("2025-03-05T09:00:00+03:00")
    )
    await deps.run_db(lambda: register.set_status(entry.id, "restored", by="dispatcher"))
    ch = call([("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert "outage/emergency_at_address" not in ch.heard


# -- the check never delays or breaks the call ----------------------------------------------------


@pytest.fixture
def stuck(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The check blocks (a database that does not answer) until released."""
    release = threading.Event()

    def blocked(self: Any, calling_number: str | None, now: Any = None) -> Any:
        release.wait(30)
        return None

    monkeypatch.setattr(OutageService, "emergency_for_phone", blocked)
    monkeypatch.setattr(outage_first, "WAIT_AFTER_WARNING", 0.2)
    yield release
    release.set()


async def test_a_check_that_does_not_answer_leaves_the_menu_as_it_is(
    deps: Any, stuck: threading.Event
) -> None:
    await deps.run_db(lambda: emergency(deps.db))
    ch = call([("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard[:3] == ["common/recording_warning", "common/welcome", "menu/main"]
    appeal = await appeal_of(deps, ch)
    assert appeal.classification is ClassificationCode.PR


async def test_a_failing_check_leaves_the_menu_as_it_is(
    deps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, calling_number: str | None, now: Any = None) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(OutageService, "emergency_for_phone", broken)
    await deps.run_db(lambda: emergency(deps.db))
    ch = call([("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert ch.heard[:3] == ["common/recording_warning", "common/welcome", "menu/main"]
    assert ch.destinations == ["queue"]


# -- item 4: self-service around the clock (REQ-T16) ----------------------------------------------


async def test_at_night_the_emergency_then_the_menu_and_0_is_the_machine(deps: Any) -> None:
    """22:00: the emergency, the greeting, «операторы не работают, меню
    доступно круглосуточно», the menu; 0 → the answering machine, which
    registers the message as the outage's (КЭ) with a callback."""
    await deps.run_db(lambda: emergency(deps.db, eta="2025-03-06T02:00:00+03:00"))
    inbound = call([("menu/main", "0")], now=OUT_OF_HOURS)
    done(inbound, await run(hotline.flow, inbound, deps))
    assert inbound.heard == [
        "common/recording_warning",
        "outage/emergency_at_address",
        "outage/restore_expected_at",
        "datetime:2025-03-06T02:00+03:00",
        "common/welcome",
        "common/after_hours_self_service",
        "menu/main",
    ]
    assert said(inbound) == ["два часа шестого марта"]
    assert inbound.destinations == ["answering-machine"]
    assert inbound.variables[Var.CLASSIFICATION] == "КЭ"
    assert "appeal" not in steps(inbound.journal), "the machine registers the message"

    machine = call(
        [("am/contact_options", "1")],
        now=OUT_OF_HOURS,
        route=Route.ANSWERING_MACHINE,
        spool_dir="/spool",
        variables={Var.CLASSIFICATION.value: "КЭ"},
    )
    done(machine, await run(answering_machine.flow, machine, deps))
    appeal = await appeal_of(deps, machine)
    assert appeal.channel is AppealChannel.ANSWERING_MACHINE
    assert appeal.classification is ClassificationCode.KE
    with deps.db.session() as s:
        tasks = list(s.scalars(select(Callback).where(Callback.appeal_id == appeal.id)))
    assert [t.due_at for t in tasks] == [datetime.fromisoformat("2025-03-06T08:00:00+03:00")]


async def test_at_night_the_debt_is_told_after_the_proof(deps: Any) -> None:
    """22:00, item 4: the proof, the balance, as by day; silence at the menu
    afterwards: by day the operator, at night the answering machine (no
    «соединяем с оператором»)."""
    ch = call(
        [
            ("menu/main", "4"),
            ("ident/required_for_debt", DEMO_CALLER.number + "#"),
            ("debt/options", "#"),
            ("menu/main", None),
        ],
        now=OUT_OF_HOURS,
    )
    outcome = await run(hotline.flow, ch, deps)
    heard = ch.heard
    assert "common/after_hours_self_service" in heard
    assert f"money:{DEMO_CALLER.debt}" in heard, heard
    # Silence at the menu three times: by day the operator, at night the machine.
    done(ch, outcome)
    assert ch.destinations == ["answering-machine"]
    assert "common/sorry_transfer_operator" not in heard
    assert "common/connecting_operator" not in heard


async def test_at_night_a_caller_served_by_the_menu_leaves_an_appeal(deps: Any) -> None:
    """22:00: the balance heard, the caller hangs up: the contact is
    registered as by day (REQ-A1), a consultation the menu answered."""
    ch = call(
        [("menu/main", "4"), ("ident/required_for_debt", DEMO_CALLER.number + "#")],
        now=OUT_OF_HOURS,
        hangup_at="debt/options",
    )
    done(ch, await run(hotline.flow, ch, deps), HANGUP)
    appeal = await appeal_of(deps, ch)
    assert appeal.kind is AppealKind.CONSULTATION and appeal.classification is ClassificationCode.OB
    assert appeal.account_id is not None and appeal.status is AppealStatus.CLOSED
    assert "задолженность" in appeal.content


async def test_at_night_outage_information_after_the_proof(deps: Any) -> None:
    """22:00, item 2: the outages at the address once the caller proved the
    account (the planned one of tomorrow); 1 «report» → the answering machine."""
    outages = OutageService(deps.db)
    await deps.run_db(
        lambda: outages.add(
            kind="planned",
            starts_at=datetime.fromisoformat("2025-03-06T09:00:00+03:00"),
            ends_at=datetime.fromisoformat("2025-03-06T13:00:00+03:00"),
            address="г. Демоград, ул. Ленина, д. 5",
        )
    )
    ch = call(
        [
            ("menu/main", "2"),
            ("outage/enter_last_digits", DEMO_CALLER.number[-4:] + "#"),
            ("outage/report_outage", "1"),
        ],
        now=OUT_OF_HOURS,
    )
    done(ch, await run(hotline.flow, ch, deps))
    heard = ch.heard
    assert "outage/planned_at_address" in heard and "date:2025-03-06" in heard, heard
    assert ch.destinations == ["answering-machine"]
    assert "common/connecting_operator" not in heard


async def test_at_night_readings_are_taken(deps: Any) -> None:
    """22:00, item 1: the readings flow takes the reading as by day."""
    inbound = call([("menu/main", "1")], now=OUT_OF_HOURS)
    done(inbound, await run(hotline.flow, inbound, deps))
    assert inbound.destinations == ["meter-readings"]
    appeal = await appeal_of(deps, inbound)
    assert appeal.kind is AppealKind.METER_READING

    ch = call(
        [
            ("ident/enter_last_digits", DEMO_CALLER.number[-4:] + "#"),
            ("readings/address_is", "1"),
            ("readings/enter_reading_keypad", "12400#"),
            ("readings/confirm", "1"),
            ("readings/enter_reading_keypad", "6800#"),
            ("readings/confirm", "1"),
        ],
        now=OUT_OF_HOURS,
        route=Route.METER_READINGS,
        variables={Var.APPEAL.value: appeal.number},
    )
    done(ch, await run(meter_readings.flow, ch, deps))
    assert ch.destinations == ["hangup"]
    stored = readings_of(deps.db, DEMO_CALLER.meter_serial or "")
    assert [(v, src) for _, v, src in stored] == [
        (Decimal("12400"), ReadingSource.KEYPAD),
        (Decimal("6800"), ReadingSource.KEYPAD),
    ], stored


async def test_at_night_readings_not_identified_go_to_the_machine(deps: Any) -> None:
    """An unknown number keys nothing: «не удалось определить» without
    «соединяем с оператором», then the answering machine."""
    ch = call(now=OUT_OF_HOURS, caller=DEMO_UNKNOWN_PHONE, route=Route.METER_READINGS)
    done(ch, await run(meter_readings.flow, ch, deps))
    assert ch.heard[-1] == "ident/not_identified_closed", ch.heard
    assert ch.destinations == ["answering-machine"]


def test_the_notice_in_its_three_forms() -> None:
    """Today: the time only; another day: the time and the date; no
    estimate (an emergency entered without one, or one whose estimate has
    passed): «сроки восстановления уточняются»."""
    from zoneinfo import ZoneInfo

    from ivr.phrases_ru import Words

    zone = ZoneInfo("Europe/Moscow")
    now = datetime.fromisoformat("2025-03-05T23:10:00+03:00")

    def render(eta: str | None) -> list[str]:
        phrase = outage_first.notice(datetime.fromisoformat(eta) if eta else None, now, zone)
        return [" ".join(p.tokens) if isinstance(p, Words) else p for p in phrase.parts]

    assert render("2025-03-05T23:59:00+03:00") == [
        "outage/emergency_at_address",
        "outage/restore_expected_at",
        "двадцать три часа пятьдесят девять минут",
    ]
    assert render("2025-03-05T21:01:00Z") == [  # 00:01 Moscow, the next day
        "outage/emergency_at_address",
        "outage/restore_expected_at",
        "ноль часов одну минуту шестого марта",
    ]
    assert render(None) == ["outage/emergency_at_address", "outage/restore_unknown"]
