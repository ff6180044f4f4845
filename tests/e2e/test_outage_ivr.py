"""«Нет света» first and self-service at night on the real Asterisk 22
(issue 16 items 2 and 4, REQ-T16).

The grid company's dispatch system enters an emergency outage through the
outages API (real HTTP, a client token); callers come over real SIP from the
callers' network (hotline.sipnet), their keys are RFC 4733 events, each sent
once the prompt it answers has started (Asterisk's AGIExecStart). What the
caller heard is the flow's journal; the appeal and the reading are read from
the database.

The emergency covers the demo house (г. Демоград, ул. Ленина, 5) only while
this module runs: its rows are removed at the end, as the other modules'
callers live there too.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import delete, select

from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService
from crm_bridge.demo_data import DEMO_CALLER, DEMO_NO_DEBT
from crm_bridge.models import Account, ClassificationCode, Reading, ReadingSource
from crm_bridge.outages import Outage, touch
from crm_bridge.readings import ReadingService
from outages.models import OutageEntry, OutageHistory
from outages.register import OutageRegister
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk]

IN_HOURS = "2025-03-05T10:00:00+03:00"  # the sip rig's "now" (tests/e2e/conftest.py)
NIGHT = "2025-03-05T22:00:00+03:00"  # the same Wednesday, operators gone home
STARTED = "2025-03-05T08:00:00+03:00"
EXTERNAL_ID = "avr-2025-0305-17"
Put = Callable[[str | None], Awaitable[dict[str, Any]]]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dispatch(runtime: Any, sip: Any) -> AsyncIterator[Put]:
    """``await dispatch(ends_at)``: the dispatch system PUTs its emergency
    (created, then updated by its own id: the estimate moved; None: no
    ``ends_at`` in the body, the restoration «уточняется»)."""
    services = runtime.services
    register = OutageRegister(services.db)
    # A name of its own each time: a worker may come back to this module.
    name = f"grid-dispatch-{uuid.uuid4().hex[:8]}"
    client, token = await services.run_db(register.add_client, name)
    url = f"{runtime.web_url}outages/api/v1/outages/{EXTERNAL_ID}"
    async with aiohttp.ClientSession() as http:

        async def put(ends_at: str | None) -> dict[str, Any]:
            body = {
                "kind": "emergency",
                "starts_at": STARTED,
                "reason": "повреждение кабельной линии 10 кВ",
                "addresses": ["г. Демоград, ул. Ленина, д. 1-9"],
            }
            if ends_at is not None:
                body["ends_at"] = ends_at
            headers = {"Authorization": f"Bearer {token}"}
            async with http.put(url, json=body, headers=headers) as resp:
                assert resp.status in (200, 201), await resp.text()
                answer: dict[str, Any] = await resp.json()
                return answer

        yield put

    def remove() -> None:
        with services.db.session(write=True) as s:
            ids = list(s.scalars(select(OutageEntry.id).where(OutageEntry.client_id == client.id)))
            s.execute(delete(Outage).where(Outage.register_id.in_(ids)))
            s.execute(delete(OutageHistory).where(OutageHistory.outage_id.in_(ids)))
            s.execute(delete(OutageEntry).where(OutageEntry.id.in_(ids)))
            touch(s)

    await services.run_db(remove)


@pytest_asyncio.fixture(loop_scope="session")
async def night(sip: Any) -> AsyncIterator[None]:
    """The trunk's calls at 22:00 (out of the working hours) for one test."""
    await sip.set_test_now(NIGHT)
    try:
        yield
    finally:
        await sip.set_test_now(IN_HOURS)


def _steps(journal: Any) -> dict[str, dict[str, Any]]:
    return {e.detail["name"]: e.detail for e in journal.entries if e.kind == "step"}


async def _appeal(services: Any, journal: Any) -> Any:
    number = _steps(journal)["appeal"]["number"]
    return await services.run_db(AppealService(services.db).get_by_number, number)


async def _end(sip: Any, call: Any) -> Any:
    await sip.hangup_caller(call)
    await sip.wait_end(call)
    assert call.journal is not None
    return call.journal


