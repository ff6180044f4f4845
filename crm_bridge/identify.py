"""Who is calling: identification of the caller's account, and the T9 gate.

Four ways, each with a confidence:

* **by calling number** — 0.7 when exactly one account has that phone. A
  calling number is *not* something the caller said: it may be a relative's
  or a neighbour's phone, so it suggests an account but never unlocks
  confidential data (REQ-T9, REQ-T13). Several accounts on one phone give no
  account, only candidates.
* **by account number** — 1.0 when the number (as typed on the keypad:
  spaces, ``*``/``#`` and leading zeros do not matter) exists.
* **by address** — 0.9 for an exact ``street|house|flat`` key; an address
  without a flat, or one shared by several accounts, gives candidates and
  never a guess.
* **by calling number and the account's last digits** — 0.95 when exactly
  one account of the calling number ends with the :data:`TAIL_DIGITS` digits
  the caller keyed (:func:`by_phone_and_tail`): the number suggests, the
  digits printed on the caller's bill prove it. Several accounts of the
  number ending with the same digits give candidates, never a guess.

Confidential data (debt, readings, residents) is only available through
:meth:`AccountCard.for_identified` / :meth:`Identifier.card`, which require an
:class:`Identification` made from what the caller *named* — the account number,
the address, or the last digits of the account of the calling number (REQ-T9)
— and re-check that evidence against the database,
so an identification cannot be forged by building the dataclass by hand.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, selectinload

from crm_bridge.address import ParsedAddress, parse_address, short_type
from crm_bridge.db import Database
from crm_bridge.errors import NotIdentified
from crm_bridge.models import Account, AccountPhone, Appeal, Category, Meter, TariffZone
from crm_bridge.phones import InvalidPhone, normalize_phone

__all__ = [
    "TAIL_DIGITS",
    "AccountCard",
    "AppealBrief",
    "Candidate",
    "IdentMethod",
    "Identification",
    "Identifier",
    "MeterInfo",
    "account_number_key",
    "by_phone_and_tail",
    "normalize_account_number",
]

logger = logging.getLogger(__name__)

PHONE_CONFIDENCE: Final = 0.7
ACCOUNT_CONFIDENCE: Final = 1.0
ADDRESS_CONFIDENCE: Final = 0.9
TAIL_CONFIDENCE: Final = 0.95
TAIL_DIGITS: Final = 4
"""How many last digits of the account number prove a calling number's account."""
_ACCOUNT_RE: Final = re.compile(r"^\d{1,32}$")
_ACCOUNT_JUNK_RE: Final = re.compile(r"[\s\-*#./]")


class IdentMethod(StrEnum):
    NONE = "none"
    PHONE = "phone"
    ACCOUNT = "account"
    ADDRESS = "address"
    PHONE_TAIL = "phone_tail"
    """The calling number's account, proven by the last digits of its number."""


def normalize_account_number(raw: str | int | None) -> str | None:
    """Digits of an account number (keypad ``*``/``#``, spaces, dashes removed).

    Leading zeros are kept (they are printed on bills); None when not digits.
    """
    if raw is None:
        return None
    text = _ACCOUNT_JUNK_RE.sub("", str(raw).strip())
    return text if _ACCOUNT_RE.match(text) else None


def account_number_key(number: str) -> str:
    """The lookup key of an account number: digits without leading zeros."""
    return number.lstrip("0") or "0"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible account, for the operator's screen (never spoken to the caller)."""

    account_id: int
    number: str
    address: str
    category: Category | None = None
    """ФЛ/ГЛ/ЮЛ: the IVR needs it for the appeal's number without another query."""


@dataclass(frozen=True, slots=True)
class Identification:
    """The result of an identification attempt.

    ``account_id`` is set only when exactly one account matches; otherwise
    ``candidates`` lists the possibilities (up to the identifier's limit;
    ``truncated`` says there were more). ``evidence`` is what the caller named
    (normalised account number or address key); the T9 gate re-checks it.
    """

    account_id: int | None
    confidence: float
    method: IdentMethod
    candidates: tuple[Candidate, ...] = ()
    evidence: str | None = None
    reason: str | None = None
    truncated: bool = False

    @property
    def identified(self) -> bool:
        return self.account_id is not None

    @property
    def ambiguous(self) -> bool:
        return self.account_id is None and len(self.candidates) > 1

    @property
    def allows_confidential(self) -> bool:
        """REQ-T9: the caller named the account number or the address, or
        proved the calling number's account with the last digits of its number."""
        return (
            self.account_id is not None
            and self.method in (IdentMethod.ACCOUNT, IdentMethod.ADDRESS, IdentMethod.PHONE_TAIL)
            and self.evidence is not None
        )

    @classmethod
    def none(cls, method: IdentMethod, reason: str) -> Identification:
        return cls(account_id=None, confidence=0.0, method=method, reason=reason)


