"""Live events and actions across nodes through PostgreSQL's LISTEN/NOTIFY
(issue 13 item 10), without Asterisk: two bridges (two nodes) on one
database. An event published on one node's bus reaches the other node's
subscribers once and is not echoed back; a call row's change is announced
by the database at commit to the other nodes only; a hang-up or transfer
request reaches the node named and its answer comes back (the hang-up done
by the owner is proven against two real Asterisks in
tests/e2e/test_two_nodes.py). On SQLite the bridge stays out of
the way (one node)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from crm_bridge.calls import CallService
from crm_bridge.db import Database
from crm_bridge.live import ALL, RemoteActionError, operator_topic
from nodes.bridge import ClusterBridge
from tests.webtools import FakeServices


def services(db: Database, tmp_path: Path, node: str) -> FakeServices:
    settings = Settings(
        asterisk_root=tmp_path, data_dir=tmp_path / f"data-{node}", node_name=node
    ).resolve()
    return FakeServices.create(settings, db)


@pytest.fixture
async def pair(pg_db: Database, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    a = ClusterBridge(services(pg_db, tmp_path, "a"))
    b = ClusterBridge(services(pg_db, tmp_path, "b"))
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


@pytest.mark.postgres
async def test_events_cross_nodes_once(pair: tuple[Any, Any], pg_db: Database) -> None:
    a, b = pair
    assert a.enabled and b.enabled
    on_a = a.services.event_bus.subscribe([ALL])
    on_b = b.services.event_bus.subscribe([operator_topic(7)])
    a.services.event_bus.publish(
        operator_topic(7),
        "call_connected",
        {"uniqueid": "1.1", "vars": {"HOTLINE_ACCOUNT": "1000000001"}, "queue": "q"},
    )
    got = await on_b.get(timeout=10)
    assert "vars" not in got.data and got.data["queue"] == "q"  # no account across nodes
    assert (got.topic, got.type, got.data["uniqueid"], got.node) == (
        "operator:7",
        "call_connected",
        "1.1",
        "a",
    )
    mine = await on_a.get(timeout=1)  # its own, locally, once
    assert mine.node is None
    # A call row written (by node a's listener) is announced to b at commit.
    calls_on_b = b.services.event_bus.subscribe(["calls"])
    await a.services.run_db(
        lambda: CallService(pg_db).upsert("2.1", node="a", caller_number="+79001234567")
    )
    changed = await calls_on_b.get(timeout=10)
    while changed.data["node"] != "a":  # the row is inserted, then completed
        changed = await calls_on_b.get(timeout=10)
    assert changed.data["uniqueid"] == "2.1"
    assert "9001234567" not in str(changed.data)  # no caller number (152-FZ)
    # A dialer's event reaches the other node's dispatcher console.
    async with b.services.campaign_monitor.subscribe() as console:
        a.services.campaign_monitor.publish(
            {"type": "call", "event": "answered", "campaign_id": 3, "attempt_id": 9}
        )
        seen = await asyncio.wait_for(console.get(), 10)
        assert (seen["campaign_id"], seen["attempt_id"], seen["node"]) == (3, 9, "a")
    # Nothing came back to a: its bus saw only its own event.
    assert on_a.queue.empty()
    assert a.received == 0 and b.received >= 3


@pytest.mark.postgres
async def test_a_hang_up_request_is_answered_by_the_node_named(pair: tuple[Any, Any]) -> None:
    a, b = pair
    # Node a has no channel of that call (no AMI here): it answers "not done".
    assert await b.hangup("a", "3.1") is False
    assert a.received == 1 and b.received == 1
    # A node that does not answer: False after the timeout, nothing hangs.
    assert await b.hangup("nobody", "3.1") is False


@pytest.mark.postgres
async def test_a_transfer_is_refused_in_russian_by_the_node_that_cannot(
    pair: tuple[Any, Any],
) -> None:
    _, b = pair
    # Node a runs no shift (no AMI here): it says so, in Russian.
    with pytest.raises(RemoteActionError, match="на узле a нет смены операторов"):
        await b.transfer("a", 5, "specialists")
    with pytest.raises(RemoteActionError, match="узел nobody не ответил"):
        await b.transfer("nobody", 5, "specialists")


async def test_on_sqlite_the_bridge_stays_out_of_the_way(
    sqlite_db: Database, tmp_path: Path
) -> None:
    bridge = ClusterBridge(services(sqlite_db, tmp_path, "a"))
    await bridge.start()
    try:
        assert not bridge.enabled and bridge.services.cluster is None
        sub = bridge.services.event_bus.subscribe([ALL])
        assert bridge.services.event_bus.publish("calls", "x", {}) == 1
        assert (await sub.get(timeout=1)).type == "x"
        assert await bridge.hangup("b", "1.1") is False
    finally:
        await bridge.stop()
