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
schedule. The one exception is issue 16's «нет света» answered first
(:meth:`OutageService.emergency_for_phone`, ``ivr.flows.outage_first``): a
caller from a number on file whose house is in an emergency outage *now* is
told so, and when the power is expected back, before the menu — no address,
no schedule, nothing the residents of the house without power do not know.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import weakref
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    func,
    select,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm_bridge.address import from_parts, parse_address
from crm_bridge.db import Base, Database, UtcDateTime, utcnow
from crm_bridge.models import Account, AccountPhone, ClassificationCode, Counter
from crm_bridge.phones import try_normalize_phone

__all__ = [
    "DEFAULT_HORIZON",
    "OPEN_END",
    "CallerEmergency",
    "Outage",
    "OutageKind",
    "OutageService",
    "OutageView",
    "Scope",
    "has_unsettled",
    "house_number",
    "register_accounts",
    "scope_accounts",
    "touch",
]

logger = logging.getLogger(__name__)

DEFAULT_HORIZON: Final = timedelta(days=7)
"""How far ahead :meth:`OutageService.affecting` looks for planned outages."""
_HOUSE_NUMBER_RE: Final = re.compile(r"^(\d+)")
_LIMITATION_RE: Final = re.compile(r"огранич", re.IGNORECASE)
OPEN_END: Final = datetime(9000, 1, 1, tzinfo=UTC)
"""The ``ends_at`` of the rows of an emergency of the register not yet
marked restored: it stays active until the dispatcher marks it restored,
whatever its estimate (``eta``) says (an overdue estimate is announced as
«сроки уточняются», never as a time in the past)."""
MAX_PHONE_ACCOUNTS: Final = 20
"""Accounts of one calling number looked at by :meth:`OutageService.emergency_for_phone`."""


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
    """Planned end, or the estimated restoration time of an emergency added
    directly; :data:`OPEN_END` for an open emergency of the register."""
    eta: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The estimated restoration time of an emergency of the register (None:
    «уточняется»; rows added directly keep theirs in ``ends_at``)."""
    settlement_key: Mapped[str | None] = mapped_column(String(128), index=True)
    street_key: Mapped[str | None] = mapped_column(String(128), index=True)
    house_from: Mapped[int | None] = mapped_column(Integer)
    house_to: Mapped[int | None] = mapped_column(Integer)
    house_key: Mapped[str | None] = mapped_column(String(255), index=True)
    address_text: Mapped[str] = mapped_column(String(512), default="")
    """The area as published (for people, never spoken)."""
    reason: Mapped[str] = mapped_column(Text, default="")
    register_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The outage of the register (``outages`` slice) this scope belongs to;
    None for rows added directly (demo data, tests)."""
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
    register_id: int | None = None
    eta: datetime | None = None

    @classmethod
    def from_model(cls, outage: Outage) -> OutageView:
        return cls(**{f.name: getattr(outage, f.name) for f in fields(cls)})

    def current(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    @property
    def restore_by(self) -> datetime:
        """When the power is expected back, for ordering (:data:`OPEN_END`
        when not known: the latest)."""
        return self.eta if self.eta is not None else self.ends_at

    def estimate(self, now: datetime) -> datetime | None:
        """The restoration time to tell a caller at ``now``: None when it is
        not known or has passed (the emergency is not restored yet: «сроки
        уточняются»)."""
        when = self.restore_by
        return None if when >= OPEN_END or when <= now else when

    @property
    def classification(self) -> ClassificationCode:
        """The REQ-A4 code of an appeal about this outage: Ог (consumption
        limitation) when the register's reason says the supply is limited
        («ограничение режима потребления», a schedule of limitation), else
        КЭ (power quality: the supply is interrupted)."""
        return (
            ClassificationCode.OG if _LIMITATION_RE.search(self.reason) else ClassificationCode.KE
        )


@dataclass(frozen=True, slots=True)
class CallerEmergency:
    """An account of the calling number inside an emergency outage at ``now``."""

    account_id: int
    outage: OutageView


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
            touch(session)
            view = OutageView.from_model(outage)
        logger.info("outage %s added (%s)", view.id, view.kind)
        return view

    def remove(self, outage_id: int) -> None:
        with self.db.session(write=True) as session:
            outage = session.get(Outage, outage_id)
            if outage is not None:
                session.delete(outage)
                touch(session)

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
        then by start time. An unknown account gives an empty list.

        The hot path of every identified call: one primary-key read of the
        account and one of the register's change mark, then the outages
        from an in-process snapshot of those not ended (:class:`_Snapshot`,
        read again whenever the mark moves)."""
        when = now or utcnow()
        ahead = self.horizon if horizon is None else horizon
        with self.db.transaction() as conn:
            place = _place_of(conn, account_id, house_key, settlement_key)
            if place is None:
                return []
            snapshot = _snapshot(self.db, conn, when)
        found = [
            o
            for o in snapshot.candidates(place)
            if o.ends_at > when and o.starts_at <= when + ahead and _covers(o, place)
        ]
        found.sort(key=lambda o: (o.kind is not OutageKind.EMERGENCY, o.starts_at, o.id))
        return found

    def emergency(self, account_id: int, now: datetime | None = None) -> OutageView | None:
        """The emergency outage the account's address is inside at ``now``
        (the one restored last when several overlap), or None
        (``bench/outage_match.py`` measures it)."""
        when = now or utcnow()
        with self.db.transaction() as conn:
            snapshot = _snapshot(self.db, conn, when)
            if not snapshot.emergencies:
                return None
            place = _place_of(conn, account_id, None, None)
        return None if place is None else _emergency_at(snapshot, place, when)

    def emergency_for_phone(
        self, calling_number: str | None, now: datetime | None = None
    ) -> CallerEmergency | None:
        """The IVR's question before the menu (issue 16): is an account of the
        calling number (any of them, when it has several) inside an emergency
        outage at ``now``? One transaction: the register's change mark (with
        no emergency in the snapshot, nothing more), then the places of the
        number's accounts in one query (the phone index); the outages
        from the in-process snapshot (``bench/outage_match.py`` measures it)."""
        phone = try_normalize_phone(calling_number)
        if phone is None:
            return None
        when = now or utcnow()
        found: list[CallerEmergency] = []
        with self.db.transaction() as conn:
            snapshot = _snapshot(self.db, conn, when)
            if not snapshot.emergencies:
                return None
            for account_id, *columns in conn.execute(_PHONE_PLACES, {"phone": phone}):
                outage = _emergency_at(snapshot, _place_from(*columns), when)
                if outage is not None:
                    found.append(CallerEmergency(account_id, outage))
        if not found:
            return None
        return max(found, key=lambda f: (f.outage.restore_by, f.outage.id, -f.account_id))


def _emergency_at(snapshot: _Snapshot, place: _Place, when: datetime) -> OutageView | None:
    found = [
        o
        for o in snapshot.candidates(place)
        if o.kind is OutageKind.EMERGENCY and o.current(when) and _covers(o, place)
    ]
    return max(found, key=lambda o: (o.restore_by, o.id)) if found else None


_PLACE: Final = select(
    Account.settlement_key, Account.house_key, Account.street_type, Account.street, Account.house
).where(Account.id == bindparam("account_id"))
_PHONE_PLACES: Final = (
    select(
        Account.id,
        Account.settlement_key,
        Account.house_key,
        Account.street_type,
        Account.street,
        Account.house,
    )
    .join(AccountPhone, AccountPhone.account_id == Account.id)
    .where(AccountPhone.phone == bindparam("phone"))
    .order_by(Account.id)
    .limit(MAX_PHONE_ACCOUNTS)
)
"""The places of a calling number's accounts, in one trip (the phone index,
then each account by its primary key)."""
_MARK_NAME: Final = "outages"
_MARK: Final = select(
    select(Counter.value).where(Counter.name == _MARK_NAME).scalar_subquery(),
    select(func.max(Outage.id)).scalar_subquery(),
)


def _place_from(
    a_settlement: str | None,
    a_house_key: str | None,
    street_type: str | None,
    street: str | None,
    house: str | None,
) -> _Place:
    """An account's place from its address columns (:data:`_PLACE`)."""
    if a_house_key:  # ``street|house``: its street part is the parsed street
        street_key: str | None = a_house_key.partition("|")[0]
    else:
        street_key = from_parts(street_type=street_type, street=street).street
    return _Place(
        settlement_key=a_settlement,
        street_key=street_key,
        house_key=a_house_key,
        house_no=house_number(house),
    )


