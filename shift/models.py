"""The shift's tables: presence intervals (who, state, reason, from, to) and
the operators' SIP credentials (a digest, never the password)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.db import Base, UtcDateTime, utcnow


class PresenceInterval(Base):
    """One operator's state from ``started_at`` to ``ended_at`` (open: now)."""

    __tablename__ = "presence_intervals"
    __table_args__ = (
        Index("ix_presence_intervals_operator_started", "operator_id", "started_at"),
        # The statistics' covering index (supervision 1151_statistics_indexes).
        Index(
            "ix_presence_intervals_stats",
            "state",
            "operator_id",
            "reason",
            "started_at",
            "ended_at",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    """``ready``, ``paused``, ``talking``, ``wrapup`` (``shift.presence.State``)."""
    reason: Mapped[str | None] = mapped_column(String(32))
    """The pause's reason (``shift.presence.PauseReason``)."""
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    node: Mapped[str | None] = mapped_column(String(64))


class SipCredential(Base):
    """An operator's phone: the PJSIP endpoint and the password's digest
    (``MD5:`` of ``endpoint:realm:password``, as PJSIP's ``password_digest``
    takes it); the password itself is shown once and never stored."""

    __tablename__ = "sip_credentials"

    operator_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    endpoint: Mapped[str] = mapped_column(String(64), unique=True)
    password_digest: Mapped[str] = mapped_column(String(160))
    queue: Mapped[str | None] = mapped_column(String(64))
    """The queue this person serves (None: the operators' first line)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
