"""Fixtures of the appeal's life tests: the CRM's migrated database on SQLite
and PostgreSQL (``tests/crm/conftest.py``), the appeal services on a fixed
clock, and the real in-process test SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.models import Operator, OperatorRole
from supervision.life import AppealLife
from tests.autoinformer.smtp_server import SmtpServer
from tests.crm.conftest import (  # noqa: F401 - the fixtures, shared
    MSK,
    NOW,
    appeals,
    db,
    pg_database,
    sqlite_template,
)


async def run_db(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


@pytest.fixture
def life(db: Database, appeals: AppealService) -> AppealLife:  # noqa: F811
    return AppealLife(db, appeals, node="n1")


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.close()


any_db = db
"""The wallboard's tests: SQLite and PostgreSQL (``HOTLINE_TEST_PG_URL``)
under a name of their own (their module takes the web tests' ``db``)."""


@pytest.fixture
def staff(any_db: Database) -> dict[str, int]:
    """Two operators and a supervisor in ``any_db``."""
    ids: dict[str, int] = {}
    with any_db.session(write=True) as session:
        for login, role in (
            ("ivanova", OperatorRole.OPERATOR),
            ("petrov", OperatorRole.OPERATOR),
            ("boss", OperatorRole.SUPERVISOR),
        ):
            op = Operator(login=login, name=login.title(), role=role, password_hash="x")
            session.add(op)
            session.flush()
            ids[login] = op.id
    return ids
