"""The shared database (REQ-T15): migrations up and down on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from crm_bridge.db import Database
from crm_bridge.models import Base, Call, Counter
from hotline.slices import migrations, upgrade

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


def _heads() -> frozenset[str]:
    """Every branch's head: the slices' own branches (the shift's) and the main line."""
    heads = frozenset(ScriptDirectory.from_config(migrations().config()).get_heads())
    assert len(heads) >= 2
    return heads


def test_migrated_to_head_on_both_dialects(db: Database) -> None:
    """REQ-T15: one schema, created by the migrations, on either database."""
    assert db.current_heads() == _heads()
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
    config = migrations().config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert EXPECTED_TABLES.isdisjoint(inspect(db.engine).get_table_names())
    upgrade(db)
    assert db.current_heads() == _heads()


def test_upgrade_works_from_any_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(db)
    upgrade(db)  # idempotent
    assert db.current_heads() == _heads()
    db.dispose()


def test_an_upgraded_database_is_not_migrated_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every command and every start upgrades: on a database already at every
    head that runs no Alembic (and prints none of its lines)."""
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(db)
    caplog.clear()
    with caplog.at_level("DEBUG"):
        upgrade(db)
    assert not [r for r in caplog.records if r.name.startswith("alembic")], caplog.text
    assert db.current_heads() == _heads()
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


def test_each_slice_keeps_its_revisions(tmp_path: Path) -> None:
    """Issue 11: a slice's revisions live in its own directory; the root's
    environment has none, and a new slice's directory joins the one history."""
    from dataclasses import replace

    from hotline.slices import SLICES

    found = migrations()
    assert not (found.env / "versions").exists()
    assert {p.parent.name for p in found.versions} == {
        "crm_bridge",
        "autoinformer",
        "shift",
        "supervision",
        "sms",
        "surveys",
        "outages",
        "webedge",
        "nodes",
    }
    for sl in SLICES:
        if sl.metadata():
            assert sl.migrations is not None and any(sl.migrations.glob("*.py")), sl.name
    # A new slice: its first revision, written into its own directory.
    new_dir = tmp_path / "newslice"
    new_dir.mkdir()
    extended = replace(found, versions=(*found.versions, new_dir))
    script = command.revision(
        extended.config(),
        message="new slice",
        head="0001",
        splice=True,
        branch_label="newslice",
        version_path=str(new_dir),
    )
    assert script is not None and Path(str(script.path)).parent == new_dir
    db = Database(f"sqlite:///{tmp_path / 'n.db'}")
    db.upgrade(extended)
    assert db.current_heads() == _heads() | {script.revision}
    db.dispose()


def test_cli_revision_names_a_slice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hotline.cli import main

    url = f"sqlite:///{tmp_path / 'r.db'}"
    code = main(["--database-url", url, "--data-dir", str(tmp_path), "db", "revision", "-m", "x"])
    assert code == 2
    assert "--slice" in capsys.readouterr().err
