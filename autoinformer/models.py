"""Tables of the autoinformer (REQ-O1–O4, O8, O10, O11).

They share :class:`crm_bridge.db.Base` (one database, one Alembic history);
the migrations are in ``autoinformer/migrations/``.

* :class:`Campaign` — kind, scenario, schedule, call rules, approval (O10);
* :class:`Contact` — one line of the campaign's list: whom to call, the
  spoken variables, and the contact's progress (pending → dialing → done);
* :class:`Attempt` — one dial (or one e-mail). The row is written in state
  ``dialing`` with its full ChannelId and ActionID *before* the Originate is
  sent, so no restart can dial the same attempt twice or lose its result;
  ``(contact_id, attempt_no)`` is unique;
* :class:`DoNotCall` — numbers never to be called;
* :class:`ContactImport` — one list import with its rejected-rows report;
* :class:`CampaignEditor` — who created or changed a campaign (its settings
  or its list): none of them may approve it (REQ-O10, four eyes; migration
  ``0602_campaign_editors``);
* :class:`ContactCount` and :class:`AttemptCount` — the monitor's counters
  (REQ-O3), kept by the database's own triggers on every change of
  ``ai_contacts`` and ``ai_attempts`` (migration ``0650_campaign_counts``).

The approval workflow's columns (who submitted, who refused and why) came
with migration ``0605_campaign_approval``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.db import Base, UtcDateTime, utcnow

__all__ = [
    "Attempt",
    "AttemptCount",
    "AttemptState",
    "Campaign",
    "CampaignEditor",
    "CampaignRecording",
    "CampaignStatus",
    "Contact",
    "ContactCount",
    "ContactImport",
    "ContactStatus",
    "DoNotCall",
    "Result",
]

JSONType = JSON().with_variant(JSONB(), "postgresql")


class CampaignStatus(enum.StrEnum):
    """The approval workflow and the life cycle (REQ-O10): ``draft`` →
    ``submitted`` (на утверждении) → ``approved`` → ``running`` ⇄ ``paused``
    → ``stopped`` | ``completed``; a refused submission goes back to
    ``draft`` with the reason (``Campaign.refusal_reason``)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    """Sent by the dispatcher for approval: the supervisors' queue."""
    APPROVED = "approved"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


class ContactStatus(enum.StrEnum):
    PENDING = "pending"
    """Waiting for its next attempt (``next_at``)."""
    DIALING = "dialing"
    """An attempt is in flight."""
    DONE = "done"
    """Final: ``final_result`` says how it ended."""
    REFUSED = "refused"
    """Final: the call policy will never allow a call (not on file, campaign over)."""
    CANCELLED = "cancelled"
    """Final: the campaign was stopped before the contact was reached."""


class AttemptState(enum.StrEnum):
    DIALING = "dialing"
    """Row written, Originate sent (or about to be)."""
    ANSWERED = "answered"
    """The callee answered; the message flow runs."""
    DONE = "done"
    """Final; ``result`` is set."""


class Result(enum.StrEnum):
    """What happened in one attempt (REQ-O3, O8)."""

    COMPLETED = "completed"
    """Answered and listened to the whole message: «положительный звонок» (O8)."""
    TRANSFERRED = "transferred"
    """Answered and pressed 0: sent to the operator queue (O5). Positive."""
    HUNGUP = "hungup"
    """Answered, hung up before the end of the message (``hangup_second``)."""
    ANSWERED = "answered"
    """Answered, but the message flow left no result (e.g. it failed)."""
    MACHINE = "machine"
    """An answering machine (AMD) with the campaign's action ``retry``."""
    BUSY = "busy"
    NOANSWER = "noanswer"
    CONGESTION = "congestion"
    FAILED = "failed"
    LOST = "lost"
    """The attempt's outcome could not be known: our process or Asterisk
    restarted while it was in flight and no result had been recorded
    (``unknown/lost-in-restart``; see :mod:`autoinformer.dialer`)."""
    SENT = "sent"
    """E-mail accepted by the SMTP server (REQ-O11)."""
    REJECTED = "rejected"
    """E-mail refused by the SMTP server."""
    DELIVERED = "delivered"
    """SMS delivered to the phone (delivery report 1): the only positive SMS end."""
    UNDELIVERED = "undelivered"
    """SMS not delivered (report 2/16, or refused by the gateway for good)."""


