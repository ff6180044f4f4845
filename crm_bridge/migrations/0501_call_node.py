"""The Asterisk node that follows each call (calls.node): after an AMI
reconnect a node's listener closes only its own node's open calls.

Revision ID: 0501_call_node
Revises: 0401_webhook_outbox
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0501_call_node"
down_revision: str | Sequence[str] | None = "0401_webhook_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("node", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_calls_node"), ["node"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index(batch.f("ix_calls_node"))
        batch.drop_column("node")
