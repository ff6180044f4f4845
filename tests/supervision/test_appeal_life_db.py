"""The appeal's life tables and columns: the models agree with the
migrations (``supervision`` 1101, ``crm_bridge`` 0601) on SQLite and
PostgreSQL, and the ``hotline supervision due|digest`` commands."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from crm_bridge.db import Database
from crm_bridge.models import AppealChannel, Base
from hotline.slices import upgrade
from supervision.appeals_cli import cmd_digest, cmd_due
from supervision.models import DigestRun

OURS = {"appeal_events", "appeal_notices", "digest_runs", "appeals"}


def test_models_match_migrations(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import supervision.models  # noqa: F401 - its tables in Base.metadata

    def ours(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in OURS

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": ours}
        )
        assert compare_metadata(context, Base.metadata) == []


def _args(tmp_path: Path, **kw: object) -> argparse.Namespace:
    return argparse.Namespace(
        config=None,
        data_dir=str(tmp_path / "data"),
        database_url=f"sqlite:///{tmp_path / 'cli.db'}",
        asterisk=None,
        log_level=None,
        migrate=upgrade,
        **kw,
    )


def test_due_and_digest_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import load_settings
    from crm_bridge.services import CrmServices

    args = _args(tmp_path, hours=24 * 30, send=False)
    db = Database(args.database_url)
    upgrade(db)
    settings = load_settings(overrides={"database_url": args.database_url})
    appeals = CrmServices.from_settings(db, settings).appeals
    a = appeals.register(channel=AppealChannel.EMAIL, content="Вопрос", applicant_name="Тестов")
    out = io.StringIO()
    assert cmd_due(args, out) == 0
    text = out.getvalue()
    assert "Просрочены: 0" in text and a.number in text and "Тестов" not in text
    out = io.StringIO()
    assert cmd_digest(args, out) == 0
    assert "Сводка по срокам обращений" in out.getvalue()
    # --send without digest_to: refused, and nothing is remembered
    monkeypatch.setenv("HOTLINE_DIGEST_TO", "")
    assert cmd_digest(_args(tmp_path, send=True), io.StringIO()) == 2
    with db.session() as s:
        assert s.query(DigestRun).count() == 0
    db.dispose()


async def test_digest_send_command_mails_once_a_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from tests.autoinformer.smtp_server import SmtpServer

    server = SmtpServer()
    await server.start()
    try:
        monkeypatch.setenv("HOTLINE_DIGEST_TO", "boss@energo.example")
        monkeypatch.setenv("HOTLINE_SMTP_PORT", str(server.port))
        args = _args(tmp_path, send=True)
        first, second = io.StringIO(), io.StringIO()
        assert await asyncio.to_thread(cmd_digest, args, first) == 0
        assert await asyncio.to_thread(cmd_digest, args, second) == 0
        assert "Сводка отправлена: 1 адресатов" in first.getvalue()
        assert "уже отправлена" in second.getvalue()
        assert [r.recipients for r in server.received] == [["boss@energo.example"]]
    finally:
        await server.close()
