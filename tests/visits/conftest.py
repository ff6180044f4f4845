"""Fixtures of the visits tests: the migrated database on SQLite and
PostgreSQL (``tests/crm/conftest.py``), a fixed clock, two offices and a few
accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_bridge.accounts import AccountData
from crm_bridge.calendar_ru import ProductionCalendar
from crm_bridge.db import Database
from tests.crm.conftest import (  # noqa: F401 - the fixtures, shared
    add_accounts,
    db,
    pg_database,
    sqlite_template,
)
from visits.service import OfficeDraft, OfficeView, VisitService

NOW = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)
"""Monday 3 March 2025, 10:00 Moscow time."""
DAY = "08:00-12:00, 13:00-17:00"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(db: Database, clock: Clock) -> VisitService:  # noqa: F811
    return VisitService(db, ProductionCalendar(), clock=clock)


def office_draft(**kw: object) -> OfficeDraft:
    base: dict[str, object] = {
        "name": "Центральный офис",
        "address": "г. Демоград, ул. Ленина, д. 1",
        "settlement": "Демоград",
        "spoken": "офис на улице Ленина",
        "hours": {d: DAY for d in range(5)},
        "slot_minutes": 30,
        "capacity": 1,
    }
    base.update(kw)
    return OfficeDraft(**base)  # type: ignore[arg-type]


@pytest.fixture
def office(service: VisitService) -> OfficeView:
    return service.save_office(office_draft())


@pytest.fixture
def accounts(db: Database) -> dict[str, int]:  # noqa: F811
    return add_accounts(
        db,
        *(
            AccountData(
                number=f"20000000{n:02d}",
                holder_name=f"Посетитель {n}",
                settlement="Демоград" if n % 2 else "Ивановка",
                street="Ленина",
                house=str(n),
                phones=(f"+7900100{n:04d}",),
                email=f"visitor{n}@example.org" if n < 5 else None,
            )
            for n in range(1, 13)
        ),
    )
