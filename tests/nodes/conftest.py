"""Fixtures of the nodes tests: the migrated database on SQLite and on
PostgreSQL (the autoinformer tests' ``any_db``), PostgreSQL alone (the
bridge is PostgreSQL's) and SQLite alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from crm_bridge.db import Database
from hotline.slices import upgrade
from tests.autoinformer.conftest import any_db, pg_ai_url  # noqa: F401 - the fixtures, shared


@pytest.fixture
def pg_db(pg_ai_url: str) -> Iterator[Database]:  # noqa: F811
    database = Database(pg_ai_url)
    upgrade(database)
    with database.engine.begin() as conn:
        tables = list(
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                    " AND tablename <> 'alembic_version'"
                )
            ).scalars()
        )
        conn.exec_driver_sql(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'nodes.db'}")
    upgrade(database)
    yield database
    database.dispose()
