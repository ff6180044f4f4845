"""Fixtures of the supervision tests: the web tests' SQLite database and
services, and ``any_db``: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_bridge.db import Database
from crm_bridge.models import Operator, OperatorRole
from tests.crm.conftest import db as crm_db
from tests.crm.conftest import pg_database, sqlite_template  # noqa: F401
from tests.crm_web.conftest import db, migrated_template, operators, services  # noqa: F401

any_db = crm_db
"""Parametrised: SQLite and PostgreSQL (``HOTLINE_TEST_PG_URL``)."""


@pytest.fixture
def staff(any_db: Database) -> Iterator[dict[str, int]]:
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
    yield ids
