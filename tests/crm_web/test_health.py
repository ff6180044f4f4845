"""Health that tells the truth (issue 13, item 7): /health and /metrics
measure the database (a frozen one is down within the limit), the disks
(low space before full), Asterisk and failed flows; the supervisor's and
dispatcher's pages warn; the configured address gets one letter when the
node degrades and one when it recovers (a real SMTP server)."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from crm_bridge.db import Database
from hotline.health import HealthMonitor, metrics_text
from hotline.web import HEALTH_MONITOR, create_app
from telephony.fastagi import ServerStats
from tests.autoinformer.smtp_server import SmtpServer
from tests.crm_web.conftest import log_in
from tests.webtools import FakeServices


@dataclass
class Node:
    """What the monitor reads of a runtime: its AMI and its FastAGI server."""

    ami: Any = None
    fastagi: Any = None


@dataclass
class Ami:
    connected: bool


@dataclass
class FastAgi:
    stats: ServerStats


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a frozen
    database server as its clients see it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.close()


async def test_a_healthy_node(services: FakeServices) -> None:
    stats = ServerStats()
    monitor = HealthMonitor(services, Node(Ami(True), FastAgi(stats)))
    report = await monitor.check()
    assert report.status == "ok", report.problems
    assert report.database_ok and report.database_ms is not None
    assert {d.name for d in report.disks} == {"data", "recordings", "spool"}
    text = metrics_text(report)
    assert 'hotline_up{node="node1"} 1' in text
    assert 'hotline_database_up{node="node1"} 1' in text
    assert 'hotline_ami_up{node="node1"} 1' in text
    assert 'hotline_disk_free_bytes{node="node1",disk="data"}' in text
    assert "# TYPE hotline_fastagi_failures_total counter" in text


async def test_low_disk_space_is_reported_before_it_is_full(services: FakeServices) -> None:
    free_mb = 10**12  # more than any disk has: "low" on every one
    services.settings = replace(services.settings, health_disk_min_mb=free_mb)
    report = await HealthMonitor(services).check()
    assert report.status == "degraded"
    assert any(p.startswith("мало места на диске «data»") for p in report.problems), report
    # data and recordings on one file system: one warning
    assert sum("мало места" in p for p in report.problems) == 1


async def test_a_frozen_database_is_down_within_the_limit(
    services: FakeServices, silent_server: int
) -> None:
    frozen = Database(f"postgresql+psycopg://u:p@127.0.0.1:{silent_server}/frozen_test")
    try:
        services.db = frozen
        started = time.monotonic()
        report = await HealthMonitor(services).check()
        assert time.monotonic() - started < 4.0
        assert not report.database_ok
        assert "база данных недоступна: не ответила за 2 с" in report.problems
    finally:
        frozen.engine.dispose()


async def test_a_stopped_database_and_a_lost_asterisk(services: FakeServices) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    stopped = Database(f"postgresql+psycopg://u:p@127.0.0.1:{closed}/stopped_test")
    services.db = stopped
    report = await HealthMonitor(services, Node(Ami(False))).check()
    assert report.database_error == "OperationalError"
    assert "нет связи с Asterisk (AMI): звонки не обслуживаются" in report.problems
    assert report.as_dict()["ami"] == "disconnected"
    stopped.engine.dispose()


async def test_failed_flows_count_within_five_minutes(services: FakeServices) -> None:
    stats = ServerStats()
    monitor = HealthMonitor(services, Node(Ami(True), FastAgi(stats)))
    assert (await monitor.check()).recent_failures == 0
    stats.failures = 3
    report = await monitor.check()
    assert report.recent_failures == 3
    assert any("сбоев сценариев звонков за 5 минут: 3" in p for p in report.problems)


async def test_one_letter_when_degraded_one_when_recovered(
    services: FakeServices, smtp: SmtpServer
) -> None:
    services.settings = replace(
        services.settings,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        health_alert_to="duty@example.ru",
    )
    ami = Ami(False)
    monitor = HealthMonitor(services, Node(ami))
    for _ in range(2):  # degraded twice: one letter
        await monitor._alert(await monitor.check())
    ami.connected = True
    await monitor._alert(await monitor.check())
    assert [r.message["Subject"] for r in smtp.received] == [
        "Горячая линия, узел node1: работа с нарушениями",
        "Горячая линия, узел node1: работа восстановлена",
    ]
    first = smtp.received[0]
    assert first.recipients == ["duty@example.ru"]
    assert "нет связи с Asterisk" in first.message.get_content()


async def test_the_pages_and_the_endpoints(services: FakeServices, operators: Any) -> None:
    services.settings = replace(services.settings, health_disk_min_mb=10**12)
    async with TestClient(TestServer(create_app(services))) as client:
        resp = await client.get("/health")
        body = await resp.json()
        assert resp.status == 503 and body["status"] == "degraded", body
        assert body["database"] == "ok" and body["problems"]
        metrics = await client.get("/metrics")
        assert metrics.status == 200
        assert 'hotline_up{node="node1"} 0' in await metrics.text()
        # The pages read the latest background check (it starts with the app;
        # /health above was one too).
        assert client.app[HEALTH_MONITOR].latest is not None
        await log_in(client, "boss")
        page = await (await client.get("/statistics/")).text()
        assert 'id="health-warning"' in page and "мало места на диске" in page
    async with TestClient(TestServer(create_app(services))) as client:
        await log_in(client, "ivanova")
        page = await (await client.get("/operator/")).text()
        assert 'id="health-warning"' not in page  # operators are not told


async def test_the_spool_backlog_is_reported(services: FakeServices, tmp_path: Path) -> None:
    """Issue 13: records waiting for the database make the node degraded."""
    from core.spool import Spool
    from crm_bridge.durable import DurableWrites

    spool = Spool(tmp_path / "spool", "node1", reserve_bytes=64 * 1024)
    spool.open()
    spool.append({"op": "call.record", "key": "1.1", "args": {}})
    durable = DurableWrites(
        services.crm.calls, services.crm.appeals, spool, services.run_db, limit=2.0
    )
    services.durable = durable  # type: ignore[attr-defined]
    report = await HealthMonitor(services).check()
    assert report.spool is not None and report.spool["records"] == 1
    assert report.spool["reserve_mb"] == 0 and report.spool["refused"] == 0
    assert "записи звонков ждут базу данных в журнале узла: 1" in report.problems
    assert "hotline_spool_records" in metrics_text(report)
    spool.close()
