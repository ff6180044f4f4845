"""Autoinformer: covering indexes for the campaign monitor (REQ-O3) — its
counts of a campaign of 100 000 contacts (by state, result, reason held
back, time zone; attempts by result) are read from an index alone
(bench/monitor_latency.py). Model: ``autoinformer.models``.

Revision ID: 0606_campaign_monitor_indexes
Revises: 0605_campaign_approval
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0606_campaign_monitor_indexes"
down_revision: str | Sequence[str] | None = "0605_campaign_approval"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_ai_contacts_counts",
        "ai_contacts",
        ["campaign_id", "status", "final_result", "positive"],
    )
    op.create_index(
        "ix_ai_contacts_outlook",
        "ai_contacts",
        ["campaign_id", "status", "next_at", "refusal", "timezone"],
    )
    op.create_index(
        "ix_ai_attempts_monitor",
        "ai_attempts",
        ["campaign_id", "channel", "state", "result", "ended_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_ai_attempts_monitor", table_name="ai_attempts")
    op.drop_index("ix_ai_contacts_outlook", table_name="ai_contacts")
    op.drop_index("ix_ai_contacts_counts", table_name="ai_contacts")