POSITIVE_RESULTS = frozenset({Result.COMPLETED, Result.TRANSFERRED, Result.SENT, Result.DELIVERED})


class Campaign(Base):
    __tablename__ = "ai_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    """:class:`autoinformer.campaigns.Kind` value."""
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT.value, index=True)
    scenario: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """Ordered steps: ``{"prompt": "outbound/greeting"}`` or
    ``{"say": "money", "var": "debt"}`` (see :mod:`autoinformer.campaigns`)."""
    start_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    caps_230fz: Mapped[bool | None] = mapped_column(Boolean)
    """None: the kind's default (on for debt); True/False: forced."""
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    retry_delays: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """Result → seconds before the next attempt; results not listed are final."""
    amd: Mapped[str] = mapped_column(String(16), default="off")
    """``off``, ``message`` (leave the message) or ``retry`` (hang up, retry)."""
    lines: Mapped[int | None] = mapped_column(Integer)
    """Per-campaign limit of simultaneous calls (None: the worker's lines)."""
    ring_timeout: Mapped[int] = mapped_column(Integer, default=30)
    pinned_node: Mapped[str | None] = mapped_column(String(64))
    """Only the dialer of this node dials it (None: any node)."""
    outage_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outage_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outage_decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outage_notice: Mapped[str] = mapped_column(String(16), default="refuse")
    """REQ-O9 when a notice would be late: ``warn`` (call, record it) or ``refuse``."""
    email_subject: Mapped[str | None] = mapped_column(String(255))
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    channels: Mapped[str | None] = mapped_column(String(32))
    """Channels tried one after another per contact (``phone,sms,email``; the
    customer's chosen form first, :mod:`autoinformer.channels`); None: the
    phone only, with the e-mail alongside when ``email_enabled``
    (migration ``1351_campaign_sms``)."""
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    """Who sent it for approval (REQ-O10; migration ``0605_campaign_approval``)."""
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refused_by: Mapped[str | None] = mapped_column(String(64))
    """The supervisor who returned the last submission to draft."""
    refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    """Why the last submission was returned (shown on the draft)."""
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    launched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)


