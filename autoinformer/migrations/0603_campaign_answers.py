"""Autoinformer's message builder: the callee's answers to its questions
(``ai_attempts.answers``: question name → key) and the recordings the
dispatcher uploads (``ai_recordings``, kept in the database for every node).

Revision ID: 0603_campaign_answers
Revises: 0602_campaign_editors
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0603_campaign_answers"
down_revision: str | Sequence[str] | None = "0602_campaign_editors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("ai_attempts") as batch:
        batch.add_column(sa.Column("answers", JSON, nullable=True))
    op.create_table(
        "ai_recordings",
        sa.Column("prompt_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("wav", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["ai_campaigns.id"],
            name="fk_ai_recordings_campaign_id_ai_campaigns",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prompt_id", name="pk_ai_recordings"),
    )
    op.create_index("ix_ai_recordings_campaign_id", "ai_recordings", ["campaign_id"])


def downgrade() -> None:
    op.drop_table("ai_recordings")
    with op.batch_alter_table("ai_attempts") as batch:
        batch.drop_column("answers")
