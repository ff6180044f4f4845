"""The survey's table (REQ-A13): one row per survey offered, with the
answers given. It shares crm_bridge's ``Base`` (one database)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.db import Base, UtcDateTime, utcnow

__all__ = ["SurveyChannel", "SurveyResponse", "SurveySource"]


class SurveySource(enum.StrEnum):
    AFTER_CALL = "after_call"
    """The caller stayed on the line when the operator ended the call."""
    TRANSFER = "transfer"
    """The operator transferred the caller to the survey."""
    CAMPAIGN = "campaign"
    """An outbound survey campaign."""


class SurveyChannel(enum.StrEnum):
    VOICE = "voice"
    SMS = "sms"


class SurveyResponse(Base):
    """A survey offered to one customer about one contact, and its answers.

    ``csi`` is the 1–5 mark of the operator's work, ``nps`` the 0–10
    likelihood to recommend; either is None when not given (hung up, silence,
    a key outside the scale). The row is written when the survey starts, so
    that the response rate counts those who did not answer."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("call_uniqueid", "source"),
        Index("ix_survey_responses_offered", "offered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), default=SurveySource.AFTER_CALL.value)
    channel: Mapped[str] = mapped_column(String(8), default=SurveyChannel.VOICE.value)
    call_uniqueid: Mapped[str] = mapped_column(String(96))
    """The call's Asterisk Uniqueid (or an SMS/campaign key): idempotence."""
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    topic: Mapped[str | None] = mapped_column(String(16))
    """The appeal's classification code of the call (REQ-A4), when known."""
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    csi: Mapped[int | None] = mapped_column(SmallInteger)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