class Contact(Base):
    __tablename__ = "ai_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone"),
        Index("ix_ai_contacts_claim", "campaign_id", "status", "next_at"),
        Index("ix_ai_contacts_counts", "campaign_id", "status", "final_result", "positive"),
        Index("ix_ai_contacts_outlook", "campaign_id", "status", "next_at", "refusal", "timezone"),
    )
    """``ix_ai_contacts_counts`` and ``ix_ai_contacts_outlook`` cover the
    monitor's counts (by state and result; by reason held back and time
    zone): read from an index alone (migration ``0606_campaign_monitor_indexes``)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ai_campaigns.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    phone: Mapped[str] = mapped_column(String(16))
    """E.164."""
    email: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    category: Mapped[str | None] = mapped_column(String(8))
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=ContactStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    final_result: Mapped[str | None] = mapped_column(String(16))
    positive: Mapped[bool] = mapped_column(Boolean, default=False)
    refusal: Mapped[str | None] = mapped_column(String(64))
    """Why the policy holds or refuses the contact (last reason)."""
    email_status: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(8), default="phone", server_default="phone")
    """The channel the contact is tried on now (``phone``, ``sms``, ``email``)."""
    channels_left: Mapped[str | None] = mapped_column(String(32))
    """The channels still to try after ``channel`` (comma-separated); None:
    not routed yet (a campaign with ``channels``: :mod:`autoinformer.channels`)."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Attempt(Base):
    __tablename__ = "ai_attempts"
    __table_args__ = (
        UniqueConstraint("contact_id", "attempt_no", "channel"),
        Index("ix_ai_attempts_open", "state", "node"),
        Index("ix_ai_attempts_monitor", "campaign_id", "channel", "state", "result", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ai_campaigns.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("ai_contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(Integer, index=True)
    attempt_no: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8), default="phone")
    """``phone``, ``email`` (REQ-O11) or ``sms``."""
    phone: Mapped[str | None] = mapped_column(String(16))
    node: Mapped[str] = mapped_column(String(64))
    action_id: Mapped[str | None] = mapped_column(String(96), unique=True)
    channel_id: Mapped[str | None] = mapped_column(String(96), unique=True)
    """The Uniqueid we gave Asterisk (Originate ChannelId): the full key."""
    state: Mapped[str] = mapped_column(String(16), default=AttemptState.DIALING.value)
    result: Mapped[str | None] = mapped_column(String(16), index=True)
    positive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    originate_reason: Mapped[int | None] = mapped_column(Integer)
    hangup_cause: Mapped[str | None] = mapped_column(String(8))
    amd_status: Mapped[str | None] = mapped_column(String(16))
    flow_state: Mapped[str | None] = mapped_column(String(16))
    """Written by the message flow: ``playing``, ``completed``, ``transferred``, ``hungup``."""
    hangup_second: Mapped[float | None] = mapped_column(Float)
    """Seconds after answer when the callee hung up before the end."""
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(255))
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """The callee's keys to the scenario's questions: ``{question name: key}``."""


class DoNotCall(Base):
    __tablename__ = "ai_do_not_call"

    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ContactImport(Base):
    __tablename__ = "ai_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ai_campaigns.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(255))
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """Rejected rows: ``{"line": 7, "value": "...", "reason": "..."}``."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CampaignEditor(Base):
    """One user who created or changed a campaign — its settings or its
    contact list (REQ-O10: four eyes, none of them may approve it)."""

    __tablename__ = "ai_campaign_editors"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ai_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    login: Mapped[str] = mapped_column(String(64), primary_key=True)
    """``crm_bridge.models.Operator.login`` (as ``Campaign.created_by``)."""
    first_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    """When this user first changed the campaign."""


class CampaignRecording(Base):
    """A recording the dispatcher uploaded into a campaign's message,
    converted to 8 kHz mono WAV. The database keeps it so that every node's
    Asterisk can play it: a node writes the file into its sounds directory
    when it first needs it (:mod:`autoinformer.builder`)."""

    __tablename__ = "ai_recordings"

    prompt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """``upload/c<campaign>_<sha256 prefix>``: the step's ``audio``."""
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ai_campaigns.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(255))
    seconds: Mapped[float] = mapped_column(Float)
    wav: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ContactCount(Base):
    """How many contacts of a campaign are in one state (REQ-O3: the monitor
    reads these few rows instead of counting 100 000 contacts per event).

    Kept by triggers of the database on ``ai_contacts`` (every insert,
    update and delete, by any code path or node; migration
    ``0650_campaign_counts``): never written by the application. A group's
    count is the sum of ``n`` over its ``shard`` rows — on PostgreSQL each
    server process adds to its own rows (``pg_backend_pid()``), so two
    transactions never wait on one counter row; on SQLite ``shard`` is 0.
    ``refusal`` is kept for refused contacts only, ``timezone`` for pending
    ones only (``''`` otherwise), ``final_result`` ``''`` for none."""

    __tablename__ = "ai_contact_counts"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    final_result: Mapped[str] = mapped_column(String(16), primary_key=True)
    positive: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    refusal: Mapped[str] = mapped_column(String(64), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class AttemptCount(Base):
    """How many attempts of a campaign are in one state with one result
    (the monitor's calls in flight and results), kept like
    :class:`ContactCount` by triggers on ``ai_attempts``."""

    __tablename__ = "ai_attempt_counts"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    result: Mapped[str] = mapped_column(String(16), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
