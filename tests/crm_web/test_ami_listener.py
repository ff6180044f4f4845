"""The AMI listener against scripted AMI events (the real-Asterisk tier is in
tests/e2e/test_operator_card.py and test_ami_restart.py): call records by full
Uniqueid, queue wait, operator, service level (REQ-T7), outcomes, the live
event for the operator card, and the resync after a reconnect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from crm_bridge.ami_listener import CARD_VARS, HOTLINE_CONTEXTS, CallListener, Outcome
from crm_bridge.calls import CallService
from crm_bridge.db import Database
from crm_bridge.live import ALL, EventBus, operator_topic

T0 = 1_767_000_000.0


class FakeAmi:
    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Any], Any]] = {}
        self.hooks: list[Callable[[], Awaitable[None]]] = []
        self.channels: list[dict[str, str]] = []
        self.queue: list[dict[str, str]] = []
        self.vars: dict[str, dict[str, str]] = {}
        self.asked: list[str] = []

    def on_event(self, pattern: str, handler: Callable[[Any], Any]) -> None:
        assert pattern not in self.handlers
        self.handlers[pattern] = handler

    def on_login(self, hook: Callable[[], Awaitable[None]]) -> None:
        self.hooks.append(hook)

    async def action(self, action: dict[str, Any], **_: Any) -> Any:
        name = action["Action"]
        self.asked.append(name)
        if name == "Getvar":
            return {"Value": self.vars.get(action["Channel"], {}).get(action["Variable"], "")}
        if name == "CoreShowChannels":
            return [{"Response": "Success"}, *self.channels, {"Event": "CoreShowChannelsComplete"}]
        if name == "QueueStatus":
            return [{"Response": "Success"}, *self.queue, {"Event": "QueueStatusComplete"}]
        raise AssertionError(name)

    async def emit(self, **event: Any) -> None:
        """Dispatch like telephony.ami: the handler runs now, its coroutine is awaited."""
        ret = self.handlers[event["Event"]](event)
        if ret is not None:
            await ret


def make(db: Database) -> tuple[CallListener, FakeAmi, EventBus]:
    bus = EventBus()
    listener = CallListener(CallService(db), bus=bus)
    ami = FakeAmi()
    listener.subscribe(ami)
    return listener, ami, bus


def ev(name: str, uid: str, t: float, **fields: Any) -> dict[str, Any]:
    return {"Event": name, "Uniqueid": uid, "Linkedid": uid, "Timestamp": f"{t:.6f}", **fields}


async def test_subscribes_once_to_every_event() -> None:
    ami = FakeAmi()
    CallListener(CallService(Database("sqlite://"))).subscribe(ami)
    assert {"Newchannel", "Hangup", "QueueCallerJoin", "AgentConnect", "UserEvent"} <= set(
        ami.handlers
    )
    assert len(ami.hooks) == 1


async def test_answered_queue_call(db: Database, operators: dict[str, int]) -> None:
    _, ami, bus = make(db)
    uid, chan = "1767000000.101", "PJSIP/trunk-0001"
    ami.vars[chan] = {"HOTLINE_APPEAL": "7-ФЛ", "HOTLINE_RECORDING": "/rec/call-1"}
    sub = bus.subscribe([operator_topic(operators["ivanova"])])
    other = bus.subscribe([operator_topic(operators["petrov"])])
    await ami.emit(
        **ev(
            "Newchannel",
            uid,
            T0,
            Channel=chan,
            Context="hotline-inbound",
            CallerIDNum="89001234567",
        )
    )
    await ami.emit(**ev("Newstate", uid, T0 + 0.5, Channel=chan, ChannelState="6"))
    await ami.emit(**ev("QueueCallerJoin", uid, T0 + 10, Channel=chan, Queue="operators"))
    await ami.emit(
        **ev(
            "AgentConnect",
            uid,
            T0 + 25,
            Channel=chan,
            Queue="operators",
            MemberName="ivanova-desk",
            Interface="PJSIP/op201",
            HoldTime="15",
            DestUniqueid="1767000000.102",
            DestChannel="PJSIP/op201-0002",
        )
    )
    await ami.emit(**ev("QueueCallerLeave", uid, T0 + 25.2, Channel=chan, Queue="operators"))
    await ami.emit(**ev("Hangup", "1767000000.102", T0 + 85, Channel="PJSIP/op201-0002"))
    await ami.emit(**ev("Hangup", uid, T0 + 85, Channel=chan, Cause="16"))
    call = CallService(db).get(uid)
    assert call is not None
    assert call.caller_number == "+79001234567"
    assert call.operator_id == operators["ivanova"]  # by interface
    assert call.wait_seconds == 15.0 and call.answered_within_sla is True
    assert call.outcome == Outcome.ANSWERED and call.hangup_cause == "16"
    assert call.recording_file == "/rec/call-1.wav"
    assert CallService(db).get("1767000000.102") is None  # the operator's leg is no call
    event = await sub.get(timeout=1)
    assert event.type == "call_connected" and event.data["uniqueid"] == uid
    assert event.data["vars"]["HOTLINE_APPEAL"] == "7-ФЛ"
    assert (await sub.get(timeout=1)).type == "call_ended"
    assert other.queue.empty()


async def test_the_card_announced_before_the_queue_needs_no_getvar(
    db: Database, operators: dict[str, int]
) -> None:
    """Issue 10: the dialplan raises ``UserEvent(HotlineCard)`` with the card's
    variables (URI-encoded) before ``Queue()``; the queue join and the
    operator's connection use them without one ``Getvar``. A caller who
    reached a queue without it (transferred) is still asked about."""
    _, ami, bus = make(db)
    uid, chan = "1767000000.131", "PJSIP/trunk-0031"
    sub = bus.subscribe([operator_topic(operators["ivanova"])])
    await ami.emit(**ev("Newchannel", uid, T0, Channel=chan, Context="hotline-inbound"))
    await ami.emit(
        **ev(
            "UserEvent",
            uid,
            T0 + 9,
            Channel=chan,
            UserEvent="HotlineCard",
            HOTLINE_ACCOUNT="1000000001",
            HOTLINE_APPEAL="7-%D0%A4%D0%9B",  # 7-ФЛ
            HOTLINE_CLASS="",
            HOTLINE_CONTACT="%D1%83%D0%BB.%20%D0%9B%D0%B5%D0%BD%D0%B8%D0%BD%D0%B0%2C%205",
            HOTLINE_RECORDING="%2Frec%2Fcall-31",
        )
    )
    await ami.emit(**ev("QueueCallerJoin", uid, T0 + 10, Channel=chan, Queue="operators"))
    await ami.emit(
        **ev(
            "AgentConnect",
            uid,
            T0 + 12,
            Channel=chan,
            Queue="operators",
            MemberName="ivanova",
            Interface="PJSIP/op201",
            HoldTime="2",
            DestUniqueid="1767000000.132",
            DestChannel="PJSIP/op201-0032",
        )
    )
    assert "Getvar" not in ami.asked, ami.asked
    event = await sub.get(timeout=1)
    assert event.data["vars"] == {
        "HOTLINE_ACCOUNT": "1000000001",
        "HOTLINE_APPEAL": "7-ФЛ",
        "HOTLINE_CONTACT": "ул. Ленина, 5",
        "HOTLINE_RECORDING": "/rec/call-31",
    }
    # A second caller, transferred into a queue (no card event): asked.
    other, other_chan = "1767000000.133", "PJSIP/trunk-0033"
    ami.vars[other_chan] = {"HOTLINE_APPEAL": "8-ФЛ"}
    await ami.emit(**ev("Newchannel", other, T0, Channel=other_chan, Context="hotline-inbound"))
    await ami.emit(**ev("QueueCallerJoin", other, T0 + 10, Channel=other_chan, Queue="specialists"))
    assert ami.asked.count("Getvar") == 6


async def test_member_name_is_the_login_and_slow_wait_misses_sla(
    db: Database, operators: dict[str, int]
) -> None:
    _, ami, _ = make(db)
    uid = "1767000000.201"
    await ami.emit(
        **ev(
            "QueueCallerJoin",
            uid,
            T0,
            Channel="Local/x;1",
            Queue="operators",
            CallerIDNum="79005556677",
        )
    )
    await ami.emit(
        **ev(
            "AgentConnect",
            uid,
            T0 + 55,
            Channel="Local/x;1",
            Queue="operators",
            MemberName="petrov",
            Interface="Local/202@hotline-test-operator/n",
            HoldTime="55",
            DestUniqueid="1767000000.202",
        )
    )
    call = CallService(db).get(uid)
    assert call is not None and call.operator_id == operators["petrov"]
    assert call.answered_within_sla is False  # 55 s > 40 s (REQ-T7)


async def test_abandoned_and_ivr_only_calls(db: Database) -> None:
    _, ami, _ = make(db)
    await ami.emit(**ev("QueueCallerJoin", "1.1", T0, Channel="c1", Queue="operators"))
    await ami.emit(
        **ev("QueueCallerAbandon", "1.1", T0 + 50, Channel="c1", Queue="operators", HoldTime="50")
    )
    await ami.emit(**ev("Hangup", "1.1", T0 + 50, Channel="c1", Cause="16"))
    await ami.emit(**ev("Newchannel", "1.2", T0, Channel="c2", Context="hotline-inbound"))
    await ami.emit(
        **ev("UserEvent", "1.2", T0 + 5, Channel="c2", UserEvent="HotlineCallEnd", Cause="16")
    )
    await ami.emit(**ev("Hangup", "1.2", T0 + 5, Channel="c2", Cause="16"))
    # Not a hotline call at all: never recorded.
    await ami.emit(**ev("Newchannel", "1.3", T0, Channel="c3", Context="default"))
    await ami.emit(**ev("Hangup", "1.3", T0 + 1, Channel="c3", Cause="16"))
    calls = CallService(db)
    abandoned, ivr = calls.get("1.1"), calls.get("1.2")
    assert abandoned is not None and abandoned.outcome == Outcome.ABANDONED
    assert abandoned.wait_seconds == 50 and abandoned.answered_within_sla is False
    assert ivr is not None and ivr.outcome == Outcome.IVR and ivr.hangup_cause == "16"
    assert calls.get("1.3") is None


async def test_resync_closes_vanished_calls_and_keeps_live_ones(db: Database) -> None:
    listener, ami, _ = make(db)
    for uid in ("2.1", "2.2"):
        await ami.emit(**ev("QueueCallerJoin", uid, T0, Channel=f"chan-{uid}", Queue="operators"))
    # The reconnect: 2.1 is gone, 2.2 still waits, 2.3 arrived meanwhile.
    ami.channels = [
        {
            "Event": "CoreShowChannel",
            "Uniqueid": "2.2",
            "Channel": "chan-2.2",
            "ChannelState": "6",
            "Context": "hotline-queue",
            "Duration": "00:01:00",
        },
        {
            "Event": "CoreShowChannel",
            "Uniqueid": "2.3",
            "Channel": "chan-2.3",
            "ChannelState": "6",
            "Context": "hotline-queue",
            "Duration": "00:00:20",
        },
    ]
    ami.queue = [{"Event": "QueueEntry", "Uniqueid": "2.3", "Queue": "operators", "Wait": "12"}]
    for _ in range(2):  # idempotent: a second resync changes nothing
        await ami.hooks[0]()
    calls = CallService(db)
    lost, live, adopted = calls.get("2.1"), calls.get("2.2"), calls.get("2.3")
    assert lost is not None and lost.outcome == Outcome.LOST and lost.ended_at is not None
    assert live is not None and live.ended_at is None and live.outcome is None
    assert adopted is not None and adopted.queue_name == "operators"
    assert listener.lost_closed == 1
    assert [e.kind for e in calls.events("2.1")].count("lost_during_restart") == 1
    # Still followed: its hangup completes the record.
    await ami.emit(**ev("Hangup", "2.2", T0 + 90, Channel="chan-2.2", Cause="16"))
    done = calls.get("2.2")
    assert done is not None and done.outcome == Outcome.LEFT_QUEUE


async def test_event_bus_is_bounded_and_drops_the_oldest() -> None:
    bus = EventBus(queue_size=2)
    sub = bus.subscribe(["operator:1"])
    everyone = bus.subscribe([ALL])
    for n in range(4):
        bus.publish("operator:1", "x", {"n": n})
    bus.publish("operator:2", "x", {"n": 9})
    assert [(await sub.get(timeout=1)).data["n"] for _ in range(2)] == [2, 3]
    assert sub.dropped == 2 and everyone.dropped == 3
    sub.close()
    assert bus.subscriber_count == 1


def test_contract_names_match_the_dialplan_contract() -> None:
    from telephony.contract import Context, Var

    assert {Context.INBOUND.value, Context.OUTBOUND.value} == set(HOTLINE_CONTEXTS)
    declared = {v.value for v in Var}
    assert set(CARD_VARS) <= declared


async def test_resync_closes_only_its_own_nodes_calls(db: Database) -> None:
    """Several Asterisk nodes share one database: node1's listener, after its
    reconnect, must not close a call that node2 is still serving."""
    calls = CallService(db)
    node1 = CallListener(calls, bus=EventBus(), node="node1")
    ami1 = FakeAmi()
    node1.subscribe(ami1)
    node2 = CallListener(calls, bus=EventBus(), node="node2")
    ami2 = FakeAmi()
    node2.subscribe(ami2)
    await ami1.emit(**ev("QueueCallerJoin", "n1.1", T0, Channel="chan-n1.1", Queue="operators"))
    await ami2.emit(**ev("QueueCallerJoin", "n2.1", T0, Channel="chan-n2.1", Queue="operators"))
    assert calls.get("n1.1").node == "node1"  # type: ignore[union-attr]
    assert calls.get("n2.1").node == "node2"  # type: ignore[union-attr]
    await ami1.hooks[0]()  # node1 reconnects; none of its channels is live any more
    mine, theirs = calls.get("n1.1"), calls.get("n2.1")
    assert mine is not None and mine.outcome == Outcome.LOST
    assert theirs is not None and theirs.ended_at is None and theirs.outcome is None


async def test_resync_retries_a_snapshot_asterisk_did_not_answer(db: Database) -> None:
    """Right after a restart Asterisk takes the AMI login while its modules
    still load; an unanswered QueueStatus must not leave the calls unreconciled."""
    listener, ami, _ = make(db)
    await ami.emit(**ev("QueueCallerJoin", "3.1", T0, Channel="chan-3.1", Queue="operators"))
    answered = ami.action
    failures = iter([True, True])

    async def flaky(action: dict[str, Any], **kw: Any) -> Any:
        if action["Action"] == "QueueStatus" and next(failures, False):
            raise RuntimeError("AMI action QueueStatus timed out")
        return await answered(action, **kw)

    ami.action = flaky  # type: ignore[method-assign]
    await listener.resync(retry_delays=(0.0, 0.0))
    assert listener.resyncs == 1
    lost = CallService(db).get("3.1")
    assert lost is not None and lost.outcome == Outcome.LOST


async def test_resync_gives_up_after_its_retries_without_closing_anything(db: Database) -> None:
    listener, ami, _ = make(db)
    await ami.emit(**ev("QueueCallerJoin", "4.1", T0, Channel="chan-4.1", Queue="operators"))

    async def silent(action: dict[str, Any], **_: Any) -> Any:
        raise RuntimeError("AMI action CoreShowChannels timed out")

    ami.action = silent  # type: ignore[method-assign]
    await listener.resync(retry_delays=(0.0,))
    assert listener.resyncs == 0
    call = CallService(db).get("4.1")
    assert call is not None and call.ended_at is None  # nothing guessed from no answer


class CountingCalls(CallService):
    """Counts the listener's write transactions."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.writes = 0

    def record(self, *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        return super().record(*args, **kwargs)


async def test_a_burst_of_events_is_one_write_in_event_order(db: Database) -> None:
    """Events dispatched before the first write ran are stored together, in
    one transaction, with the later event's values winning (issue 10: the
    service's CPU per call)."""
    calls = CountingCalls(db)
    listener = CallListener(calls)
    ami = FakeAmi()
    listener.subscribe(ami)
    uid, chan = "1767000000.301", "PJSIP/trunk-0301"
    # Dispatched like telephony.ami under load: the handlers run in order,
    # their coroutines are scheduled afterwards.
    pending = [
        ami.handlers["Newchannel"](
            ev("Newchannel", uid, T0, Channel=chan, Context="hotline-inbound", CallerIDNum="112")
        ),
        ami.handlers["Newstate"](ev("Newstate", uid, T0 + 0.2, Channel=chan, ChannelState="6")),
        ami.handlers["UserEvent"](
            ev("UserEvent", uid, T0 + 9, Channel=chan, UserEvent="HotlineCallEnd", Cause="16")
        ),
        ami.handlers["Hangup"](ev("Hangup", uid, T0 + 9, Channel=chan, Cause="16")),
    ]
    for coro in pending:
        assert coro is not None
        await coro
    assert calls.writes == 1
    call = calls.get(uid)
    assert call is not None and call.outcome == Outcome.IVR and call.hangup_cause == "16"
    assert call.answered_at is not None and call.ended_at is not None
    assert [e.kind for e in calls.events(uid, source="ami")] == ["hangup"]


async def test_a_write_waiting_for_asterisk_is_not_overtaken(db: Database) -> None:
    """MixMonitorStart asks Asterisk for the file name; the hangup that
    arrives meanwhile is stored after it, and its coroutine returns only once
    it is stored."""
    import asyncio

    calls = CountingCalls(db)
    listener = CallListener(calls)
    ami = FakeAmi()
    listener.subscribe(ami)
    uid, chan = "1767000000.311", "PJSIP/trunk-0311"
    ami.vars[chan] = {"MIXMONITOR_FILENAME": "/rec/311.wav"}
    answer, asked = asyncio.Event(), asyncio.Event()
    plain_action = ami.action

    async def slow_action(action: dict[str, Any], **kw: Any) -> Any:
        asked.set()
        await answer.wait()
        return await plain_action(action, **kw)

    ami.action = slow_action  # type: ignore[method-assign]
    await ami.emit(
        **ev("Newchannel", uid, T0, Channel=chan, Context="hotline-inbound", CallerIDNum="112")
    )
    recording = asyncio.ensure_future(
        ami.handlers["MixMonitorStart"](ev("MixMonitorStart", uid, T0 + 1, Channel=chan))
    )
    hangup = asyncio.ensure_future(
        ami.handlers["Hangup"](ev("Hangup", uid, T0 + 5, Channel=chan, Cause="16"))
    )
    await asyncio.wait_for(asked.wait(), 10)  # MixMonitorStart is asking Asterisk
    for _ in range(10):  # let the hangup's write run as far as it can
        await asyncio.sleep(0)
    assert not hangup.done()
    stored = calls.get(uid)
    assert stored is not None and stored.ended_at is None
    answer.set()
    await asyncio.gather(recording, hangup)
    call = calls.get(uid)
    assert call is not None
    assert call.recording_file == "/rec/311.wav" and call.ended_at is not None
    assert call.outcome == Outcome.IVR


async def test_the_hangup_keeps_an_outcome_the_ivr_set(db: Database) -> None:
    calls = CallService(db)
    _, ami, _ = make(db)
    uid, chan = "1767000000.321", "PJSIP/trunk-0321"
    await ami.emit(
        **ev("Newchannel", uid, T0, Channel=chan, Context="hotline-inbound", CallerIDNum="112")
    )
    calls.upsert(uid, outcome="appeal-registered")
    await ami.emit(**ev("Hangup", uid, T0 + 5, Channel=chan, Cause="16"))
    call = calls.get(uid)
    assert call is not None and call.outcome == "appeal-registered" and call.ended_at
