"""The outage register (issue 16): the register's outages, their history,
the API clients, the surge alerts; ``outages.register_id`` links crm_bridge's
scope rows to the register; indexes on ``accounts`` for resolving an
outage's addresses to accounts: ``(settlement_key, house_key)`` (a
settlement; a street's houses in one settlement by the ``house_key``
prefix), and ``house_key`` with ``text_pattern_ops`` on PostgreSQL (its
prefix range, byte-wise, in any locale).

Revision ID: 1201_outages
Revises: 0501_call_node; its own branch "outages"
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "1201_outages"
down_revision: str | Sequence[str] | None = "0501_call_node"
branch_labels: str | Sequence[str] | None = ("outages",)
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "outage_api_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outage_api_clients"),
        sa.UniqueConstraint("name", name="uq_outage_api_clients_name"),
        sa.UniqueConstraint("token_hash", name="uq_outage_api_clients_token_hash"),
    )
    op.create_table(
        "outage_register",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("addresses", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "client_id",
            sa.Integer(),
            sa.ForeignKey(
                "outage_api_clients.id",
                ondelete="SET NULL",
                name="fk_outage_register_client_id_outage_api_clients",
            ),
            nullable=True,
        ),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outage_register"),
        sa.UniqueConstraint("client_id", "external_id", name="uq_outage_register_client_external"),
    )
    op.create_index("ix_outage_register_status_ends", "outage_register", ["status", "ends_at"])
    op.create_table(
        "outage_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "outage_id",
            sa.Integer(),
            sa.ForeignKey(
                "outage_register.id",
                ondelete="CASCADE",
                name="fk_outage_history_outage_id_outage_register",
            ),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=96), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outage_history"),
    )
    op.create_index("ix_outage_history_outage_at", "outage_history", ["outage_id", "at"])
    op.create_table(
        "outage_surge_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("place_key", sa.String(length=300), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("addresses", JSON, nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outage_surge_alerts"),
    )
    op.create_index(
        "uq_outage_surge_alerts_open_place",
        "outage_surge_alerts",
        ["place_key"],
        unique=True,
        sqlite_where=sa.text("acknowledged_at IS NULL"),
        postgresql_where=sa.text("acknowledged_at IS NULL"),
    )
    with op.batch_alter_table("outages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("register_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_outages_register_id", ["register_id"], unique=False)
    op.create_index(
        "ix_accounts_settlement_house",
        "accounts",
        ["settlement_key", "house_key"],
        postgresql_ops={"house_key": "text_pattern_ops"},
    )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_accounts_house_key", table_name="accounts")
        op.create_index(
            "ix_accounts_house_key",
            "accounts",
            ["house_key"],
            postgresql_ops={"house_key": "text_pattern_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_accounts_house_key", table_name="accounts")
        op.create_index("ix_accounts_house_key", "accounts", ["house_key"])
    op.drop_index("ix_accounts_settlement_house", table_name="accounts")
    with op.batch_alter_table("outages", schema=None) as batch_op:
        batch_op.drop_index("ix_outages_register_id")
        batch_op.drop_column("register_id")
    op.drop_index("uq_outage_surge_alerts_open_place", table_name="outage_surge_alerts")
    op.drop_table("outage_surge_alerts")
    op.drop_index("ix_outage_history_outage_at", table_name="outage_history")
    op.drop_table("outage_history")
    op.drop_index("ix_outage_register_status_ends", table_name="outage_register")
    op.drop_table("outage_register")
    op.drop_table("outage_api_clients")
