"""Tables of the shared customer database (REQ-T15).

Accounts, their phones and meters, meter readings, calls and the call
journal, appeals (обращения) with their registration journal (REQ-A1–A9),
callbacks (REQ-T6, REQ-T8) and operators.

Enumerations are stored as their values (``"ФЛ"``, ``"КЭ"``, ``"phone"``) in
plain ``VARCHAR`` columns, validated by SQLAlchemy on write (no database
``CHECK`` and no PostgreSQL ``ENUM`` type, so adding a value needs no
migration on either dialect).

Timestamps are timezone-aware UTC (:class:`~crm_bridge.db.UtcDateTime`).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_bridge.db import Base, UtcDateTime, utcnow

__all__ = [
    "Account",
    "AccountPhone",
    "Appeal",
    "AppealChannel",
    "AppealKind",
    "AppealStatus",
    "Call",
    "CallDirection",
    "CallEvent",
    "Callback",
    "CallbackStatus",
    "Category",
    "ClassificationCode",
    "ComplaintCategory",
    "Counter",
    "Decision",
    "Meter",
    "NotConsideredReason",
    "Operator",
    "OperatorRole",
    "Reading",
    "ReadingSource",
    "ReadingStatus",
    "ReplyChannel",
    "TariffZone",
]

JSONType = JSON().with_variant(JSONB(), "postgresql")
Money = Numeric(14, 2)
MeterValue = Numeric(14, 3)


def _enum(cls: type[enum.Enum], name: str) -> SAEnum:
    return SAEnum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        validate_strings=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


# -- enumerations ------------------------------------------------------------


class Category(enum.StrEnum):
    """Applicant / account category, the letters of the registration number (REQ-A2)."""

    FL = "ФЛ"  # физическое лицо — individual
    GL = "ГЛ"  # группа лиц — group of persons
    UL = "ЮЛ"  # юридическое лицо — legal entity


class TariffZone(enum.StrEnum):
    """Tariff zone of a meter register (not the T-clauses of the requirements)."""

    T1 = "T1"
    T2 = "T2"
    T3 = "T3"

    @property
    def number(self) -> int:
        """1, 2 or 3."""
        return int(self.value[1])


class ReadingSource(enum.StrEnum):
    VOICE = "voice"
    KEYPAD = "keypad"
    OPERATOR = "operator"
    WEB = "web"
    SMS = "sms"


class ReadingStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    FLAGGED = "flagged"
    REJECTED = "rejected"


class CallDirection(enum.StrEnum):
    IN = "in"
    OUT = "out"


class AppealChannel(enum.StrEnum):
    """How the appeal came in (the channels of the REQ-A10 report)."""

    PHONE = "phone"
    ANSWERING_MACHINE = "answering_machine"
    EMAIL = "email"
    WEB = "web"
    POST = "post"
    IN_PERSON = "in_person"
    SMS = "sms"
    """A text message to the hotline's number (counted by the statistics)."""


class AppealKind(enum.StrEnum):
    APPEAL = "appeal"
    COMPLAINT = "complaint"
    REQUEST = "request"
    METER_READING = "meter_reading"
    ANSWERING_MACHINE_MESSAGE = "answering_machine_message"
    CONSULTATION = "consultation"


class ClassificationCode(enum.StrEnum):
    """Journal column 6 (REQ-A4)."""

    KE = "КЭ"  # качество электроснабжения — power quality
    S = "С"  # техприсоединение к распределительным сетям
    SE = "Се"  # техприсоединение к объектам ЕНЭС
    OB = "Об"  # качество обслуживания потребителей
    OG = "Ог"  # ограничение режима потребления
    T = "Т"  # тарифы
    PR = "Пр"  # прочее
    E = "Э"  # энергоснабжение бытовых потребителей

    @property
    def title_ru(self) -> str:
        return _CLASSIFICATION_TITLES[self.value]


_CLASSIFICATION_TITLES: Final = MappingProxyType(
    {
        "КЭ": "качество электроснабжения",
        "С": "технологическое присоединение к распределительным сетям",
        "Се": "технологическое присоединение к объектам ЕНЭС",
        "Об": "качество обслуживания потребителей",
        "Ог": "ограничение режима потребления",
        "Т": "тарифы",
        "Пр": "прочее",
        "Э": "энергоснабжение бытовых потребителей",
    }
)


class ComplaintCategory(enum.StrEnum):
    """REQ-A6: А typical (short answer), Б needs analysis (may be extended)."""

    A = "А"  # Cyrillic А
    B = "Б"


