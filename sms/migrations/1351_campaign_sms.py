"""SMS as a channel of the autoinformer's campaigns (issue 18 item 3, REQ-O12):
the customer's chosen form of notification (``accounts.notify_by``), a
campaign's ordered channels (``ai_campaigns.channels``), the channel a
contact is tried on and those left (``ai_contacts.channel``,
``channels_left``), and the campaign attempt an SMS carries
(``sms_messages.attempt_id``). Models: ``crm_bridge.models``,
``autoinformer.models``, ``sms.models``.

Revision ID: 1351_campaign_sms
Revises: 1301_sms, 0606_campaign_monitor_indexes (a merge of the two branches)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1351_campaign_sms"
down_revision: str | Sequence[str] | None = ("1301_sms", "0606_campaign_monitor_indexes")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("notify_by", sa.String(length=8), nullable=True))
    with op.batch_alter_table("ai_campaigns") as batch:
        batch.add_column(sa.Column("channels", sa.String(length=32), nullable=True))
    with op.batch_alter_table("ai_contacts") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=8), nullable=True, server_default="phone")
        )
        batch.add_column(sa.Column("channels_left", sa.String(length=32), nullable=True))
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("attempt_id", sa.Integer(), nullable=True))
    op.create_index("ix_sms_messages_attempt_id", "sms_messages", ["attempt_id"])


def downgrade() -> None:
    op.drop_index("ix_sms_messages_attempt_id", table_name="sms_messages")
    with op.batch_alter_table("sms_messages") as batch:
        batch.drop_column("attempt_id")
    with op.batch_alter_table("ai_contacts") as batch:
        batch.drop_column("channels_left")
        batch.drop_column("channel")
    with op.batch_alter_table("ai_campaigns") as batch:
        batch.drop_column("channels")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("notify_by")
