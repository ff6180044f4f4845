"""The faults slice's table: which appeals were reconstructed after an
interrupted call (issue 13, item 3). Shares crm_bridge's ``Base`` (one
database, REQ-T15)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.db import Base, UtcDateTime, utcnow

__all__ = ["ReconstructedAppeal"]

JSONType = JSON().with_variant(JSONB(), "postgresql")


class ReconstructedAppeal(Base):
    """An appeal registered afterwards from what was known of its call (the
    call row, its journal, the AMI events), because the call's own flow
    never registered it: the service died, or the database was away."""

    __tablename__ = "reconstructed_appeals"

    appeal_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("appeals.id", ondelete="CASCADE"), primary_key=True
    )
    call_uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(40))
    """Why the call was interrupted: its outcome, ``fallback`` or ``flow-failed``…"""
    reconstructed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sources: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """What it was made of (menu path, queue, operator): no personal data."""
