"""Emergencies without an estimate, and overdue estimates (issue 16):
``outage_register.ends_at`` may be empty (an emergency whose restoration
time «уточняется»), and crm_bridge's ``outages`` rows get ``eta``, the
estimated restoration time of an emergency of the register (None: not
known), apart from ``ends_at``, which for an open emergency of the
register is :data:`crm_bridge.outages.OPEN_END` (active until restored).

Revision ID: 1203_outage_eta
Revises: 1202_outage_campaigns
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1203_outage_eta"
down_revision: str | Sequence[str] | None = "1202_outage_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outage_register") as batch_op:
        batch_op.alter_column("ends_at", existing_type=sa.DateTime(timezone=True), nullable=True)
    with op.batch_alter_table("outages") as batch_op:
        batch_op.add_column(sa.Column("eta", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outages") as batch_op:
        batch_op.drop_column("eta")
    op.execute(
        "UPDATE outage_register SET ends_at = starts_at + interval '1 day' WHERE ends_at IS NULL"
        if op.get_bind().dialect.name == "postgresql"
        else "UPDATE outage_register SET ends_at = datetime(starts_at, '+1 day') "
        "WHERE ends_at IS NULL"
    )
    with op.batch_alter_table("outage_register") as batch_op:
        batch_op.alter_column("ends_at", existing_type=sa.DateTime(timezone=True), nullable=False)