@dataclass(frozen=True, slots=True)
class MeterInfo:
    serial: str
    zones: int
    digits: int
    decimals: int
    last_values: tuple[tuple[TariffZone, Decimal | None], ...]
    last_reading_at: datetime | None


@dataclass(frozen=True, slots=True)
class AppealBrief:
    number: str
    status: str
    received_at: datetime
    classification: str | None


@dataclass(frozen=True, slots=True)
class AccountCard:
    """Confidential account data (REQ-T9). Build only with :meth:`for_identified`."""

    account_id: int
    number: str
    holder_name: str
    category: Category
    address: str
    timezone: str
    debt: Decimal
    debt_as_of: date | None
    email: str | None
    phones: tuple[str, ...]
    meters: tuple[MeterInfo, ...]
    recent_appeals: tuple[AppealBrief, ...]
    identified_by: IdentMethod

    @classmethod
    def for_identified(cls, db: Database, ident: Identification) -> AccountCard:
        """The card of the identified account, or :class:`NotIdentified`.

        Requires ``ident.allows_confidential`` (account number or address named
        by the caller) and re-checks ``ident.evidence`` against the account.
        """
        if not ident.allows_confidential or ident.account_id is None:
            raise NotIdentified(
                "confidential data needs the account number or the address named by the "
                "caller (REQ-T9)"
            )
        with db.session() as session:
            account = session.execute(
                _CARD_ACCOUNT, {"account_id": ident.account_id}
            ).scalar_one_or_none()
            if account is None or not _evidence_matches(account, ident):
                raise NotIdentified("the identification does not match the account (REQ-T9)")
            appeals = session.execute(_CARD_APPEALS, {"account_id": account.id}).all()
            return cls(
                account_id=account.id,
                number=account.number,
                holder_name=account.holder_name,
                category=account.category,
                address=account_display_address(account),
                timezone=account.timezone,
                debt=account.debt,
                debt_as_of=account.debt_as_of,
                email=account.email,
                phones=tuple(p.phone for p in account.phones),
                meters=tuple(_meter_info(m) for m in sorted(account.meters, key=lambda m: m.id)),
                recent_appeals=tuple(
                    AppealBrief(
                        number=a.number,
                        status=str(a.status),
                        received_at=a.received_at,
                        classification=str(a.classification) if a.classification else None,
                    )
                    for a in appeals
                ),
                identified_by=ident.method,
            )


# The card's statements, built once (run with parameters on every call).
_CARD_ACCOUNT: Final = (
    select(Account)
    .where(Account.id == bindparam("account_id"))
    .options(selectinload(Account.phones), selectinload(Account.meters))
)
_CARD_APPEALS: Final = (
    select(Appeal.number, Appeal.status, Appeal.received_at, Appeal.classification)
    .where(Appeal.account_id == bindparam("account_id"))
    .order_by(Appeal.received_at.desc())
    .limit(5)
)


def _evidence_matches(account: Account, ident: Identification) -> bool:
    if ident.method is IdentMethod.ACCOUNT:
        return ident.evidence == account.number_key
    if ident.method is IdentMethod.ADDRESS:
        return ident.evidence == account.address_key
    if ident.method is IdentMethod.PHONE_TAIL and ident.evidence:
        phone, _, tail = ident.evidence.partition("|")
        return (
            len(tail) == TAIL_DIGITS
            and account.number.endswith(tail)
            and phone in {p.phone for p in account.phones}
        )
    return False


