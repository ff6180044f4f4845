"""The durable write path's gaps closed (issue 13, item 1), on SQLite and
PostgreSQL: the dialer's results and the callbacks that come with an
appeal go through the spool like the call's own writes.

* A finished attempt's result written while the database is away is
  spooled, its contact is not claimed again meanwhile, and the replay
  records it once — at the time the attempt ended — even when a crash makes
  the replay apply it twice.
* An appeal spooled with its callback (the answering machine's, REQ-T6; the
  queue's callback offer, REQ-T8) gets both on replay, once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.models import Attempt, Contact
from autoinformer.store import AttemptStore
from core.spool import Spool, _records
from crm_bridge.appeals import AppealService
from crm_bridge.calls import CallService
from crm_bridge.db import Database
from crm_bridge.durable import DurableWrites
from crm_bridge.models import (
    Appeal,
    AppealChannel,
    AppealKind,
    Callback,
    CallbackStatus,
    Category,
    ReplyChannel,
)
from tests.autoinformer.helpers import always_open, make_accounts

MONDAY_NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, a Monday
PHONE = "+79003330077"


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def _away(db: Database, tmp_path: Path) -> Database:
    """A database that is not there (connection refused / no such file)."""
    if db.dialect == "postgresql":
        return Database("postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
    return Database(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")


def _writes(db: Database, spool_dir: Path) -> DurableWrites:
    """A process's durable writes, with the dialer's operation registered
    as ``hotline.services.Services.create`` registers it."""
    spool = Spool(spool_dir, "node1", reserve_bytes=0)
    spool.open()
    durable = DurableWrites(CallService(db), AppealService(db), spool, _in_thread, limit=2.0)
    durable.register_op("attempt.finalise", AttemptStore(db, "node1").apply_finalise)
    return durable


def _campaign(db: Database) -> int:
    make_accounts(db, [PHONE], prefix="73")
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create(
        "Долги",
        "debt",
        start_at=start,
        end_at=end,
        max_attempts=2,
        retry_delays={"busy": 60},
    )
    res = ContactListService(db).import_rows(cid, [{"phone": PHONE}])
    assert res.accepted == 1, res.rejected
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    return cid


def test_a_dialer_result_is_spooled_and_recorded_once_on_replay(
    db: Database, tmp_path: Path
) -> None:
    _campaign(db)
    store = AttemptStore(db, "node1")
    (claimed,) = store.claim(1, now=MONDAY_NOON)
    ended = MONDAY_NOON + timedelta(seconds=25)
    spool_dir = tmp_path / "spool"
    result = {
        "channel_id": claimed.channel_id,
        "originate_reason": 5,  # busy
        "hangup_cause": None,
        "answered": False,
        "gone": False,
        "restarted": False,
        "note": None,
        "refund": False,
        "now": ended,
    }

    async def during_outage() -> Any:
        durable = _writes(_away(db, tmp_path), spool_dir)
        rep = await durable.write("attempt.finalise", claimed.channel_id, result)
        assert durable.spooled == 1
        assert durable.spool is not None
        durable.spool.close()  # the process dies before any replay
        return rep

    assert asyncio.run(during_outage()) is None, "spooled: no report yet"
    # Meanwhile the contact is still being dialled: nobody claims it again.
    assert store.claim(5, now=MONDAY_NOON + timedelta(minutes=5)) == []
    with db.session() as s:
        assert s.scalars(select(Attempt)).one().state == "dialing"

    nxt = _writes(db, spool_dir)
    assert nxt.spool is not None and nxt.spool.has_backlog()
    records = [r for p in spool_dir.glob("*.spool") for r, _ in _records(p, 0)]
    assert [r["op"] for r in records] == ["attempt.finalise"]
    assert nxt.replay() == 1
    # A crash between applying and checkpointing: the same record again.
    for record in records:
        nxt.apply(record)
    assert nxt.rejected == 0
    with db.session() as s:
        attempt = s.scalars(select(Attempt)).one()
        contact = s.scalars(select(Contact)).one()
        assert attempt.state == "done" and attempt.result == "busy"
        assert attempt.ended_at == ended, "the time the attempt ended, not the replay's"
        assert contact.attempts == 1, "counted once"
        assert contact.status == "pending" and contact.next_at == ended + timedelta(seconds=60)
        assert s.execute(select(func.count()).select_from(Attempt)).scalar_one() == 1
    # The retry is dialled when it is due, as a new attempt.
    (again,) = store.claim(1, now=ended + timedelta(seconds=61))
    assert again.channel_id != claimed.channel_id
    nxt.spool.close()


def _message(call_uniqueid: str) -> dict[str, Any]:
    return {
        "call_uniqueid": call_uniqueid,
        "received_at": MONDAY_NOON,
        "channel": AppealChannel.ANSWERING_MACHINE,
        "kind": AppealKind.ANSWERING_MACHINE_MESSAGE,
        "category": Category.FL,
        "content": "Сообщение на автоответчике.",
        "reply_channel": ReplyChannel.PHONE,
        "reply_contact": PHONE,
    }


def _callbacks(db: Database) -> list[Callback]:
    with db.session() as s:
        return list(s.scalars(select(Callback).order_by(Callback.id)))


def test_a_spooled_appeal_gets_its_callback_on_replay_once(db: Database, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    opening = MONDAY_NOON + timedelta(hours=21)
    callback = {
        "phone": PHONE,
        "due_at": opening,
        "window_start": opening,
        "note": "Перезвонить по сообщению на автоответчике в рабочее время (REQ-T6).",
    }

    async def during_outage() -> Any:
        durable = _writes(_away(db, tmp_path), spool_dir)
        view = await durable.register_appeal(callback=callback, **_message("1780304400.7"))
        assert durable.spool is not None
        durable.spool.close()
        return view

    assert asyncio.run(during_outage()) is None
    assert _callbacks(db) == []

    nxt = _writes(db, spool_dir)
    records = [r for p in spool_dir.glob("*.spool") for r, _ in _records(p, 0)]
    assert nxt.replay() == 1
    for record in records:  # applied again after a crash
        nxt.apply(record)
    with db.session() as s:
        (appeal,) = s.scalars(select(Appeal)).all()
    (task,) = _callbacks(db)
    assert task.appeal_id == appeal.id and task.phone == PHONE
    assert task.status is CallbackStatus.PENDING
    assert task.due_at == opening and task.window_start == opening
    view = AppealService(db).get(appeal.id)
    assert task.window_end == view.effective_due_at, "its window ends at the appeal's deadline"
    # The call's own flow retrying the same appeal finds both.
    again = asyncio.run(
        _writes(db, tmp_path / "other").register_appeal(
            callback=callback, **_message("1780304400.7")
        )
    )
    assert again is not None and again.id == appeal.id
    assert len(_callbacks(db)) == 1
    assert nxt.spool is not None
    nxt.spool.close()


def test_a_callback_window_given_is_kept_and_a_closed_appeal_gets_none(
    db: Database, tmp_path: Path
) -> None:
    """The queue's callback offer promises its own deadline (REQ-T8); an
    appeal registered closed (no contact: «не рассматривается») has no callback."""
    by = MONDAY_NOON + timedelta(hours=1)
    durable = _writes(db, tmp_path / "spool")
    view = asyncio.run(
        durable.register_appeal(
            callback={"phone": PHONE, "due_at": MONDAY_NOON, "window_end": by, "note": "REQ-T8"},
            **_message("1780304400.8"),
        )
    )
    assert view is not None
    (task,) = _callbacks(db)
    assert task.appeal_id == view.id and task.window_end == by
    assert task.window_start == MONDAY_NOON
    closed = {**_message("1780304400.9"), "reply_contact": None}
    view = asyncio.run(
        durable.register_appeal(callback={"phone": PHONE, "due_at": MONDAY_NOON}, **closed)
    )
    assert durable.spool is not None
    durable.spool.close()
    assert view is not None and not view.is_open
    assert len(_callbacks(db)) == 1


class _Ami:
    """Just what the dialer asks of AMI here: no live channel (the calls ended)."""

    connected = True

    def on_event(self, name: str, handler: Any) -> None:
        pass

    def on_login(self, handler: Any) -> None:
        pass

    async def action(self, action: dict[str, Any], **_: Any) -> list[dict[str, Any]]:
        if action["Action"] == "PJSIPShowEndpoint":  # the running dialer checks its trunk
            return [{"Response": "Success"}, {"Event": "EndpointDetailComplete"}]
        assert action["Action"] == "CoreShowChannels"
        return [{"Response": "Success"}, {"Event": "CoreShowChannelsComplete"}]


async def _next_call_event(events: Any) -> dict[str, Any]:
    while True:
        event = await events.get()
        if event.get("type") == "call":
            return dict(event)


def _dialer(db: Database, durable: DurableWrites) -> Any:
    from types import SimpleNamespace

    from autoinformer.dialer import Dialer
    from autoinformer.monitor import Monitor

    async def run_db(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    services = SimpleNamespace(
        db=db,
        campaigns=CampaignService(db),
        durable=durable,
        campaign_monitor=Monitor(),
        run_db=run_db,
        run_db_background=run_db,
    )
    return Dialer(services, _Ami(), node="node1", lines=2, cps=1.0, trunk="PJSIP/{number}@t")  # type: ignore[arg-type]


def test_the_dialer_spools_its_result_and_reconciliation_waits_for_the_replay(
    db: Database, tmp_path: Path
) -> None:
    """The dialer's own path: a busy result with the database away is
    spooled; reconciliation (an AMI re-login, or the next process after a
    crash) does not finalise that attempt ``lost`` before the replay has
    recorded its real result."""
    from autoinformer.dialer import InFlight

    _campaign(db)
    (claimed,) = AttemptStore(db, "node1").claim(1, now=MONDAY_NOON)
    spool_dir = tmp_path / "spool"
    with db.session() as s:
        attempt_id = s.scalars(select(Attempt.id)).one()

    async def during_outage() -> Any:
        # The dialer reads its open attempts from the real database (it came
        # back for reads) while its writes still meet the spool's backlog.
        durable = _writes(_away(db, tmp_path), spool_dir)
        dialer = _dialer(db, durable)
        fl = InFlight(claimed.channel_id, attempt_id, claimed.campaign_id, PHONE, sent=True)
        rep = await dialer._finalise(fl, originate_reason=5)
        assert rep is None and dialer.stats.spooled == 1
        times.append(time.time())
        await dialer.reconcile()
        assert dialer.stats.lost == 0, "its result waits in the spool"
        assert durable.spool is not None
        durable.spool.close()  # the process dies before the replay

    times: list[float] = []
    asyncio.run(during_outage())
    ended_before = times[0] - 5
    replayed_after = time.time()

    async def next_process() -> None:
        durable = _writes(db, spool_dir)
        dialer = _dialer(db, durable)
        dialer.hold = True  # no new calls: only the replay is watched
        await dialer.start()
        await dialer.reconcile()  # before the replayer's first round
        assert dialer.stats.lost == 0 and dialer._reconcile_again
        async with dialer.monitor.subscribe() as events:
            assert await asyncio.to_thread(durable.replay) == 1
            # the console sees the call finish as the replay records it, at
            # the time it ended (not after a reload, not at the replay's time)
            finished = await asyncio.wait_for(_next_call_event(events), 5)
        assert finished["attempt_id"] == attempt_id and finished["result"] == "busy"
        assert finished["replayed"] and not finished["final"]
        assert ended_before <= finished["ts"] <= replayed_after
        await dialer.reconcile()
        assert dialer.stats.lost == 0 and not dialer._reconcile_again
        await dialer.stop()
        assert durable.spool is not None
        durable.spool.close()

    asyncio.run(next_process())
    with db.session() as s:
        attempt = s.scalars(select(Attempt)).one()
        assert attempt.result == "busy", "the real result, not lost"
        assert s.scalars(select(Contact)).one().attempts == 1
