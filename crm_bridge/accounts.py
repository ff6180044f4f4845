"""Writing accounts and meters: one place that turns input into rows.

Used by the importers, the demo data generator and tests, so that the
normalised columns (account number key, address keys, E.164 phones) are
computed the same way everywhere. Upserts are keyed by the account number and
the meter serial, so re-importing a file changes nothing (idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from crm_bridge.address import (
    STREET_TYPES,
    ParsedAddress,
    from_parts,
    normalize_text,
    parse_address,
)
from crm_bridge.db import among, lookup_chunk, utcnow
from crm_bridge.identify import account_number_key, normalize_account_number
from crm_bridge.models import Account, AccountPhone, Category, Meter
from crm_bridge.phones import normalize_phone

__all__ = [
    "AccountData",
    "MeterData",
    "UpsertResult",
    "account_row",
    "resolve_account_ids",
    "upsert_accounts",
    "upsert_meters",
]

_CHUNK: Final = 500


NOTIFY_FORMS: Final = {"phone": "звонок", "sms": "СМС", "email": "электронная почта"}
"""The forms of notification a customer may choose (REQ-O12), for people."""


@dataclass(frozen=True, slots=True)
class AccountData:
    """One account as given by an import file or a generator.

    The address is given either as parts (``street``, ``house``…) or as one
    free-text ``address``; parts win when both are present.
    """

    number: str
    holder_name: str
    category: Category | str = Category.FL
    region: str | None = None
    settlement: str | None = None
    street_type: str | None = None
    street: str | None = None
    house: str | None = None
    building: str | None = None
    structure: str | None = None
    flat: str | None = None
    address: str | None = None
    phones: tuple[str, ...] = ()
    email: str | None = None
    debt: Decimal = Decimal("0.00")
    debt_as_of: date | None = None
    timezone: str = "Europe/Moscow"
    notify_by: str | None = None
    """The form of notification the customer chose (REQ-O12: ``phone``,
    ``sms``, ``email``); None leaves the account's choice as it is (the
    operator may have set it on the card)."""

    def parsed_address(self) -> ParsedAddress:
        if self.street or self.house:
            return from_parts(
                region=self.region,
                settlement=self.settlement,
                street_type=self.street_type,
                street=self.street,
                house=self.house,
                building=self.building,
                structure=self.structure,
                flat=self.flat,
            )
        if self.address:
            return parse_address(self.address)
        return ParsedAddress()


@dataclass(frozen=True, slots=True)
class MeterData:
    serial: str
    account_number: str
    zones: int = 1
    digits: int = 6
    decimals: int = 0
    last_t1: Decimal | None = None
    last_t2: Decimal | None = None
    last_t3: Decimal | None = None


@dataclass(slots=True)
class UpsertResult:
    created: int = 0
    updated: int = 0
    ids: dict[str, int] = field(default_factory=dict)
    """Account number (or meter serial) → row id."""


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _strip_street_type(street: str | None) -> str | None:
    """``ул. Ленина`` → ``Ленина``; ``Почтовый пер.`` → ``Почтовый`` (display form)."""
    words = (_clean(street) or "").split()
    if len(words) > 1 and normalize_text(words[0]).strip(".") in STREET_TYPES:
        words = words[1:]
    if len(words) > 1 and normalize_text(words[-1]).strip(".") in STREET_TYPES:
        words = words[:-1]
    if words and words[0].lower() in ("им.", "им", "имени"):
        words = words[1:] or words
    return " ".join(words) or None


def account_row(data: AccountData) -> dict[str, Any]:
    """The ``accounts`` columns of ``data`` (everything but ``id`` and phones).

    Structured parts are stored as given (for display; a free-text address is
    stored as its parsed parts), plus the normalised keys used for lookup.
    """
    number = normalize_account_number(data.number)
    if number is None:
        raise ValueError(f"invalid account number {data.number!r}")
    parsed = data.parsed_address()
    structured = bool(data.street or data.house)
    return {
        "number": number,
        "number_key": account_number_key(number),
        "holder_name": " ".join(data.holder_name.split()),
        "category": Category(data.category),
        "region": _clean(data.region) or (parsed.region if not structured else None),
        "settlement": _clean(data.settlement) or parsed.settlement,
        "street_type": parsed.street_type,
        "street": (_strip_street_type(data.street) if structured else None) or parsed.street,
        "house": (_clean(data.house) if structured else None) or parsed.house,
        "building": parsed.building,
        "structure": parsed.structure,
        "flat": parsed.flat,
        "address_key": parsed.key,
        "house_key": parsed.house_key,
        "settlement_key": parsed.settlement_key,
        "email": _clean(data.email),
        "debt": data.debt,
        "debt_as_of": data.debt_as_of,
        "timezone": data.timezone,
    } | ({"notify_by": data.notify_by} if data.notify_by else {})


def resolve_account_ids(session: Session, numbers: Sequence[str]) -> dict[str, int]:
    """Account ids of the given numbers: by exact number, else by the number
    without leading zeros when that is unambiguous (``12345678`` finds
    ``0012345678``: spreadsheets drop leading zeros of numeric cells)."""
    wanted = {n: account_number_key(n) for n in numbers}
    found: dict[str, int] = {}
    keys = sorted(set(wanted.values()))
    by_key: dict[str, list[tuple[str, int]]] = {}
    chunk = lookup_chunk(session)
    for start in range(0, len(keys), chunk):
        for number, key, account_id in session.execute(
            select(Account.number, Account.number_key, Account.id).where(
                among(session, Account.number_key, keys[start : start + chunk])
            )
        ).all():
            by_key.setdefault(key, []).append((number, account_id))
    for number, key in wanted.items():
        matches = by_key.get(key, [])
        exact = [i for n, i in matches if n == number]
        if exact:
            found[number] = exact[0]
        elif len(matches) == 1:
            found[number] = matches[0][1]
    return found


def _stored_numbers(session: Session, ids: Iterable[int]) -> dict[int, str]:
    id_list = sorted(set(ids))
    out: dict[int, str] = {}
    for start in range(0, len(id_list), _CHUNK):
        rows = session.execute(
            select(Account.id, Account.number).where(
                Account.id.in_(id_list[start : start + _CHUNK])
            )
        ).all()
        out.update((account_id, number) for account_id, number in rows)
    return out


def upsert_accounts(session: Session, items: Sequence[AccountData]) -> UpsertResult:
    """Insert or update accounts by number; their phone lists are replaced.

    Phones must already be valid (they are normalised here; an invalid one
    raises ``InvalidPhone`` — importers validate before calling).
    """
    result = UpsertResult()
    now = utcnow()
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        rows = [account_row(a) for a in chunk]
        existing = resolve_account_ids(session, [r["number"] for r in rows])
        stored = _stored_numbers(session, existing.values())
        for r in rows:
            if r["number"] in existing:
                # Keep the number as stored (an Excel cell may have lost its
                # leading zeros: the account is the same, see resolve_account_ids).
                r["number"] = stored[existing[r["number"]]]
                r["number_key"] = account_number_key(r["number"])
        existing = {stored[i]: i for i in existing.values()}
        new_rows = [
            {"notify_by": None} | r | {"created_at": now, "updated_at": now}
            for r in rows
            if r["number"] not in existing
        ]
        changed = [
            r | {"id": existing[r["number"]], "updated_at": now}
            for r in rows
            if r["number"] in existing
        ]
        if new_rows:
            inserted = session.execute(
                insert(Account).returning(Account.id, Account.number, sort_by_parameter_order=True),
                new_rows,
            ).all()
            for row_id, number in inserted:
                result.ids[number] = row_id
            result.created += len(new_rows)
        if changed:
            session.execute(update(Account), changed)
            result.updated += len(changed)
            result.ids.update({r["number"]: r["id"] for r in changed})
        ids = [result.ids[r["number"]] for r in rows]
        session.execute(delete(AccountPhone).where(AccountPhone.account_id.in_(ids)))
        phone_rows: list[dict[str, Any]] = []
        for data, row in zip(chunk, rows, strict=True):
            seen: set[str] = set()
            for raw in data.phones:
                phone = normalize_phone(raw)
                if phone not in seen:
                    seen.add(phone)
                    phone_rows.append(
                        {
                            "account_id": result.ids[row["number"]],
                            "phone": phone,
                            "in_contract": True,
                        }
                    )
        if phone_rows:
            session.execute(insert(AccountPhone), phone_rows)
    return result


def upsert_meters(session: Session, items: Sequence[MeterData]) -> UpsertResult:
    """Insert or update meters by serial; the account must exist (``KeyError``)."""
    result = UpsertResult()
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        accounts = resolve_account_ids(
            session,
            [normalize_account_number(m.account_number) or m.account_number for m in chunk],
        )
        existing = dict(
            session.execute(
                select(Meter.serial, Meter.id).where(Meter.serial.in_([m.serial for m in chunk]))
            ).all()
        )
        new_rows: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for m in chunk:
            number = normalize_account_number(m.account_number) or m.account_number
            if number not in accounts:
                raise KeyError(number)
            row: dict[str, Any] = {
                "serial": m.serial,
                "account_id": accounts[number],
                "zones": m.zones,
                "digits": m.digits,
                "decimals": m.decimals,
                "last_t1": m.last_t1,
                "last_t2": m.last_t2,
                "last_t3": m.last_t3,
            }
            if m.serial in existing:
                changed.append(row | {"id": existing[m.serial]})
            else:
                new_rows.append(row)
        if new_rows:
            inserted = session.execute(
                insert(Meter).returning(Meter.id, Meter.serial, sort_by_parameter_order=True),
                new_rows,
            ).all()
            result.ids.update({serial: row_id for row_id, serial in inserted})
            result.created += len(new_rows)
        if changed:
            session.execute(update(Meter), changed)
            result.ids.update({r["serial"]: r["id"] for r in changed})
            result.updated += len(changed)
    return result
