"""Fixtures of the autoinformer tests: a migrated database.

``db`` is SQLite; ``any_db`` runs a test twice, on SQLite and on PostgreSQL
(``HOTLINE_TEST_PG_URL``; skipped locally without it, failing in CI like the
CRM tests) — the shared-campaign claims with ``FOR UPDATE SKIP LOCKED``
must be proven on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_bridge.db import Database
from hotline.slices import upgrade


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'ai.db'}")
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def pg_ai_url() -> Iterator[str]:
    from tests.crm.conftest import pg_url_or_skip

    base = pg_url_or_skip()
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(base)
    name = f"hotline_ai_test_{os.getpid()}"
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield u.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'ai.db'}")
        upgrade(database)
    else:
        database = Database(request.getfixturevalue("pg_ai_url"))
        upgrade(database)
        from sqlalchemy import text

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
