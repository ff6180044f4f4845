"""Planned and emergency outages (crm_bridge.outages; the hotline menu item 2,
the autoinformer's outage campaigns, REQ-O9).

Revision ID: 0301_outages
Revises: 0201_autoinformer
Create Date: 2026-11-22

Chained after ``0201_autoinformer`` (later revisions chain after this one),
so the history stays linear; the table depends on nothing of that revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0301_outages"
down_revision: str | Sequence[str] | None = "0201_autoinformer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settlement_key", sa.String(length=128), nullable=True),
        sa.Column("street_key", sa.String(length=128), nullable=True),
        sa.Column("house_from", sa.Integer(), nullable=True),
        sa.Column("house_to", sa.Integer(), nullable=True),
        sa.Column("house_key", sa.String(length=255), nullable=True),
        sa.Column("address_text", sa.String(length=512), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outages")),
    )
    with op.batch_alter_table("outages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outages_ends_at_starts_at", ["ends_at", "starts_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outages_settlement_key"), ["settlement_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outages_street_key"), ["street_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_outages_house_key"), ["house_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outages_house_key"))
        batch_op.drop_index(batch_op.f("ix_outages_street_key"))
        batch_op.drop_index(batch_op.f("ix_outages_settlement_key"))
        batch_op.drop_index("ix_outages_ends_at_starts_at")
    op.drop_table("outages")
