"""Interrupted calls (issue 13, item 3): the appeals reconstructed afterwards.

Revision ID: 1701_faults
Revises: 0501_call_node; its own branch "faults"
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "1701_faults"
down_revision: str | Sequence[str] | None = "0501_call_node"
branch_labels: str | Sequence[str] | None = ("faults",)
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "reconstructed_appeals",
        sa.Column(
            "appeal_id",
            sa.Integer(),
            sa.ForeignKey(
                "appeals.id",
                ondelete="CASCADE",
                name="fk_reconstructed_appeals_appeal_id_appeals",
            ),
            nullable=False,
        ),
        sa.Column("call_uniqueid", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("reconstructed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sources", JSON, nullable=False),
        sa.PrimaryKeyConstraint("appeal_id", name="pk_reconstructed_appeals"),
        sa.UniqueConstraint("call_uniqueid", name="uq_reconstructed_appeals_call_uniqueid"),
    )


def downgrade() -> None:
    op.drop_table("reconstructed_appeals")
