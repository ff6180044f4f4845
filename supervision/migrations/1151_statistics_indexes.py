"""Indexes the statistics read by (REQ-A10, REQ-T7; ``supervision.stats``):

* ``calls.queue_entered_at`` — the queue calls of a month or a year are a
  range of UTC bounds;
* ``presence_intervals (state, started_at, ended_at, operator_id, reason)`` —
  talk, wrap-up and pause time of a period is read from this index alone
  (a covering index: a year of a busy centre is millions of intervals).

Revision ID: 1151_statistics_indexes
Revises: 0501_call_node and 1001_shift (the shift's presence_intervals);
its own branch "statistics". A merge point rather than ``depends_on =
("1001_shift",)``: with a dependency, the database's recorded heads lose
1001_shift while the script directory still lists it as a head
(tests/crm/test_db.py compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "1151_statistics_indexes"
down_revision: str | Sequence[str] | None = ("0501_call_node", "1001_shift")
branch_labels: str | Sequence[str] | None = ("statistics",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_calls_queue_entered_at", "calls", ["queue_entered_at"])
    op.create_index(
        "ix_presence_intervals_stats",
        "presence_intervals",
        ["state", "started_at", "ended_at", "operator_id", "reason"],
    )


def downgrade() -> None:
    op.drop_index("ix_presence_intervals_stats", table_name="presence_intervals")
    op.drop_index("ix_calls_queue_entered_at", table_name="calls")
