"""The campaign's contact list and the do-not-call list as people see and
change them (REQ-O2, O7; issue 15 item 3).

* :class:`ContactRoster` — a campaign's contacts page by page with their
  state, last result, the reason the call policy holds one back (a 230-FZ
  cap, the time window, a holiday, the do-not-call list — ``Contact.refusal``)
  and the next attempt in the customer's zone; one contact edited (phone,
  variables: checked as an import checks them) or removed while the list may
  change (a draft; an approved campaign goes back to draft, REQ-O10);
* :class:`DoNotCallList` — numbers never to be called: listed, added and
  removed with a reason, imported from a CSV/XLSX file. A number added is
  refused in every campaign's pending contacts at once (``do_not_call``).

Blocking; call through ``run_db``. Who read or changed what is audited by
the web handlers and the command line (152-FZ).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from autoinformer.campaigns import (
    RESULT_TITLES,
    CampaignError,
    CampaignService,
    scenario_variables,
    step_tokens,
)
from autoinformer.contacts import ImportResult, Rejection
from autoinformer.models import Attempt, Campaign, Contact, ContactStatus, DoNotCall
from autoinformer.tables import (
    CANONICAL_TITLES,
    CellError,
    ListFileError,
    normalise_row,
    read_list,
)
from core.tabular import shown
from crm_bridge.db import Database
from crm_bridge.models import AccountPhone
from crm_bridge.phones import InvalidPhone, normalize_phone

__all__ = [
    "CONTACT_STATUS_TITLES",
    "DNC_REFUSAL",
    "PAGE_SIZE",
    "REFUSAL_TITLES",
    "ContactRoster",
    "ContactRow",
    "DoNotCallList",
    "DoNotCallRow",
    "Page",
]

PAGE_SIZE: Final = 50
DNC_REFUSAL: Final = "do_not_call"
"""``Contact.refusal`` of a pending contact whose number was put on the list."""

CONTACT_STATUS_TITLES: Final[Mapping[str, str]] = {
    ContactStatus.PENDING: "Ожидает звонка",
    ContactStatus.DIALING: "Идёт звонок",
    ContactStatus.DONE: "Завершён",
    ContactStatus.REFUSED: "Звонить нельзя",
    ContactStatus.CANCELLED: "Отменён",
}

REFUSAL_TITLES: Final[Mapping[str, str]] = {
    "outside_window": "вне разрешённых часов (будний день)",
    "holiday_window": "вне разрешённых часов (выходной или праздник)",
    "daily_cap": "лимит 230-ФЗ: не больше одного звонка в сутки",
    "weekly_cap": "лимит 230-ФЗ: не больше двух звонков в неделю",
    "monthly_cap": "лимит 230-ФЗ: не больше восьми звонков в месяц",
    "not_on_file": "номера нет в договоре (REQ-O7)",
    "campaign_not_started": "кампания ещё не началась",
    "campaign_ended": "срок кампании истёк",
    "outage_notice_late": "уведомление об отключении опоздало (REQ-O9)",
    DNC_REFUSAL: "номер в списке «не звонить»",
}
"""``Contact.refusal`` (``autoinformer.policy.Refusal`` and the store's own) in Russian."""


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class ContactRow:
    id: int
    name: str
    phone: str
    account: str
    status: str
    status_title: str
    attempts: int
    last_result: str
    """Russian: the final result, else the last attempt's, else empty."""
    held_back: str
    """Russian: why the policy holds it back or refused it, else empty."""
    next_at: str
    """``дд.мм.гггг чч:мм`` in the customer's zone, with the zone; empty if none."""
    timezone: str
    variables: dict[str, Any] = field(default_factory=dict)


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


def _local(dt: datetime | None, tz: str) -> str:
    if dt is None:
        return ""
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("Europe/Moscow")
    return dt.astimezone(zone).strftime("%d.%m.%Y %H:%M") + f" ({tz})"


class ContactRoster:
    """A campaign's contacts: the page, one contact's edit and removal."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.campaigns = CampaignService(db)

    def page(
        self,
        campaign_id: int,
        page: int = 1,
        *,
        status: str | None = None,
        size: int = PAGE_SIZE,
    ) -> Page[ContactRow]:
        with self.db.session(readonly=True) as s:
            if s.get(Campaign, campaign_id) is None:
                raise CampaignError(f"кампания {campaign_id} не найдена")
            where = [Contact.campaign_id == campaign_id]
            if status:
                where.append(Contact.status == status)
            total = s.scalar(select(func.count()).select_from(Contact).where(*where)) or 0
            pages = _pages(total, size)
            page = min(max(1, page), pages)
            contacts = list(
                s.scalars(
                    select(Contact)
                    .where(*where)
                    .order_by(Contact.id)
                    .offset((page - 1) * size)
                    .limit(size)
                )
            )
            last = self._last_results(s, [c.id for c in contacts])
            return Page([self._row(c, last.get(c.id)) for c in contacts], page, pages, total)

    @staticmethod
    def _last_results(s: Session, ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        newest = (
            select(func.max(Attempt.id))
            .where(Attempt.contact_id.in_(ids), Attempt.result.is_not(None))
            .group_by(Attempt.contact_id)
        )
        return {
            contact_id: result or ""
            for contact_id, result in s.execute(
                select(Attempt.contact_id, Attempt.result).where(Attempt.id.in_(newest))
            ).all()
        }

    @staticmethod
    def _row(c: Contact, last_result: str | None) -> ContactRow:
        result = c.final_result or last_result or ""
        variables = dict(c.variables or {})
        return ContactRow(
            id=c.id,
            name=str(variables.get("name") or ""),
            phone=c.phone,
            account=str(variables.get("account") or ""),
            status=c.status,
            status_title=CONTACT_STATUS_TITLES.get(c.status, c.status),
            attempts=c.attempts,
            last_result=RESULT_TITLES.get(result, result),
            held_back=REFUSAL_TITLES.get(c.refusal or "", c.refusal or ""),
            next_at=_local(c.next_at, c.timezone)
            if c.status == ContactStatus.PENDING and c.next_at
            else "",
            timezone=c.timezone,
            variables=variables,
        )

    def get(self, campaign_id: int, contact_id: int) -> ContactRow:
        with self.db.session(readonly=True) as s:
            c = s.get(Contact, contact_id)
            if c is None or c.campaign_id != campaign_id:
                raise CampaignError(f"контакт {contact_id} не найден в кампании {campaign_id}")
            return self._row(c, None)

    def fields(self, campaign_id: int, contact_id: int) -> list[tuple[str, str, str]]:
        """The edit form's variables: (name, Russian title, value) — the
        scenario's variables first, then the others the contact has."""
        c = self.campaigns.get(campaign_id)
        row = self.get(campaign_id, contact_id)
        names = [*scenario_variables(c.scenario)]
        names += [k for k in row.variables if k not in names]
        return [(k, CANONICAL_TITLES.get(k, k), str(row.variables.get(k, ""))) for k in names]

    def update(
        self,
        campaign_id: int,
        contact_id: int,
        phone: str,
        variables: Mapping[str, str],
        *,
        by: str | None = None,
    ) -> None:
        """Change one contact's phone and variables, checked as an import
        checks a row (E.164, the contract's numbers, REQ-O7; the do-not-call
        list; no duplicate; every spoken variable speakable)."""
        with self.db.session(write=True) as s:
            self.campaigns.mark_list_changed(s, campaign_id, by)
            campaign = s.get(Campaign, campaign_id)
            contact = s.get(Contact, contact_id, with_for_update=True)
            if campaign is None or contact is None or contact.campaign_id != campaign_id:
                raise CampaignError(f"контакт {contact_id} не найден в кампании {campaign_id}")
            try:
                number = normalize_phone(phone)
            except InvalidPhone as exc:
                raise CampaignError(f"телефон «{shown(phone)}»: {exc.reason}") from None
            if number != contact.phone:
                taken = s.scalar(
                    select(Contact.id).where(
                        Contact.campaign_id == campaign_id,
                        Contact.phone == number,
                        Contact.id != contact_id,
                    )
                )
                if taken is not None:
                    raise CampaignError("номер уже есть в списке этой кампании")
                if contact.account_id is not None:
                    on_file = set(
                        s.scalars(
                            select(AccountPhone.phone).where(
                                AccountPhone.account_id == contact.account_id,
                                AccountPhone.in_contract.is_(True),
                            )
                        )
                    )
                    if number not in on_file:
                        raise CampaignError(
                            "номера нет в договоре лицевого счёта этого контакта (REQ-O7)"
                        )
                if s.get(DoNotCall, number) is not None:
                    raise CampaignError("номер в списке «не звонить»")
            kinds = {st["var"]: st["say"] for st in campaign.scenario if "say" in st}
            try:
                clean = normalise_row({k: v for k, v in variables.items() if k}, kinds)
            except CellError as exc:
                raise CampaignError(str(exc)) from None
            merged = {k: v for k, v in {**contact.variables, **clean}.items() if v != ""}
            for var in scenario_variables(campaign.scenario):
                try:
                    step_tokens(kinds[var], merged.get(var))
                except (ValueError, TypeError):
                    title = CANONICAL_TITLES.get(var, var)
                    raise CampaignError(f"нет значения или неверное значение «{title}»") from None
            contact.phone = number
            contact.variables = merged

    def remove(self, campaign_id: int, contact_id: int, *, by: str | None = None) -> None:
        with self.db.session(write=True) as s:
            self.campaigns.mark_list_changed(s, campaign_id, by)
            contact = s.get(Contact, contact_id)
            if contact is None or contact.campaign_id != campaign_id:
                raise CampaignError(f"контакт {contact_id} не найден в кампании {campaign_id}")
            s.delete(contact)


# -- the do-not-call list --------------------------------------------------------------


@dataclass(frozen=True)
class DoNotCallRow:
    phone: str
    reason: str
    added_at: datetime


class DoNotCallList:
    """Numbers never to be called (``ai_do_not_call``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def page(self, page: int = 1, *, size: int = PAGE_SIZE) -> Page[DoNotCallRow]:
        with self.db.session(readonly=True) as s:
            total = s.scalar(select(func.count()).select_from(DoNotCall)) or 0
            pages = _pages(total, size)
            page = min(max(1, page), pages)
            rows = [
                DoNotCallRow(d.phone, d.reason or "", d.added_at)
                for d in s.scalars(
                    select(DoNotCall)
                    .order_by(DoNotCall.added_at.desc(), DoNotCall.phone)
                    .offset((page - 1) * size)
                    .limit(size)
                )
            ]
            return Page(rows, page, pages, total)

    def add(self, phone: str, reason: str) -> str:
        """Put a number on the list (E.164 back); its pending contacts in
        every campaign are refused (``do_not_call``)."""
        try:
            number = normalize_phone(phone)
        except InvalidPhone as exc:
            raise CampaignError(f"телефон «{shown(phone)}»: {exc.reason}") from None
        reason = " ".join(reason.split())
        if not reason:
            raise CampaignError("укажите причину (например, «просьба абонента»)")
        with self.db.session(write=True) as s:
            self._add(s, number, reason[:255])
        return number

    @staticmethod
    def _add(s: Session, number: str, reason: str) -> bool:
        """True when the number was not on the list yet."""
        row = s.get(DoNotCall, number)
        if row is not None:
            row.reason = reason
            return False
        s.add(DoNotCall(phone=number, reason=reason))
        s.execute(
            update(Contact)
            .where(Contact.phone == number, Contact.status == ContactStatus.PENDING.value)
            .values(
                status=ContactStatus.REFUSED.value,
                final_result="refused",
                refusal=DNC_REFUSAL,
                next_at=None,
            )
        )
        s.flush()
        return True

    def remove(self, phone: str) -> None:
        try:
            number = normalize_phone(phone)
        except InvalidPhone as exc:
            raise CampaignError(f"телефон «{shown(phone)}»: {exc.reason}") from None
        with self.db.session(write=True) as s:
            row = s.get(DoNotCall, number)
            if row is None:
                raise CampaignError("этого номера нет в списке «не звонить»")
            s.delete(row)

    def contains(self, phone: str) -> bool:
        with self.db.session(readonly=True) as s:
            return s.get(DoNotCall, phone) is not None

    def import_file(self, data: bytes, filename: str, default_reason: str) -> ImportResult:
        """Numbers from a CSV/XLSX list (a «Телефон» column, «Причина» if
        any); every bad row rejected with its reason, the rest added."""
        try:
            rows = list(read_list(data, filename))
        except ListFileError as exc:
            raise CampaignError(str(exc)) from exc
        added = 0
        rejected: list[Rejection] = []
        with self.db.session(write=True) as s:
            seen: set[str] = set()
            for line, row in rows:
                raw = row.get("phone")
                text = "" if raw is None else str(raw).strip()
                if isinstance(raw, float) and raw.is_integer():
                    text = str(int(raw))
                if not text:
                    rejected.append(Rejection(line, "", "нет номера телефона"))
                    continue
                try:
                    number = normalize_phone(text)
                except InvalidPhone as exc:
                    rejected.append(Rejection(line, shown(text), exc.reason))
                    continue
                if number in seen:
                    rejected.append(Rejection(line, shown(text), "номер повторяется в файле"))
                    continue
                seen.add(number)
                reason = " ".join(str(row.get("reason") or "").split()) or default_reason
                if self._add(s, number, reason[:255]):
                    added += 1
        return ImportResult(None, added, rejected)
