"""The autoinformer's tables: the models and migrations 0201, 0602, 0605, 0606 and 0650 agree, on SQLite
and PostgreSQL (autogenerate finds nothing to do for ``ai_*``)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import autoinformer.models  # noqa: F401 - the ai_* tables on Base.metadata
from crm_bridge.db import Base, Database

AI_TABLES = {
    "ai_campaigns",
    "ai_contacts",
    "ai_attempts",
    "ai_do_not_call",
    "ai_imports",
    "ai_campaign_editors",
    "ai_contact_counts",
    "ai_attempt_counts",
}


def test_models_match_migration(any_db: Database) -> None:
    assert AI_TABLES <= set(inspect(any_db.engine).get_table_names())

    def ours(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in AI_TABLES

    with any_db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": ours}
        )
        assert compare_metadata(context, Base.metadata) == []
