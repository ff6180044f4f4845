"""The appeal's life (issue 14): the REQ-A12 measures term, in whose favour
it was decided and the reasoned refusal (REQ-A3 column 11, REQ-A6).

Revision ID: 0601_appeal_life
Revises: 0501_call_node
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0601_appeal_life"
down_revision: str | Sequence[str] | None = "0501_call_node"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("measures_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decision", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("refusal_reason", sa.Text(), nullable=True))
        batch.create_index(batch.f("ix_appeals_measures_due_at"), ["measures_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.drop_index(batch.f("ix_appeals_measures_due_at"))
        batch.drop_column("refusal_reason")
        batch.drop_column("decision")
        batch.drop_column("measures_due_at")
