"""Autoinformer: the monitor's counters (REQ-O3; issue 15 item 5) —
``ai_contact_counts`` and ``ai_attempt_counts``, kept by the database's own
triggers on every insert, update and delete of ``ai_contacts`` and
``ai_attempts`` (by any code path, node or hand), so the monitor reads a few
rows per campaign instead of counting 100 000 contacts after every call
event, and its counts stay those of a full recount
(tests/autoinformer/test_counts.py).

PostgreSQL: statement-level triggers with transition tables (a COPY or an
UPDATE of thousands of contacts adds one grouped upsert, not one per row);
each server process adds to its own rows (``shard = pg_backend_pid()``), so
two transactions never wait on, nor deadlock over, one counter row. SQLite
(one writer at a time): row triggers, ``shard`` 0. A deleted campaign's
counters go with it; SQLite may give a new campaign a deleted one's id, so
a new campaign starts from no counters.

Revision ID: 0650_campaign_counts
Revises: 0606_campaign_monitor_indexes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0650_campaign_counts"
down_revision: str | Sequence[str] | None = "0606_campaign_monitor_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONTACT_COLUMNS = "campaign_id, status, final_result, positive, refusal, timezone, shard, n"
_ATTEMPT_COLUMNS = "campaign_id, channel, state, result, shard, n"


def _contact_key(r: str) -> str:
    """The counter's key of a contact row ``r`` (refusal kept for refused
    contacts, the time zone for pending ones)."""
    return (
        f"{r}.campaign_id, {r}.status, coalesce({r}.final_result, ''), "
        f"coalesce({r}.positive, false), "
        f"CASE WHEN {r}.status = 'refused' THEN coalesce({r}.refusal, '') ELSE '' END, "
        f"CASE WHEN {r}.status = 'pending' THEN coalesce({r}.timezone, '') ELSE '' END"
    )


def _attempt_key(r: str) -> str:
    return f"{r}.campaign_id, {r}.channel, {r}.state, coalesce({r}.result, '')"


_CONTACT_PK = "campaign_id, status, final_result, positive, refusal, timezone, shard"
_ATTEMPT_PK = "campaign_id, channel, state, result, shard"


def upgrade() -> None:
    op.create_table(
        "ai_contact_counts",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("final_result", sa.String(length=16), nullable=False),
        sa.Column("positive", sa.Boolean(), nullable=False),
        sa.Column("refusal", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign_id",
            "status",
            "final_result",
            "positive",
            "refusal",
            "timezone",
            "shard",
            name="pk_ai_contact_counts",
        ),
    )
    op.create_table(
        "ai_attempt_counts",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign_id", "channel", "state", "result", "shard", name="pk_ai_attempt_counts"
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()
    # The counts of what is there already.
    op.execute(
        f"INSERT INTO ai_contact_counts ({_CONTACT_COLUMNS}) "
        f"SELECT {_contact_key('c')}, 0, count(*) FROM ai_contacts c GROUP BY {_contact_key('c')}"
    )
    op.execute(
        f"INSERT INTO ai_attempt_counts ({_ATTEMPT_COLUMNS}) "
        f"SELECT {_attempt_key('a')}, 0, count(*) FROM ai_attempts a GROUP BY {_attempt_key('a')}"
    )


def _pg_function(name: str, table: str, columns: str, key: str, pk: str) -> str:
    """A trigger function adding the grouped difference of one statement's
    transition tables (``new_rows`` +1, ``old_rows`` −1) to this server
    process's counter rows, in key order."""

    def grouped(source: str) -> str:
        return (
            f"SELECT {key}, pg_backend_pid(), sum(d) FROM ({source}) x "
            # A campaign's deletion cascades to its contacts after its own
            # trigger dropped its counters: a deleted campaign gets none.
            "WHERE EXISTS (SELECT 1 FROM ai_campaigns c WHERE c.id = x.campaign_id) "
            f"GROUP BY 1, 2, 3, 4{', 5, 6' if table == 'ai_contact_counts' else ''} "
            "HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4"
            f"{', 5, 6' if table == 'ai_contact_counts' else ''}"
        )

    upsert = (
        f"INSERT INTO {table} AS t ({columns}) {{}} "
        f"ON CONFLICT ({pk}) DO UPDATE SET n = t.n + excluded.n"
    )
    added = upsert.format(grouped("SELECT r.*, 1 AS d FROM new_rows r"))
    removed = upsert.format(grouped("SELECT r.*, -1 AS d FROM old_rows r"))
    changed = upsert.format(
        grouped("SELECT r.*, 1 AS d FROM new_rows r UNION ALL SELECT r.*, -1 AS d FROM old_rows r")
    )
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {added};
    ELSIF TG_OP = 'DELETE' THEN
        {removed};
    ELSE
        {changed};
    END IF;
    RETURN NULL;