async def _whole_call(services: Any, call_id: str, last: str) -> list[Any]:
    """Every route's journal of the call as stored, once ``last`` is in it."""
    calls = CallService(services.db)

    async def stored() -> list[Any] | None:
        events = await services.run_db(lambda: calls.events(call_id, source="ivr"))
        return events if any(e.detail.get("name") == last for e in events) else None

    found: list[Any] = await until(stored, 30, f"the stored journal with {last!r}")
    return found


def _heard(events: list[Any]) -> list[str]:
    out = []
    for e in events:
        if e.kind == "prompt":
            out.append(str(e.detail["id"]))
        elif e.kind == "say":
            out.append(f"{e.detail['what']}:{e.detail['value']}")
    return out


async def test_emergency_from_the_api_is_said_before_the_menu(
    runtime: Any, sip: Any, dispatch: Put
) -> None:
    """The dispatch system enters the emergency; the demo caller hears
    «по вашему адресу аварийное отключение… восстановление ориентировочно в
    восемнадцать часов» right after the warning, then the menu, and 0; the
    appeal is the outage's (КЭ). The estimate moved to 20:30: a neighbour
    hears the new one and keys 4 during it, straight into the debt item."""
    services = runtime.services
    created = await dispatch("2025-03-05T18:00:00+03:00")
    assert created["kind"] == "emergency" and created["status"] == "in_progress"

    assert DEMO_CALLER.phone is not None
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    try:
        await sip.answer(call, "menu/main", "0")
        await sip.heard_start(call, "common/connecting_operator")
        journal = await _end(sip, call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    heard = journal.heard()
    assert heard[:6] == [
        "common/recording_warning",
        "outage/emergency_at_address",
        "outage/restore_expected_at",
        "time:18:00",
        "common/welcome",
        "menu/main",
    ], heard
    said = [e.detail["text"] for e in journal.entries if e.kind == "say"]
    assert said[0] == "восемнадцать часов"
    assert _steps(journal)["emergency-outage"]["outage"] == created["id"]
    appeal = await _appeal(services, journal)
    assert appeal.classification is ClassificationCode.KE
    assert "аварийное отключение" in appeal.content

    moved = await dispatch("2025-03-05T20:30:00+03:00")
    assert moved["id"] == created["id"]
    assert datetime.fromisoformat(moved["ends_at"]) == datetime.fromisoformat(
        "2025-03-05T20:30:00+03:00"
    )
    assert DEMO_NO_DEBT.phone is not None
    call = await sip.place_sip(caller_number=DEMO_NO_DEBT.phone.lstrip("+"))
    try:
        await sip.heard_start(call, "outage/restore_expected_at")

        def time_started() -> bool:
            # The first STREAM FILE after «Восстановление ориентировочно в»: the time's first word.
            commands = call.agi_commands()
            lead = max(i for i, c in enumerate(commands) if "/outage/restore_expected_at " in c)
            return any(c.startswith("STREAM FILE") for c in commands[lead + 1 :])

        await until(time_started, 40, "the estimate to be spoken")
        await sip.send_dtmf(call, "4")
        await sip.heard_start(call, "ident/required_for_debt")
        journal = await _end(sip, call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    assert call.prompt_starts("menu/main") == 0 and call.prompt_starts("common/welcome") == 0
    heard = journal.heard()
    assert heard[heard.index("outage/restore_expected_at") + 1] == "time:20:30", heard
    inputs = [
        (e.detail.get("menu"), e.detail["digits"]) for e in journal.entries if e.kind == "input"
    ]
    assert inputs[0] == ("main", "4"), inputs


async def test_at_night_a_reading_is_taken_after_the_outage_is_told(
    runtime: Any, sip: Any, dispatch: Put, night: None
) -> None:
    """22:00, the estimate moved past midnight: the caller hears the
    emergency («в два часа шестого марта»), that the menu works around the
    clock, keys 1 during that notice and passes a reading as by day."""
    services = runtime.services
    await dispatch("2025-03-06T02:00:00+03:00")
    account_id = await services.run_db(_account_id, services.db, DEMO_NO_DEBT.number)
    readings = ReadingService.from_settings(services.db, services.settings)
    meters = await services.run_db(readings.meters, account_id)
    assert len(meters) == 1 and len(meters[0].zones) == 1
    value = int((meters[0].last[meters[0].zones[0]] or Decimal(0)) + 57)

    assert DEMO_NO_DEBT.phone is not None
    call = await sip.place_sip(caller_number=DEMO_NO_DEBT.phone.lstrip("+"))
    try:
        await sip.walk(
            call,
            [
                ("common/after_hours_self_service", "1"),
                ("ident/enter_last_digits", DEMO_NO_DEBT.number[-4:] + "#"),
                ("readings/address_is", "1"),
                ("readings/enter_reading_keypad", f"{value}#"),
                ("readings/confirm", "1"),
            ],
            timeout=60,
        )
        await sip.heard_start(call, "common/goodbye", timeout=60)
        await sip.wait_end(call, timeout=60)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    events = await _whole_call(services, call.call_id, "readings")
    heard = _heard(events)
    assert heard[:6] == [
        "common/recording_warning",
        "outage/emergency_at_address",
        "outage/restore_expected_at",
        "datetime:2025-03-06T02:00+03:00",
        "common/welcome",
        "common/after_hours_self_service",
    ], heard
    assert call.prompt_starts("menu/main") == 0, "1 keyed during the notice chose the item"
    assert "common/connecting_operator" not in heard

    def stored() -> list[tuple[Decimal, ReadingSource]]:
        with services.db.session() as s:
            rows = s.execute(
                select(Reading.value, Reading.source)
                .where(Reading.meter_id == meters[0].id)
                .order_by(Reading.id.desc())
                .limit(1)
            ).all()
            return [(v, src) for v, src in rows]

    assert await services.run_db(stored) == [(Decimal(value), ReadingSource.KEYPAD)]


async def test_at_night_0_is_the_answering_machine(
    runtime: Any, sip: Any, dispatch: Put, night: None
) -> None:
    """22:00: 0 → the answering machine (it says the operators' hours and
    takes the message), the menu's code КЭ handed to it. The caller keys 0
    during the notice that the menu works around the clock: the menu's
    choice (type-ahead), the menu itself not played."""
    await dispatch("2025-03-06T02:00:00+03:00")
    assert DEMO_CALLER.phone is not None
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    try:
        await sip.answer(call, "common/after_hours_self_service", "0")
        await sip.heard_start(call, "am/out_of_hours")
        await sip.hangup_caller(call)
        await sip.wait_end(call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    events = await _whole_call(runtime.services, call.call_id, "answering-machine")
    heard = _heard(events)
    assert heard.index("common/after_hours_self_service") < heard.index("am/out_of_hours"), heard
    assert call.prompt_starts("menu/main") == 0
    assert "common/connecting_operator" not in heard
    nexts = [e.detail["where"] for e in events if e.kind == "next"]
    assert nexts[0] == "answering-machine", nexts
    variables = {e.detail.get("name"): e.detail.get("value") for e in events if e.kind == "var"}
    assert variables.get("HOTLINE_CLASS") == "КЭ" and variables.get("HOTLINE_OPEN") == "0"


def _account_id(db: Any, number: str) -> int:
    with db.session() as s:
        return int(s.execute(select(Account.id).where(Account.number == number)).scalar_one())


async def test_an_emergency_without_an_estimate_is_sroki_utochnyayutsya(
    runtime: Any, sip: Any, dispatch: Put
) -> None:
    """The dispatch system puts the emergency with no ``ends_at`` (its
    restoration «уточняется»): the caller hears «…аварийное отключение
    электроэнергии. Сроки восстановления уточняются», then the menu."""
    entered = await dispatch(None)
    assert entered["ends_at"] is None and entered["status"] == "in_progress"
    assert DEMO_CALLER.phone is not None
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    try:
        await sip.heard_start(call, "menu/main")
        journal = await _end(sip, call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    heard = journal.heard()
    assert heard[:5] == [
        "common/recording_warning",
        "outage/emergency_at_address",
        "outage/restore_unknown",
        "common/welcome",
        "menu/main",
    ], heard
    assert _steps(journal)["emergency-outage"]["eta"] is None