def by_phone_and_tail(
    on_phone: Identification, calling_number: str | None, tail: str
) -> Identification:
    """The account of the calling number whose number ends with ``tail``
    (REQ-T9 evidence: the last :data:`TAIL_DIGITS` digits keyed by the caller).

    ``on_phone`` is :meth:`Identifier.by_phone` of ``calling_number`` (its
    candidates are the accounts of the number; no database trip here). One
    candidate ending with ``tail`` identifies it; several give candidates;
    none, or ``tail`` that is not :data:`TAIL_DIGITS` digits, give nothing.
    :meth:`AccountCard.for_identified` re-checks the number and the phone.
    """
    if on_phone.method is not IdentMethod.PHONE or not on_phone.candidates:
        return Identification.none(IdentMethod.PHONE_TAIL, "номер телефона не найден")
    try:
        phone = normalize_phone(calling_number or "")
    except InvalidPhone as exc:
        return Identification.none(IdentMethod.PHONE_TAIL, exc.reason)
    if len(tail) != TAIL_DIGITS or not tail.isdigit():
        return Identification.none(
            IdentMethod.PHONE_TAIL, f"нужны последние {TAIL_DIGITS} цифры лицевого счёта"
        )
    matching = tuple(c for c in on_phone.candidates if c.number.endswith(tail))
    if not matching:
        return Identification.none(IdentMethod.PHONE_TAIL, "цифры не совпадают")
    if len(matching) > 1:
        return Identification(
            account_id=None,
            confidence=0.0,
            method=IdentMethod.PHONE_TAIL,
            candidates=matching,
            reason="этими цифрами оканчиваются несколько лицевых счетов номера",
        )
    return Identification(
        account_id=matching[0].account_id,
        confidence=TAIL_CONFIDENCE,
        method=IdentMethod.PHONE_TAIL,
        candidates=matching,
        evidence=f"{phone}|{tail}",
    )


def _meter_info(meter: Meter) -> MeterInfo:
    zones = [TariffZone.T1, TariffZone.T2, TariffZone.T3][: max(1, min(3, meter.zones))]
    return MeterInfo(
        serial=meter.serial,
        zones=meter.zones,
        digits=meter.digits,
        decimals=meter.decimals,
        last_values=tuple((z, meter.last_value(z)) for z in zones),
        last_reading_at=meter.last_reading_at,
    )


def account_display_address(account: Account) -> str:
    """The account's address as one line, from its stored parts."""
    parts: list[str] = []
    if account.settlement:
        parts.append(account.settlement)
    if account.street:
        parts.append(f"{short_type(account.street_type)} {account.street}".strip())
    if account.house:
        house = f"д. {account.house}"
        if account.building:
            house += f", корп. {account.building}"
        if account.structure:
            house += f", стр. {account.structure}"
        parts.append(house)
    if account.flat:
        parts.append(f"кв. {account.flat}")
    return ", ".join(parts)


