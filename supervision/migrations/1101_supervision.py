"""The appeal's life (issue 14): the per-appeal history, the outbox of
notices to the customer (REQ-A7, A9, A11) and the days the digest was sent.

Revision ID: 1101_supervision
Revises: 0501_call_node; its own branch "supervision"
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "1101_supervision"
down_revision: str | Sequence[str] | None = "0501_call_node"
branch_labels: str | Sequence[str] | None = ("supervision",)
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "appeal_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "appeal_id",
            sa.Integer(),
            sa.ForeignKey(
                "appeals.id", ondelete="CASCADE", name="fk_appeal_events_appeal_id_appeals"
            ),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "operator_id",
            sa.Integer(),
            sa.ForeignKey(
                "operators.id", ondelete="SET NULL", name="fk_appeal_events_operator_id_operators"
            ),
            nullable=True,
        ),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_appeal_events"),
    )
    op.create_index("ix_appeal_events_appeal_at", "appeal_events", ["appeal_id", "at"])
    op.create_table(
        "appeal_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "appeal_id",
            sa.Integer(),
            sa.ForeignKey(
                "appeals.id", ondelete="CASCADE", name="fk_appeal_notices_appeal_id_appeals"
            ),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dedup", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.SmallInteger(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_appeal_notices"),
        sa.UniqueConstraint(
            "appeal_id", "kind", "dedup", name="uq_appeal_notices_appeal_id_kind_dedup"
        ),
    )
    op.create_index("ix_appeal_notices_status_next", "appeal_notices", ["status", "next_try_at"])
    op.create_table(
        "digest_runs",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recipients", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_digest_runs"),
    )
    # Registration notices (REQ-A11) go to appeals registered from now on,
    # never to the whole back catalogue: the watermark is the newest appeal.
    op.execute(
        "INSERT INTO counters (name, value) "
        "SELECT 'appeal_notices_from', COALESCE(MAX(id), 0) FROM appeals"
    )


def downgrade() -> None:
    op.execute("DELETE FROM counters WHERE name = 'appeal_notices_from'")
    op.drop_table("digest_runs")
    op.drop_index("ix_appeal_notices_status_next", table_name="appeal_notices")
    op.drop_table("appeal_notices")
    op.drop_index("ix_appeal_events_appeal_at", table_name="appeal_events")
    op.drop_table("appeal_events")
