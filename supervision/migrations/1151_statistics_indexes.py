"""Indexes the statistics read by (REQ-A10, REQ-T7): the queue calls of a
month or a year are found by ``calls.queue_entered_at`` (a range of UTC
bounds, see ``supervision.stats``).

Revision ID: 1151_statistics_indexes
Revises: 0501_call_node; its own branch "statistics"
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "1151_statistics_indexes"
down_revision: str | Sequence[str] | None = "0501_call_node"
branch_labels: str | Sequence[str] | None = ("statistics",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_calls_queue_entered_at", "calls", ["queue_entered_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_queue_entered_at", table_name="calls")
