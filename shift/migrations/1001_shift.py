"""The shift: presence intervals and the operators' SIP credentials.

Revision ID: 1001_shift
Revises: 0001 (the initial schema: the operators table); its own branch "shift"
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1001_shift"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("shift",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "presence_intervals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "operator_id",
            sa.Integer(),
            sa.ForeignKey(
                "operators.id",
                ondelete="CASCADE",
                name="fk_presence_intervals_operator_id_operators",
            ),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_presence_intervals"),
    )
    op.create_index(
        "ix_presence_intervals_operator_started",
        "presence_intervals",
        ["operator_id", "started_at"],
    )
    op.create_index("ix_presence_intervals_ended_at", "presence_intervals", ["ended_at"])
    op.create_table(
        "sip_credentials",
        sa.Column(
            "operator_id",
            sa.Integer(),
            sa.ForeignKey(
                "operators.id", ondelete="CASCADE", name="fk_sip_credentials_operator_id_operators"
            ),
            nullable=False,
        ),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("password_digest", sa.String(length=160), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("operator_id", name="pk_sip_credentials"),
        sa.UniqueConstraint("endpoint", name="uq_sip_credentials_endpoint"),
    )


def downgrade() -> None:
    op.drop_table("sip_credentials")
    op.drop_index("ix_presence_intervals_ended_at", table_name="presence_intervals")
    op.drop_index("ix_presence_intervals_operator_started", table_name="presence_intervals")
    op.drop_table("presence_intervals")
