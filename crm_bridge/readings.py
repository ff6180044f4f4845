"""Meter readings (REQ-T14): validation rules, storage and export for billing.

Three parts, in dependency order:

* **rules** — pure functions (:func:`check_reading`, :func:`period_status`)
  used by the call flow to talk to the caller and re-checked by
  :meth:`ReadingService.submit` in the transaction that stores the reading,
  so nothing wrong is ever stored, whoever submits it:

  - a reading must fit the meter's integer drums (``< 10**digits``);
  - below the previous reading is refused, unless it is a **rollover**: the
    meter went past ``99…9`` back to ``00…0`` and the consumption over the
    top (``10**digits - previous + value``) is plausible for the days elapsed
    (a 5-digit meter at 99 950 read as 00 030 is a rollover of 80 kWh);
  - a **suspicious jump** — more than ``max_daily_kwh`` per day since the
    previous reading (at least one day is assumed; 31 days when the previous
    reading has no date) — must be confirmed again by the caller and is
    stored ``flagged`` for review with the reason;
  - outside the **reading period** (``period_start_day``–``period_end_day``
    of the month, default 15–25; a period wrapping the month end such as
    23–3 is allowed) a reading is accepted and counts from the start of the
    next period (the caller is told the date). The customer's local date
    (the account's time zone) decides.

  The previous value's integer part is what the meter shows: a stored 12 345.6
  and a new whole-number reading of 12 345 is not "below" (consumption 0).

* **storage** — :class:`ReadingService.submit` stores a reading and updates
  the meter's last value in one write transaction (the meter row is locked),
  with its source (voice/keypad), recognised text, confidence, audio reference
  and call. :class:`ReadingBilling` (table ``reading_billing``, migration
  ``0101_reading_billing``) keeps per reading the day it counts from and
  whether it was handed over to billing.

* **export** — :meth:`ReadingService.export_rows` + :func:`export_csv` /
  :func:`export_xlsx`, and the exactly-once hand-over to billing:
  :meth:`ReadingService.claim_for_export` marks a batch (a claim older than
  ``stale_after`` is taken over, so a crash between claim and delivery
  re-sends that batch: the billing side must de-duplicate by ``reading_id`` /
  ``batch``), :meth:`~ReadingService.mark_exported` /
  :meth:`~ReadingService.release` finish it.
"""

from __future__ import annotations

import calendar
import io
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Boolean, Date, ForeignKey, String, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.export import safe_append, safe_writer
from crm_bridge.db import Base, Database, UtcDateTime, utcnow
from crm_bridge.errors import CrmError, NotFound
from crm_bridge.identify import account_display_address
from crm_bridge.models import (
    Account,
    Call,
    CallDirection,
    Category,
    Meter,
    MeterValue,
    Reading,
    ReadingSource,
    ReadingStatus,
    TariffZone,
)

logger = logging.getLogger(__name__)

__all__ = [
    "EXPORT_HEADER",
    "AccountBrief",
    "Check",
    "ConfirmationRequired",
    "ExportRow",
    "MeterNotFound",
    "MeterView",
    "PeriodStatus",
    "ReadingBilling",
    "ReadingError",
    "ReadingPolicy",
    "ReadingRejected",
    "ReadingService",
    "StoredReading",
    "Verdict",
    "check_reading",
    "export_csv",
    "export_xlsx",
    "fits_meter",
    "period_status",
    "rollover_consumption",
]

# -- rules ---------------------------------------------------------------------

DEFAULT_UNKNOWN_DAYS = 31.0
"""Days assumed when the previous reading has no date (one billing month)."""


class Verdict(StrEnum):
    OK = "ok"
    """Not below the previous reading, plausible consumption (or no previous reading)."""
    ROLLOVER = "rollover"
    """Below the previous reading, but a plausible pass through ``99…9`` → ``0``."""
    BELOW_PREVIOUS = "below_previous"
    """Below the previous reading and not a plausible rollover: refused."""
    SUSPICIOUS = "suspicious"
    """Consumption above the plausibility bound: confirm again, store flagged."""
    TOO_MANY_DIGITS = "too_many_digits"
    """More integer digits than the meter has: refused."""

    @property
    def acceptable(self) -> bool:
        """May be stored (SUSPICIOUS only after a second confirmation)."""
        return self in (Verdict.OK, Verdict.ROLLOVER, Verdict.SUSPICIOUS)


