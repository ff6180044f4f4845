"""Every change of a call row that a live page shows is announced to the
other nodes (issue 13 item 10): on PostgreSQL a trigger on ``calls`` sends
``NOTIFY hotline_calls`` with the call's key facts — no caller number — when
the row's transaction commits (:mod:`nodes.bridge` listens). On SQLite (one
node) nothing.

Revision ID: 1602_calls_notify
Revises: 1601_nodes
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "1602_calls_notify"
down_revision: str | Sequence[str] | None = "1601_nodes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION hotline_calls_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('hotline_calls', json_build_object(
        'uniqueid', NEW.uniqueid,
        'node', NEW.node,
        'direction', NEW.direction,
        'campaign_id', NEW.campaign_id,
        'queue', NEW.queue_name,
        'operator_id', NEW.operator_id,
        'waiting', NEW.queue_entered_at IS NOT NULL AND NEW.queue_left_at IS NULL
                   AND NEW.ended_at IS NULL,
        'ended', NEW.ended_at IS NOT NULL,
        'outcome', NEW.outcome
    )::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

TRIGGER = """
CREATE TRIGGER calls_notify
AFTER INSERT OR UPDATE OF queue_entered_at, queue_left_at, answered_at, ended_at,
    operator_id, outcome, node
ON calls FOR EACH ROW EXECUTE FUNCTION hotline_calls_notify()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS calls_notify ON calls")
    op.execute("DROP FUNCTION IF EXISTS hotline_calls_notify()")
