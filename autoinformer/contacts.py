"""Campaign contact lists (REQ-O2, O7): import from CSV/XLSX or build from the CRM.

Every row is validated; what cannot be called is *rejected with a reason*
(the rejected-rows report, stored in ``ai_imports``), never silently dropped:

* the phone number is normalised to E.164 (``crm_bridge.phones``);
* duplicates (within the file and against the campaign's list) are rejected;
* numbers on the do-not-call list are rejected;
* REQ-O7: the number must be among the *contract* numbers of an account
  (``account_phones.in_contract``); with an account column, of that account;
* every variable the scenario speaks must have a value that can be spoken
  (from the file, else from the account: ``account``, ``debt``, ``debt_as_of``).

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

from sqlalchemy import select
from sqlalchemy.orm import Session

from autoinformer.campaigns import (
    CampaignError,
    CampaignService,
    campaign_values,
    scenario_variables,
    step_tokens,
)
from autoinformer.models import Campaign, Contact, ContactImport, DoNotCall
from core.tabular import (
    MAX_CELL_CHARS,
    MAX_ROWS,
    TableLimitError,
    check_xlsx,
    long_cell,
    shown,
)
from crm_bridge.db import Database
from crm_bridge.models import Account, AccountPhone
from crm_bridge.phones import InvalidPhone, normalize_phone

log = logging.getLogger(__name__)

__all__ = [
    "ContactListService",
    "ImportResult",
    "Rejection",
    "read_table",
]

_HEADERS: Final[Mapping[str, str]] = {
    "phone": "phone",
    "телефон": "phone",
    "номер": "phone",
    "номер телефона": "phone",
    "account": "account",
    "лицевой счёт": "account",
    "лицевой счет": "account",
    "лс": "account",
    "email": "email",
    "e-mail": "email",
    "эл. почта": "email",
    "почта": "email",
    "debt": "debt",
    "задолженность": "debt",
    "сумма": "debt",
    "due_date": "due_date",
    "срок оплаты": "due_date",
    "оплатить до": "due_date",
    "timezone": "timezone",
    "часовой пояс": "timezone",
    "name": "name",
    "фио": "name",
}
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


def _norm_header(h: object) -> str:
    text = " ".join(str(h or "").strip().lower().replace("ё", "е").split())
    for key, canon in _HEADERS.items():
        if text == key.replace("ё", "е"):
            return canon
    return text


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    from crm_bridge.importers import decode_csv_bytes

    text, _encoding = decode_csv_bytes(data)
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=";,\t")
    except csv.Error:
        dialect = csv.excel
    yield from csv.reader(io.StringIO(text), dialect)


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        for row in ws.iter_rows(values_only=True):
            yield ["" if v is None else v for v in row]
    finally:
        wb.close()


def read_table(data: bytes, filename: str) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a CSV/XLSX file as ``(line number, {canonical header: value})``."""
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm")):
        try:
            check_xlsx(data)
        except TableLimitError as exc:
            raise CampaignError(str(exc)) from exc
        rows: Iterable[list[Any]] = _xlsx_rows(data)
    elif name.endswith((".csv", ".txt")):
        rows = _csv_rows(data)
    else:
        raise CampaignError("поддерживаются файлы CSV и XLSX")
    it = iter(rows)
    header: list[str] | None = None
    out: list[tuple[int, dict[str, Any]]] = []
    for line, row in enumerate(it, 1):
        if header is None:
            if not any(str(v).strip() for v in row):
                continue
            header = [_norm_header(h) for h in row]
            if "phone" not in header:
                raise CampaignError("в файле нет столбца «Телефон»")
            continue
        if not any(str(v).strip() for v in row):
            continue
        if len(out) >= MAX_ROWS:
            raise CampaignError(f"в файле больше {MAX_ROWS} строк: разделите его на части")
        out.append((line, {h: v for h, v in zip(header, row, strict=False) if h}))
    if header is None:
        raise CampaignError("файл пуст")
    return out


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


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
        rows = read_table(data, filename)
        records = [(line, {k: _text(v) for k, v in row.items()}) for line, row in rows]
        return self._add(campaign_id, records, source=filename, by=by)

    def import_rows(
        self,
        campaign_id: int,
        rows: Sequence[Mapping[str, Any]],
        source: str = "rows",
        *,
        by: str | None = None,
    ) -> ImportResult:
        records = [
            (i, {_norm_header(k): _text(v) for k, v in row.items()})
            for i, row in enumerate(rows, 2)
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

    @staticmethod
    def _account_records(accounts: Sequence[Account]) -> list[tuple[int, dict[str, str]]]:
        return [(i, {"account": a.number, "phone": ""}) for i, a in enumerate(accounts, 1)]

    def _add(
        self,
        campaign_id: int,
        records: Sequence[tuple[int, dict[str, str]]],
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
            kinds = {st["var"]: st["say"] for st in campaign.scenario if "var" in st}
            existing = set(
                s.scalars(select(Contact.phone).where(Contact.campaign_id == campaign_id))
            )
            dnc = set(s.scalars(select(DoNotCall.phone)))
            accounts = _AccountIndex(s, records)
            for line, row in records:
                too_long = long_cell(row.values())
                if too_long is not None:
                    reason = f"значение длиной {too_long} символов: не больше {MAX_CELL_CHARS}"
                    rejected.append(Rejection(line, shown(row.get("phone")), reason))
                    continue
                try:
                    contact = self._contact(campaign, row, accounts, needed, kinds, existing, dnc)
                except _Reject as r:
                    rejected.append(Rejection(line, shown(r.value), r.reason))
                    continue
                s.add(contact)
                existing.add(contact.phone)
                accepted += 1
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
    ) -> Contact:
        raw_phone = row.get("phone", "")
        account: Account | None = None
        if row.get("account"):
            account = accounts.by_number(row["account"])
            if account is None:
                raise _Reject(row["account"], "лицевой счёт не найден")
        phone: str | None = None
        if raw_phone:
            try:
                phone = normalize_phone(raw_phone)
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
        tz = row.get("timezone") or account.timezone or self.default_timezone
        return Contact(
            campaign_id=campaign.id,
            account_id=account.id,
            phone=phone,
            email=email,
            timezone=tz,
            category=str(account.category.value if account.category else ""),
            variables=variables,
        )


class _Reject(Exception):
    def __init__(self, value: str, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


class _AccountIndex:
    """Accounts and their contract phones for one import (few queries)."""

    def __init__(self, s: Session, records: Sequence[tuple[int, dict[str, str]]]) -> None:
        from crm_bridge.accounts import resolve_account_ids

        self.s = s
        numbers = [r["account"] for _, r in records if r.get("account")]
        self._ids = resolve_account_ids(s, numbers) if numbers else {}
        phones: set[str] = set()
        for _, r in records:
            try:
                if r.get("phone"):
                    phones.add(normalize_phone(r["phone"]))
            except InvalidPhone:
                continue
        self._phone_owner: dict[str, int] = {}
        ids = set(self._ids.values())
        if phones:
            for account_id, phone in s.execute(
                select(AccountPhone.account_id, AccountPhone.phone).where(
                    AccountPhone.phone.in_(list(phones)), AccountPhone.in_contract.is_(True)
                )
            ):
                self._phone_owner.setdefault(phone, account_id)
                ids.add(account_id)
        self._accounts: dict[int, Account] = {}
        self._contract: dict[int, list[str]] = {}
        id_list = sorted(ids)
        for i in range(0, len(id_list), 500):
            chunk = id_list[i : i + 500]
            for a in s.scalars(select(Account).where(Account.id.in_(chunk))):
                self._accounts[a.id] = a
            for account_id, phone in s.execute(
                select(AccountPhone.account_id, AccountPhone.phone)
                .where(AccountPhone.account_id.in_(chunk), AccountPhone.in_contract.is_(True))
                .order_by(AccountPhone.id)
            ):
                self._contract.setdefault(account_id, []).append(phone)

    def by_number(self, number: str) -> Account | None:
        account_id = self._ids.get(number)
        return self._accounts.get(account_id) if account_id is not None else None

    def by_phone(self, phone: str) -> Account | None:
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
