"""Every text message in and out (table ``sms_messages``, migration ``1301_sms``).

An incoming message is stored once per gateway id (Kannel's ``%I``: a
retried request is not handled twice); a reply or a notice is queued in the
same table and goes through the sender (:mod:`sms.sender`), then follows the
gateway's delivery reports: ``queued`` → ``sending`` (claimed) → ``sent``
(Kannel accepted it) → ``smsc`` (the operator's SMSC took it) →
``delivered`` / ``failed``. The customer's number is data here, never in a log.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.db import Base, UtcDateTime, utcnow

__all__ = ["Direction", "OutState", "SmsMessage"]


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class OutState(enum.StrEnum):
    """The delivery state of an outgoing message."""

    QUEUED = "queued"
    SENDING = "sending"
    """Claimed by a sender; taken back if it stays so (a crash)."""
    SENT = "sent"
    """Kannel accepted it (``sendsms`` answered 202)."""
    BUFFERED = "buffered"
    """The SMSC queued it (report type 4)."""
    SMSC = "smsc"
    """The SMSC accepted it (report type 8)."""
    DELIVERED = "delivered"
    """Delivered to the phone (report type 1): the only «положительный» end."""
    FAILED = "failed"
    """Not delivered (report type 2 or 16), or refused by the gateway for good."""


class InOutcome(enum.StrEnum):
    """What became of an incoming message."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    CONFIRM = "confirm"
    """A suspicious jump: the same message again confirms it."""
    HELP = "help"
    """Not a readings message: help was sent, the text registered as an appeal."""
    SURVEY = "survey"
    """A reply to a survey campaign's question (or help on how to answer it)."""


class SmsMessage(Base):
    __tablename__ = "sms_messages"
    __table_args__ = (
        Index("ix_sms_messages_state_next", "state", "next_try_at"),
        Index("ix_sms_messages_peer_created", "peer", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))
    peer: Mapped[str] = mapped_column(String(32))
    """The customer's number (E.164 when it is a phone number)."""
    service_number: Mapped[str] = mapped_column(String(32), default="")
    """The hotline's number the message was sent to / from."""
    text: Mapped[str] = mapped_column(Text)
    parts: Mapped[int] = mapped_column(SmallInteger, default=1)
    coding: Mapped[int] = mapped_column(SmallInteger, default=0)
    gateway_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    """Incoming: the gateway's message id (de-duplication)."""
    state: Mapped[str] = mapped_column(String(16))
    """Incoming: an :class:`InOutcome`; outgoing: an :class:`OutState`."""
    purpose: Mapped[str] = mapped_column(String(16), default="reply")
    """Outgoing: ``reply`` (to an incoming message), ``notice`` or ``campaign``."""
    content_key: Mapped[str | None] = mapped_column(String(128))
    """Incoming readings: the account and values read (a repeat confirms a jump)."""
    reply_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("sms_messages.id", ondelete="SET NULL")
    )
    appeal_id: Mapped[int | None] = mapped_column(
        ForeignKey("appeals.id", ondelete="SET NULL"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    notice_id: Mapped[int | None] = mapped_column(
        ForeignKey("appeal_notices.id", ondelete="SET NULL"), index=True
    )
    """Outgoing ``notice``: the appeal notice it carries (its fate follows the reports)."""
    attempt_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """Outgoing ``campaign``: the campaign attempt (``ai_attempts``) it carries,
    settled by :mod:`sms.campaigns` (migration ``1351_campaign_sms``)."""
    tries: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    report_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The last delivery report."""
    report_type: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(String(255))
