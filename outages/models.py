"""Tables of the outage register (issue 16). They share crm_bridge's ``Base``
(one database, REQ-T15); the affected addresses stay in crm_bridge's
``outages`` table (one row per scope, :class:`crm_bridge.outages.Outage`,
linked by ``register_id``), which the IVR and the autoinformer read."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.db import Base, UtcDateTime, utcnow
from crm_bridge.outages import OutageKind

__all__ = [
    "ApiClient",
    "OutageCampaign",
    "OutageEntry",
    "OutageHistory",
    "OutageStatus",
    "SurgeAlert",
]

JSONType = JSON().with_variant(JSONB(), "postgresql")


class OutageStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    RESTORED = "restored"
    CANCELLED = "cancelled"


def _enum(cls: type[enum.Enum], name: str) -> SAEnum:
    return SAEnum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        validate_strings=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class OutageEntry(Base):
    """One outage of the register: what the dispatcher (or the grid company's
    system) entered. Its addresses are the ``outages`` rows with its id."""

    __tablename__ = "outage_register"
    __table_args__ = (
        UniqueConstraint("client_id", "external_id", name="uq_outage_register_client_external"),
        Index("ix_outage_register_status_ends", "status", "ends_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OutageKind] = mapped_column(_enum(OutageKind, "outage_kind"))
    status: Mapped[OutageStatus] = mapped_column(_enum(OutageStatus, "outage_status"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The planned end, or an emergency's estimated restoration time (None:
    «уточняется», emergencies only)."""
    restored_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """When the outage was decided (REQ-O9: households told within 3 days of it)."""
    reason: Mapped[str] = mapped_column(Text, default="")
    addresses: Mapped[str] = mapped_column(Text, default="")
    """The address lines as entered, one per line."""
    source: Mapped[str] = mapped_column(String(16), default="page")
    """``page``, ``import`` or ``api``."""
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("outage_api_clients.id", ondelete="SET NULL")
    )
    external_id: Mapped[str | None] = mapped_column(String(128))
    """The API client's own id of the outage (idempotent updates)."""
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OutageHistory(Base):
    """Every change of an outage: created, status, estimated restoration moved."""

    __tablename__ = "outage_history"
    __table_args__ = (Index("ix_outage_history_outage_at", "outage_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outage_register.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(96), default="")
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ApiClient(Base):
    """A system allowed to use the outage API (the grid company's dispatch
    system): its token is kept only as a SHA-256 hash."""

    __tablename__ = "outage_api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SurgeAlert(Base):
    """A burst of calls from one place with no registered outage there;
    one open alert per place until a dispatcher acknowledges it."""

    __tablename__ = "outage_surge_alerts"
    __table_args__ = (
        Index(
            "uq_outage_surge_alerts_open_place",
            "place_key",
            unique=True,
            sqlite_where=text("acknowledged_at IS NULL"),
            postgresql_where=text("acknowledged_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    place_key: Mapped[str] = mapped_column(String(300))
    """``street:<settlement>|<street>``, ``settlement:<name>`` or ``region``."""
    place: Mapped[str] = mapped_column(String(300))
    """The place for people (Russian)."""
    calls: Mapped[int] = mapped_column(Integer)
    addresses: Mapped[list[str]] = mapped_column(JSONType, default=list)
    """The callers' addresses (houses, no flats) for the dispatcher."""
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    emailed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class OutageCampaign(Base):
    """The autoinformer campaign made from a planned outage to announce it
    (issue 16 item 6; one per outage). ``campaign_id`` is the campaign's id
    (no foreign key: the outages' migrations need nothing of the autoinformer's)."""

    __tablename__ = "outage_campaigns"

    outage_id: Mapped[int] = mapped_column(
        ForeignKey("outage_register.id", ondelete="CASCADE"), primary_key=True
    )
    campaign_id: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
