"""The shared database (REQ-T15): migrations up and down on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from crm_bridge.db import Database, migrations_dir
from crm_bridge.models import Base, Call, Counter

EXPECTED_TABLES = {
    "accounts",
    "account_phones",
    "meters",
    "readings",
    "calls",
    "call_events",
    "appeals",
    "callbacks",
    "operators",
    "counters",
}


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_migrated_to_head_on_both_dialects(db: Database) -> None:
    """REQ-T15: one schema, created by the migrations, on either database."""
    assert db.current_revision() == _head()
    tables = set(inspect(db.engine).get_table_names())
    assert EXPECTED_TABLES <= tables
    with db.session() as session:
        counter = session.get(Counter, "appeal")
        assert counter is not None and counter.value == 0


def test_models_match_migrations(db: Database) -> None:
    """Autogenerate finds nothing to do: models and revision files agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def ours(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        # Other slices (readings, autoinformer, outages) check their own tables.
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in EXPECTED_TABLES

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": ours}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_and_upgrade_again(db: Database) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert EXPECTED_TABLES.isdisjoint(inspect(db.engine).get_table_names())
    db.upgrade()
    assert db.current_revision() == _head()


def test_upgrade_works_from_any_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.upgrade()
    db.upgrade()  # idempotent
    assert db.current_revision() == _head()
    db.dispose()


def test_sqlite_pragmas(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert db.dialect == "sqlite"
    db.dispose()


def test_timestamps_come_back_aware_utc(db: Database) -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=7)))
    with db.session() as session:
        session.add(Call(uniqueid="1735761845.1", started_at=moment))
    with db.session() as session:
        call = session.execute(select(Call)).scalar_one()
        assert call.started_at == moment
        assert call.started_at is not None and call.started_at.tzinfo is not None
        assert call.started_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive"), db.session() as session:
        session.add(Call(uniqueid="1.1", started_at=datetime(2025, 1, 1)))
        session.flush()


def test_session_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as session:
        session.add(Call(uniqueid="2.2", started_at=datetime.now(UTC)))
        session.flush()
        raise RuntimeError("boom")
    with db.session() as session:
        assert session.execute(select(Call)).first() is None


def test_postgres_url_gets_psycopg_driver() -> None:
    db = Database("postgresql://u:secret@localhost/x")
    assert db.url.drivername == "postgresql+psycopg"
    assert "secret" not in repr(db)


def test_ci_requires_postgres_url() -> None:
    """The PostgreSQL half must not be silently skipped in CI."""
    if os.environ.get("CI", "").lower() == "true":
        assert os.environ.get("HOTLINE_TEST_PG_URL"), "CI must set HOTLINE_TEST_PG_URL"
