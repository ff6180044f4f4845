"""The nodes' heartbeats (issue 13 item 9: a node that dies and stays down).

Revision ID: 1601_nodes
Revises: 0501_call_node; its own branch "nodes"
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1601_nodes"
down_revision: str | Sequence[str] | None = "0501_call_node"
branch_labels: str | Sequence[str] | None = ("nodes",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "node_heartbeats",
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("taken_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("taken_over_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_node_heartbeats")),
    )
    op.create_index(op.f("ix_node_heartbeats_beat_at"), "node_heartbeats", ["beat_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_node_heartbeats_beat_at"), table_name="node_heartbeats")
    op.drop_table("node_heartbeats")