def _place_of(
    conn: Connection, account_id: int | None, house_key: str | None, settlement_key: str | None
) -> _Place | None:
    if account_id is not None:
        row = conn.execute(_PLACE, {"account_id": account_id}).first()
        return None if row is None else _place_from(*row)
    if house_key is None and settlement_key is None:
        return None
    street, _, house = (house_key or "").partition("|")
    return _Place(
        settlement_key=settlement_key,
        street_key=street or None,
        house_key=house_key,
        house_no=house_number(house),
    )


def touch(session: Session) -> None:
    """Move the register's change mark (every write of ``outages`` rows
    calls it in its transaction): every node's snapshot is read again."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = upsert(Counter).values(name=_MARK_NAME, value=1)
    session.execute(
        stmt.on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + 1})
    )


@dataclass(frozen=True)
class _Snapshot:
    """The outages not ended at ``since``, by the key a place is looked up with."""

    mark: tuple[Any, Any]
    since: datetime
    by_house: dict[str, list[OutageView]]
    by_street: dict[str, list[OutageView]]
    by_settlement: dict[str, list[OutageView]]
    """Whole-settlement outages only (no street, no house)."""
    emergencies: bool = False
    """Whether any emergency outage is not ended at ``since`` (else the
    emergency checks need no place)."""

    def candidates(self, place: _Place) -> list[OutageView]:
        out: list[OutageView] = []
        if place.house_key:
            out += self.by_house.get(place.house_key, ())
        if place.street_key:
            out += self.by_street.get(place.street_key, ())
        if place.settlement_key:
            out += self.by_settlement.get(place.settlement_key, ())
        return out


_SNAPSHOTS: Final[weakref.WeakKeyDictionary[Database, _Snapshot]] = weakref.WeakKeyDictionary()
_SNAPSHOT_LOCK: Final = threading.Lock()


def _snapshot(db: Database, conn: Connection, when: datetime) -> _Snapshot:
    mark = tuple(conn.execute(_MARK).one())
    found = _SNAPSHOTS.get(db)
    if found is not None and found.mark == mark and found.since <= when:
        return found
    with _SNAPSHOT_LOCK:
        found = _SNAPSHOTS.get(db)
        if found is not None and found.mark == mark and found.since <= when:
            return found
        by_house: dict[str, list[OutageView]] = {}
        by_street: dict[str, list[OutageView]] = {}
        by_settlement: dict[str, list[OutageView]] = {}
        with Session(bind=conn) as session:
            for row in session.scalars(select(Outage).where(Outage.ends_at > when)):
                view = OutageView.from_model(row)
                if view.house_key is not None:
                    by_house.setdefault(view.house_key, []).append(view)
                elif view.street_key is not None:
                    by_street.setdefault(view.street_key, []).append(view)
                elif view.settlement_key is not None:
                    by_settlement.setdefault(view.settlement_key, []).append(view)
        emergencies = any(
            o.kind is OutageKind.EMERGENCY
            for group in (by_house, by_street, by_settlement)
            for views in group.values()
            for o in views
        )
        fresh = _Snapshot((mark[0], mark[1]), when, by_house, by_street, by_settlement, emergencies)
        _SNAPSHOTS[db] = fresh
        return fresh


def _covers(outage: Outage | OutageView, place: _Place) -> bool:
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


# -- resolving scopes to accounts (the register's preview, the campaign lists) ------------


@dataclass(frozen=True, slots=True)
class Scope:
    """One affected area: a house, a street (with an optional house range)
    or a whole settlement — the shape of one ``outages`` row."""

    settlement_key: str | None = None
    street_key: str | None = None
    house_from: int | None = None
    house_to: int | None = None
    house_key: str | None = None

    @classmethod
    def of(cls, outage: Outage | OutageView) -> Scope:
        return cls(
            outage.settlement_key,
            outage.street_key,
            outage.house_from,
            outage.house_to,
            outage.house_key,
        )


def _street_houses(session: Session, street_key: str) -> ColumnElement[bool]:
    """``house_key`` starts with ``street|``, as one index range ("|" + 1 is
    "}"): plain comparisons on SQLite; on PostgreSQL the byte-wise operators
    of ``text_pattern_ops`` (``~>=~``, ``~<~``), which its index serves in any
    locale and, unlike ``LIKE $1``, in a prepared statement's generic plan too."""
    low, high = street_key + "|", street_key + "}"
    if session.get_bind().dialect.name == "postgresql":
        column = Account.house_key
        return column.op("~>=~", is_comparison=True)(low) & column.op("~<~", is_comparison=True)(
            high
        )
    return (Account.house_key >= low) & (Account.house_key < high)


