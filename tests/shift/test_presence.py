"""Operators' presence (issue 12, REQ-T7) against scripted AMI: the actions
sent to Asterisk, the states and intervals stored, the wrap-up after a call,
a pause asked for during a call, the phone's registration, and the
reconciliation after Asterisk restarted. The real queue with real SIP phones
is in tests/e2e/test_shift_phones.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from crm_bridge.db import Database
from crm_bridge.live import EventBus, operator_topic
from shift.models import PresenceInterval
from shift.presence import PresenceError, ShiftService, State


class ScriptedAmi:
    """Answers queue actions like Asterisk 22 and records them."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.handlers: dict[str, Callable[[Any], Any]] = {}
        self.hooks: list[Callable[[], Awaitable[None]]] = []
        self.members: dict[str, dict[str, str]] = {}
        self.device = "NOT_INUSE"

    def on_event(self, pattern: str, handler: Callable[[Any], Any]) -> None:
        self.handlers[pattern] = handler

    def on_login(self, hook: Callable[[], Awaitable[None]]) -> None:
        self.hooks.append(hook)

    async def action(self, action: dict[str, Any], **_: Any) -> Any:
        self.sent.append(dict(action))
        name, iface = action["Action"], action.get("Interface", "")
        if name == "QueueAdd":
            if iface in self.members:
                return {"Response": "Error", "Message": "Unable to add interface: Already there"}
            self.members[iface] = {
                "Event": "QueueMember",
                "Queue": action["Queue"],
                "Location": iface,
                "Name": action["MemberName"],
                "Paused": "1" if action.get("Paused") == "true" else "0",
                "PausedReason": "",
            }
            return {"Response": "Success", "Message": "Added interface to queue"}
        if name == "QueueRemove":
            if self.members.pop(iface, None) is None:
                return {"Response": "Error", "Message": "Unable to remove interface: Not there"}
            return {"Response": "Success"}
        if name == "QueuePause":
            member = self.members[iface]
            member["Paused"] = "1" if action["Paused"] == "true" else "0"
            member["PausedReason"] = action.get("Reason", "")
            return {"Response": "Success"}
        if name == "QueueStatus":
            return [
                {"Response": "Success"},
                *self.members.values(),
                {"Event": "QueueStatusComplete"},
            ]
        if name == "Redirect":
            return {"Response": "Success", "Message": "Redirect successful"}
        if name in ("Atxfer", "CancelAtxfer", "Setvar", "Hangup"):
            return {"Response": "Success"}
        if name == "Getvar":
            return {"Response": "Success", "Value": self.device}
        raise AssertionError(name)

    async def emit(self, name: str, **fields: str) -> None:
        ret = self.handlers[name]({"Event": name, **fields})
        if ret is not None:
            await ret


def make(db: Database, *, wrapup: float = 300.0) -> tuple[ShiftService, ScriptedAmi, EventBus]:
    bus = EventBus()
    service = ShiftService(db, queue="operators", bus=bus, wrapup_seconds=wrapup, node="node1")
    ami = ScriptedAmi()
    service.subscribe(ami)
    return service, ami, bus


def intervals(db: Database, operator_id: int) -> list[tuple[str, str | None, bool]]:
    with db.session() as s:
        rows = s.scalars(
            select(PresenceInterval)
            .where(PresenceInterval.operator_id == operator_id)
            .order_by(PresenceInterval.id)
        )
        return [(r.state, r.reason, r.ended_at is None) for r in rows]


async def test_log_in_pause_resume_log_out(db: Database, operators: dict[str, int]) -> None:
    service, ami, bus = make(db)
    me = operators["ivanova"]
    sub = bus.subscribe([operator_topic(me)])
    person = await service.log_in(me)
    assert person.state is State.READY and person.phone == "registered"
    add = ami.sent[0]
    assert add["Action"] == "QueueAdd" and add["Interface"] == "PJSIP/op201"
    assert add["MemberName"] == "ivanova" and add["Queue"] == "operators"
    await service.pause(me, "lunch")
    assert ami.members["PJSIP/op201"]["Paused"] == "1"
    assert ami.members["PJSIP/op201"]["PausedReason"] == "lunch"
    await service.resume(me)
    await service.log_out(me)
    assert "PJSIP/op201" not in ami.members
    assert intervals(db, me) == [
        ("ready", None, False),
        ("paused", "lunch", False),
        ("ready", None, False),
    ]
    seen = []
    while not sub.queue.empty():
        seen.append((await sub.get(timeout=1)).data["state"])
    assert seen[0] == "ready" and "paused" in seen and seen[-1] == "offline"
    with pytest.raises(PresenceError, match="неизвестная причина"):
        await service.pause(me, "nap")