@dataclass(frozen=True, slots=True)
class ReadingPolicy:
    """The configurable figures (settings ``readings_*``)."""

    period_start_day: int = 15
    period_end_day: int = 25
    max_daily_kwh: Decimal = Decimal(100)
    """Plausibility bound: more consumption per day than this is suspicious."""

    def __post_init__(self) -> None:
        for name in ("period_start_day", "period_end_day"):
            day = getattr(self, name)
            if not 1 <= day <= 31:
                raise ValueError(f"{name} must be 1..31, got {day}")
        if Decimal(self.max_daily_kwh) <= 0:
            raise ValueError(f"max_daily_kwh must be positive, got {self.max_daily_kwh}")

    @classmethod
    def from_settings(cls, settings: object) -> ReadingPolicy:
        return cls(
            period_start_day=int(getattr(settings, "readings_period_start_day", 15)),
            period_end_day=int(getattr(settings, "readings_period_end_day", 25)),
            max_daily_kwh=Decimal(str(getattr(settings, "readings_max_daily_kwh", 100))),
        )


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of :func:`check_reading`."""

    verdict: Verdict
    consumption: Decimal | None
    """kWh since the previous reading (over the top for a rollover); None
    without a previous reading or when refused."""
    days: float | None
    """Days since the previous reading (None when unknown)."""
    reason: str
    """Why (English, for logs and the review flag; never personal data)."""

    @property
    def flag_reason(self) -> str | None:
        """The review reason stored with a SUSPICIOUS reading."""
        return self.reason if self.verdict is Verdict.SUSPICIOUS else None


def fits_meter(value: int | Decimal, digits: int) -> bool:
    """True when ``value`` shows on a meter with ``digits`` integer drums."""
    if digits < 1:
        raise ValueError(f"a meter has at least one digit, got {digits}")
    v = Decimal(value)
    return Decimal(0) <= v < Decimal(10) ** digits


def rollover_consumption(previous: Decimal | int, value: Decimal | int, digits: int) -> Decimal:
    """kWh consumed when the meter passed ``99…9`` → ``0`` between the two readings."""
    capacity = Decimal(10) ** digits
    return capacity - _shown(Decimal(previous)) + Decimal(value)


def _shown(previous: Decimal) -> Decimal:
    """The integer part the meter shows for a stored value (12 345.6 → 12 345)."""
    return Decimal(math.floor(previous))


def _days_between(previous_at: datetime | None, now: datetime) -> float | None:
    if previous_at is None:
        return None
    return max(0.0, (now - previous_at).total_seconds() / 86400.0)


def check_reading(
    value: int | Decimal,
    *,
    previous: Decimal | int | None,
    previous_at: datetime | None,
    now: datetime,
    digits: int,
    policy: ReadingPolicy,
) -> Check:
    """Validate one reading against the previous one (see the module docstring)."""
    v = Decimal(value)
    if v < 0 or v != v.to_integral_value():
        raise ValueError(f"a reading is a non-negative whole number of kWh, got {value}")
    if not fits_meter(v, digits):
        return Check(Verdict.TOO_MANY_DIGITS, None, None, f"more than {digits} digits")
    days = _days_between(previous_at, now)
    if previous is None:
        return Check(Verdict.OK, None, days, "no previous reading")
    prev = Decimal(previous)
    bound_days = max(1.0, days if days is not None else DEFAULT_UNKNOWN_DAYS)
    bound = Decimal(policy.max_daily_kwh) * Decimal(str(bound_days))
    shown = _shown(prev)
    if v < shown:
        over = rollover_consumption(prev, v, digits)
        if over <= bound:
            return Check(
                Verdict.ROLLOVER,
                over,
                days,
                f"rollover past {'9' * digits}: {over} kWh",
            )
        return Check(Verdict.BELOW_PREVIOUS, None, days, "below the previous reading")
    consumption = max(Decimal(0), v - prev)
    if consumption > bound:
        per_day = (consumption / Decimal(str(bound_days))).quantize(Decimal(1))
        return Check(
            Verdict.SUSPICIOUS,
            consumption,
            days,
            f"consumption {consumption} kWh in {bound_days:.1f} d "
            f"(~{per_day} kWh/day > {policy.max_daily_kwh})",
        )
    return Check(Verdict.OK, consumption, days, "ok")


@dataclass(frozen=True, slots=True)
class PeriodStatus:
    in_period: bool
    counts_from: date
    """The day the reading counts from: ``today`` inside the period, else the
    start of the next period."""


def _clamp_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _add_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _in_period(today: date, policy: ReadingPolicy) -> bool:
    start = _clamp_day(today.year, today.month, policy.period_start_day).day
    end = _clamp_day(today.year, today.month, policy.period_end_day).day
    if policy.period_start_day <= policy.period_end_day:
        return start <= today.day <= end
    # wraps the month end, e.g. 23..3
    return today.day >= start or today.day <= end


def period_status(today: date, policy: ReadingPolicy) -> PeriodStatus:
    """Is ``today`` (the customer-facing local date) in the reading period?"""
    if _in_period(today, policy):
        return PeriodStatus(True, today)
    this_start = _clamp_day(today.year, today.month, policy.period_start_day)
    if today < this_start:
        return PeriodStatus(False, this_start)
    year, month = _add_month(today.year, today.month)
    return PeriodStatus(False, _clamp_day(year, month, policy.period_start_day))


# -- storage -------------------------------------------------------------------


class ReadingBilling(Base):
    """Billing side of a reading: when it counts, and its hand-over to billing."""

    __tablename__ = "reading_billing"

    reading_id: Mapped[int] = mapped_column(
        ForeignKey("readings.id", ondelete="CASCADE"), primary_key=True
    )
    counts_from: Mapped[date] = mapped_column(Date)
    in_period: Mapped[bool] = mapped_column(Boolean, default=True)
    verdict: Mapped[str] = mapped_column(String(32), default=Verdict.OK.value)
    consumption: Mapped[Decimal | None] = mapped_column(MeterValue)
    export_batch: Mapped[str | None] = mapped_column(String(64), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    exported_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class ReadingError(CrmError):
    """A reading that cannot be stored (translated at the edge)."""


class MeterNotFound(NotFound):
    pass


class ReadingRejected(ReadingError):
    """The rules refuse the reading (below the previous one, too many digits)."""

    def __init__(self, check: Check) -> None:
        super().__init__(f"reading refused: {check.verdict.value} ({check.reason})")
        self.check = check


class ConfirmationRequired(ReadingError):
    """A suspicious jump submitted without the caller's second confirmation."""

    def __init__(self, check: Check) -> None:
        super().__init__(f"reading needs a second confirmation: {check.reason}")
        self.check = check


