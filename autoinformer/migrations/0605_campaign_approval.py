"""Autoinformer: approval as a workflow (REQ-O10) — a campaign is sent for
approval (``submitted``, на утверждении) and approved or returned to draft
with a reason. Model: ``autoinformer.models.Campaign``.

The state set grows by ``submitted`` (a value of the existing ``status``
string column); the new columns say who submitted it and when, and who
returned it, when and why.

Revision ID: 0605_campaign_approval
Revises: 0603_campaign_answers
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0605_campaign_approval"
down_revision: str | Sequence[str] | None = "0603_campaign_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("submitted_by", sa.String(length=64)),
    ("submitted_at", sa.DateTime(timezone=True)),
    ("refused_by", sa.String(length=64)),
    ("refused_at", sa.DateTime(timezone=True)),
    ("refusal_reason", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("ai_campaigns") as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # A campaign awaiting approval becomes a draft again: the older code
    # knows no such state.
    op.execute("UPDATE ai_campaigns SET status = 'draft' WHERE status = 'submitted'")
    with op.batch_alter_table("ai_campaigns") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