class AppealStatus(enum.StrEnum):
    REGISTERED = "registered"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    CLOSED = "closed"
    NOT_CONSIDERED = "not_considered"


class NotConsideredReason(enum.StrEnum):
    """Why an appeal is not considered (REQ-A8, REQ-T5); the customer is notified."""

    NO_CONTACT = "no_contact"
    OBSCENE_OR_THREATENING = "obscene_or_threatening"
    REPEATED_NO_NEW_FACTS = "repeated_no_new_facts"
    COMMERCIAL_SECRET = "commercial_secret"
    UNREADABLE = "unreadable"

    @property
    def title_ru(self) -> str:
        return _NOT_CONSIDERED_TITLES[self.value]


_NOT_CONSIDERED_TITLES: Final = MappingProxyType(
    {
        "no_contact": "не указаны контактные данные",
        "obscene_or_threatening": "нецензурные или оскорбительные выражения, угрозы",
        "repeated_no_new_facts": "повторный вопрос без новых доводов",
        "commercial_secret": "ответ раскрыл бы коммерческую тайну",
        "unreadable": "текст не поддаётся прочтению",
    }
)


class Decision(enum.StrEnum):
    """In whose favour the question was decided (journal column 11, REQ-A3);
    anything but ``customer`` needs a reasoned refusal (REQ-A6)."""

    CUSTOMER = "customer"
    COMPANY = "company"
    PARTLY = "partly"

    @property
    def title_ru(self) -> str:
        return _DECISION_TITLES[self.value]


_DECISION_TITLES: Final = MappingProxyType(
    {
        "customer": "в пользу клиента",
        "company": "в пользу компании",
        "partly": "частично в пользу клиента",
    }
)


class ReplyChannel(enum.StrEnum):
    """Where the answer goes (REQ-A7)."""

    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    POST = "post"
    WEB = "web"
    IN_PERSON = "in_person"


