"""Tables of the appeal's life (issue 14): the per-appeal history, the
outbox of notices to the customer, and the days the digest was sent. They
share crm_bridge's ``Base`` (one database, REQ-T15)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.db import Base, UtcDateTime, utcnow

__all__ = [
    "AppealEvent",
    "AppealNotice",
    "DigestRun",
    "NoticeChannel",
    "NoticeKind",
    "NoticeStatus",
    "StatsRollup",
]

JSONType = JSON().with_variant(JSONB(), "postgresql")


class NoticeKind(enum.StrEnum):
    REGISTERED = "registered"
    """REQ-A11: the appeal was registered, with its number."""
    EXTENDED = "extended"
    """REQ-A9: the answer term was moved."""
    ANSWERED = "answered"
    """REQ-A7: the answer, through the reply channel."""
    CALLBACK = "callback"
    """Issue 18: a callback was scheduled (or moved), with its time; by SMS
    only (:mod:`sms.notices`), ``dedup`` the callback and its due time."""


class NoticeChannel(enum.StrEnum):
    """How a notice travels. E-mail is sent by :mod:`supervision.notices`;
    SMS by the SMS slice (:mod:`sms.notices`)."""

    EMAIL = "email"
    SMS = "sms"


class NoticeStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    """Claimed by a sender; its fate is unknown after a crash (→ ``lost``)."""
    SENT = "sent"
    FAILED = "failed"
    LOST = "lost"


class AppealEvent(Base):
    """One step of an appeal's life: who did what, when (the page's history)."""

    __tablename__ = "appeal_events"
    __table_args__ = (Index("ix_appeal_events_appeal_at", "appeal_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    """Who did it (None: the system, e.g. a notice delivered)."""
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AppealNotice(Base):
    """A notice to the customer in the outbox (REQ-A7, A9, A11)."""

    __tablename__ = "appeal_notices"
    __table_args__ = (
        UniqueConstraint("appeal_id", "kind", "dedup"),
        Index("ix_appeal_notices_status_next", "status", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    dedup: Mapped[str] = mapped_column(String(64), default="")
    """One registration notice per appeal (``""``); other kinds a unique token."""
    channel: Mapped[str] = mapped_column(String(16))
    contact: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.QUEUED.value)
    tries: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    node: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(String(255))


class DigestRun(Base):
    """The day a digest was sent: one row a day, so two nodes or a restart
    never send it twice."""

    __tablename__ = "digest_runs"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    """``sending`` (claimed), ``sent``."""
    node: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recipients: Mapped[int] = mapped_column(SmallInteger, default=0)


class StatsRollup(Base):
    """A closed month's grouped rows of one statistics query (``queue``,
    ``started``, ``presence``; :mod:`supervision.stats`): the year's figures
    read twelve of these instead of a year of calls and presence intervals."""

    __tablename__ = "stats_rollups"
    __table_args__ = (UniqueConstraint("kind", "zone", "month_start", name="uq_stats_rollups"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    zone: Mapped[str] = mapped_column(String(64))
    """The time zone the month's bounds were taken in."""
    month_start: Mapped[datetime] = mapped_column(UtcDateTime)
    """The month's first moment (UTC) in ``zone``."""
    columns: Mapped[list[Any]] = mapped_column(JSONType)
    rows: Mapped[list[Any]] = mapped_column(JSONType)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
