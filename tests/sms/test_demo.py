"""The demo's SMS step (``hotline demo``, sms/demo.py) on SQLite and
PostgreSQL: the demo customer's reading goes through a real Kannel and its
fake SMSC and the reply arrives at the phone."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from aiohttp import web
from sqlalchemy import select

from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.demo_data import DEMO_CALLER, load_demo
from crm_bridge.models import Reading, ReadingSource
from sms.demo import DemoPorts, gateway, prepare, send_reading
from sms.service import build_sender
from tests.conftest import _free_port
from tests.sms.test_kannel_e2e import _require_kannel
from tests.webtools import FakeServices, root_app


async def test_the_demo_customer_sends_a_reading_by_sms(db: Database, tmp_path: Path) -> None:
    _require_kannel()
    load_demo(db, size=20)
    settings = Settings(
        asterisk_root=tmp_path,
        data_dir=tmp_path / "data",
        web_host="0.0.0.0",
        web_port=_free_port(),
    ).resolve()
    ports = prepare(settings)
    assert isinstance(ports, DemoPorts), ports
    assert settings.sms_kannel_url == f"http://127.0.0.1:{ports.sendsms}/cgi-bin/sendsms"
    services = FakeServices.create(settings, db)
    sender = build_sender(services)
    runner = web.AppRunner(
        root_app(services, "/sms/", runtime=SimpleNamespace(extra={"sms": sender}))
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.web_port).start()
    try:
        async with gateway(settings, ports, "") as phones:
            await sender.start()
            try:
                assert DEMO_CALLER.phone is not None
                text, reply = await send_reading(services, phones, DEMO_CALLER.phone)
            finally:
                await sender.stop()
    finally:
        await runner.cleanup()
    assert text.startswith("Т1 ") and " Т2 " in text  # the demo caller's meter has two zones
    assert reply.receiver == DEMO_CALLER.phone and reply.sender == "7377"
    assert reply.text.startswith("Приняты показания Т1 "), reply.text
    with db.session() as s:
        sms_readings = s.scalars(select(Reading).where(Reading.source == ReadingSource.SMS)).all()
        assert len(sms_readings) == 2
