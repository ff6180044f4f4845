"""Fixtures of the operator-web, listener and webhook tests: a migrated SQLite
database (a copy of one migrated once per session), the services object the
web sub-app receives, and an aiohttp test client on the mounted sub-app."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.models import Operator, OperatorRole
from crm_bridge.passwords import hash_password
from hotline.slices import upgrade
from tests import webtools
from tests.webtools import FakeServices, root_app

T = TypeVar("T")
PASSWORD = "секрет-123"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crm-web-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)  # every branch (this slice's outbox revision is one)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture
def db(migrated_template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "hotline.db"
    shutil.copyfile(migrated_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture
def operators(db: Database) -> dict[str, int]:
    """Two operators and a supervisor (password :data:`PASSWORD`)."""
    digest = hash_password(PASSWORD, n=2**10)
    ids: dict[str, int] = {}
    with db.session(write=True) as session:
        for login, role, iface in (
            ("ivanova", OperatorRole.OPERATOR, "PJSIP/op201"),
            ("petrov", OperatorRole.OPERATOR, "PJSIP/op202"),
            ("boss", OperatorRole.SUPERVISOR, None),
            ("sidorova", OperatorRole.DISPATCHER, None),
        ):
            op = Operator(
                login=login, name=login.title(), role=role, password_hash=digest, interface=iface
            )
            session.add(op)
            session.flush()
            ids[login] = op.id
    return ids


@pytest.fixture
def services(db: Database, tmp_path: Path) -> FakeServices:
    settings = Settings(asterisk_root=tmp_path, data_dir=tmp_path / "data").resolve()
    return FakeServices.create(settings, db)


@pytest_asyncio.fixture
async def client(services: FakeServices) -> AsyncIterator[TestClient]:
    """The whole web application (the edge, the shell, every slice's pages)."""
    async with TestClient(TestServer(root_app(services))) as c:
        yield c


async def log_in(client: TestClient, login: str, password: str = PASSWORD) -> str:
    """Log in at the one log-in page; returns the session's CSRF token."""
    return await webtools.log_in(client, login, password)
