"""Surge detection (issue 16 item 3) on SQLite and PostgreSQL: a burst of
calls from one street with no registered outage raises one alert with the
houses, a registered outage silences it, an acknowledged alert counts only
later calls, outage calls from anywhere raise the region's alert; the
component e-mails each alert once through the real test SMTP server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from core.settings import Settings
from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.models import AppealChannel, Call, CallDirection, ClassificationCode
from crm_bridge.outages import OutageKind
from outages.register import Draft, OutageRegister
from outages.surge import REGION, SurgeComponent, SurgeDetector
from tests.autoinformer.smtp_server import SmtpServer
from tests.outages.conftest import NOW, Clock

_ids = itertools.count(1)


def _calls(
    db: Database,
    account_ids: list[int | None],
    at: datetime,
    *,
    path: tuple[str, ...] = ("menu",),
) -> list[int]:
    out = []
    with db.session(write=True) as s:
        for aid in account_ids:
            call = Call(
                uniqueid=f"surge-{next(_ids)}",
                direction=CallDirection.IN,
                started_at=at,
                account_id=aid,
                ivr_path=list(path),
            )
            s.add(call)
            s.flush()
            out.append(call.id)
    return out


@pytest.fixture
def detector(db: Database, clock: Clock) -> SurgeDetector:
    return SurgeDetector(db, calls=5, minutes=15, clock=clock)


def test_a_burst_from_one_street_raises_one_alert_until_acknowledged(
    db: Database, detector: SurgeDetector, town: dict[str, int], clock: Clock
) -> None:
    lenina = [town[f"{n:010d}"] for n in range(1001, 1009)]  # Ленина 1–4 (2 flats each), Демоград
    _calls(db, lenina[:4], NOW - timedelta(minutes=5))
    _calls(db, [town["0000001048"]], NOW - timedelta(minutes=5))  # Ленина 1 in Новоград
    _calls(db, lenina[4:6], NOW - timedelta(minutes=40))  # too long ago
    assert detector.scan() == []
    _calls(db, [lenina[6]], NOW - timedelta(minutes=1))
    [alert] = detector.scan()
    assert alert.place_key == "street:демоград|ленина" and alert.calls == 5
    assert "ул. ленина" in alert.place
    assert set(alert.addresses) == {
        "г. демоград, ул. ленина, д. 1",
        "г. демоград, ул. ленина, д. 2",
        "г. демоград, ул. ленина, д. 4",
    }
    assert not any("кв" in a for a in alert.addresses)  # houses, never flats
    _calls(db, [lenina[7]], NOW)
    assert detector.scan() == []  # one alert per place: the open one keeps counting
    [still] = detector.open_alerts()
    assert still.id == alert.id and still.calls == 6

    clock.advance(minutes=1)
    assert detector.acknowledge(alert.id, "sidorova")
    assert not detector.acknowledge(alert.id, "sidorova")
    assert detector.scan() == []  # the calls before the acknowledgement no longer count
    clock.advance(minutes=1)
    _calls(db, lenina[:5], clock.now)
    [again] = detector.scan()
    assert again.id != alert.id and again.calls == 5


def test_a_registered_outage_explains_the_calls_and_no_alert_is_raised(
    db: Database, detector: SurgeDetector, town: dict[str, int], clock: Clock
) -> None:
    OutageRegister(db, clock=clock).create(
        Draft(
            kind=OutageKind.EMERGENCY,
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=3),
            addresses=["г. Демоград, ул. Ленина"],
        ),
        by="sidorova",
    )
    lenina = [town[f"{n:010d}"] for n in range(1001, 1011)]
    _calls(db, lenina, NOW - timedelta(minutes=2), path=("menu", "outages"))
    assert detector.scan() == []


def test_calls_about_outages_without_an_outage_raise_the_regions_alert(
    db: Database, detector: SurgeDetector, town: dict[str, int]
) -> None:
    spread = [town["0000001043"], town["0000001048"], town["0000001051"], None]
    _calls(db, spread, NOW - timedelta(minutes=3), path=("menu", "outages"))
    assert detector.scan() == []
    # an appeal classified Ог from a call counts too (an operator took it)
    [call_id] = _calls(db, [None], NOW - timedelta(minutes=2))
    AppealService(db, clock=lambda: NOW).register(
        channel=AppealChannel.PHONE,
        content="нет света",
        classification=ClassificationCode.OG,
        call_id=call_id,
        received_at=NOW - timedelta(minutes=2),
    )
    [alert] = detector.scan()
    assert alert.place_key == REGION and alert.calls == 5
    assert "с. ивановка, ул. полевая, д. 1" in alert.addresses


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.close()


async def test_the_component_mails_each_alert_once(
    db: Database, town: dict[str, int], clock: Clock, smtp: SmtpServer, tmp_path: Path
) -> None:
    settings = Settings(
        asterisk_root=tmp_path,
        data_dir=tmp_path / "data",
        smtp_port=smtp.port,
        smtp_from="hotline@energo.example",
        outage_surge_calls=3,
        outage_surge_minutes=10,
        outage_surge_to="dispatch@energo.example, duty@energo.example",
    ).resolve()

    class Services:
        def __init__(self) -> None:
            self.settings = settings
            self.db = db

        async def run_db(self, fn: Any, *args: Any) -> Any:
            return await asyncio.to_thread(fn, *args)

    component = SurgeComponent(Services(), clock=clock)
    sadovaya = [town[f"{n:010d}"] for n in range(1043, 1046)]
    _calls(db, sadovaya, NOW - timedelta(minutes=1))
    raised = await component.run_once()
    assert [a.place_key for a in raised] == ["street:демоград|садовая"]
    assert len(smtp.received) == 2
    letter = smtp.received[0].message
    assert letter["Subject"].startswith("Всплеск звонков: г. демоград, ул. садовая")
    body = letter.get_content()
    assert "звонков 3" in body and "г. демоград, ул. садовая, д. 2" in body
    assert await component.run_once() == [] and len(smtp.received) == 2  # once


def test_calls_spread_over_one_settlements_streets_raise_the_settlements_alert(
    db: Database, detector: SurgeDetector, town: dict[str, int]
) -> None:
    demograd = [town["0000001001"], town["0000001003"], town["0000001043"], town["0000001044"]]
    _calls(db, demograd, NOW - timedelta(minutes=4))
    assert detector.scan() == []
    _calls(db, [town["0000001046"]], NOW - timedelta(minutes=1))  # Садовая 4
    [alert] = detector.scan()
    assert alert.place_key == "settlement:демоград" and alert.calls == 5


def test_a_caller_not_identified_is_placed_by_the_calling_number(
    db: Database, detector: SurgeDetector, town: dict[str, int]
) -> None:
    with db.session(write=True) as s:
        for n in range(1043, 1048):  # Садовая 1–5: their numbers on file, no account in the call
            s.add(
                Call(
                    uniqueid=f"by-number-{n}",
                    direction=CallDirection.IN,
                    started_at=NOW - timedelta(minutes=2),
                    caller_number=f"7900{n:07d}",
                    ivr_path=["menu"],
                )
            )
        s.add(
            Call(
                uniqueid="by-number-unknown",
                direction=CallDirection.IN,
                started_at=NOW - timedelta(minutes=2),
                caller_number="79990000001",
                ivr_path=["menu"],
            )
        )
    [alert] = detector.scan()
    assert alert.place_key == "street:демоград|садовая" and alert.calls == 5
