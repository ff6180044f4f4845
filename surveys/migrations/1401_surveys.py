"""Customer surveys (REQ-A13): the answers of the CSI/NPS survey.

Revision ID: 1401_surveys
Revises: 0501_call_node; its own branch "surveys"
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1401_surveys"
down_revision: str | Sequence[str] | None = "0501_call_node"
branch_labels: str | Sequence[str] | None = ("surveys",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("call_uniqueid", sa.String(length=96), nullable=False),
        sa.Column(
            "call_id",
            sa.Integer(),
            sa.ForeignKey(
                "calls.id", ondelete="SET NULL", name="fk_survey_responses_call_id_calls"
            ),
            nullable=True,
        ),
        sa.Column(
            "operator_id",
            sa.Integer(),
            sa.ForeignKey(
                "operators.id",
                ondelete="SET NULL",
                name="fk_survey_responses_operator_id_operators",
            ),
            nullable=True,
        ),
        sa.Column("topic", sa.String(length=16), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("csi", sa.SmallInteger(), nullable=True),
        sa.Column("nps", sa.SmallInteger(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_survey_responses"),
        sa.UniqueConstraint(
            "call_uniqueid", "source", name="uq_survey_responses_call_uniqueid_source"
        ),
    )
    op.create_index("ix_survey_responses_offered", "survey_responses", ["offered_at"])
    op.create_index("ix_survey_responses_call_id", "survey_responses", ["call_id"])
    op.create_index("ix_survey_responses_operator_id", "survey_responses", ["operator_id"])


def downgrade() -> None:
    op.drop_table("survey_responses")
