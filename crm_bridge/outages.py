"""Planned and emergency power outages (the hotline menu item 2, REQ-O9).

An :class:`Outage` covers one of three scopes, from the narrowest:

* a **house** (``house_key`` = normalised ``street|house``, the same key as
  :attr:`crm_bridge.models.Account.house_key`);
* a **street**, optionally a range of house numbers (``street_key`` =
  normalised street name, ``house_from``/``house_to`` numeric parts,
  inclusive; no range = the whole street);
* a **settlement** (``settlement_key``, as :attr:`Account.settlement_key`).

:meth:`OutageService.affecting` lists the outages that concern an account
(or an address) and are current or start within a horizon (default 7 days):
the inbound menu announces them (ivr.flows.hotline) and the autoinformer
builds its planned-outage campaigns from them (REQ-O9).

Outage schedules are public information (published on the company's site),
and the address itself is never spoken. But «the outages at *your*
address», told to whoever calls from a number on file, would say where the
holder of that number lives and when the house is without power: the
inbound menu tells them only after the caller passed the identity gate
(``ivr.identity``, REQ-T9, T13), and otherwise points to the published
schedule.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Enum as SAEnum
from sqlalchemy import Index, Integer, String, Text, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.address import from_parts, parse_address
from crm_bridge.db import Base, Database, UtcDateTime, utcnow
from crm_bridge.models import Account

__all__ = [
    "DEFAULT_HORIZON",
    "Outage",
    "OutageKind",
    "OutageService",
    "OutageView",
    "house_number",
]

logger = logging.getLogger(__name__)

DEFAULT_HORIZON: Final = timedelta(days=7)
"""How far ahead :meth:`OutageService.affecting` looks for planned outages."""
_HOUSE_NUMBER_RE: Final = re.compile(r"^(\d+)")


class OutageKind(enum.StrEnum):
    PLANNED = "planned"
    EMERGENCY = "emergency"


class Outage(Base):
    """One outage over a house, a street (range) or a settlement."""

    __tablename__ = "outages"
    __table_args__ = (Index("ix_outages_ends_at_starts_at", "ends_at", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OutageKind] = mapped_column(
        SAEnum(
            OutageKind,
            name="outage_kind",
            native_enum=False,
            create_constraint=False,
            validate_strings=True,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        )
    )
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """Planned end, or the estimated restoration time of an emergency."""
    settlement_key: Mapped[str | None] = mapped_column(String(128), index=True)
    street_key: Mapped[str | None] = mapped_column(String(128), index=True)
    house_from: Mapped[int | None] = mapped_column(Integer)
    house_to: Mapped[int | None] = mapped_column(Integer)
    house_key: Mapped[str | None] = mapped_column(String(255), index=True)
    address_text: Mapped[str] = mapped_column(String(512), default="")
    """The area as published (for people, never spoken)."""
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class OutageView:
    id: int
    kind: OutageKind
    starts_at: datetime
    ends_at: datetime
    settlement_key: str | None
    street_key: str | None
    house_from: int | None
    house_to: int | None
    house_key: str | None
    address_text: str
    reason: str

    @classmethod
    def from_model(cls, outage: Outage) -> OutageView:
        return cls(**{f.name: getattr(outage, f.name) for f in fields(cls)})

    def current(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


def house_number(house: str | None) -> int | None:
    """The numeric part of a house number (``"12а"`` → 12, ``"5/2"`` → 5)."""
    if not house:
        return None
    m = _HOUSE_NUMBER_RE.match(house.strip())
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class _Place:
    settlement_key: str | None
    street_key: str | None
    house_key: str | None
    house_no: int | None


class OutageService:
    """Outages: add them, and find the ones affecting an account or address."""

    def __init__(self, db: Database, *, horizon: timedelta = DEFAULT_HORIZON) -> None:
        self.db = db
        self.horizon = horizon

    def add(
        self,
        *,
        kind: OutageKind | str,
        starts_at: datetime,
        ends_at: datetime,
        house_key: str | None = None,
        street_key: str | None = None,
        house_from: int | None = None,
        house_to: int | None = None,
        settlement_key: str | None = None,
        address: str | None = None,
        address_text: str = "",
        reason: str = "",
    ) -> OutageView:
        """Register an outage. ``address`` (free text, e.g. «ул. Ленина, д. 5»)
        fills ``house_key`` (or ``street_key`` when it has no house) through
        the same parser as account addresses. At least one scope is required."""
        if starts_at.tzinfo is None or ends_at.tzinfo is None:
            raise ValueError("outage times must be timezone-aware")
        if ends_at <= starts_at:
            raise ValueError("an outage ends after it starts")
        if address:
            parsed = parse_address(address if re.search(r"\d", address) else f"{address} 1")
            if re.search(r"\d", address) and parsed.house_key:
                house_key = house_key or parsed.house_key
            street_key = street_key or parsed.street
            settlement_key = settlement_key or parsed.settlement
            address_text = address_text or address
        if house_from is not None and house_to is not None and house_to < house_from:
            raise ValueError("house_to is below house_from")
        if not (house_key or street_key or settlement_key):
            raise ValueError("an outage needs a house, a street or a settlement")
        outage = Outage(
            kind=OutageKind(kind),
            starts_at=starts_at,
            ends_at=ends_at,
            house_key=house_key,
            street_key=street_key,
            house_from=house_from,
            house_to=house_to,
            settlement_key=settlement_key,
            address_text=address_text,
            reason=reason,
        )
        with self.db.session(write=True) as session:
            session.add(outage)
            session.flush()
            view = OutageView.from_model(outage)
        logger.info("outage %s added (%s)", view.id, view.kind)
        return view

    def remove(self, outage_id: int) -> None:
        with self.db.session(write=True) as session:
            outage = session.get(Outage, outage_id)
            if outage is not None:
                session.delete(outage)

    def affecting(
        self,
        *,
        account_id: int | None = None,
        house_key: str | None = None,
        settlement_key: str | None = None,
        now: datetime | None = None,
        horizon: timedelta | None = None,
    ) -> list[OutageView]:
        """Outages at the account's (or the given) address that are in
        progress at ``now`` or start within ``horizon``; emergencies first,
        then by start time. An unknown account gives an empty list."""
        when = now or utcnow()
        ahead = self.horizon if horizon is None else horizon
        with self.db.session(readonly=True) as session:
            place = self._place(session, account_id, house_key, settlement_key)
            if place is None:
                return []
            scope = []
            if place.house_key:
                scope.append(Outage.house_key == place.house_key)
            if place.street_key:
                scope.append(Outage.street_key == place.street_key)
            if place.settlement_key:
                scope.append(
                    (Outage.settlement_key == place.settlement_key)
                    & Outage.street_key.is_(None)
                    & Outage.house_key.is_(None)
                )
            if not scope:
                return []
            rows = session.execute(
                select(Outage)
                .where(or_(*scope), Outage.ends_at > when, Outage.starts_at <= when + ahead)
                .order_by(Outage.starts_at, Outage.id)
            ).scalars()
            found = [OutageView.from_model(o) for o in rows if _covers(o, place)]
        found.sort(key=lambda o: (o.kind is not OutageKind.EMERGENCY, o.starts_at, o.id))
        return found

    @staticmethod
    def _place(
        session: object,
        account_id: int | None,
        house_key: str | None,
        settlement_key: str | None,
    ) -> _Place | None:
        if account_id is not None:
            from sqlalchemy.orm import Session

            assert isinstance(session, Session)
            account = session.get(Account, account_id)
            if account is None:
                return None
            parsed = from_parts(street_type=account.street_type, street=account.street)
            return _Place(
                settlement_key=account.settlement_key,
                street_key=parsed.street,
                house_key=account.house_key,
                house_no=house_number(account.house),
            )
        if house_key is None and settlement_key is None:
            return None
        street, _, house = (house_key or "").partition("|")
        return _Place(
            settlement_key=settlement_key,
            street_key=street or None,
            house_key=house_key,
            house_no=house_number(house),
        )


def _covers(outage: Outage, place: _Place) -> bool:
    if outage.house_key is not None:
        if outage.house_key != place.house_key:
            return False
    elif outage.street_key is not None:
        if outage.street_key != place.street_key:
            return False
        if outage.house_from is not None or outage.house_to is not None:
            if place.house_no is None:
                return False
            low = outage.house_from if outage.house_from is not None else 0
            high = outage.house_to if outage.house_to is not None else 10**9
            if not low <= place.house_no <= high:
                return False
    if outage.settlement_key is not None and place.settlement_key is not None:
        return outage.settlement_key == place.settlement_key
    return True
