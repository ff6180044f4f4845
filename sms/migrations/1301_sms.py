"""The SMS channel (issue 18): every text message in and out with its
delivery state.

Revision ID: 1301_sms
Revises: 1101_supervision (an SMS may carry an appeal notice of its
``appeal_notices``); its own branch "sms"
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1301_sms"
down_revision: str | Sequence[str] | None = "1101_supervision"
branch_labels: str | Sequence[str] | None = ("sms",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("peer", sa.String(length=32), nullable=False),
        sa.Column("service_number", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("parts", sa.SmallInteger(), nullable=False),
        sa.Column("coding", sa.SmallInteger(), nullable=False),
        sa.Column("gateway_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("content_key", sa.String(length=128), nullable=True),
        sa.Column(
            "reply_to_id",
            sa.Integer(),
            sa.ForeignKey(
                "sms_messages.id",
                ondelete="SET NULL",
                name="fk_sms_messages_reply_to_id_sms_messages",
            ),
            nullable=True,
        ),
        sa.Column(
            "appeal_id",
            sa.Integer(),
            sa.ForeignKey(
                "appeals.id", ondelete="SET NULL", name="fk_sms_messages_appeal_id_appeals"
            ),
            nullable=True,
        ),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey(
                "accounts.id", ondelete="SET NULL", name="fk_sms_messages_account_id_accounts"
            ),
            nullable=True,
        ),
        sa.Column(
            "notice_id",
            sa.Integer(),
            sa.ForeignKey(
                "appeal_notices.id",
                ondelete="SET NULL",
                name="fk_sms_messages_notice_id_appeal_notices",
            ),
            nullable=True,
        ),
        sa.Column("tries", sa.SmallInteger(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report_type", sa.SmallInteger(), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sms_messages"),
        sa.UniqueConstraint("gateway_id", name="uq_sms_messages_gateway_id"),
    )
    op.create_index("ix_sms_messages_state_next", "sms_messages", ["state", "next_try_at"])
    op.create_index("ix_sms_messages_peer_created", "sms_messages", ["peer", "created_at"])
    op.create_index("ix_sms_messages_appeal_id", "sms_messages", ["appeal_id"])
    op.create_index("ix_sms_messages_notice_id", "sms_messages", ["notice_id"])


def downgrade() -> None:
    op.drop_table("sms_messages")
