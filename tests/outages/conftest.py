"""Fixtures of the outage register's tests: the migrated database on SQLite
and PostgreSQL (``tests/crm/conftest.py``) and a small generated town."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_bridge.accounts import AccountData
from crm_bridge.db import Database
from outages.register import OutageRegister
from tests.crm.conftest import (  # noqa: F401 - the fixtures, shared
    MSK,
    add_accounts,
    db,
    pg_database,
    sqlite_template,
)

NOW = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)
"""A Monday, 10:00 Moscow time."""


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture(autouse=True)
def fresh_snapshot() -> None:
    """Forget the in-process snapshot of the outages: PostgreSQL's database
    is one per session, emptied between tests with its sequences restarted,
    so the next test's register may have the very change mark (counter, last
    row id) of the previous one's — and its outages are not the same."""
    from crm_bridge.outages import _SNAPSHOTS

    _SNAPSHOTS.clear()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def register(db: Database, clock: Clock) -> OutageRegister:  # noqa: F811
    return OutageRegister(db, clock=clock)


def town_accounts() -> list[AccountData]:
    """Демоград: ул. Ленина houses 1–20 (two flats each), ул. Садовая 1–5,
    private houses 7а and 12 к1 on Ленина; Новоград: ул. Ленина 1–3;
    с. Ивановка: ул. Полевая 1–4."""
    out: list[AccountData] = []
    n = 1000

    def add(settlement: str, street: str, house: str, flat: str | None = None) -> None:
        nonlocal n
        n += 1
        out.append(
            AccountData(
                number=f"{n:010d}",
                holder_name=f"Житель {n}",
                settlement=settlement,
                street_type="ул.",
                street=street,
                house=house,
                flat=flat,
                phones=(f"+7900{n:07d}",),
            )
        )

    for h in range(1, 21):
        for flat in ("1", "2"):
            add("г. Демоград", "Ленина", str(h), flat)
    add("г. Демоград", "Ленина", "7а")
    add("г. Демоград", "Ленина", "12 к1")
    for h in range(1, 6):
        add("г. Демоград", "Садовая", str(h))
    for h in range(1, 4):
        add("г. Новоград", "Ленина", str(h))
    for h in range(1, 5):
        add("с. Ивановка", "Полевая", str(h))
    return out


@pytest.fixture
def town(db: Database) -> dict[str, int]:  # noqa: F811
    return add_accounts(db, *town_accounts())
