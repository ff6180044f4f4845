"""The notice campaign made from an outage of the register (issue 16 item 6):
``outage_campaigns`` links an outage to the autoinformer campaign that
announces it (one per outage; the campaign's id without a foreign key, so
that this branch needs nothing of the autoinformer's).

Revision ID: 1202_outage_campaigns
Revises: 1201_outages
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1202_outage_campaigns"
down_revision: str | Sequence[str] | None = "1201_outages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outage_campaigns",
        sa.Column("outage_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outage_id"],
            ["outage_register.id"],
            ondelete="CASCADE",
            name="fk_outage_campaigns_outage_id_outage_register",
        ),
        sa.PrimaryKeyConstraint("outage_id", name="pk_outage_campaigns"),
    )


def downgrade() -> None:
    op.drop_table("outage_campaigns")
