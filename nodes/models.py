"""The nodes slice's table: one heartbeat row per node (issue 13 item 9).

It shares crm_bridge's ``Base`` (one database, one Alembic history)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.db import Base, UtcDateTime

__all__ = ["NodeHeartbeat"]


class NodeHeartbeat(Base):
    """A node (``settings.node_name``: one Asterisk and the service that
    drives it) and the last time it said it was alive.

    ``beat_at`` is the database's own clock (PostgreSQL ``now()``), so the
    nodes' clocks may differ. A node whose ``beat_at`` is older than
    ``node_dead_after_seconds`` is dead: the other nodes take its work over
    (:mod:`nodes.failover`) and record when and who in ``taken_over_*``."""

    __tablename__ = "node_heartbeats"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """When the node's current process started beating."""
    beat_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    taken_over_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The last time another node took this node's leftovers over."""
    taken_over_by: Mapped[str | None] = mapped_column(String(64))
