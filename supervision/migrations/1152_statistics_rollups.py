"""The statistics' monthly rollups (``stats_rollups``; ``supervision.stats``):
a closed month's grouped rows of the queue, call-start and presence queries,
kept so that a year's figures read twelve rows per query instead of a year
of calls and presence intervals.

Revision ID: 1152_statistics_rollups
Revises: 1151_statistics_indexes (branch "statistics")
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "1152_statistics_rollups"
down_revision: str | Sequence[str] | None = "1151_statistics_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "stats_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("month_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("columns", JSON, nullable=False),
        sa.Column("rows", JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stats_rollups"),
        sa.UniqueConstraint("kind", "zone", "month_start", name="uq_stats_rollups"),
    )


def downgrade() -> None:
    op.drop_table("stats_rollups")
