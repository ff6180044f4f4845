"""Covering indexes of the statistics (REQ-A10, REQ-T7; ``supervision.stats``).

A year of a busy centre is a million calls, hundreds of thousands of appeals
and millions of presence intervals. The statistics read each bucket (a month
or a day) as an index range, and every column they read is in the index, so
neither database visits the table rows:

* ``calls (queue_entered_at, operator_id, outcome, answered_within_sla,
  wait_seconds, queue_left_at, ended_at)`` — the queue figures;
* ``calls (started_at, direction)`` — inbound and outbound counts;
* ``appeals (received_at, channel, kind, classification,
  complaint_category)`` — appeals by channel, kind and topic;
* ``presence_intervals (state, operator_id, reason, started_at, ended_at)`` —
  talk, wrap-up and pause time, read in the order they are grouped by (SQLite
  has no hash aggregation: a sort of millions of intervals would cost more
  than reading the other states' entries of older periods).

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

INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    (
        "ix_calls_stats_queue",
        "calls",
        [
            "queue_entered_at",
            "operator_id",
            "outcome",
            "answered_within_sla",
            "wait_seconds",
            "queue_left_at",
            "ended_at",
        ],
    ),
    ("ix_calls_stats_started", "calls", ["started_at", "direction"]),
    (
        "ix_appeals_stats",
        "appeals",
        ["received_at", "channel", "kind", "classification", "complaint_category"],
    ),
    (
        "ix_presence_intervals_stats",
        "presence_intervals",
        ["state", "operator_id", "reason", "started_at", "ended_at"],
    ),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