def has_unsettled(session: Session) -> bool:
    """Whether any account has no settlement (then a street of a named
    settlement also takes it, one more indexed query per line)."""
    found = session.execute(
        select(Account.id).where(Account.settlement_key.is_(None)).limit(1)
    ).first()
    return found is not None


def scope_accounts(session: Session, scope: Scope, *, unsettled: bool | None = None) -> set[int]:
    """The ids of the accounts inside ``scope`` (the same rule as
    :meth:`OutageService.affecting`, seen from the other side: an account
    with no settlement is inside a street of any settlement).

    Each query is one index range: ``house_key`` for a house or a street of
    any settlement, ``(settlement_key, house_key)`` for a street of one
    settlement or a whole settlement. A house range reads the street's
    distinct houses from the index first, then the accounts of the houses
    inside. ``unsettled`` is :func:`has_unsettled`, given when many scopes are
    resolved at once."""
    settled: list[ColumnElement[bool] | None] = [None]
    if scope.settlement_key is not None:
        settled = [Account.settlement_key == scope.settlement_key]
        if scope.house_key is not None or scope.street_key is not None:
            if has_unsettled(session) if unsettled is None else unsettled:
                settled.append(Account.settlement_key.is_(None))
    conn = session.connection()  # Core rows: the ids only, no ORM loading

    def ids(*where: ColumnElement[bool] | None) -> set[int]:
        query = select(Account.id).where(*(w for w in where if w is not None))
        return set(conn.execute(query).scalars().all())

    out: set[int] = set()
    if scope.house_key is not None:
        for s in settled:
            out |= ids(s, Account.house_key == scope.house_key)
    elif scope.street_key is not None:
        houses = _street_houses(session, scope.street_key)
        if scope.house_from is None and scope.house_to is None:
            for s in settled:
                out |= ids(s, houses)
            return out
        # A range: the street's distinct houses from the index, their numbers
        # checked here, then the accounts of the houses inside only.
        low = scope.house_from if scope.house_from is not None else 0
        high = scope.house_to if scope.house_to is not None else 10**9
        for s in settled:
            keys = conn.execute(
                select(Account.house_key)
                .where(*(w for w in (s, houses) if w is not None))
                .distinct()
            ).scalars()
            inside = [
                k
                for k in keys
                if (n := house_number((k or "").partition("|")[2])) is not None and low <= n <= high
            ]
            for i in range(0, len(inside), 500):
                out |= ids(s, Account.house_key.in_(inside[i : i + 500]))
    elif scope.settlement_key is not None:
        out = ids(Account.settlement_key == scope.settlement_key)
    return out


def register_accounts(session: Session, register_id: int) -> set[int]:
    """Every account inside the scopes of one outage of the register."""
    rows = session.scalars(select(Outage).where(Outage.register_id == register_id))
    unsettled = has_unsettled(session)
    out: set[int] = set()
    for row in rows:
        out |= scope_accounts(session, Scope.of(row), unsettled=unsettled)
    return out
