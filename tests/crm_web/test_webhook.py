"""The external CRM / billing webhook: a durable outbox delivered in order, at
least once, signed, across an outage of the far side."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.models import Account, AppealChannel, Meter, ReadingSource, TariffZone
from crm_bridge.readings import ReadingService
from crm_bridge.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    OutboxHooks,
    OutboxMessage,
    WebhookDelivery,
    enqueue,
    pending_count,
)

SECRET = "webhook-test-secret"


async def until(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not (value := probe()):
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return value


class FarSide:
    """A local webhook receiver that answers 503 while ``down``."""

    def __init__(self) -> None:
        self.down = True
        self.refused = 0
        self.received: list[dict[str, Any]] = []
        self.keys: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert request.headers[SIGNATURE_HEADER] == expected
        if self.down:
            self.refused += 1
            return web.Response(status=503)
        key = request.headers[IDEMPOTENCY_HEADER]
        self.keys.append(key)
        self.received.append(json.loads(body))
        return web.json_response({"ok": True})


def test_enqueue_rolls_back_with_the_business_write(db: Database) -> None:
    try:
        with db.session(write=True) as session:
            enqueue(session, "appeal.registered", {"number": "1-ФЛ"})
            raise RuntimeError("the business write failed")
    except RuntimeError:
        pass
    assert pending_count(db) == 0
    with db.session(write=True) as session:
        key = enqueue(session, "appeal.registered", {"number": "1-ФЛ"})
    assert pending_count(db) == 1 and len(key) == 32


def test_hooks_enqueue_appeals_and_readings_in_the_same_transaction(db: Database) -> None:
    hooks = OutboxHooks(db)
    hooks.install()
    try:
        service = AppealService(db)
        appeal = service.register(channel=AppealChannel.PHONE, content="вопрос", classification="Т")
        service.classify(appeal.id, "КЭ", by_operator=None)
        with db.session(write=True) as session:
            account = Account(number="555", number_key="555", holder_name="Тест")
            session.add(account)
            session.flush()
            meter = Meter(serial="M-555", account_id=account.id, zones=1, digits=6)
            session.add(meter)
            session.flush()
            meter_id = meter.id
        ReadingService(db).submit(
            meter_id=meter_id, zone=TariffZone.T1, value=Decimal(100), source=ReadingSource.KEYPAD
        )
    finally:
        hooks.remove()
    with db.session() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        got = [(r.kind, r.payload) for r in rows]
    assert [k for k, _ in got] == ["appeal.registered", "appeal.updated", "reading.created"]
    assert got[0][1]["number"] == appeal.number and got[0][1]["classification"] == "Т"
    assert got[1][1]["classification"] == "КЭ" and got[1][1]["id"] == appeal.id
    assert got[2][1]["meter_serial"] == "M-555" and Decimal(got[2][1]["value"]) == 100
    # After remove() nothing more is enqueued.
    AppealService(db).register(channel=AppealChannel.PHONE)
    assert pending_count(db) == 3


async def test_outbox_is_delivered_once_each_in_order_after_an_outage(db: Database) -> None:
    far = FarSide()
    app = web.Application()
    app.router.add_post("/hook", far.handle)
    server = TestServer(app)
    await server.start_server()
    delivery = WebhookDelivery(
        db,
        str(server.make_url("/hook")),
        SECRET,
        base_delay=0.05,
        max_delay=0.2,
        poll_interval=0.05,
    )
    try:
        await delivery.start()
        service = AppealService(db)
        numbers = [
            (await asyncio.to_thread(service.register, channel=AppealChannel.PHONE)).number
            for _ in range(5)
        ]
        delivery.kick()
        await until(lambda: far.refused >= 3, 10, "retries while the far side is down")
        assert far.received == [] and pending_count(db) == 5
        with db.session() as session:
            first = (
                session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().first()
            )
            assert first is not None and first.attempts >= 2 and first.last_error == "HTTP 503"
        far.down = False
        delivery.kick()
        await until(lambda: len(far.received) == 5, 10, "delivery once the far side is up")
        await until(lambda: pending_count(db) == 0, 5, "the outbox marked delivered")
    finally:
        await delivery.stop()
        await server.close()
    assert [m["payload"]["number"] for m in far.received] == numbers  # in order
    assert len(set(far.keys)) == 5  # once each
    assert [m["kind"] for m in far.received] == ["appeal.registered"] * 5


def test_backoff_doubles_and_is_bounded(db: Database) -> None:
    d = WebhookDelivery(db, "http://127.0.0.1:9/", SECRET, base_delay=1, max_delay=30)
    assert [d.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_disabled_without_url(db: Database) -> None:
    d = WebhookDelivery(db, "", "")
    assert not d.enabled
