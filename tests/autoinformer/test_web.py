"""The dispatcher console over HTTP (REQ-O1–O3, O10), without Asterisk: log-in
by role, XLSX import with its rejected-rows report, approval, the life-cycle
buttons, the monitor WebSocket, the reports. (The browser test with real
calls is tests/e2e/test_autoinformer_console.py.)"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import Workbook, load_workbook

from autoinformer.monitor import Monitor
from autoinformer.store import AttemptStore
from autoinformer.web import create_dispatcher_app
from crm_bridge.db import Database
from crm_bridge.models import Operator, OperatorRole
from crm_bridge.passwords import hash_password
from tests.autoinformer.helpers import make_accounts

MONDAY_NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
"""Inside every call window (the claim checks the call policy)."""


@dataclass
class _Settings:
    timezone: str = "Europe/Moscow"


@dataclass
class _Services:
    """What the console takes from hotline.services.Services."""

    db: Database
    settings: _Settings = field(default_factory=_Settings)
    extras: dict[str, Any] = field(default_factory=dict)
    resolver: Any = None
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4))

    async def run_db(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)


def _operators(db: Database) -> None:
    with db.session(write=True) as s:
        for login, role in (("boss", OperatorRole.SUPERVISOR), ("ivanov", OperatorRole.OPERATOR)):
            s.add(
                Operator(
                    login=login, name=login, role=role, password_hash=hash_password("pass-word")
                )
            )


@pytest.fixture
async def client(db: Database) -> AsyncIterator[tuple[TestClient[Any, Any], _Services]]:
    _operators(db)
    services = _Services(db)
    root = web.Application()
    root.add_subapp("/dispatcher/", create_dispatcher_app(services))
    c: TestClient[Any, Any] = TestClient(TestServer(root))
    await c.start_server()
    yield c, services
    await c.close()
    services.executor.shutdown()


async def _login(c: TestClient[Any, Any], login: str) -> web.Response | Any:
    return await c.post(
        "/dispatcher/login", data={"login": login, "password": "pass-word"}, allow_redirects=False
    )


async def test_only_dispatcher_roles_log_in(client: Any) -> None:
    c, _ = client
    r = await c.get("/dispatcher/", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"].endswith("/dispatcher/login")
    r = await _login(c, "ivanov")  # an operator
    assert r.status == 302 and "e=1" in r.headers["Location"]
    r = await c.post("/dispatcher/campaigns", data={"name": "x"})
    assert r.status == 401
    r = await c.post(
        "/dispatcher/login", data={"login": "boss", "password": "wrong"}, allow_redirects=False
    )
    assert "e=1" in r.headers["Location"]
    r = await _login(c, "boss")
    assert r.status == 302
    page = await (await c.get("/dispatcher/")).text()
    assert "Новая кампания" in page


async def test_import_approve_launch_watch_report(client: Any, db: Database) -> None:
    c, services = client
    phones = ["+79005550001", "+79005550002"]
    make_accounts(db, phones, prefix="81")
    await _login(c, "boss")
    r = await c.post(
        "/dispatcher/campaigns",
        data={"name": "Долги, веб", "kind": "debt", "max_attempts": "1"},
        allow_redirects=False,
    )
    assert r.status == 302
    url = r.headers["Location"]
    cid = int(url.rsplit("/", 1)[1])
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Телефон", "Задолженность"])
    ws.append([phones[0], 100.5])
    ws.append([phones[1], "200"])
    ws.append([phones[0], 1])  # duplicate
    ws.append(["+79990000000", 5])  # not on any contract (REQ-O7)
    buf = io.BytesIO()
    wb.save(buf)
    from aiohttp import FormData

    form = FormData()
    form.add_field("file", buf.getvalue(), filename="list.xlsx")
    r = await c.post(f"{url}/import", data=form, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == url
    page = await (await c.get(url)).text()
    assert "принято 2, отклонено 2" in page
    assert "дубликат" in page and "REQ-O7" in page
    assert "сто рублей пятьдесят копеек" in page
    # Bad input: a clear message, nothing lost.
    bad = FormData()
    bad.add_field("file", b"\x00\x01", filename="list.pdf")
    r = await c.post(f"{url}/import", data=bad)
    assert r.status == 400 and "CSV и XLSX" in await r.text()
    r = await c.post(f"{url}/launch")
    assert r.status == 400 and "утверждённую" in await r.text()
    for action in ("approve", "launch", "pause", "resume"):
        r = await c.post(f"{url}/{action}", allow_redirects=False)
        assert r.status == 302, (action, await r.text())
    stats = await (await c.get(f"{url}/stats")).json()
    assert stats["stats"]["status"] == "running" and stats["stats"]["total"] == 2

    # The monitor: a snapshot at once, then one after each event of the campaign.
    async with c.ws_connect(f"/dispatcher/ws?campaign={cid}") as sock:
        first = await sock.receive_json(timeout=5)
        assert first["stats"]["finished"] == 0 and first["event_ts"] is None
        store = AttemptStore(db, "n1")
        (cl,) = await services.run_db(lambda: store.claim(1, now=MONDAY_NOON))
        await services.run_db(
            lambda: store.finalise(cl.channel_id, originate_reason=5, hangup_cause=17)
        )
        ts = time.time()
        Monitor.of(services).publish({"type": "call", "campaign_id": cid, "ts": ts})
        Monitor.of(services).publish({"type": "call", "campaign_id": cid + 1, "ts": ts})
        upd = await sock.receive_json(timeout=5)
        assert upd["event_ts"] == ts and upd["stats"]["finished"] == 1
        assert upd["stats"]["results"] == {"busy": 1}
    r = await c.post(f"{url}/stop", allow_redirects=False)
    assert r.status == 302
    csv_text = (await (await c.get(f"{url}/report.csv")).read()).decode("utf-8-sig")
    assert "Занято" in csv_text
    xlsx = await (await c.get(f"{url}/report.xlsx")).read()
    book = load_workbook(io.BytesIO(xlsx))
    assert book["Итоги"]._charts and book["По часам"]._charts
    page = await (await c.get(url)).text()
    assert "Остановлена" in page and "<svg" in page
