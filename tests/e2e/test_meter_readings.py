"""Meter readings by keypad, end to end against the real Asterisk (REQ-T14).

Calls enter the ``hotline-meter-readings`` context as the menu sends them;
the caller is driven with ``CallRig.send_dtmf`` after the flow's journal
reached the prompt (event-driven, no fixed sleeps). The runtime has no Vosk
model (``settings.vosk_model`` empty), so the flow is keypad-only here; the
voice path is in ``test_speech_calls.py``.

Each test creates its own account and meter through the CRM services and
asserts what the caller heard, what the database holds (reading, meter's last
value, appeal) and where the call went next.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crm_bridge.accounts import AccountData, MeterData, upsert_accounts, upsert_meters
from crm_bridge.models import Appeal, AppealKind, Meter, ReadingSource, ReadingStatus
from crm_bridge.readings import ReadingPolicy, ReadingService, Verdict, period_status
from telephony.contract import Route

pytestmark = [pytest.mark.asterisk]

CONTEXT = "hotline-meter-readings"
CALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class MadeAccount:
    id: int
    number: str
    phone: str
    meter_id: int
    serial: str


def _rand_digits(n: int) -> str:
    return "".join(random.choice("0123456789") for _ in range(n))


def make_account(
    db: Any,
    *,
    zones: int = 1,
    digits: int = 6,
    last: tuple[int | None, ...] = (12000,),
    days_ago: float = 30.0,
    phone: str | None = None,
) -> MadeAccount:
    """A fresh account with one meter (unique number, phone and serial)."""
    number = "77" + _rand_digits(8)
    phone = phone or "+7999" + _rand_digits(7)
    serial = f"TST-{number}"
    values = [Decimal(v) if v is not None else None for v in (*last, None, None, None)[:3]]
    with db.session(write=True) as session:
        accounts = upsert_accounts(
            session,
            [
                AccountData(
                    number=number,
                    holder_name="Тестов Тест Тестович",
                    settlement="г. Тестоград",
                    street_type="ул.",
                    street="Садовая",
                    house="7",
                    flat=str(random.randint(1, 300)),
                    phones=(phone,),
                )
            ],
        )
        meters = upsert_meters(
            session,
            [
                MeterData(
                    serial=serial,
                    account_number=number,
                    zones=zones,
                    digits=digits,
                    last_t1=values[0],
                    last_t2=values[1],
                    last_t3=values[2],
                )
            ],
        )
        meter_id = meters.ids[serial]
        meter = session.get(Meter, meter_id)
        assert meter is not None
        meter.last_reading_at = datetime.now(UTC) - timedelta(days=days_ago)
    return MadeAccount(accounts.ids[number], number, phone, meter_id, serial)


def meter_row(db: Any, meter_id: int) -> Meter:
    with db.session() as session:
        meter = session.get(Meter, meter_id)
        assert meter is not None
        return meter


@contextlib.contextmanager
def reading_settings(settings: Any, **values: Any) -> Iterator[None]:
    """Temporarily change the ``readings_*`` settings the flow reads per call."""
    saved = {k: getattr(settings, k) for k in values}
    for k, v in values.items():
        setattr(settings, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(settings, k, v)


@pytest.fixture
def always_in_period(runtime: Any) -> Iterator[None]:
    with reading_settings(
        runtime.services.settings, readings_period_start_day=1, readings_period_end_day=31
    ):
        yield


class Caller:
    """Drives one placed call: waits for what the flow says, then presses keys."""

    def __init__(self, rig: Any, runtime: Any, call: Any) -> None:
        self.rig = rig
        self.hub = runtime.services.hub
        self.call = call

    async def heard(self, item: str, count: int = 1, timeout: float = 30.0) -> Any:
        return await self.hub.wait_for(
            self.call.call_id, lambda j: j.heard().count(item) >= count, timeout
        )

    async def step(self, item: str, keys: str, count: int = 1) -> None:
        await self.heard(item, count)
        await self.rig.send_dtmf(self.call, keys)

    async def journal(self, predicate: Any, timeout: float = 30.0) -> Any:
        return await self.hub.wait_for(self.call.call_id, predicate, timeout)

    async def end(self) -> Any:
        journal = await self.hub.wait_for(self.call.call_id, lambda j: j.ended, CALL_TIMEOUT)
        return journal


async def place(rig: Any, runtime: Any, phone: str) -> Caller:
    call = await rig.place(CONTEXT, "s", caller_number=phone.lstrip("+"))
    return Caller(rig, runtime, call)


def steps(journal: Any, name: str) -> list[dict[str, Any]]:
    return [e.detail for e in journal.entries if e.kind == "step" and e.detail["name"] == name]


def next_of(journal: Any) -> str | None:
    entry = journal.last("next")
    return None if entry is None else str(entry.detail["where"])


def appeal_of_call(db: Any, call_id: str) -> Appeal | None:
    from crm_bridge.models import Call

    with db.session() as session:
        return session.execute(
            select(Appeal).join(Call, Call.id == Appeal.call_id).where(Call.uniqueid == call_id)
        ).scalar_one_or_none()


# -- tests -------------------------------------------------------------------------------


def test_route_is_registered() -> None:
    from hotline.slices import build_routes

    assert Route.METER_READINGS.value in build_routes()


async def test_by_phone_with_address_two_zones_keypad(rig, runtime, always_in_period) -> None:
    """Suggested by the calling number, proven with the account's last four
    digits (REQ-T9), address read back and confirmed; a two-zone meter: day
    and night readings keyed, read back, confirmed, stored."""
    db = runtime.services.db
    acc = make_account(db, zones=2, last=(12000, 6000))
    caller = await place(rig, runtime, acc.phone)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "1")
    await caller.heard("readings/zone_day")
    await caller.step("readings/enter_reading_keypad", "12345#")
    await caller.step("readings/confirm", "1")
    await caller.heard("readings/zone_night")
    await caller.step("readings/enter_reading_keypad", "6100#", count=2)
    await caller.step("readings/confirm", "1", count=2)
    journal = await caller.end()
    heard = journal.heard()
    assert heard[:4] == [
        "readings/intro",
        "ident/enter_last_digits",
        "ident/confirmed",
        "readings/address_is",
    ]
    assert any(h.startswith("address:") for h in heard)
    assert "reading:12345" in heard and "reading:6100" in heard
    summary = heard[heard.index("readings/summary") :]
    assert summary[:5] == [
        "readings/summary",
        "readings/label_t1",
        "reading:12345",
        "readings/label_t2",
        "reading:6100",
    ]
    assert "readings/all_accepted" in summary and next_of(journal) == "hangup"
    assert steps(journal, "identified")[0]["method"] == "phone_tail"

    stored = ReadingService(db).readings_of_call(caller.call.call_id)
    assert [(s.zone.value, int(s.value), s.source, s.status) for s in stored] == [
        ("T1", 12345, ReadingSource.KEYPAD, ReadingStatus.ACCEPTED),
        ("T2", 6100, ReadingSource.KEYPAD, ReadingStatus.ACCEPTED),
    ]
    assert [s.consumption for s in stored] == [Decimal(345), Decimal(100)]
    meter = meter_row(db, acc.meter_id)
    assert (meter.last_t1, meter.last_t2) == (Decimal(12345), Decimal(6100))
    appeal = appeal_of_call(db, caller.call.call_id)
    assert appeal is not None and appeal.kind is AppealKind.METER_READING
    assert appeal.account_id == acc.id and "12345" in appeal.content
    assert any(
        e.kind == "var"
        and e.detail["name"] == "HOTLINE_APPEAL"
        and e.detail["value"] == appeal.number
        for e in journal.entries
    )
    await rig.wait_end(caller.call)


async def test_shared_phone_asks_for_the_keyed_account(rig, runtime, always_in_period) -> None:
    """Several accounts on the calling number: the gate asks for the last
    digits, and takes the whole number too."""
    db = runtime.services.db
    acc = make_account(db)
    make_account(db, phone=acc.phone)
    caller = await place(rig, runtime, acc.phone)
    await caller.step("ident/enter_last_digits", f"{acc.number}#")
    await caller.heard("ident/identified")
    await caller.step("readings/enter_reading_keypad", "12001#")
    await caller.step("readings/confirm", "1")
    journal = await caller.end()
    assert "readings/address_is" not in journal.heard()
    assert "ident/enter_last_digits" in journal.heard()  # the number is on file
    assert [(s["way"], s["result"]) for s in steps(journal, "ident-gate")] == [
        ("account", "passed")
    ]
    assert steps(journal, "identified")[0]["method"] == "account"
    assert meter_row(db, acc.meter_id).last_t1 == Decimal(12001)
    await rig.wait_end(caller.call)


async def test_unknown_phone_keyed_account_and_wrong_number(rig, runtime, always_in_period) -> None:
    """No account on the calling number: a wrong account number is refused, the right one works."""
    db = runtime.services.db
    acc = make_account(db)
    caller = await place(rig, runtime, "+7998" + _rand_digits(7))
    await caller.step("ident/enter_account", "1#")
    await caller.step("ident/enter_account", f"{acc.number}#", count=2)
    await caller.step("readings/enter_reading_keypad", "12002#")
    await caller.step("readings/confirm", "1")
    journal = await caller.end()
    assert "ident/account_not_found" in journal.heard()
    assert meter_row(db, acc.meter_id).last_t1 == Decimal(12002)
    await rig.wait_end(caller.call)


async def test_address_denied_then_account_number(rig, runtime, always_in_period) -> None:
    db = runtime.services.db
    acc = make_account(db)
    other = make_account(db)
    caller = await place(rig, runtime, acc.phone)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "2")
    await caller.step("ident/enter_account", f"{other.number}#")
    await caller.step("readings/enter_reading_keypad", "12003#")
    await caller.step("readings/confirm", "1")
    await caller.end()
    assert meter_row(db, other.meter_id).last_t1 == Decimal(12003)
    assert meter_row(db, acc.meter_id).last_t1 == Decimal(12000)
    await rig.wait_end(caller.call)


async def test_below_previous_is_refused_then_corrected(rig, runtime, always_in_period) -> None:
    db = runtime.services.db
    acc = make_account(db, last=(12000,))
    caller = await place(rig, runtime, acc.phone)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "1")
    await caller.step("readings/enter_reading_keypad", "11000#")
    await caller.heard("reading:12000")
    await caller.step("readings/enter_reading_keypad", "12010#", count=2)
    await caller.step("readings/confirm", "1")
    journal = await caller.end()
    heard = journal.heard()
    i = heard.index("readings/below_previous")
    assert heard[i : i + 3] == ["readings/below_previous", "readings/previous_was", "reading:12000"]
    # the refused value was never read back as "you passed"
    assert "reading:11000" not in heard
    verdicts = [s["verdict"] for s in steps(journal, "reading-check")]
    assert verdicts == [Verdict.BELOW_PREVIOUS, Verdict.OK]
    stored = ReadingService(db).readings_of_call(caller.call.call_id)
    assert [int(s.value) for s in stored] == [12010]
    await rig.wait_end(caller.call)


async def test_rollover_of_a_five_digit_meter(rig, runtime, always_in_period) -> None:
    """99 950 → 00 030 on a 5-digit meter: a rollover of 80 kWh, accepted."""
    db = runtime.services.db
    acc = make_account(db, digits=5, last=(99950,), days_ago=3)
    caller = await place(rig, runtime, acc.phone)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "1")
    await caller.step("readings/enter_reading_keypad", "00030#")
    await caller.step("readings/confirm", "1")
    journal = await caller.end()
    assert "reading:30" in journal.heard()
    (stored,) = ReadingService(db).readings_of_call(caller.call.call_id)
    assert stored.verdict is Verdict.ROLLOVER and stored.consumption == Decimal(80)
    assert stored.status is ReadingStatus.ACCEPTED
    assert meter_row(db, acc.meter_id).last_t1 == Decimal(30)
    await rig.wait_end(caller.call)


async def test_suspicious_jump_confirmed_again_and_flagged(rig, runtime, always_in_period) -> None:
    db = runtime.services.db
    acc = make_account(db, last=(1000,), days_ago=1)
    caller = await place(rig, runtime, acc.phone)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "1")
    await caller.step("readings/enter_reading_keypad", "5000#")
    await caller.step("readings/confirm", "1")
    await caller.heard("readings/suspicious_jump")
    await caller.step("readings/enter_reading_keypad", "5000#", count=2)
    journal = await caller.end()
    heard = journal.heard()
    assert "readings/flagged" in heard and "readings/flagged_summary" in heard
    (stored,) = ReadingService(db).readings_of_call(caller.call.call_id)
    assert stored.status is ReadingStatus.FLAGGED and stored.verdict is Verdict.SUSPICIOUS
    assert stored.flag_reason and "kWh/day" in stored.flag_reason
    assert meter_row(db, acc.meter_id).last_t1 == Decimal(5000)
    await rig.wait_end(caller.call)


async def test_suspicious_jump_not_repeated_is_checked_anew(rig, runtime, always_in_period) -> None:
    """A different second value is a new entry: read back and checked on its own."""
    db = runtime.services.db
    acc = make_account(db, last=(1000,), days_ago=1)
    caller = await place(rig, runtime, acc.phone)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "1")
    await caller.step("readings/enter_reading_keypad", "5000#")
    await caller.step("readings/confirm", "1")
    await caller.step("readings/enter_reading_keypad", "1050#", count=2)
    await caller.step("readings/confirm", "1", count=2)
    journal = await caller.end()
    assert steps(journal, "jump-not-repeated")
    (stored,) = ReadingService(db).readings_of_call(caller.call.call_id)
    assert stored.value == Decimal(1050) and stored.status is ReadingStatus.ACCEPTED
    await rig.wait_end(caller.call)


async def test_outside_the_period_is_accepted_and_told_when_it_counts(rig, runtime) -> None:
    db = runtime.services.db
    settings = runtime.services.settings
    service = ReadingService.from_settings(db, settings)
    today = service.local_today()
    day = 2 if today.day == 1 else 1
    with reading_settings(settings, readings_period_start_day=day, readings_period_end_day=day):
        expected = period_status(today, ReadingPolicy(day, day))
        assert not expected.in_period
        acc = make_account(db)
        caller = await place(rig, runtime, acc.phone)
        await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
        await caller.step("readings/address_confirm", "1")
        await caller.step("readings/enter_reading_keypad", "12050#")
        await caller.step("readings/confirm", "1")
        journal = await caller.end()
    heard = journal.heard()
    i = heard.index("readings/outside_period")
    assert heard[i + 1] == f"date:{expected.counts_from.isoformat()}"
    (stored,) = ReadingService(db).readings_of_call(caller.call.call_id)
    assert stored.status is ReadingStatus.ACCEPTED and not stored.in_period
    assert stored.counts_from == expected.counts_from
    await rig.wait_end(caller.call)


async def test_correction_with_2(rig, runtime, always_in_period) -> None:
    db = runtime.services.db
    acc = make_account(db)
    caller = await place(rig, runtime, acc.phone)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "1")
    await caller.step("readings/enter_reading_keypad", "12300#")
    await caller.step("readings/confirm", "2")
    await caller.step("readings/enter_reading_keypad", "12030#", count=2)
    await caller.step("readings/confirm", "1", count=2)
    journal = await caller.end()
    heard = journal.heard()
    assert heard.index("reading:12300") < heard.index("reading:12030")
    assert steps(journal, "reading-correction")
    stored = ReadingService(db).readings_of_call(caller.call.call_id)
    assert [int(s.value) for s in stored] == [12030]
    assert meter_row(db, acc.meter_id).last_t1 == Decimal(12030)
    await rig.wait_end(caller.call)


async def test_failed_keypad_input_goes_to_an_operator(rig, runtime, always_in_period) -> None:
    db = runtime.services.db
    acc = make_account(db)
    # In working hours (REQ-T16: out of hours the way to an operator is the
    # answering machine): the call's clock is the next open moment.
    opens = runtime.services.hours.next_open(datetime.now(UTC))
    assert opens is not None
    call = await rig.place(
        CONTEXT,
        "s",
        caller_number=acc.phone.lstrip("+"),
        variables={"HOTLINE_TEST_NOW": opens.isoformat()},
    )
    caller = Caller(rig, runtime, call)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "1")
    await caller.step("readings/enter_reading_keypad", "*#")
    await caller.step("readings/enter_reading_keypad", "*#", count=2)
    await caller.step("readings/enter_reading_keypad", "*#", count=3)
    journal = await caller.journal(lambda j: j.last("next") is not None)
    heard = journal.heard()
    assert "readings/not_accepted_operator" in heard
    assert next_of(journal) == "queue"
    reasons = [
        e.detail["reason"]
        for e in journal.entries
        if e.kind == "input" and e.detail.get("what") == "reading"
    ]
    assert reasons == ["invalid", "invalid", "invalid"]
    assert ReadingService(db).readings_of_call(caller.call.call_id) == []
    assert meter_row(db, acc.meter_id).last_t1 == Decimal(12000)
    # the contact is still registered (REQ-A1), with nothing accepted
    journal = await caller.end()
    appeal = appeal_of_call(db, caller.call.call_id)
    assert appeal is not None and "не приняты" in appeal.content
    await rig.hangup_caller(caller.call)
    await rig.wait_end(caller.call)


async def test_existing_appeal_of_the_call_is_kept(rig, runtime, always_in_period) -> None:
    """The inbound flow already registered an appeal (HOTLINE_APPEAL): no second one."""
    db = runtime.services.db
    acc = make_account(db)
    call = await rig.place(
        CONTEXT, "s", caller_number=acc.phone.lstrip("+"), variables={"HOTLINE_APPEAL": "1-ФЛ"}
    )
    caller = Caller(rig, runtime, call)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "1")
    await caller.step("readings/enter_reading_keypad", "12070#")
    await caller.step("readings/confirm", "1")
    journal = await caller.end()
    assert steps(journal, "appeal-existing") and not steps(journal, "appeal")
    assert appeal_of_call(db, call.call_id) is None
    await rig.wait_end(call)


async def test_keyed_reading_reaches_billing_through_the_runtime_web(
    rig, runtime, always_in_period
) -> None:
    """A reading keyed in a real call is in the CSV export of the running web
    server (``/readings/``, supervisor) and is pushed to a real billing server."""
    import base64
    import json

    import aiohttp
    from aiohttp import web

    from crm_bridge.models import Operator, OperatorRole
    from crm_bridge.passwords import hash_password

    db = runtime.services.db
    login = "sup" + _rand_digits(6)
    with db.session(write=True) as session:
        session.add(
            Operator(
                login=login,
                name="Старший смены",
                role=OperatorRole.SUPERVISOR,
                password_hash=hash_password("пароль-1", n=2**10),
            )
        )
    acc = make_account(db)
    caller = await place(rig, runtime, acc.phone)
    await caller.step("ident/enter_last_digits", acc.number[-4:] + "#")
    await caller.step("readings/address_confirm", "1")
    await caller.step("readings/enter_reading_keypad", "12345#")
    await caller.step("readings/confirm", "1")
    await caller.end()
    (stored,) = ReadingService(db).readings_of_call(caller.call.call_id)

    received: list[dict[str, Any]] = []

    async def billing(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.json_response({"ok": True})

    far = web.Application()
    far.router.add_post("/in", billing)
    far_runner = web.AppRunner(far)
    await far_runner.setup()
    site = web.TCPSite(far_runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    token = base64.b64encode(f"{login}:пароль-1".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    try:
        with reading_settings(
            runtime.services.settings, readings_billing_url=f"http://127.0.0.1:{port}/in"
        ):
            async with aiohttp.ClientSession(headers=headers) as http:
                async with http.get(runtime.web_url + "readings/export.csv") as resp:
                    assert resp.status == 200
                    text = (await resp.read()).decode("utf-8-sig")
                row = next(r for r in text.splitlines() if r.startswith(f"{stored.id};"))
                assert f";{acc.number};{acc.serial};T1;12345;" in row
                assert row.endswith(f";{caller.call.call_id}") and ";keypad;" in row
                async with http.post(runtime.web_url + "readings/push") as resp:
                    result = await resp.json()
                    assert resp.status == 200, result
    finally:
        await far_runner.cleanup()
    pushed = [r for batch in received for r in batch["readings"] if r["reading_id"] == stored.id]
    assert len(pushed) == 1
    assert (pushed[0]["account"], pushed[0]["value"], pushed[0]["source"]) == (
        acc.number,
        "12345",
        "keypad",
    )
    assert pushed[0]["call"] == caller.call.call_id
    assert result["pending"] == 0 and ReadingService(db).pending_export() == 0
    await rig.wait_end(caller.call)
