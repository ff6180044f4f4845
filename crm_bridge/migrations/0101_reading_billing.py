"""Billing side of meter readings (REQ-T14): when a reading counts and its
exactly-once hand-over to billing (``crm_bridge.readings.ReadingBilling``).

Revision ID: 0101_reading_billing
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0101_reading_billing"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reading_billing",
        sa.Column("reading_id", sa.Integer(), nullable=False),
        sa.Column("counts_from", sa.Date(), nullable=False),
        sa.Column("in_period", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("consumption", sa.Numeric(precision=14, scale=3), nullable=True),
        sa.Column("export_batch", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reading_id"],
            ["readings.id"],
            name=op.f("fk_reading_billing_reading_id_readings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reading_id", name=op.f("pk_reading_billing")),
    )
    with op.batch_alter_table("reading_billing", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reading_billing_export_batch"), ["export_batch"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reading_billing_exported_at"), ["exported_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reading_billing", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reading_billing_exported_at"))
        batch_op.drop_index(batch_op.f("ix_reading_billing_export_batch"))
    op.drop_table("reading_billing")
