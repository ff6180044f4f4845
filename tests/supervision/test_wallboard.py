"""The supervisor's wallboard (issue 14, REQ-T7) without Asterisk: the live
model fed by AMI queue events and presence, today's figures read from a
database with known calls, the thresholds that colour a tile, the page's
roles, its WebSocket, and listening in (ChanSpy asked of scripted AMI).
The real queue, phones and browser are in tests/e2e/test_supervision.py."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from crm_bridge.appeals import AppealService
from crm_bridge.db import Database, utcnow
from crm_bridge.live import EventBus
from crm_bridge.models import AppealChannel, Call, Callback, CallbackStatus, Operator
from shift.models import PresenceInterval
from shift.presence import ShiftService
from supervision.listening import Mode, spy_options
from supervision.wallboard import Thresholds, Today, Wallboard
from tests.crm_web.conftest import (  # noqa: F401 - the web tests' SQLite fixtures
    PASSWORD,
    db,
    log_in,
    migrated_template,
    operators,
    services,
)
from tests.e2e.waiting import until
from tests.shift.test_presence import ScriptedAmi
from tests.webtools import FakeServices, root_app
from webedge.models import AuditEvent

QUEUES = ("operators", "specialists")


async def _inline(fn: Any, *args: Any) -> Any:
    return fn(*args)


def board(database: Database, **kw: Any) -> Wallboard:
    kw.setdefault("node", "node1")
    return Wallboard(database, queues=QUEUES, tz="Europe/Moscow", run_db=_inline, **kw)


def add_call(database: Database, uniqueid: str, **values: Any) -> None:
    with database.session(write=True) as s:
        s.add(Call(uniqueid=uniqueid, direction="in", queue_name="operators", **values))


async def test_queue_events_make_the_waiting_tiles() -> None:
    wb = Wallboard.__new__(Wallboard)
    Wallboard.__init__(wb, None, queues=QUEUES, node="node1", tz="Europe/Moscow", run_db=_inline)  # type: ignore[arg-type]
    woken = asyncio.Event()
    wb._watchers.add(woken)
    wb.on_join({"Event": "QueueCallerJoin", "Queue": "operators", "Uniqueid": "1.1"})
    wb.on_join({"Event": "QueueCallerJoin", "Queue": "other-queue", "Uniqueid": "1.2"})
    assert woken.is_set() and wb.version == 1  # the other queue is not ours
    wb.waiting["1.1"].since -= timedelta(seconds=50)
    wb.on_join({"Event": "QueueCallerJoin", "Queue": "specialists", "Uniqueid": "1.3"})
    snap = wb.snapshot()
    assert snap["tiles"]["waiting"] == {"value": 2, "red": True}  # nobody ready
    assert snap["tiles"]["longest_wait"]["value"] == 50
    assert snap["tiles"]["longest_wait"]["red"]  # over 40 s
    assert snap["cause"]["event"] == "QueueCallerJoin"
    wb.on_abandon({"Event": "QueueCallerAbandon", "Queue": "operators", "Uniqueid": "1.1"})
    wb.on_leave({"Event": "QueueCallerLeave", "Queue": "specialists", "Uniqueid": "1.3"})
    wb.on_leave({"Event": "QueueCallerLeave", "Queue": "specialists", "Uniqueid": "9.9"})
    snap = wb.snapshot()
    assert snap["tiles"]["waiting"] == {"value": 0, "red": False}
    assert snap["tiles"]["longest_wait"] == {"since": None, "value": 0, "red": False}
    assert wb.version == 4  # the unknown caller's leave changed nothing


def test_presence_events_and_stale_ones() -> None:
    wb = Wallboard(None, queues=QUEUES, node="node1", tz="UTC", run_db=_inline)  # type: ignore[arg-type]
    now = utcnow()
    wb.on_presence({"operator_id": 7, "state": "talking", "since": now.isoformat()})
    older = (now - timedelta(seconds=5)).isoformat()
    wb.on_presence({"operator_id": 7, "state": "ready", "since": older})  # late, ignored
    wb.on_presence({"operator_id": "x", "state": "ready", "since": older})  # garbage
    tile = wb.operators[7]
    assert (tile.state, tile.since) == ("talking", now)
    wb.on_presence(
        {"operator_id": 7, "state": "paused", "reason": "lunch", "since": utcnow().isoformat()}
    )
    snap = wb.snapshot()
    assert snap["by_state"]["paused"] == 1
    assert snap["operators"][0]["reason_title"] == "Обед"


def test_thresholds_colour_the_tiles() -> None:
    wb = Wallboard(
        None,  # type: ignore[arg-type]
        queues=QUEUES,
        node="node1",
        tz="UTC",
        run_db=_inline,
        thresholds=Thresholds(service_level_min=90, abandon_max=10),
    )
    # 10 decided: 8 answered (8 within 40 s), 1 abandoned, 1 gone to the offer
    wb.today = Today(
        queue_calls=10, answered=8, within_sla=8, abandoned=1, left_queue=1, callbacks_overdue=1
    )
    tiles = wb.snapshot()["tiles"]
    assert tiles["service_level"] == {"value": 80.0, "red": True}
    assert tiles["abandon_rate"] == {"value": 10.0, "red": False}
    assert tiles["callbacks"]["red"]
    wb.today = Today(queue_calls=4, answered=4, within_sla=4)
    tiles = wb.snapshot()["tiles"]
    assert tiles["service_level"] == {"value": 100.0, "red": False}
    assert tiles["callbacks"]["red"] is False


def test_today_read_from_the_database(any_db: Database, staff: dict[str, int]) -> None:
    """Known calls of today → known figures; yesterday's and other nodes' apart."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Moscow")
    now = utcnow()
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    # A moment of today that is safely in the past (also just after midnight).
    t0 = max(midnight + timedelta(seconds=1), now - timedelta(hours=1))
    op = staff["ivanova"]

    def answered(uid: str, wait: float, talk: float, *, sla: bool) -> None:
        left = t0 + timedelta(seconds=wait)
        add_call(
            any_db,
            uid,
            queue_entered_at=t0,
            queue_left_at=left,
            wait_seconds=wait,
            ended_at=left + timedelta(seconds=talk),
            operator_id=op,
            outcome="answered",
            answered_within_sla=sla,
            node="node1",
        )

    answered("a1", 10, 100, sla=True)
    answered("a2", 30, 200, sla=True)
    answered("a3", 50, 300, sla=False)
    add_call(any_db, "b1", queue_entered_at=t0, queue_left_at=t0, outcome="abandoned", node="node1")
    add_call(
        any_db, "c1", queue_entered_at=t0, queue_left_at=t0, outcome="left-queue", node="node1"
    )
    yesterday = midnight - timedelta(hours=2)
    add_call(any_db, "y1", queue_entered_at=yesterday, outcome="abandoned", node="node1")
    # Still waiting: one on this node (AMI shows it), one on another node.
    add_call(any_db, "w1", queue_entered_at=t0, node="node1")
    add_call(any_db, "w2", queue_entered_at=t0, node="node2")
    appeals = AppealService(any_db)
    appeals.register(channel=AppealChannel.ANSWERING_MACHINE, reply_contact="+79991234567")
    appeals.register(channel=AppealChannel.PHONE)
    with any_db.session(write=True) as s:
        s.add(
            Callback(
                phone="+79991234567",
                due_at=now - timedelta(hours=2),
                window_end=now - timedelta(hours=1),
                status=CallbackStatus.PENDING,
            )
        )
        s.add(
            Callback(
                phone="+79991234568",
                due_at=now,
                window_end=now + timedelta(hours=1),
                status=CallbackStatus.PENDING,
            )
        )
        s.add(Callback(phone="+79991234569", due_at=now, status=CallbackStatus.DONE))
        s.add(PresenceInterval(operator_id=op, state="talking", started_at=now, node="node2"))
        s.add(
            PresenceInterval(
                operator_id=staff["petrov"],
                state="ready",
                started_at=now - timedelta(hours=1),
                ended_at=now,
            )
        )

    wb = board(any_db)
    today, people, remote = wb.read()
    assert today == Today(
        queue_calls=7,  # 5 decided + 2 still waiting
        answered=3,
        within_sla=2,
        abandoned=1,
        left_queue=1,
        avg_wait=30.0,
        avg_handling=200.0,
        am_messages=1,
        callbacks_pending=2,
        callbacks_overdue=1,
    )
    assert today.service_level == pytest.approx(40.0)
    assert today.abandon_rate == pytest.approx(20.0)
    assert [(p.operator_id, p.state, p.node) for p in people] == [(op, "talking", "node2")]
    assert people[0].name == "Ivanova"
    assert [w.uniqueid for w in remote] == ["w2"]  # node1's own come from its AMI
    # A node without AMI sees every node's waiting callers from the database.
    assert sorted(w.uniqueid for w in board(any_db, live=False).read()[2]) == ["w1", "w2"]

    wb.apply(today, people, remote)
    snap = wb.snapshot()
    assert snap["tiles"]["waiting"]["value"] == 1
    assert snap["tiles"]["avg_handling"]["value"] == 200
    assert snap["by_state"]["talking"] == 1
    # The operator's shift ends on node2: no open interval any more.
    wb.operators[op].since = now - timedelta(minutes=1)
    wb.apply(today, [], remote)
    assert wb.snapshot()["by_state"]["talking"] == 0