async def test_a_call_then_wrap_up_then_ready_again(
    db: Database, operators: dict[str, int]
) -> None:
    service, ami, bus = make(db, wrapup=0.3)
    me = operators["ivanova"]
    await service.log_in(me)
    member = {"Queue": "operators", "Interface": "PJSIP/op201", "MemberName": "ivanova"}
    await ami.emit("AgentConnect", **member)
    assert (await service.presence(me)).state is State.TALKING
    sub = bus.subscribe([operator_topic(me)])  # from here, the first "ready" is the limit's
    await ami.emit("AgentComplete", **member, TalkTime="42", Reason="caller")
    person = await service.presence(me)
    assert person.state is State.WRAPUP and person.wrapup_until is not None
    assert ami.members["PJSIP/op201"]["Paused"] == "1"  # no call during the wrap-up
    assert ami.members["PJSIP/op201"]["PausedReason"] == "wrapup"
    # The wrap-up's limit passes: wait for the presence it publishes.
    while (await sub.get(timeout=10)).data["state"] != "ready":
        pass
    assert (await service.presence(me)).state is State.READY
    assert ami.members["PJSIP/op201"]["Paused"] == "0"
    assert [s for s, _, _ in intervals(db, me)] == ["ready", "talking", "wrapup", "ready"]


async def test_the_operator_ends_the_wrap_up_and_a_pause_asked_in_a_call_follows(
    db: Database, operators: dict[str, int]
) -> None:
    service, ami, _ = make(db)
    me = operators["ivanova"]
    await service.log_in(me)
    member = {"Queue": "operators", "Interface": "PJSIP/op201", "MemberName": "ivanova"}
    await ami.emit("AgentConnect", **member)
    await service.pause(me, "break")  # during the call: taken after its wrap-up
    assert (await service.presence(me)).state is State.TALKING
    await ami.emit("AgentComplete", **member)
    assert (await service.presence(me)).state is State.WRAPUP
    person = await service.end_wrapup(me)
    assert person.state is State.PAUSED and person.reason == "break"
    assert ami.members["PJSIP/op201"]["PausedReason"] == "break"


async def test_phone_registration_is_followed(db: Database, operators: dict[str, int]) -> None:
    service, ami, bus = make(db)
    me = operators["ivanova"]
    ami.device = "UNAVAILABLE"
    assert (await service.presence(me)).phone == "unregistered"
    sub = bus.subscribe([operator_topic(me)])
    await ami.emit("ContactStatus", AOR="op201", ContactStatus="Created")
    assert (await sub.get(timeout=1)).data["phone"] == "registered"
    await ami.emit("ContactStatus", AOR="op201", ContactStatus="Removed")
    assert (await service.presence(me)).phone == "unregistered"


async def test_an_operator_without_a_phone_cannot_log_in(
    db: Database, operators: dict[str, int]
) -> None:
    service, ami, _ = make(db)
    with pytest.raises(PresenceError, match="нет телефона"):
        await service.log_in(operators["boss"])
    assert ami.sent == []


async def test_after_an_asterisk_restart_members_come_back_as_they_were(
    db: Database, operators: dict[str, int]
) -> None:
    service, ami, _ = make(db)
    me, other = operators["ivanova"], operators["petrov"]
    await service.log_in(me)
    await service.log_in(other)
    await service.pause(other, "training")
    ami.members.clear()  # Asterisk restarted: members are not persistent
    fresh, _, _ = make(db)  # and so did the service
    fresh.subscribe(ami)
    await fresh.reconcile()
    assert ami.members["PJSIP/op201"]["Paused"] == "0"
    assert ami.members["PJSIP/op202"]["Paused"] == "1"
    assert ami.members["PJSIP/op202"]["PausedReason"] == "training"
    assert (await fresh.presence(other)).state is State.PAUSED
    # Only the service restarted: the members Asterisk kept are adopted, not re-added.
    sent = len(ami.sent)
    again, _, _ = make(db)
    again.subscribe(ami)
    await again.reconcile()
    assert [a["Action"] for a in ami.sent[sent:]] == ["QueueStatus"]
    assert (await again.presence(me)).state is State.READY