END
$$
"""


def _postgresql() -> None:
    contact_key = _contact_key("x").replace("x.", "")
    attempt_key = _attempt_key("x").replace("x.", "")
    op.execute(
        _pg_function(
            "ai_contact_counts_apply",
            "ai_contact_counts",
            _CONTACT_COLUMNS,
            contact_key,
            _CONTACT_PK,
        )
    )
    op.execute(
        _pg_function(
            "ai_attempt_counts_apply",
            "ai_attempt_counts",
            _ATTEMPT_COLUMNS,
            attempt_key,
            _ATTEMPT_PK,
        )
    )
    for table, function in (
        ("ai_contacts", "ai_contact_counts_apply"),
        ("ai_attempts", "ai_attempt_counts_apply"),
    ):
        op.execute(
            f"CREATE TRIGGER {table}_count_ins AFTER INSERT ON {table} "
            f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_count_upd AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_count_del AFTER DELETE ON {table} "
            f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    op.execute(
        """
CREATE FUNCTION ai_campaign_counts_drop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ai_contact_counts WHERE campaign_id = OLD.id;
    DELETE FROM ai_attempt_counts WHERE campaign_id = OLD.id;
    RETURN NULL;
END
$$
"""
    )
    op.execute(
        "CREATE TRIGGER ai_campaigns_count_drop AFTER DELETE ON ai_campaigns "
        "FOR EACH ROW EXECUTE FUNCTION ai_campaign_counts_drop()"
    )


def _sqlite_add(table: str, columns: str, pk: str, key: str, d: int) -> str:
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({key}, 0, {d}) "
        f"ON CONFLICT ({pk}) DO UPDATE SET n = n + ({d});"
    )


def _sqlite() -> None:
    for table, counts, columns, pk, key, watched in (
        (
            "ai_contacts",
            "ai_contact_counts",
            _CONTACT_COLUMNS,
            _CONTACT_PK,
            _contact_key,
            ("campaign_id", "status", "final_result", "positive", "refusal", "timezone"),
        ),
        (
            "ai_attempts",
            "ai_attempt_counts",
            _ATTEMPT_COLUMNS,
            _ATTEMPT_PK,
            _attempt_key,
            ("campaign_id", "channel", "state", "result"),
        ),
    ):
        new, old = key("NEW"), key("OLD")
        op.execute(
            f"CREATE TRIGGER {table}_count_ins AFTER INSERT ON {table} BEGIN "
            f"{_sqlite_add(counts, columns, pk, new, 1)} END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_count_del AFTER DELETE ON {table} BEGIN "
            f"{_sqlite_add(counts, columns, pk, old, -1)} END"
        )
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in watched)
        op.execute(
            f"CREATE TRIGGER {table}_count_upd AFTER UPDATE OF {', '.join(watched)} ON {table} "
            f"WHEN {changed} BEGIN "
            f"{_sqlite_add(counts, columns, pk, old, -1)} "
            f"{_sqlite_add(counts, columns, pk, new, 1)} END"
        )
    for event, row in (("DELETE", "OLD"), ("INSERT", "NEW")):
        op.execute(
            f"CREATE TRIGGER ai_campaigns_count_{event.lower()} AFTER {event} ON ai_campaigns "
            f"BEGIN DELETE FROM ai_contact_counts WHERE campaign_id = {row}.id; "
            f"DELETE FROM ai_attempt_counts WHERE campaign_id = {row}.id; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("ai_contacts", "ai_attempts"):
            for suffix in ("ins", "upd", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_count_{suffix} ON {table}")
        op.execute("DROP TRIGGER IF EXISTS ai_campaigns_count_drop ON ai_campaigns")
        for function in (
            "ai_contact_counts_apply",
            "ai_attempt_counts_apply",
            "ai_campaign_counts_drop",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for table in ("ai_contacts", "ai_attempts"):
            for suffix in ("ins", "upd", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_count_{suffix}")
        op.execute("DROP TRIGGER IF EXISTS ai_campaigns_count_delete")
        op.execute("DROP TRIGGER IF EXISTS ai_campaigns_count_insert")
    op.drop_table("ai_attempt_counts")
    op.drop_table("ai_contact_counts")