async def test_watchers_are_woken_once_per_burst_and_read_the_db(
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    bus = EventBus()
    wb = board(db, bus=bus, refresh_seconds=3600)
    woken = wb.watch()
    await until(lambda: bus.subscriber_count == 1, 5, "the board following the bus")
    woken.clear()
    for n in range(5):
        wb.on_join({"Queue": "operators", "Uniqueid": f"2.{n}"})
    assert woken.is_set()
    assert wb.snapshot()["tiles"]["waiting"]["value"] == 5
    bus.publish(
        f"operator:{operators['ivanova']}",
        "presence",
        {"operator_id": operators["ivanova"], "state": "ready", "since": utcnow().isoformat()},
    )
    await until(lambda: wb.snapshot()["by_state"]["ready"] == 1, 5, "the presence on the board")
    wb.unwatch(woken)
    assert wb.watchers == 0
    await wb.close()


async def test_resync_takes_asterisk_s_callers() -> None:
    class Ami:
        async def action(self, action: dict[str, Any], **_: Any) -> Any:
            assert action["Action"] == "QueueStatus"
            return [
                {"Response": "Success"},
                {"Event": "QueueEntry", "Queue": "operators", "Uniqueid": "3.1", "Wait": "65"},
                {"Event": "QueueEntry", "Queue": "elsewhere", "Uniqueid": "3.2", "Wait": "5"},
                {"Event": "QueueStatusComplete"},
            ]

    wb = Wallboard(None, queues=QUEUES, node="n", tz="UTC", run_db=_inline)  # type: ignore[arg-type]
    wb.on_join({"Queue": "operators", "Uniqueid": "gone"})  # left while we were away
    await wb.resync(Ami())
    assert list(wb.waiting) == ["3.1"]
    assert wb.snapshot()["tiles"]["longest_wait"]["value"] == 65


# -- the page ---------------------------------------------------------------------


class ListeningAmi(ScriptedAmi):
    async def action(self, action: dict[str, Any], **kw: Any) -> Any:
        if action["Action"] == "Originate":
            self.sent.append(dict(action))
            return {"Response": "Success", "Message": "Originate successfully queued"}
        return await super().action(action, **kw)


def test_spy_options() -> None:
    assert spy_options(Mode.LISTEN) == "qEd"
    assert spy_options(Mode.WHISPER) == "qEdw"
    assert spy_options(Mode.BARGE) == "qEdB"


async def test_the_page_roles_the_socket_and_listening_in(
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
    services: FakeServices,  # noqa: F811
) -> None:
    bus = services.event_bus
    shift = ShiftService(db, queue="operators", bus=bus, node="node1")
    ami = ListeningAmi()
    shift.subscribe(ami)
    services.shift, services.ami = shift, ami
    wb = board(db, bus=bus, refresh_seconds=3600)
    services.wallboard = wb
    me = operators["ivanova"]
    async with TestClient(TestServer(root_app(services))) as client:
        await log_in(client, "ivanova", PASSWORD)
        assert (await client.get("/supervision/")).status == 403
        assert (await client.get("/supervision/state")).status == 403
        await client.post("/logout", data={})
        client.session.cookie_jar.clear()

        csrf = await log_in(client, "boss", PASSWORD)
        page = await client.get("/supervision/")
        assert page.status == 200
        html = await page.text()
        assert "Табло смены" in html and "Уровень сервиса" in html
        assert "Режим для телевизора" in html and "Прослушивание" in html
        tv = await (await client.get("/supervision/?tv=1")).text()
        assert "Режим для телевизора" not in tv and "listen-buttons" not in tv

        ws = await client.ws_connect("/supervision/ws")
        first = json.loads((await ws.receive()).data)
        assert first["type"] == "wallboard"
        wb.on_join({"Queue": "operators", "Uniqueid": "4.1"})
        snap = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        while snap["tiles"]["waiting"]["value"] != 1:
            snap = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert snap["cause"]["event"] == "QueueCallerJoin"

        headers = {"X-CSRF-Token": csrf}
        bad = await client.post("/supervision/listen", json={"mode": "spy"}, headers=headers)
        assert bad.status == 400 and "режим" in (await bad.json())["error"]
        body = {"operator_id": me, "mode": "whisper"}
        # The supervisor has no phone yet.
        no_phone = await client.post("/supervision/listen", json=body, headers=headers)
        assert no_phone.status == 409 and "SIP" in (await no_phone.json())["error"]
        with db.session(write=True) as s:
            boss = s.scalars(select(Operator).where(Operator.id == operators["boss"])).one()
            boss.pjsip_endpoint = "op299"
        # The operator is not talking.
        idle = await client.post("/supervision/listen", json=body, headers=headers)
        assert idle.status == 409 and "не разговаривает" in (await idle.json())["error"]
        await shift.log_in(me)
        await ami.emit(
            "AgentConnect",
            Queue="operators",
            Interface="PJSIP/op201",
            MemberName="ivanova",
            DestChannel="PJSIP/op201-0000002a",
            Uniqueid="5.1",
        )
        ok = await client.post("/supervision/listen", json=body, headers=headers)
        assert ok.status == 200, await ok.text()
        assert (await ok.json())["channel"] == "PJSIP/op201-0000002a"
        originate = ami.sent[-1]
        assert originate["Channel"] == "PJSIP/op299"
        assert originate["Application"] == "ChanSpy"
        assert originate["Data"] == "PJSIP/op201-0000002a,qEdw"
        with db.session() as s:
            audited = s.execute(
                select(AuditEvent.login, AuditEvent.action, AuditEvent.subject)
            ).all()
        assert ("boss", "call.whisper", f"operator:{me}") in audited
        await ws.close()
    await wb.close()