async def test_the_reconciliation_asks_again_while_asterisk_is_starting(
    db: Database, operators: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Just restarted, Asterisk may not answer QueueStatus yet: the service
    asks again (never gives the shift up after one try) and puts the member back."""
    import shift.presence

    monkeypatch.setattr(shift.presence, "RECONCILE_RETRY_DELAYS", (0.01, 0.01, 0.01))
    service, ami, _ = make(db)
    me = operators["ivanova"]
    await service.log_in(me)
    ami.members.clear()
    failures = 2
    answer = ami.action

    async def starting(action: dict[str, Any], **kw: Any) -> Any:
        nonlocal failures
        if action["Action"] == "QueueStatus" and failures:
            failures -= 1
            raise RuntimeError("AMI action QueueStatus timed out")
        return await answer(action, **kw)

    ami.action = starting  # type: ignore[method-assign]
    fresh, _, _ = make(db)
    fresh.subscribe(ami)
    await fresh.reconcile()
    assert failures == 0 and ami.members["PJSIP/op201"]["Paused"] == "0"


async def test_a_transfer_sends_the_caller_on_and_records_whom(
    db: Database, operators: dict[str, int]
) -> None:
    """REQ-T10: the caller goes to the specialists' queue (AMI Redirect of the
    caller's channel into hotline-transfer); the call's appeal records it."""
    from crm_bridge.appeals import AppealService
    from crm_bridge.calls import CallService
    from crm_bridge.models import AppealChannel, AppealKind

    appeals, calls = AppealService(db), CallService(db)
    bus = EventBus()
    service = ShiftService(db, queue="operators", bus=bus, appeals=appeals, calls=calls)
    ami = ScriptedAmi()
    service.subscribe(ami)
    me = operators["ivanova"]
    uid = "1767000000.501"
    call = calls.upsert(uid, caller_number="+79001234567")
    appeal = appeals.register(
        channel=AppealChannel.PHONE, kind=AppealKind.APPEAL, content="вопрос", call_id=call.id
    )
    await service.log_in(me)
    with pytest.raises(PresenceError, match="идущий разговор"):
        await service.transfer(me, "specialists")
    member = {"Queue": "operators", "Interface": "PJSIP/op201", "MemberName": "ivanova"}
    await ami.emit("AgentConnect", **member, Uniqueid=uid, Channel="PJSIP/trunk-0501")
    with pytest.raises(PresenceError, match="нельзя перевести"):
        await service.transfer(me, "op201")  # to oneself
    assert await service.transfer(me, "specialists") == "специалисту (вторая линия)"
    redirect = next(a for a in ami.sent if a["Action"] == "Redirect")
    assert redirect == {
        "Action": "Redirect",
        "Channel": "PJSIP/trunk-0501",
        "Context": "hotline-transfer",
        "Exten": "specialists",
        "Priority": "1",
    }
    assert appeals.get(appeal.id).passed_to == "специалисту (вторая линия)"
    # The operator wraps up at once; the queue's late AgentComplete of the
    # transferred call (when the caller hangs up) does not end a later call.
    assert (await service.presence(me)).state is State.WRAPUP
    await service.end_wrapup(me)
    await ami.emit("AgentConnect", **member, Uniqueid="1767000000.502", Channel="PJSIP/trunk-0502")
    await ami.emit("AgentComplete", **member, Uniqueid=uid)
    assert (await service.presence(me)).state is State.TALKING
    assert [e.kind for e in calls.events(uid, source="web")] == ["transferred"]


async def test_an_attended_transfer_consults_then_completes_or_goes_back(
    db: Database, operators: dict[str, int]
) -> None:
    """REQ-T10 with a consultation: AMI Atxfer on the operator's own channel
    into hotline-consult (digits only), the caller's number on the consulted
    phone; «back to the caller» cancels it (CancelAtxfer); «connect» hangs
    the operator's phone up and Asterisk's AttendedTransfer records whom."""
    from crm_bridge.appeals import AppealService
    from crm_bridge.calls import CallService
    from crm_bridge.models import AppealChannel, AppealKind

    appeals, calls = AppealService(db), CallService(db)
    service = ShiftService(db, queue="operators", bus=EventBus(), appeals=appeals, calls=calls)
    ami = ScriptedAmi()
    service.subscribe(ami)
    me = operators["ivanova"]
    uid = "1767000000.601"
    call = calls.upsert(uid, caller_number="+79001234567")
    appeal = appeals.register(
        channel=AppealChannel.PHONE, kind=AppealKind.APPEAL, content="вопрос", call_id=call.id
    )
    await service.log_in(me)
    with pytest.raises(PresenceError, match="идущий разговор"):
        await service.consult(me, "specialists")
    member = {"Queue": "operators", "Interface": "PJSIP/op201", "MemberName": "ivanova"}
    mine = "PJSIP/op201-00000007"
    await ami.emit(
        "AgentConnect",
        **member,
        Uniqueid=uid,
        Channel="PJSIP/trunk-0601",
        CallerIDNum="+79001234567",
        DestChannel=mine,
    )
    with pytest.raises(PresenceError, match="консультация не идёт"):
        await service.complete_transfer(me)
    with pytest.raises(PresenceError, match="без консультации"):
        await service.consult(me, "desk_a")  # not a number the transfer can key

    # consult op305, then back to the caller
    ami.sent.clear()
    assert await service.consult(me, "op305") == "оператору op305"
    assert ami.sent[-2:] == [
        {
            "Action": "Setvar",
            "Channel": mine,
            "Variable": "CALLERID(num)",
            "Value": "+79001234567",
        },
        {"Action": "Atxfer", "Channel": mine, "Exten": "305", "Context": "hotline-consult"},
    ]
    person = await service.presence(me)
    assert person.consulting == "оператору op305" and person.state is State.TALKING
    with pytest.raises(PresenceError, match="консультация"):
        await service.transfer(me, "specialists")
    await service.cancel_transfer(me)
    assert ami.sent[-1] == {"Action": "CancelAtxfer", "Channel": mine}
    assert (await service.presence(me)).consulting is None
    assert appeals.get(appeal.id).passed_to is None

    # consult the specialists, then connect them with the caller
    await service.consult(me, "specialists")
    assert ami.sent[-1]["Exten"] == "2000"
    await service.complete_transfer(me)
    assert ami.sent[-1] == {"Action": "Hangup", "Channel": mine}
    # Asterisk: the queue's call is complete (the caller went on), the transfer done
    await ami.emit("AgentComplete", **member, Uniqueid=uid, Reason="transfer")
    assert (await service.presence(me)).state is State.WRAPUP
    await ami.emit(
        "AttendedTransfer",
        Result="Success",
        OrigTransfererChannel=mine,
        TransfereeChannel="PJSIP/trunk-0601",
    )
    assert appeals.get(appeal.id).passed_to == "специалисту (вторая линия)"
    assert [e.kind for e in calls.events(uid, source="web")] == ["transferred"]
    # a second event for the same channel records nothing more
    await ami.emit("AttendedTransfer", Result="Success", OrigTransfererChannel=mine)
    assert [e.kind for e in calls.events(uid, source="web")] == ["transferred"]


async def test_a_disabled_operator_s_shift_ends_at_the_reconciliation(
    db: Database, operators: dict[str, int]
) -> None:
    from crm_bridge.models import Operator

    service, ami, _ = make(db)
    me = operators["ivanova"]
    await service.log_in(me)
    with db.session(write=True) as s:
        op = s.get(Operator, me)
        assert op is not None
        op.active = False
    fresh, _, _ = make(db)
    fresh.subscribe(ami)
    await fresh.reconcile()
    assert all(not still_open for _, _, still_open in intervals(db, me))
    assert "PJSIP/op201" not in ami.members  # and takes no calls


async def test_a_call_ending_before_its_start_is_stored_still_wraps_up(
    db: Database, operators: dict[str, int]
) -> None:
    """Under load AgentComplete can be dispatched before AgentConnect's write
    ran (a transferred caller who hangs up at once): the state follows the
    events as they come, not as the database catches up."""
    service, ami, _ = make(db)
    me = operators["ivanova"]
    await service.log_in(me)
    member = {"Queue": "operators", "Interface": "PJSIP/op201", "MemberName": "ivanova"}
    connect = ami.handlers["AgentConnect"]({"Event": "AgentConnect", **member, "Uniqueid": "1.1"})
    complete = ami.handlers["AgentComplete"](
        {"Event": "AgentComplete", **member, "Uniqueid": "1.1"}
    )
    assert connect is not None and complete is not None
    await connect
    await complete
    assert (await service.presence(me)).state is State.WRAPUP
    assert [s for s, _, _ in intervals(db, me)] == ["ready", "talking", "wrapup"]