@dataclass(frozen=True, slots=True)
class MeterView:
    id: int
    serial: str
    account_id: int
    zones: tuple[TariffZone, ...]
    digits: int
    decimals: int
    last: dict[TariffZone, Decimal | None]
    last_reading_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountBrief:
    """What the readings flow needs of an account (no debt or other confidential data)."""

    id: int
    number: str
    category: Category
    address: str
    timezone: str


@dataclass(frozen=True, slots=True)
class StoredReading:
    id: int
    meter_id: int
    serial: str
    zone: TariffZone
    value: Decimal
    source: ReadingSource
    status: ReadingStatus
    flag_reason: str | None
    verdict: Verdict
    consumption: Decimal | None
    in_period: bool
    counts_from: date
    taken_at: datetime


@dataclass(frozen=True, slots=True)
class ExportRow:
    reading_id: int
    account_number: str
    meter_serial: str
    zone: str
    value: Decimal
    taken_at: datetime
    counts_from: date
    source: str
    status: str
    consumption: Decimal | None
    call_uniqueid: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "reading_id": self.reading_id,
            "account": self.account_number,
            "meter": self.meter_serial,
            "zone": self.zone,
            "value": _plain(self.value),
            "taken_at": self.taken_at.isoformat(),
            "counts_from": self.counts_from.isoformat(),
            "source": self.source,
            "status": self.status,
            "consumption": None if self.consumption is None else _plain(self.consumption),
            "call": self.call_uniqueid,
        }


