"""Fixtures of the CRM bridge tests: a migrated database on SQLite and PostgreSQL.

Every test that takes ``db`` runs twice: on a fresh SQLite file (a copy of a
database migrated once per session) and on PostgreSQL, whose URL comes from
``HOTLINE_TEST_PG_URL``. Without that variable the PostgreSQL half is skipped
locally and *fails* in CI (``CI=true``): the shared-database claims (REQ-T15,
race-free numbering REQ-A2) must be proven on PostgreSQL there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm_bridge.accounts import AccountData, MeterData, upsert_accounts, upsert_meters
from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.identify import Identifier
from hotline.slices import upgrade

PG_ENV = "HOTLINE_TEST_PG_URL"
PG_HELP = (
    f"{PG_ENV} is not set. Start a throw-away PostgreSQL and point the tests at it, e.g.:\n"
    "  mkdir -p /tmp/pg && chown postgres /tmp/pg\n"
    "  su postgres -c '/usr/lib/postgresql/15/bin/initdb -D /tmp/pg/data --auth=trust'\n"
    '  su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pg/data '
    "-o '-p 5433 -k /tmp/pg -c listen_addresses=127.0.0.1' -l /tmp/pg/log start\"\n"
    "  su postgres -c 'createdb -h 127.0.0.1 -p 5433 hotline_test'\n"
    f"  export {PG_ENV}=postgresql+psycopg://postgres@127.0.0.1:5433/hotline_test\n"
    "(or `docker run -p 5433:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15`)."
    " The database name must contain 'test': its tables are dropped."
)

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2025, 3, 3, 10, 0, tzinfo=MSK)
"""A Monday, working day, 10:00 Moscow time."""


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crm-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


def pg_url_or_skip() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(PG_HELP, pytrace=False)
        pytest.skip(PG_HELP)
    name = make_url(url).database or ""
    if "test" not in name:
        pytest.fail(f"{PG_ENV} must name a test database (its name must contain 'test')")
    return url


def _pg_tables(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
        )


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Database]:
    """A migrated PostgreSQL database of this session's own, on the server
    ``HOTLINE_TEST_PG_URL`` names: two sessions at once (xdist workers) never
    drop or truncate each other's tables."""
    from tests.conftest import _drop_pg_database, _fresh_pg_database

    server = pg_url_or_skip()
    url, name = _fresh_pg_database(server, prefix="hotline_crm_test")
    db = Database(url)
    upgrade(db)
    try:
        yield db
    finally:
        db.dispose()
        _drop_pg_database(server, name)


def reset_pg(db: Database) -> None:
    tables = [t for t in _pg_tables(db) if t != "alembic_version"]
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
        conn.exec_driver_sql("INSERT INTO counters (name, value) VALUES ('appeal', 0)")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database (SQLite file or PostgreSQL)."""
    if request.param == "sqlite":
        path = tmp_path / "hotline.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
    else:
        database = request.getfixturevalue("pg_database")
        reset_pg(database)
        yield database


@pytest.fixture
def appeals(db: Database) -> AppealService:
    return AppealService(db, clock=lambda: NOW)


@pytest.fixture
def identifier(db: Database) -> Identifier:
    return Identifier(db)


def add_accounts(db: Database, *items: AccountData) -> dict[str, int]:
    with db.session(write=True) as session:
        return upsert_accounts(session, list(items)).ids


def add_meters(db: Database, *items: MeterData) -> dict[str, int]:
    with db.session(write=True) as session:
        return upsert_meters(session, list(items)).ids


@pytest.fixture
def town(db: Database) -> dict[str, int]:
    """A few accounts in an invented town: one house of flats, a private
    house, a shared phone, a legal entity."""
    ids = add_accounts(
        db,
        AccountData(
            number="0012345678",
            holder_name="Тестов Тест Тестович",
            settlement="г. Демоград",
            street_type="ул.",
            street="Ленина",
            house="5",
            flat="12",
            phones=("8 (900) 123-45-67",),
            debt=Decimal("1543.20"),
        ),
        AccountData(
            number="0012345679",
            holder_name="Примерова Анна Сергеевна",
            settlement="г. Демоград",
            street_type="ул.",
            street="Ленина",
            house="5",
            flat="13",
            phones=("+79001112233",),
        ),
        AccountData(
            number="0012345680",
            holder_name="Примеров Олег Иванович",
            settlement="г. Демоград",
            street_type="ул.",
            street="Ленина",
            house="5",
            flat="14",
            phones=("+79001112233",),
        ),
        AccountData(
            number="555",
            holder_name="Частников Пётр",
            settlement="пос. Южный",
            street="Почтовый пер.",
            house="3А",
            phones=("89005556677",),
        ),
        AccountData(
            number="777000",
            holder_name="ООО «Демо-Энерго»",
            category="ЮЛ",
            address="г. Демоград, пр-т Мира, д. 10, корп. 2, оф. 15",
            phones=("+7 (391) 212-34-56",),
        ),
        AccountData(
            number="0012345681",
            holder_name="Двойников Иван",
            settlement="г. Новоград",
            street_type="ул.",
            street="Ленина",
            house="5",
            flat="12",
        ),
    )
    add_meters(
        db,
        MeterData(
            serial="SN-0001",
            account_number="0012345678",
            zones=2,
            last_t1=Decimal("12345"),
            last_t2=Decimal("6789"),
        ),
    )
    return ids