class Identifier:
    """Finds the caller's account (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        max_candidates: int = 10,
        phone_confidence: float = PHONE_CONFIDENCE,
        address_confidence: float = ADDRESS_CONFIDENCE,
    ) -> None:
        self.db = db
        self.max_candidates = max_candidates
        self.phone_confidence = phone_confidence
        self.address_confidence = address_confidence

    # -- by calling number ----------------------------------------------------

    def by_phone(self, calling_number: str | None) -> Identification:
        """By the calling number (caller ID). Never unlocks confidential data."""
        try:
            phone = normalize_phone(calling_number or "")
        except InvalidPhone as exc:
            return Identification.none(IdentMethod.PHONE, exc.reason)
        with self.db.session(readonly=True) as session:
            accounts = self._accounts(
                session,
                select(Account)
                .join(AccountPhone, AccountPhone.account_id == Account.id)
                .where(AccountPhone.phone == phone)
                .order_by(Account.id),
            )
        if not accounts:
            return Identification.none(IdentMethod.PHONE, "номер не найден")
        truncated = len(accounts) > self.max_candidates
        candidates = tuple(_candidate(a) for a in accounts[: self.max_candidates])
        if len(accounts) == 1:
            return Identification(
                account_id=accounts[0].id,
                confidence=self.phone_confidence,
                method=IdentMethod.PHONE,
                candidates=candidates,
            )
        return Identification(
            account_id=None,
            confidence=round(self.phone_confidence / len(accounts), 3),
            method=IdentMethod.PHONE,
            candidates=candidates,
            reason="номер указан у нескольких лицевых счетов",
            truncated=truncated,
        )

    # -- by account number ----------------------------------------------------

    def by_account(self, entered: str | int | None) -> Identification:
        """By the account number the caller typed or said (REQ-T9 evidence)."""
        number = normalize_account_number(entered)
        if number is None:
            return Identification.none(IdentMethod.ACCOUNT, "лицевой счёт должен состоять из цифр")
        key = account_number_key(number)
        with self.db.session(readonly=True) as session:
            accounts = self._accounts(
                session, select(Account).where(Account.number_key == key).order_by(Account.id)
            )
        if not accounts:
            return Identification.none(IdentMethod.ACCOUNT, "лицевой счёт не найден")
        exact = [a for a in accounts if a.number == number]
        if len(accounts) == 1 or len(exact) == 1:
            account = accounts[0] if len(accounts) == 1 else exact[0]
            return Identification(
                account_id=account.id,
                confidence=ACCOUNT_CONFIDENCE,
                method=IdentMethod.ACCOUNT,
                candidates=(_candidate(account),),
                evidence=account.number_key,
            )
        return Identification(
            account_id=None,
            confidence=0.0,
            method=IdentMethod.ACCOUNT,
            candidates=tuple(_candidate(a) for a in accounts[: self.max_candidates]),
            reason="номер совпадает с несколькими лицевыми счетами (ведущие нули)",
            truncated=len(accounts) > self.max_candidates,
        )

    # -- by address -----------------------------------------------------------

    def by_address(self, text: str | ParsedAddress) -> Identification:
        """By the address the caller named (REQ-T9 evidence); ambiguous → candidates.

        When nothing matches and the street name may begin with the
        settlement («Демоград Ленина 5-12»), the other readings are tried.
        """
        parsed = parse_address(text) if isinstance(text, str) else text
        if not parsed.complete:
            return Identification.none(IdentMethod.ADDRESS, "нужны улица и номер дома")
        result = self._by_address(parsed)
        if result.account_id is None and not result.candidates:
            for alternative in parsed.alternatives():
                other = self._by_address(alternative)
                if other.account_id is not None or other.candidates:
                    return other
        return result

    def _by_address(self, parsed: ParsedAddress) -> Identification:
        limit = max(self.max_candidates, 1) * 50
        with self.db.session(readonly=True) as session:
            if parsed.flat:
                stmt = select(Account).where(Account.address_key == parsed.key)
            else:
                stmt = select(Account).where(Account.house_key == parsed.house_key)
            accounts = self._accounts(session, stmt.order_by(Account.id), limit=limit)
        matching = [a for a in accounts if parsed.compatible(_account_parsed(a))]
        if not matching:
            return Identification.none(IdentMethod.ADDRESS, "адрес не найден")
        truncated = len(matching) > self.max_candidates or len(accounts) >= limit
        candidates = tuple(_candidate(a) for a in matching[: self.max_candidates])
        if len(matching) == 1 and (parsed.flat or not matching[0].flat):
            account = matching[0]
            return Identification(
                account_id=account.id,
                confidence=self.address_confidence,
                method=IdentMethod.ADDRESS,
                candidates=candidates,
                evidence=account.address_key,
            )
        if parsed.flat:
            reason = "по адресу несколько лицевых счетов"
        elif len(matching) > 1:
            reason = "не указана квартира: по дому несколько лицевых счетов"
        else:
            reason = "не указана квартира"
        return Identification(
            account_id=None,
            confidence=0.0,
            method=IdentMethod.ADDRESS,
            candidates=candidates,
            reason=reason,
            truncated=truncated,
        )

    # -- the T9 gate ----------------------------------------------------------

    def card(self, ident: Identification) -> AccountCard:
        """Confidential account data; :class:`NotIdentified` unless REQ-T9 holds."""
        return AccountCard.for_identified(self.db, ident)

    def _accounts(
        self, session: Session, stmt: Select[Any], *, limit: int | None = None
    ) -> list[Account]:
        return list(session.execute(stmt.limit(limit or self.max_candidates + 1)).scalars())


def _candidate(account: Account) -> Candidate:
    return Candidate(
        account_id=account.id,
        number=account.number,
        address=account_display_address(account),
        category=account.category,
    )


def _account_parsed(account: Account) -> ParsedAddress:
    return ParsedAddress(settlement=account.settlement_key, street_type=account.street_type)
