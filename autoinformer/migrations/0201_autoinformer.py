"""Autoinformer: campaigns, contacts, attempts, do-not-call list, imports
(REQ-O1–O4, O8, O10, O11). Models: ``autoinformer.models``.

Revision ID: 0201_autoinformer
Revises: 0101_reading_billing
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)

revision: str = "0201_autoinformer"
# Chained after the readings revision so that the tree keeps one head while
# Database.upgrade() still upgrades to "head".
down_revision: str | Sequence[str] | None = "0101_reading_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ai_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scenario", JSON_TYPE, nullable=False),
        sa.Column("start_at", TS, nullable=True),
        sa.Column("end_at", TS, nullable=True),
        sa.Column("caps_230fz", sa.Boolean(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_delays", JSON_TYPE, nullable=False),
        sa.Column("amd", sa.String(length=16), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=True),
        sa.Column("ring_timeout", sa.Integer(), nullable=False),
        sa.Column("pinned_node", sa.String(length=64), nullable=True),
        sa.Column("outage_start", TS, nullable=True),
        sa.Column("outage_end", TS, nullable=True),
        sa.Column("outage_decided_at", TS, nullable=True),
        sa.Column("outage_notice", sa.String(length=16), nullable=False),
        sa.Column("email_subject", sa.String(length=255), nullable=True),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", TS, nullable=True),
        sa.Column("launched_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_campaigns")),
    )
    op.create_index(op.f("ix_ai_campaigns_status"), "ai_campaigns", ["status"])
    op.create_table(
        "ai_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=8), nullable=True),
        sa.Column("variables", JSON_TYPE, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", TS, nullable=True),
        sa.Column("final_result", sa.String(length=16), nullable=True),
        sa.Column("positive", sa.Boolean(), nullable=False),
        sa.Column("refusal", sa.String(length=64), nullable=True),
        sa.Column("email_status", sa.String(length=16), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_ai_contacts_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["ai_campaigns.id"],
            name=op.f("fk_ai_contacts_campaign_id_ai_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_contacts")),
        sa.UniqueConstraint("campaign_id", "phone", name=op.f("uq_ai_contacts_campaign_id_phone")),
    )
    op.create_index(op.f("ix_ai_contacts_account_id"), "ai_contacts", ["account_id"])
    op.create_index("ix_ai_contacts_claim", "ai_contacts", ["campaign_id", "status", "next_at"])
    op.create_table(
        "ai_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("action_id", sa.String(length=96), nullable=True),
        sa.Column("channel_id", sa.String(length=96), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("positive", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("originate_reason", sa.Integer(), nullable=True),
        sa.Column("hangup_cause", sa.String(length=8), nullable=True),
        sa.Column("amd_status", sa.String(length=16), nullable=True),
        sa.Column("flow_state", sa.String(length=16), nullable=True),
        sa.Column("hangup_second", sa.Float(), nullable=True),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["ai_campaigns.id"],
            name=op.f("fk_ai_attempts_campaign_id_ai_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["ai_contacts.id"],
            name=op.f("fk_ai_attempts_contact_id_ai_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_attempts")),
        sa.UniqueConstraint("action_id", name=op.f("uq_ai_attempts_action_id")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_ai_attempts_channel_id")),
        sa.UniqueConstraint(
            "contact_id",
            "attempt_no",
            "channel",
            name=op.f("uq_ai_attempts_contact_id_attempt_no_channel"),
        ),
    )
    op.create_index(op.f("ix_ai_attempts_campaign_id"), "ai_attempts", ["campaign_id"])
    op.create_index(op.f("ix_ai_attempts_account_id"), "ai_attempts", ["account_id"])
    op.create_index(op.f("ix_ai_attempts_result"), "ai_attempts", ["result"])
    op.create_index(op.f("ix_ai_attempts_ended_at"), "ai_attempts", ["ended_at"])
    op.create_index("ix_ai_attempts_open", "ai_attempts", ["state", "node"])
    op.create_table(
        "ai_do_not_call",
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("added_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_ai_do_not_call")),
    )
    op.create_table(
        "ai_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("report", JSON_TYPE, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["ai_campaigns.id"],
            name=op.f("fk_ai_imports_campaign_id_ai_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_imports")),
    )
    op.create_index(op.f("ix_ai_imports_campaign_id"), "ai_imports", ["campaign_id"])


def downgrade() -> None:
    op.drop_table("ai_imports")
    op.drop_table("ai_do_not_call")
    op.drop_table("ai_attempts")
    op.drop_table("ai_contacts")
    op.drop_table("ai_campaigns")
