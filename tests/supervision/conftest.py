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
