"""Campaign contact lists (REQ-O2, O7): import from CSV/XLSX or build from the CRM.

Every row is validated; what cannot be called is *rejected with a reason*
(the rejected-rows report, stored in ``ai_imports``), never silently dropped:

* the phone number is normalised to E.164 (``crm_bridge.phones``);
* duplicates (within the file and against the campaign's list) are rejected;
* numbers on the do-not-call list are rejected;
* REQ-O7: the number must be among the *contract* numbers of an account
  (``account_phones.in_contract``); with an account column, of that account;
* every variable the scenario speaks must have a value that can be spoken
  (from the file, else from the account: ``account``, ``debt``, ``debt_as_of``);
* a «Часовой пояс» column, when given, is a zone the call policy knows: an
  IANA name (``Asia/Omsk``) or as Russian offices write it (``МСК``,
  ``МСК+3``, ``UTC+7``) — :func:`parse_timezone`.

E-mail addresses are taken only from the account (given voluntarily, REQ-O7)
or from the file's ``email`` column.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from autoinformer.campaigns import (
    CampaignError,
    CampaignService,
    campaign_values,
    scenario_variables,
    step_tokens,
    variable_kinds,
)
from autoinformer.models import Campaign, Contact, ContactImport, ContactStatus, DoNotCall
from autoinformer.tables import (
    CellError,
    ListFileError,
    canonical_header,
    normalise_row,
    read_list,
)
from core.tabular import MAX_CELL_CHARS, long_cell, shown
from crm_bridge.db import Database, among, lookup_chunk, utcnow
from crm_bridge.models import Account, AccountPhone
from crm_bridge.phones import InvalidPhone, e164_candidate, normalize_phone

log = logging.getLogger(__name__)

__all__ = [
    "ContactListService",
    "ImportResult",
    "Rejection",
    "parse_timezone",
    "read_table",
]

_OFFSET_ZONE: Final = re.compile(
    r"^(МСК|MSK|UTC|GMT)\s*(?:([+\-−–])\s*(\d{1,2})(?::00)?)?$", re.IGNORECASE
)


def parse_timezone(raw: str) -> str:
    """A time zone of a list's cell as the policy's zone name: an IANA name
    as it is, ``МСК±N`` (Moscow time ± N hours) and ``UTC±N``/``GMT±N`` as a
    fixed offset (Russia keeps no summer time). ValueError with the Russian
    reason when it is none of them."""
    text = raw.strip()
    m = _OFFSET_ZONE.match(text)
    if m:
        base = 3 if m.group(1).upper() in ("МСК", "MSK") else 0
        if base and not m.group(2):
            return "Europe/Moscow"
        sign = -1 if m.group(2) and m.group(2) != "+" else 1
        offset = base + sign * int(m.group(3) or 0)
        if not -12 <= offset <= 14:
            raise ValueError(f"нет такого часового пояса «{raw}»")
        # Etc/GMT-5 is UTC+5 (the POSIX sign).
        return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"неизвестный часовой пояс «{raw}» (пишите, например, МСК+4 или Asia/Omsk)"
        ) from None
    return text


_BATCH: Final = 2000
"""Contacts inserted per statement (a 100 000-row list in 50)."""
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Rejection:
    line: int
    value: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "value": self.value, "reason": self.reason}


@dataclass
class ImportResult:
    import_id: int | None
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)

    def summary(self) -> str:
        return f"принято {self.accepted}, отклонено {len(self.rejected)}"


def read_table(data: bytes, filename: str) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a CSV/XLSX list as ``(line number, {canonical column: raw value})``
    (:func:`autoinformer.tables.read_list`); a refused file is a
    :class:`CampaignError` with its Russian reason."""
    try:
        return list(read_list(data, filename))
    except ListFileError as exc:
        raise CampaignError(str(exc)) from exc


_COPY_COLUMNS: Final = (
    "campaign_id",
    "account_id",
    "phone",
    "email",
    "timezone",
    "category",
    "variables",
    "status",
    "attempts",
    "positive",
    "updated_at",
)


def _insert(s: Session, rows: list[dict[str, Any]]) -> None:
    """New contacts: on PostgreSQL by COPY (one stream per batch instead of a
    statement per row: a 100 000-row list), elsewhere an executemany."""
    if s.get_bind().dialect.name != "postgresql":
        s.execute(insert(Contact), rows)
        return
    import json

    raw = s.connection().connection.driver_connection
    assert raw is not None
    table = Contact.__tablename__
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY {table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy,
    ):
        for r in rows:
            copy.write_row(
                [
                    json.dumps(r[c], ensure_ascii=False) if c == "variables" else r[c]
                    for c in _COPY_COLUMNS
                ]
            )


