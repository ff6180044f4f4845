"""Emergencies without an estimate and overdue estimates through the whole
web application (issue 16 items 1 and 2): the page saves an emergency with
its restoration «уточняется» (a planned one without its end is refused in
Russian, the form kept), shows «уточняется» and flags «срок восстановления
прошёл»; the file import takes such a row; the API takes a body without
``ends_at`` (or ``null``) over real HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_bridge.db import Database, utcnow
from crm_bridge.outages import OutageKind, OutageService
from outages.models import OutageEntry
from outages.register import Draft, OutageRegister
from tests.crm.conftest import add_accounts
from tests.crm_web.conftest import (  # noqa: F401 - the fixtures, shared
    client,
    db,
    log_in,
    migrated_template,
    operators,
    services,
)
from tests.crm_web.test_readings_page import _serve
from tests.outages.conftest import town_accounts
from tests.webtools import FakeServices, root_app


def _local(delta: timedelta) -> str:
    from zoneinfo import ZoneInfo

    return (utcnow() + delta).astimezone(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%dT%H:%M")


async def test_the_page_saves_an_emergency_without_an_estimate_and_flags_an_overdue_one(
    client: TestClient[Any, Any],  # noqa: F811
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    town = add_accounts(db, *town_accounts())
    csrf = await log_in(client, "sidorova")
    form = {
        "csrf": csrf,
        "kind": "emergency",
        "starts_at": _local(timedelta(hours=-1)),
        "ends_at": "",
        "reason": "повреждение кабеля",
        "addresses": "г. Демоград, ул. Ленина, д. 1-3",
        "action": "save",
    }
    saved = await client.post("/outages/new", data=form, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    outage_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    found = OutageService(db).emergency(town["0000001001"])
    assert found is not None and found.estimate(utcnow()) is None
    detail = await (await client.get(f"/outages/{outage_id}")).text()
    assert ">уточняется<" in detail and 'id="overdue"' not in detail

    refused = await client.post("/outages/new", data={**form, "kind": "planned"})
    text = await refused.text()
    assert refused.status == 400 and "окончание (восстановление): укажите дату и время" in text
    assert "повреждение кабеля" in text  # the form kept

    # an emergency whose estimate has passed, not marked restored: flagged
    overdue = OutageRegister(db).create(
        Draft(
            kind=OutageKind.EMERGENCY,
            starts_at=utcnow() - timedelta(hours=5),
            ends_at=utcnow() - timedelta(hours=1),
            addresses=["с. Ивановка"],
        ),
        by="sidorova",
    )
    index = await (await client.get("/outages/")).text()
    row = index.split(f'data-id="{overdue.id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-overdue="1"' in row and "срок восстановления прошёл" in row
    fresh = index.split(f'data-id="{outage_id}"', 1)[1].split("</tr>", 1)[0]
    assert "уточняется" in fresh and "срок восстановления прошёл" not in fresh
    page = await (await client.get(f"/outages/{overdue.id}")).text()
    assert 'id="overdue"' in page
    assert OutageService(db).emergency(town["0000001051"]) is not None  # still active

    # the dispatcher moves the estimate to «уточняется» (an empty field)
    cleared = await client.post(
        f"/outages/{overdue.id}/eta", data={"csrf": csrf, "ends_at": ""}, allow_redirects=False
    )
    assert cleared.status == 303
    page = await (await client.get(f"/outages/{overdue.id}")).text()
    assert 'id="overdue"' not in page and "на уточняется" in page  # the history says it


async def test_the_file_and_the_api_take_an_emergency_without_an_estimate(
    client: TestClient[Any, Any],  # noqa: F811
    services: FakeServices,  # noqa: F811
    db: Database,  # noqa: F811
    operators: dict[str, int],  # noqa: F811
) -> None:
    town = add_accounts(db, *town_accounts())
    csrf = await log_in(client, "sidorova")
    body = "Вид;Начало;Окончание;Адреса\nаварийное;03.03.2031 08:00;;ул. Ленина, д. 1-2\n"
    data = aiohttp.FormData()
    data.add_field("csrf", csrf)
    data.add_field("file", body.encode(), filename="отключения.csv")
    resp = await client.post("/outages/import", data=data, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/outages/?imported=1"
    with db.session() as s:
        (entry,) = s.scalars(select(OutageEntry)).all()
        assert entry.ends_at is None and entry.kind is OutageKind.EMERGENCY

    _, token = OutageRegister(db).add_client("grid-dispatch")
    runner, base = await _serve(root_app(services))
    url = f"{base}/outages/api/v1/outages/AV-9"
    auth = {"Authorization": f"Bearer {token}"}
    start = utcnow() - timedelta(minutes=20)
    emergency = {
        "kind": "emergency",
        "starts_at": start.isoformat(),
        "addresses": ["г. Демоград, ул. Садовая, д. 1"],
    }
    try:
        async with aiohttp.ClientSession() as http:
            async with http.put(url, json=emergency, headers=auth) as resp:
                assert resp.status == 201, await resp.text()
                assert (await resp.json())["ends_at"] is None
            async with http.put(url, json={**emergency, "ends_at": None}, headers=auth) as resp:
                assert resp.status == 200  # the same: nothing changes
            planned = {**emergency, "kind": "planned"}
            async with http.put(f"{url}-P", json=planned, headers=auth) as resp:
                error = await resp.json()
                assert resp.status == 400 and "поле ends_at: обязательно" in error["error"]
    finally:
        await runner.cleanup()
    found = OutageService(db).emergency(town["0000001043"])  # Садовая 1
    assert found is not None and found.estimate(utcnow()) is None
