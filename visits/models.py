"""Tables of the visits slice (REQ-T11): customer offices, their days off,
the visits booked to them and the confirmations/reminders sent. They share
crm_bridge's ``Base`` (one database, REQ-T15).

Double booking is refused by the database itself: a booked visit holds a
*seat* (1..capacity) of its slot, and a partial unique index
``(office_id, starts_at, seat) WHERE status = 'booked'`` lets only one
booked visit hold a seat, on SQLite and PostgreSQL alike; a cancelled
visit frees its seat.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.db import Base, UtcDateTime, utcnow

__all__ = [
    "NoticeChannel",
    "NoticeKind",
    "NoticeState",
    "Office",
    "OfficeDayOff",
    "Visit",
    "VisitEvent",
    "VisitNotice",
    "VisitStatus",
]

JSONType = JSON().with_variant(JSONB(), "postgresql")


class VisitStatus(enum.StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


class NoticeKind(enum.StrEnum):
    BOOKED = "booked"
    MOVED = "moved"
    CANCELLED = "cancelled"
    REMINDER = "reminder"


class NoticeChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    NONE = "none"
    """The customer has no contact on file (or chose none): nothing is sent."""


class NoticeState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    LOST = "lost"
    """Claimed, then the node stopped before the answer: not sent again."""


class Office(Base):
    """A customer office (офис обслуживания) that receives visitors by appointment."""

    __tablename__ = "visit_offices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(512))
    settlement: Mapped[str] = mapped_column(String(128))
    """The settlement served first: an account of it is offered this office."""
    settlement_key: Mapped[str] = mapped_column(String(128), index=True)
    spoken: Mapped[str] = mapped_column(Text)
    """What the voice menu says of the office («офис на улице Ленина, дом пять»)."""
    hours: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """Weekday (``"0"`` = Monday) → ``"08:00-12:00, 13:00-17:00"``; a day
    missing or empty is closed."""
    slot_minutes: Mapped[int] = mapped_column(SmallInteger, default=30)
    capacity: Mapped[int] = mapped_column(SmallInteger, default=1)
    """Visitors received at once (one per free window)."""
    horizon_days: Mapped[int] = mapped_column(SmallInteger, default=14)
    """How far ahead visits may be booked."""
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class OfficeDayOff(Base):
    """A day the office is closed besides the production calendar's holidays."""

    __tablename__ = "visit_office_days_off"
    __table_args__ = (UniqueConstraint("office_id", "day", name="uq_visit_office_days_off_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("visit_offices.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(255), default="")


class Visit(Base):
    """One booked (or cancelled) visit; moving it changes its slot."""

    __tablename__ = "visits"
    __table_args__ = (
        Index(
            "uq_visits_seat",
            "office_id",
            "starts_at",
            "seat",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
        Index("ix_visits_account", "account_id", "status"),
        Index("ix_visits_office_day", "office_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("visit_offices.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    seat: Mapped[int] = mapped_column(SmallInteger, default=1)
    status: Mapped[str] = mapped_column(String(16), default=VisitStatus.BOOKED.value)
    source: Mapped[str] = mapped_column(String(16))
    """``ivr`` or ``operator``."""
    booked_by: Mapped[str] = mapped_column(String(64))
    """The operator's login, or ``ivr``."""
    topic: Mapped[str] = mapped_column(String(255), default="")
    notify_channel: Mapped[str] = mapped_column(String(8), default=NoticeChannel.NONE.value)
    notify_contact: Mapped[str | None] = mapped_column(String(255))
    call_uniqueid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class VisitEvent(Base):
    """The visit's history: booked, moved (from → to), cancelled; by whom."""

    __tablename__ = "visit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class VisitNotice(Base):
    """A confirmation or reminder to the customer, sent exactly once: one row
    per (visit, kind, slot) — a reminder the sweep queues twice is one row."""

    __tablename__ = "visit_notices"
    __table_args__ = (
        UniqueConstraint("visit_id", "kind", "slot_at", name="uq_visit_notices_once"),
        Index("ix_visit_notices_due", "state", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    slot_at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(8))
    contact: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=NoticeState.QUEUED.value)
    tries: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_try_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sms_message_id: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