def _file_errors(
    rows: Iterable[tuple[int, dict[str, Any]]],
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``rows`` with a refusal met while reading as a :class:`CampaignError`."""
    try:
        yield from rows
    except ListFileError as exc:
        raise CampaignError(str(exc)) from exc


class ContactListService:
    """Blocking list operations (call through ``Services.run_db``)."""

    def __init__(self, db: Database, default_timezone: str = "Europe/Moscow") -> None:
        self.db = db
        self.default_timezone = default_timezone
        self.campaigns = CampaignService(db)

    # -- import -----------------------------------------------------------------------

    # ``by`` (every method that changes the list): the login of who changes
    # it, recorded as the campaign's editor — who may then not approve it
    # (REQ-O10, four eyes).

    def import_file(
        self, campaign_id: int, data: bytes, filename: str, *, by: str | None = None
    ) -> ImportResult:
        try:
            rows = read_list(data, filename)  # a file with no header refused here
        except ListFileError as exc:
            raise CampaignError(str(exc)) from exc
        # Streamed: each row normalised as it is read, the raw cells let go.
        return self._add(campaign_id, _file_errors(rows), source=filename, by=by)

    def import_rows(
        self,
        campaign_id: int,
        rows: Sequence[Mapping[str, Any]],
        source: str = "rows",
        *,
        by: str | None = None,
    ) -> ImportResult:
        records = [
            (i, {canonical_header(k): v for k, v in row.items()}) for i, row in enumerate(rows, 2)
        ]
        return self._add(campaign_id, records, source=source, by=by)

    def from_debtors(
        self, campaign_id: int, min_debt: float, *, by: str | None = None
    ) -> ImportResult:
        """Accounts whose debt is over ``min_debt`` (REQ-O1 debt notices)."""
        with self.db.session(readonly=True) as s:
            accounts = list(
                s.scalars(select(Account).where(Account.debt > min_debt).order_by(Account.id))
            )
        return self._add(
            campaign_id, self._account_records(accounts), source=f"долг > {min_debt}", by=by
        )

    def from_addresses(
        self, campaign_id: int, addresses: Sequence[str], *, by: str | None = None
    ) -> ImportResult:
        """Accounts at the houses of ``addresses`` (planned outages; REQ-O9).

        An address is matched by house (street + house number, all flats);
        ``crm_bridge.outages`` gives these addresses when it exists.
        """
        from crm_bridge.address import parse_address

        keys: dict[str, str] = {}
        rejected: list[Rejection] = []
        for i, text in enumerate(addresses, 1):
            parsed = parse_address(text)
            if parsed.house_key:
                keys[parsed.house_key] = text
            else:
                rejected.append(Rejection(i, shown(text), "адрес не распознан (нужны улица и дом)"))
        with self.db.session(readonly=True) as s:
            accounts = (
                list(
                    s.scalars(
                        select(Account)
                        .where(Account.house_key.in_(list(keys)))
                        .order_by(Account.id)
                    )
                )
                if keys
                else []
            )
        result = self._add(
            campaign_id,
            self._account_records(accounts),
            source=f"адреса ({len(addresses)})",
            by=by,
        )
        result.rejected[:0] = rejected
        return result

    def from_outage(
        self, campaign_id: int, register_id: int, *, by: str | None = None
    ) -> ImportResult:
        """Accounts inside an outage of the register (its ``outages`` rows:
        houses, street ranges, settlements; :func:`crm_bridge.outages.register_accounts`)."""
        from crm_bridge.outages import register_accounts

        with self.db.session(readonly=True) as s:
            ids = sorted(register_accounts(s, register_id))
            accounts: list[Account] = []
            for start in range(0, len(ids), 5000):  # bound the statement's parameters
                chunk = ids[start : start + 5000]
                accounts.extend(
                    s.scalars(select(Account).where(Account.id.in_(chunk)).order_by(Account.id))
                )
        return self._add(
            campaign_id,
            self._account_records(accounts),
            source=f"отключение № {register_id}",
            by=by,
        )

    @staticmethod
    def _account_records(accounts: Sequence[Account]) -> list[tuple[int, dict[str, Any]]]:
        return [(i, {"account": a.number, "phone": ""}) for i, a in enumerate(accounts, 1)]

    def _add(
        self,
        campaign_id: int,
        raw_records: Iterable[tuple[int, Mapping[str, Any]]],
        source: str,
        by: str | None = None,
    ) -> ImportResult:
        accepted = 0
        rejected: list[Rejection] = []
        with self.db.session(write=True) as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign is None:
                raise CampaignError(f"кампания {campaign_id} не найдена")
            self.campaigns.mark_list_changed(s, campaign_id, by)
            provided = campaign_values(campaign)
            needed = [v for v in scenario_variables(campaign.scenario) if v not in provided]
            kinds = variable_kinds(campaign.scenario)
            # Each row's cells as stored (ISO dates, amounts): a value that is
            # not what its column holds rejects its row, with the reason.
            records: list[tuple[int, dict[str, str]]] = []
            for line, raw in raw_records:
                too_long = long_cell(raw.values())
                if too_long is not None:
                    reason = f"значение длиной {too_long} символов: не больше {MAX_CELL_CHARS}"
                    rejected.append(Rejection(line, shown(raw.get("phone")), reason))
                    continue
                try:
                    records.append((line, normalise_row(raw, kinds)))
                except CellError as exc:
                    rejected.append(Rejection(line, shown(raw.get("phone")), str(exc)))
            existing = set(
                s.scalars(select(Contact.phone).where(Contact.campaign_id == campaign_id))
            )
            dnc = set(s.scalars(select(DoNotCall.phone)))
            accounts = _AccountIndex(s, records)
            batch: list[dict[str, Any]] = []
            for line, row in records:
                try:
                    contact = self._contact(campaign, row, accounts, needed, kinds, existing, dnc)
                except _Reject as r:
                    rejected.append(Rejection(line, shown(r.value), r.reason))
                    continue
                batch.append(contact)
                existing.add(contact["phone"])
                accepted += 1
                if len(batch) >= _BATCH:
                    _insert(s, batch)
                    batch = []
            if batch:
                _insert(s, batch)
            rejected.sort(key=lambda r: r.line)
            rec = ContactImport(
                campaign_id=campaign_id,
                source=source[:255],
                accepted=accepted,
                rejected=len(rejected),
                report=[r.as_dict() for r in rejected],
            )
            s.add(rec)
            s.flush()
            log.info(
                "campaign %s: list %s: %s accepted, %s rejected",
                campaign_id,
                rec.id,
                accepted,
                len(rejected),
            )
            return ImportResult(rec.id, accepted, rejected)

    def _contact(
        self,
        campaign: Campaign,
        row: dict[str, str],
        accounts: _AccountIndex,
        needed: list[str],
        kinds: Mapping[str, str],
        existing: set[str],
        dnc: set[str],
    ) -> dict[str, Any]:
        """The new contact's row (for a bulk insert), or :class:`_Reject`."""
        raw_phone = row.get("phone", "")
        account: Any = None  # a row of _ACCOUNT_COLUMNS
        if row.get("account"):
            account = accounts.by_number(row["account"])
            if account is None:
                raise _Reject(row["account"], "лицевой счёт не найден")
        phone: str | None = None
        if raw_phone:
            try:
                phone = accounts.phone(raw_phone)
            except InvalidPhone as exc:
                raise _Reject(raw_phone, exc.reason) from None
        on_file = accounts.contract_phones(account.id) if account else []
        if phone is None:
            if not on_file:
                raise _Reject(row.get("account", ""), "в договоре нет номера телефона")
            phone = on_file[0]
        if account is None:
            account = accounts.by_phone(phone)
            if account is None:
                raise _Reject(raw_phone, "номера нет ни в одном договоре (REQ-O7)")
        elif phone not in on_file:
            raise _Reject(raw_phone, "номера нет в договоре этого лицевого счёта (REQ-O7)")
        if phone in dnc:
            raise _Reject(raw_phone or phone, "номер в списке «не звонить»")
        if phone in existing:
            raise _Reject(raw_phone or phone, "номер уже есть в списке (дубликат)")
        variables = {
            k: v for k, v in row.items() if k not in ("phone", "email", "timezone") and v != ""
        }
        variables.setdefault("account", account.number)
        if account.debt is not None:
            variables.setdefault("debt", str(account.debt))
        if account.debt_as_of is not None:
            variables.setdefault("debt_as_of", account.debt_as_of.isoformat())
        for var in needed:
            try:
                step_tokens(kinds[var], variables.get(var))
            except (ValueError, TypeError):
                raise _Reject(
                    str(variables.get(var, "")), f"нет значения или неверное значение «{var}»"
                ) from None
        email = row.get("email") or account.email or None
        if email and not _EMAIL.match(email):
            raise _Reject(email, "неверный адрес эл. почты")
        tz = account.timezone or self.default_timezone
        if row.get("timezone"):
            try:
                tz = parse_timezone(row["timezone"])
            except ValueError as exc:
                raise _Reject(row["timezone"], str(exc)) from None
        return {
            "campaign_id": campaign.id,
            "account_id": account.id,
            "phone": phone,
            "email": email,
            "timezone": tz,
            "category": str(account.category.value if account.category else ""),
            "variables": variables,
            "status": ContactStatus.PENDING.value,
            "attempts": 0,
            "positive": False,
            "updated_at": utcnow(),
        }


class _Reject(Exception):
    def __init__(self, value: str, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


_ACCOUNT_COLUMNS: Final = (
    Account.id,
    Account.number,
    Account.debt,
    Account.debt_as_of,
    Account.email,
    Account.timezone,
    Account.category,
)


class _AccountIndex:
    """Accounts and their contract phones for one import (few queries)."""

    def __init__(self, s: Session, records: Sequence[tuple[int, dict[str, str]]]) -> None:
        from crm_bridge.accounts import resolve_account_ids

        self.s = s
        numbers = [r["account"] for _, r in records if r.get("account")]
        self._ids = resolve_account_ids(s, numbers) if numbers else {}
        self._phones: dict[str, str | InvalidPhone] = {}
        """Raw number → E.164 (or why not): each parsed once per import."""
        self._phone_owner: dict[str, int] = {}
        ids = set(self._ids.values())
        raws = {r["phone"] for _, r in records if r.get("phone")}
        # Each raw number's candidate (string rules only); a candidate that
        # is a contract's phone (stored normalised) is its E.164 form, with
        # no phonenumbers parse for the 100 000 numbers of a list.
        candidates: dict[str, str] = {}
        for raw in raws:
            try:
                candidates[raw] = e164_candidate(raw)
            except InvalidPhone as exc:
                self._phones[raw] = exc
        found = self._owners(s, set(candidates.values()), ids)
        rest: set[str] = set()
        for raw, candidate in candidates.items():
            if candidate in found:
                self._phones[raw] = candidate
            else:
                try:
                    rest.add(self.phone(raw))
                except InvalidPhone:
                    continue
        self._owners(s, rest - found, ids)
        # What a contact needs of its account, as light rows (not ORM
        # objects: a 100 000-row list would hold 100 000 of them).
        self._accounts: dict[int, Any] = {}
        self._contract: dict[int, list[str]] = {}
        id_list = sorted(ids)
        chunk_size = lookup_chunk(s)
        for i in range(0, len(id_list), chunk_size):
            chunk = id_list[i : i + chunk_size]
            for a in s.execute(select(*_ACCOUNT_COLUMNS).where(among(s, Account.id, chunk))):
                self._accounts[a.id] = a
            for account_id, phone in s.execute(
                select(AccountPhone.account_id, AccountPhone.phone)
                .where(among(s, AccountPhone.account_id, chunk), AccountPhone.in_contract.is_(True))
                .order_by(AccountPhone.id)
            ):
                self._contract.setdefault(account_id, []).append(phone)

    def _owners(self, s: Session, phones: set[str], ids: set[int]) -> set[str]:
        """Look up the contract owners of ``phones`` (into ``_phone_owner``
        and ``ids``); the phones found."""
        found: set[str] = set()
        phone_list = sorted(phones)
        chunk_size = lookup_chunk(s)
        for i in range(0, len(phone_list), chunk_size):
            for account_id, phone in s.execute(
                select(AccountPhone.account_id, AccountPhone.phone).where(
                    among(s, AccountPhone.phone, phone_list[i : i + chunk_size]),
                    AccountPhone.in_contract.is_(True),
                )
            ):
                self._phone_owner.setdefault(phone, account_id)
                ids.add(account_id)
                found.add(phone)
        return found

    def phone(self, raw: str) -> str:
        """``normalize_phone(raw)``, remembered (InvalidPhone as it raised)."""
        known = self._phones.get(raw)
        if known is None:
            try:
                known = normalize_phone(raw)
            except InvalidPhone as exc:
                known = exc
            self._phones[raw] = known
        if isinstance(known, InvalidPhone):
            raise InvalidPhone(known.raw, known.reason)
        return known

    def by_number(self, number: str) -> Any:
        account_id = self._ids.get(number)
        return self._accounts.get(account_id) if account_id is not None else None

    def by_phone(self, phone: str) -> Any:
        account_id = self._phone_owner.get(phone)
        return self._accounts.get(account_id) if account_id is not None else None

    def contract_phones(self, account_id: int) -> list[str]:
        return self._contract.get(account_id, [])


def write_rejections_csv(rejected: Sequence[Rejection]) -> bytes:
    """The rejected-rows report as CSV (UTF-8 with BOM, ``;``) for Excel."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";")
    w.writerow(["Строка", "Значение", "Причина"])
    for r in rejected:
        w.writerow([r.line, r.value, r.reason])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


__all__ += ["write_rejections_csv"]
