"""Visits to customer offices (REQ-T11): the offices with their hours and
days off, the visits (a booked visit holds a seat of its slot: the partial
unique index ``uq_visits_seat`` refuses double booking), their history and
the confirmations and reminders sent to the customer.

Revision ID: 1501_visits
Revises: 0601_appeal_life; its own branch "visits"
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "1501_visits"
down_revision: str | Sequence[str] | None = "0601_appeal_life"
branch_labels: str | Sequence[str] | None = ("visits",)
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "visit_offices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=512), nullable=False),
        sa.Column("settlement", sa.String(length=128), nullable=False),
        sa.Column("settlement_key", sa.String(length=128), nullable=False),
        sa.Column("spoken", sa.Text(), nullable=False),
        sa.Column("hours", JSON, nullable=False),
        sa.Column("slot_minutes", sa.SmallInteger(), nullable=False),
        sa.Column("capacity", sa.SmallInteger(), nullable=False),
        sa.Column("horizon_days", sa.SmallInteger(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_visit_offices"),
    )
    op.create_index(
        "ix_visit_offices_settlement_key", "visit_offices", ["settlement_key"], unique=False
    )
    op.create_table(
        "visit_office_days_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["visit_offices.id"],
            name="fk_visit_office_days_off_office_id_visit_offices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_visit_office_days_off"),
        sa.UniqueConstraint("office_id", "day", name="uq_visit_office_days_off_day"),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("seat", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("booked_by", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("notify_channel", sa.String(length=8), nullable=False),
        sa.Column("notify_contact", sa.String(length=255), nullable=True),
        sa.Column("call_uniqueid", sa.String(length=64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_visits_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["visit_offices.id"],
            name="fk_visits_office_id_visit_offices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_visits"),
    )
    op.create_index(
        "uq_visits_seat",
        "visits",
        ["office_id", "starts_at", "seat"],
        unique=True,
        sqlite_where=sa.text("status = 'booked'"),
        postgresql_where=sa.text("status = 'booked'"),
    )
    op.create_index("ix_visits_account", "visits", ["account_id", "status"])
    op.create_index("ix_visits_office_day", "visits", ["office_id", "starts_at"])
    op.create_table(
        "visit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name="fk_visit_events_visit_id_visits",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_visit_events"),
    )
    op.create_index("ix_visit_events_visit_id", "visit_events", ["visit_id"], unique=False)
    op.create_table(
        "visit_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("slot_at", TS, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("contact", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.SmallInteger(), nullable=False),
        sa.Column("next_try_at", TS, nullable=False),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("sms_message_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name="fk_visit_notices_visit_id_visits",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_visit_notices"),
        sa.UniqueConstraint("visit_id", "kind", "slot_at", name="uq_visit_notices_once"),
    )
    op.create_index("ix_visit_notices_due", "visit_notices", ["state", "next_try_at"])


def downgrade() -> None:
    op.drop_index("ix_visit_notices_due", table_name="visit_notices")
    op.drop_table("visit_notices")
    op.drop_index("ix_visit_events_visit_id", table_name="visit_events")
    op.drop_table("visit_events")
    op.drop_index("ix_visits_office_day", table_name="visits")
    op.drop_index("ix_visits_account", table_name="visits")
    op.drop_index("uq_visits_seat", table_name="visits")
    op.drop_table("visits")
    op.drop_table("visit_office_days_off")
    op.drop_index("ix_visit_offices_settlement_key", table_name="visit_offices")
    op.drop_table("visit_offices")