class CallbackStatus(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OperatorRole(enum.StrEnum):
    OPERATOR = "operator"
    """Takes queue calls: the operator's workplace (``/operator/``)."""
    SUPERVISOR = "supervisor"
    """Shift supervisor: the operator's workplace with reports, readings export,
    and the dispatcher console."""
    DISPATCHER = "dispatcher"
    """Runs the autoinformer's campaigns: the dispatcher console (``/dispatcher/``)."""


# -- tables ------------------------------------------------------------------


class Counter(Base):
    """Named gapless counters (the appeal registration sequence, REQ-A2).

    Incremented with ``UPDATE … RETURNING``, which row-locks on PostgreSQL
    until commit and runs under the SQLite write lock.
    """

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Account(Base):
    """A personal account (лицевой счёт) with its structured address."""

    __tablename__ = "accounts"
    __table_args__ = (
        # text_pattern_ops on PostgreSQL: the outage register finds a street's
        # houses by the key's prefix (``street|``…``street}``) in any locale (1201_outages).
        Index(
            "ix_accounts_house_key", "house_key", postgresql_ops={"house_key": "text_pattern_ops"}
        ),
        # a settlement's accounts, and a street's houses in one settlement (1201_outages)
        Index(
            "ix_accounts_settlement_house",
            "settlement_key",
            "house_key",
            postgresql_ops={"house_key": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """The account number as printed on bills (digits, leading zeros kept)."""
    number_key: Mapped[str] = mapped_column(String(32), index=True)
    """``number`` without leading zeros: what a caller types on the keypad."""
    holder_name: Mapped[str] = mapped_column(String(255))
    category: Mapped[Category] = mapped_column(_enum(Category, "category"), default=Category.FL)

    region: Mapped[str | None] = mapped_column(String(128))
    settlement: Mapped[str | None] = mapped_column(String(128))
    street_type: Mapped[str | None] = mapped_column(String(32))
    street: Mapped[str | None] = mapped_column(String(128))
    house: Mapped[str | None] = mapped_column(String(32))
    building: Mapped[str | None] = mapped_column(String(16))
    """Корпус."""
    structure: Mapped[str | None] = mapped_column(String(16))
    """Строение."""
    flat: Mapped[str | None] = mapped_column(String(16))
    address_key: Mapped[str | None] = mapped_column(String(255), index=True)
    """Normalised ``street|house|flat`` (see :mod:`crm_bridge.address`)."""
    house_key: Mapped[str | None] = mapped_column(String(255))
    """Normalised ``street|house`` — every account of one house."""
    settlement_key: Mapped[str | None] = mapped_column(String(128))

    email: Mapped[str | None] = mapped_column(String(255))
    notify_by: Mapped[str | None] = mapped_column(String(8))
    """The form of notification the customer chose (REQ-O12): ``phone``,
    ``sms`` or ``email``, tried first by a campaign; None: not chosen (the
    phone first). Migration ``1351_campaign_sms``."""
    debt: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    """Amount owed (≥ 0); negative values mean an advance payment."""
    debt_as_of: Mapped[date | None] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    """IANA time zone of the premises (call windows use local time)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    phones: Mapped[list[AccountPhone]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )
    meters: Mapped[list[Meter]] = relationship(back_populates="account")


class AccountPhone(Base):
    __tablename__ = "account_phones"
    __table_args__ = (UniqueConstraint("account_id", "phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    phone: Mapped[str] = mapped_column(String(16), index=True)
    """E.164, e.g. ``+79001234567``."""
    in_contract: Mapped[bool] = mapped_column(Boolean, default=True)
    """Listed in the contract: the autoinformer may call it (REQ-O7)."""

    account: Mapped[Account] = relationship(back_populates="phones")


class Meter(Base):
    __tablename__ = "meters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    zones: Mapped[int] = mapped_column(SmallInteger, default=1)
    """Number of tariff zones (1–3: T1, T1+T2, T1+T2+T3)."""
    digits: Mapped[int] = mapped_column(SmallInteger, default=6)
    """Digits before the decimal point."""
    decimals: Mapped[int] = mapped_column(SmallInteger, default=0)
    last_t1: Mapped[Decimal | None] = mapped_column(MeterValue)
    last_t2: Mapped[Decimal | None] = mapped_column(MeterValue)
    last_t3: Mapped[Decimal | None] = mapped_column(MeterValue)
    last_reading_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    account: Mapped[Account] = relationship(back_populates="meters")

    def last_value(self, zone: TariffZone) -> Decimal | None:
        values: dict[TariffZone, Decimal | None] = {
            TariffZone.T1: self.last_t1,
            TariffZone.T2: self.last_t2,
            TariffZone.T3: self.last_t3,
        }
        return values[zone]


class Reading(Base):
    __tablename__ = "readings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    zone: Mapped[TariffZone] = mapped_column(_enum(TariffZone, "tariff_zone"))
    value: Mapped[Decimal] = mapped_column(MeterValue)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    source: Mapped[ReadingSource] = mapped_column(_enum(ReadingSource, "reading_source"))
    recognised_text: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    audio_ref: Mapped[str | None] = mapped_column(String(512))
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[ReadingStatus] = mapped_column(
        _enum(ReadingStatus, "reading_status"), default=ReadingStatus.ACCEPTED
    )
    flag_reason: Mapped[str | None] = mapped_column(String(255))


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[OperatorRole] = mapped_column(
        _enum(OperatorRole, "operator_role"), default=OperatorRole.OPERATOR
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    """``scrypt$n$r$p$salt_hex$hash_hex`` (see :mod:`crm_bridge.passwords`)."""
    pjsip_endpoint: Mapped[str | None] = mapped_column(String(64))
    interface: Mapped[str | None] = mapped_column(String(128))
    """Queue member interface, e.g. ``PJSIP/op101``."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Call(Base):
    """One Asterisk channel's call, keyed by its full ``Uniqueid``."""

    __tablename__ = "calls"
    __table_args__ = (
        # The statistics' covering indexes (supervision 1151_statistics_indexes).
        Index(
            "ix_calls_stats_queue",
            "queue_entered_at",
            "operator_id",
            "outcome",
            "answered_within_sla",
            "wait_seconds",
            "queue_left_at",
            "ended_at",
        ),
        Index("ix_calls_stats_started", "started_at", "direction"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    direction: Mapped[CallDirection] = mapped_column(
        _enum(CallDirection, "call_direction"), default=CallDirection.IN
    )
    caller_number: Mapped[str | None] = mapped_column(String(32), index=True)
    called_number: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ivr_path: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    queue_name: Mapped[str | None] = mapped_column(String(64))
    queue_entered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    queue_left_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    recording_file: Mapped[str | None] = mapped_column(String(512))
    hangup_cause: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(64))
    answered_within_sla: Mapped[bool | None] = mapped_column(Boolean)
    """Connected to an operator within 40 s of entering the queue (REQ-T7)."""
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    node: Mapped[str | None] = mapped_column(String(64), index=True)
    """The Asterisk node (``settings.node_name``) whose AMI listener follows
    the call: after a reconnect a listener closes only its own node's calls."""
    """Autoinformer campaign of an outbound call (no FK: another slice's table)."""


class CallEvent(Base):
    """The structured call journal written by the IVR (``telephony.journal``).

    Keyed by the call's ``Uniqueid``, not a foreign key: the journal may be
    stored before the call row exists.
    """

    __tablename__ = "call_events"
    __table_args__ = (UniqueConstraint("call_uniqueid", "source", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(16), default="ivr")
    """Who wrote it: ``ivr`` (the IVR journal, its own ``seq``) or ``ami``…"""
    seq: Mapped[int] = mapped_column(Integer)
    """Order within ``source`` (the IVR journal's own numbering)."""
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Appeal(Base):
    """An appeal (обращение) and its registration-journal row (REQ-A1–A9)."""

    __tablename__ = "appeals"
    __table_args__ = (
        Index("ix_appeals_status_due", "status", "due_at"),
        Index("ix_appeals_received_at", "received_at"),
        # The statistics' covering index (supervision 1151_statistics_indexes).
        Index(
            "ix_appeals_stats",
            "received_at",
            "channel",
            "kind",
            "classification",
            "complaint_category",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """Registration number, e.g. ``123-ФЛ`` (REQ-A2, journal column 1)."""
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    """Global, gapless sequence shared by all categories (never reset yearly)."""
    category: Mapped[Category] = mapped_column(_enum(Category, "category"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[AppealChannel] = mapped_column(_enum(AppealChannel, "appeal_channel"))
    kind: Mapped[AppealKind] = mapped_column(_enum(AppealKind, "appeal_kind"))
    applicant_name: Mapped[str | None] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(255))
    address_text: Mapped[str | None] = mapped_column(String(512))
    content: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[ClassificationCode | None] = mapped_column(
        _enum(ClassificationCode, "classification_code")
    )
    classification_corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    classified_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    complaint_category: Mapped[ComplaintCategory | None] = mapped_column(
        _enum(ComplaintCategory, "complaint_category")
    )
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    """Health and safety: handled immediately (REQ-A5)."""
    passed_to: Mapped[str | None] = mapped_column(String(255))
    passed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answer_received_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[AppealStatus] = mapped_column(
        _enum(AppealStatus, "appeal_status"), default=AppealStatus.REGISTERED
    )
    not_considered_reason: Mapped[NotConsideredReason | None] = mapped_column(
        _enum(NotConsideredReason, "not_considered_reason")
    )
    reply_channel: Mapped[ReplyChannel | None] = mapped_column(_enum(ReplyChannel, "reply_channel"))
    reply_contact: Mapped[str | None] = mapped_column(String(255))
    routing_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """Registration and routing deadline (1 working day, REQ-A5)."""
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    extended_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """Answer deadline after extension(s); ``due_at`` keeps the original."""
    extended_days: Mapped[int] = mapped_column(SmallInteger, default=0)
    """Total days of extension granted (at most 10, REQ-A5)."""
    customer_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    """The customer was told about the extension (REQ-A9)."""
    measures_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    """Measures on the feedback are taken by then: 14 days for oral, telephone,
    postal, portal and e-mail appeals (REQ-A12); None for other channels."""
    decision: Mapped[Decision | None] = mapped_column(_enum(Decision, "decision"))
    """In whose favour it was decided (journal column 11, REQ-A3, REQ-A6)."""
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    """The reasoned refusal when not decided in the customer's favour (REQ-A6)."""
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    recordings: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    transcript: Mapped[str | None] = mapped_column(Text)
    search_text: Mapped[str] = mapped_column(Text, default="")
    """Lower-cased, ё→е copy of the searchable fields (SQLite's LIKE is ASCII-only
    case-insensitive, so the journal search runs on this column)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    @property
    def effective_due_at(self) -> datetime | None:
        return self.extended_due_at or self.due_at


class Callback(Base):
    """A promised call back (answering machine REQ-T6, busy operators REQ-T8)."""

    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    window_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    appeal_id: Mapped[int | None] = mapped_column(
        ForeignKey("appeals.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    status: Mapped[CallbackStatus] = mapped_column(
        _enum(CallbackStatus, "callback_status"), default=CallbackStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