def _zones(meter: Meter) -> tuple[TariffZone, ...]:
    return (TariffZone.T1, TariffZone.T2, TariffZone.T3)[: max(1, min(3, meter.zones))]


def _meter_view(meter: Meter) -> MeterView:
    zones = _zones(meter)
    return MeterView(
        id=meter.id,
        serial=meter.serial,
        account_id=meter.account_id,
        zones=zones,
        digits=meter.digits,
        decimals=meter.decimals,
        last={z: meter.last_value(z) for z in zones},
        last_reading_at=meter.last_reading_at,
    )


_LAST_COLUMN = {TariffZone.T1: "last_t1", TariffZone.T2: "last_t2", TariffZone.T3: "last_t3"}


def _tz(name: str | None, default: str) -> ZoneInfo:
    for candidate in (name, default, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


class ReadingService:
    """Stores meter readings (REQ-T14) under the rules above, and exports them."""

    def __init__(
        self,
        db: Database,
        *,
        policy: ReadingPolicy | None = None,
        timezone: str = "Europe/Moscow",
        clock: Callable[[], datetime] = utcnow,
        stale_after: timedelta = timedelta(minutes=10),
    ) -> None:
        self.db = db
        self.policy = policy or ReadingPolicy()
        self.timezone = timezone
        self._clock = clock
        self.stale_after = stale_after

    @classmethod
    def from_settings(cls, db: Database, settings: object) -> ReadingService:
        return cls(
            db,
            policy=ReadingPolicy.from_settings(settings),
            timezone=str(getattr(settings, "timezone", "Europe/Moscow")),
        )

    def now(self) -> datetime:
        return self._clock()

    # -- what the flow needs ---------------------------------------------------

    def account(self, account_id: int) -> AccountBrief:
        with self.db.session() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise NotFound(f"account {account_id} does not exist")
            return AccountBrief(
                id=account.id,
                number=account.number,
                category=account.category,
                address=account_display_address(account),
                timezone=account.timezone,
            )

    def meters(self, account_id: int) -> list[MeterView]:
        with self.db.session(readonly=True) as session:  # one statement
            rows = session.execute(
                select(Meter).where(Meter.account_id == account_id).order_by(Meter.id)
            ).scalars()
            return [_meter_view(m) for m in rows]

    def meter(self, meter_id: int) -> MeterView:
        with self.db.session() as session:
            meter = session.get(Meter, meter_id)
            if meter is None:
                raise MeterNotFound(f"meter {meter_id} does not exist")
            return _meter_view(meter)

    def local_today(self, account_tz: str | None = None) -> date:
        return self.now().astimezone(_tz(account_tz, self.timezone)).date()

    def check(self, meter: MeterView, zone: TariffZone, value: int | Decimal) -> Check:
        """The verdict for ``value`` against ``meter``'s last reading (no writes)."""
        return check_reading(
            value,
            previous=meter.last.get(zone),
            previous_at=meter.last_reading_at,
            now=self.now(),
            digits=meter.digits,
            policy=self.policy,
        )

    def period(self, account_tz: str | None = None) -> PeriodStatus:
        return period_status(self.local_today(account_tz), self.policy)

    # -- submit ---------------------------------------------------------------

    def submit(
        self,
        *,
        meter_id: int,
        zone: TariffZone | str,
        value: int | Decimal,
        source: ReadingSource | str,
        recognised_text: str | None = None,
        confidence: float | None = None,
        audio_ref: str | None = None,
        call_uniqueid: str | None = None,
        confirmed_jump: bool = False,
    ) -> StoredReading:
        """Validate and store one reading, updating the meter's last value (one transaction).

        Raises :class:`ReadingRejected` (below the previous reading, too many
        digits, a zone the meter does not have), :class:`ConfirmationRequired`
        (a suspicious jump without ``confirmed_jump``), :class:`MeterNotFound`.
        """
        zone = TariffZone(zone)
        source = ReadingSource(source)
        value = Decimal(value)
        now = self.now()
        with self.db.session(write=True) as session:
            meter = session.execute(
                select(Meter).where(Meter.id == meter_id).with_for_update()
            ).scalar_one_or_none()
            if meter is None:
                raise MeterNotFound(f"meter {meter_id} does not exist")
            if zone not in _zones(meter):
                raise ReadingRejected(
                    Check(Verdict.TOO_MANY_DIGITS, None, None, f"meter has no zone {zone}")
                )
            result = check_reading(
                value,
                previous=meter.last_value(zone),
                previous_at=meter.last_reading_at,
                now=now,
                digits=meter.digits,
                policy=self.policy,
            )
            if result.verdict in (Verdict.BELOW_PREVIOUS, Verdict.TOO_MANY_DIGITS):
                raise ReadingRejected(result)
            if result.verdict is Verdict.SUSPICIOUS and not confirmed_jump:
                raise ConfirmationRequired(result)
            account_tz = session.execute(
                select(Account.timezone).where(Account.id == meter.account_id)
            ).scalar_one_or_none()
            period = period_status(
                now.astimezone(_tz(account_tz, self.timezone)).date(), self.policy
            )
            call_id = self._call_id(session, call_uniqueid) if call_uniqueid else None
            flagged = result.verdict is Verdict.SUSPICIOUS
            reading = Reading(
                meter_id=meter.id,
                zone=zone,
                value=value,
                taken_at=now,
                source=source,
                recognised_text=recognised_text,
                confidence=confidence,
                audio_ref=audio_ref,
                call_id=call_id,
                status=ReadingStatus.FLAGGED if flagged else ReadingStatus.ACCEPTED,
                flag_reason=result.reason[:255] if flagged else None,
            )
            session.add(reading)
            session.flush()
            session.add(
                ReadingBilling(
                    reading_id=reading.id,
                    counts_from=period.counts_from,
                    in_period=period.in_period,
                    verdict=result.verdict.value,
                    consumption=result.consumption,
                )
            )
            setattr(meter, _LAST_COLUMN[zone], value)
            meter.last_reading_at = now
            session.flush()
            stored = StoredReading(
                id=reading.id,
                meter_id=meter.id,
                serial=meter.serial,
                zone=zone,
                value=value,
                source=source,
                status=reading.status,
                flag_reason=reading.flag_reason,
                verdict=result.verdict,
                consumption=result.consumption,
                in_period=period.in_period,
                counts_from=period.counts_from,
                taken_at=now,
            )
        logger.info(
            "reading %s stored: meter id %s zone %s, %s, %s",
            stored.id,
            stored.meter_id,
            stored.zone,
            stored.verdict,
            stored.status,
        )
        return stored

    def _call_id(self, session: Session, uniqueid: str) -> int:
        maker = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        session.execute(
            maker(Call)
            .values(
                uniqueid=uniqueid,
                direction=CallDirection.IN,
                ivr_path=[],
                started_at=self.now(),
            )
            .on_conflict_do_nothing(index_elements=["uniqueid"])
        )
        return int(session.execute(select(Call.id).where(Call.uniqueid == uniqueid)).scalar_one())

    def readings_of_call(self, call_uniqueid: str) -> list[StoredReading]:
        """The readings stored during one call (for tests and the operator card)."""
        with self.db.session() as session:
            rows = session.execute(
                select(Reading, ReadingBilling, Meter.serial)
                .join(Call, Call.id == Reading.call_id)
                .join(ReadingBilling, ReadingBilling.reading_id == Reading.id)
                .join(Meter, Meter.id == Reading.meter_id)
                .where(Call.uniqueid == call_uniqueid)
                .order_by(Reading.id)
            ).all()
            return [_stored(r, b, serial) for r, b, serial in rows]

    def review(self, reading_id: int, *, accept: bool) -> StoredReading:
        """A reviewer's decision on a flagged reading. Rejecting it restores the
        meter's last value from the latest remaining reading of that zone."""
        with self.db.session(write=True) as session:
            reading = session.get(Reading, reading_id, with_for_update=True)
            if reading is None:
                raise NotFound(f"reading {reading_id} does not exist")
            billing = session.get(ReadingBilling, reading_id)
            meter = session.execute(
                select(Meter).where(Meter.id == reading.meter_id).with_for_update()
            ).scalar_one()
            if accept:
                reading.status = ReadingStatus.ACCEPTED
            else:
                reading.status = ReadingStatus.REJECTED
                session.flush()
                latest = session.execute(
                    select(Reading)
                    .where(
                        Reading.meter_id == meter.id,
                        Reading.zone == reading.zone,
                        Reading.status != ReadingStatus.REJECTED,
                    )
                    .order_by(Reading.taken_at.desc(), Reading.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                setattr(meter, _LAST_COLUMN[reading.zone], latest.value if latest else None)
            session.flush()
            assert billing is not None
            return _stored(reading, billing, meter.serial)

    # -- export -----------------------------------------------------------------

    def _day_bounds(self, day_from: date | None, day_to: date | None) -> tuple[Any, Any]:
        tz = _tz(None, self.timezone)
        lo = datetime.combine(day_from, time.min, tz).astimezone(UTC) if day_from else None
        hi = (
            datetime.combine(day_to + timedelta(days=1), time.min, tz).astimezone(UTC)
            if day_to
            else None
        )
        return lo, hi

    def export_rows(
        self,
        day_from: date | None = None,
        day_to: date | None = None,
        *,
        statuses: Sequence[ReadingStatus] = (ReadingStatus.ACCEPTED,),
    ) -> list[ExportRow]:
        """Readings taken between ``day_from`` and ``day_to`` (inclusive, company time zone)."""
        lo, hi = self._day_bounds(day_from, day_to)
        stmt = _export_select().where(Reading.status.in_(list(statuses)))
        if lo is not None:
            stmt = stmt.where(Reading.taken_at >= lo)
        if hi is not None:
            stmt = stmt.where(Reading.taken_at < hi)
        with self.db.session() as session:
            return [_export_row(row) for row in session.execute(stmt.order_by(Reading.id)).all()]

    def claim_for_export(self, *, limit: int = 1000) -> tuple[str, list[ExportRow]]:
        """Claim accepted readings not yet handed over to billing (a new batch id).

        A claim older than ``stale_after`` without delivery is taken over.
        """
        batch = uuid.uuid4().hex
        now = self.now()
        stale = now - self.stale_after
        with self.db.session(write=True) as session:
            ids = list(
                session.execute(
                    select(ReadingBilling.reading_id)
                    .join(Reading, Reading.id == ReadingBilling.reading_id)
                    .where(
                        Reading.status == ReadingStatus.ACCEPTED,
                        ReadingBilling.exported_at.is_(None),
                        or_(
                            ReadingBilling.export_batch.is_(None),
                            ReadingBilling.claimed_at < stale,
                        ),
                    )
                    .order_by(ReadingBilling.reading_id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not ids:
                return batch, []
            session.execute(
                update(ReadingBilling)
                .where(
                    ReadingBilling.reading_id.in_(ids),
                    ReadingBilling.exported_at.is_(None),
                )
                .values(export_batch=batch, claimed_at=now)
            )
            rows = session.execute(
                _export_select().where(Reading.id.in_(ids)).order_by(Reading.id)
            ).all()
            return batch, [_export_row(r) for r in rows]

    def pending_export(self) -> int:
        """Accepted readings not yet handed over to billing (claimed or not)."""
        from sqlalchemy import func

        with self.db.session() as session:
            return int(
                session.execute(
                    select(func.count())
                    .select_from(ReadingBilling)
                    .join(Reading, Reading.id == ReadingBilling.reading_id)
                    .where(
                        Reading.status == ReadingStatus.ACCEPTED,
                        ReadingBilling.exported_at.is_(None),
                    )
                ).scalar_one()
            )

    def mark_exported(self, batch: str) -> int:
        """The batch was delivered: mark its readings exported (once)."""
        with self.db.session(write=True) as session:
            result = session.execute(
                update(ReadingBilling)
                .where(ReadingBilling.export_batch == batch, ReadingBilling.exported_at.is_(None))
                .values(exported_at=self.now())
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def release(self, batch: str) -> int:
        """Delivery failed: the batch's readings become exportable again."""
        with self.db.session(write=True) as session:
            result = session.execute(
                update(ReadingBilling)
                .where(ReadingBilling.export_batch == batch, ReadingBilling.exported_at.is_(None))
                .values(export_batch=None, claimed_at=None)
            )
            return int(getattr(result, "rowcount", 0) or 0)


def _stored(reading: Reading, billing: ReadingBilling, serial: str) -> StoredReading:
    return StoredReading(
        id=reading.id,
        meter_id=reading.meter_id,
        serial=serial,
        zone=reading.zone,
        value=reading.value,
        source=reading.source,
        status=reading.status,
        flag_reason=reading.flag_reason,
        verdict=Verdict(billing.verdict),
        consumption=billing.consumption,
        in_period=billing.in_period,
        counts_from=billing.counts_from,
        taken_at=reading.taken_at,
    )


def _export_select() -> Any:
    return (
        select(
            Reading.id,
            Account.number,
            Meter.serial,
            Reading.zone,
            Reading.value,
            Reading.taken_at,
            ReadingBilling.counts_from,
            Reading.source,
            Reading.status,
            ReadingBilling.consumption,
            Call.uniqueid,
        )
        .join(Meter, Meter.id == Reading.meter_id)
        .join(Account, Account.id == Meter.account_id)
        .join(ReadingBilling, ReadingBilling.reading_id == Reading.id)
        .outerjoin(Call, and_(Call.id == Reading.call_id))
    )


def _export_row(row: Any) -> ExportRow:
    return ExportRow(
        reading_id=row[0],
        account_number=row[1],
        meter_serial=row[2],
        zone=str(TariffZone(row[3])),
        value=Decimal(row[4]),
        taken_at=row[5],
        counts_from=row[6],
        source=str(ReadingSource(row[7])),
        status=str(ReadingStatus(row[8])),
        consumption=None if row[9] is None else Decimal(row[9]),
        call_uniqueid=row[10],
    )


EXPORT_HEADER = (
    "reading_id",
    "account",
    "meter",
    "zone",
    "value",
    "taken_at",
    "counts_from",
    "source",
    "status",
    "consumption",
    "call",
)
"""Column names of the billing export (stable: billing systems parse them)."""


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _cells(row: ExportRow) -> list[str]:
    return [
        str(row.reading_id),
        row.account_number,
        row.meter_serial,
        row.zone,
        _plain(row.value),
        row.taken_at.isoformat(),
        row.counts_from.isoformat(),
        row.source,
        row.status,
        "" if row.consumption is None else _plain(row.consumption),
        row.call_uniqueid or "",
    ]


def export_csv(rows: Sequence[ExportRow], *, delimiter: str = ";") -> bytes:
    """CSV for billing: UTF-8 with a BOM (Excel opens it as UTF-8), ``;``-separated."""
    buf = io.StringIO()
    writer = safe_writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADER)
    for row in rows:
        writer.writerow(_cells(row))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def export_xlsx(rows: Sequence[ExportRow]) -> bytes:
    """The same columns as an XLSX workbook (sheet «Показания»)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Показания")
    safe_append(ws, list(EXPORT_HEADER))
    for row in rows:
        safe_append(
            ws,
            [
                row.reading_id,
                row.account_number,
                row.meter_serial,
                row.zone,
                float(row.value) if row.value != row.value.to_integral() else int(row.value),
                row.taken_at.astimezone(UTC).replace(tzinfo=None),
                row.counts_from,
                row.source,
                row.status,
                None if row.consumption is None else float(row.consumption),
                row.call_uniqueid or "",
            ],
        )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
