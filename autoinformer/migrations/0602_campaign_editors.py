"""Autoinformer: who created or changed each campaign (REQ-O10, four eyes:
none of them may approve it). Model: ``autoinformer.models.CampaignEditor``.

Campaigns created before this revision get their ``created_by`` as editor.

Revision ID: 0602_campaign_editors
Revises: 0601_web_edge
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0602_campaign_editors"
down_revision: str | Sequence[str] | None = "0601_web_edge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ai_campaign_editors",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["ai_campaigns.id"],
            name=op.f("fk_ai_campaign_editors_campaign_id_ai_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "login", name=op.f("pk_ai_campaign_editors")),
    )
    op.execute(
        "INSERT INTO ai_campaign_editors (campaign_id, login, first_at) "
        "SELECT id, created_by, created_at FROM ai_campaigns WHERE created_by IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("ai_campaign_editors")
