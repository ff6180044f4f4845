"""The notice campaign of a planned outage (issue 16 item 6; REQ-O7, O9, O10, O12).

When a planned outage is saved in the register, its page proposes «Создать
кампанию оповещения» (:meth:`OutageCampaigns.proposal`): who is affected and
how each is reached —

* households (ФЛ, ГЛ) by the phone numbers of their contract (REQ-O7), by
  SMS to those numbers when the SMS gateway is configured, and by e-mail
  where they gave an address voluntarily (the account's e-mail); the
  campaign tries these channels one after another, each customer's chosen
  form of notification first (REQ-O12, :mod:`autoinformer.channels`):
  whoever chose SMS or e-mail gets that first, the others a call, then the
  SMS, then the e-mail when the call was not heard;
  households with no phone in the contract are counted apart: the campaign
  cannot call them;
* legal entities (ЮЛ) are listed apart, flagged: REQ-O9 tells them «by phone
  message, fax or autoinformer as the contract says» — the campaign calls
  the ones with a contract phone under the legal entities' rule (a late call
  is only warned, :func:`autoinformer.policy.check_outage_notice`), first
  by the form their contract names where it is on file (``notify_by``, from
  the accounts import or the card: a call, an SMS or an e-mail); the list
  shows that form, and where none is recorded (or the contract says fax,
  which the campaign does not send) reminds the dispatcher to check it;
* the message: the planned-outage template, the outage's period as its
  spoken variables (``outage_from``/``outage_to`` of the campaign, said in
  each customer's time zone);
* REQ-O9 now: the last moment households can still be told, or why it is
  too late (submission and approval are refused then, and each call past
  the limit, by the autoinformer).

:meth:`OutageCampaigns.create` makes it in one go (one per outage; a second
click opens the same campaign): a draft campaign of kind «Плановое
отключение» whose outage period and decision time are the register's, its
calls ending when the outage starts, its list built from the outage's
addresses (:meth:`autoinformer.contacts.ContactListService.from_outage`).
The dispatcher submits it, a supervisor approves it (REQ-O10).

Blocking; the web runs it in threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from autoinformer.campaigns import (
    STATUS_TITLES,
    CampaignService,
    Kind,
    default_scenario,
    outage_refusal_ru,
    preview_text,
)
from autoinformer.contacts import ContactListService, ImportResult
from autoinformer.models import Campaign
from autoinformer.policy import NoticeCategory, NoticeVerdict, check_outage_notice
from crm_bridge.db import Database, utcnow
from crm_bridge.models import Account, AccountPhone, Category
from crm_bridge.outages import OutageKind, register_accounts
from outages.models import OutageCampaign, OutageEntry, OutageStatus
from outages.register import NotFound, OutageInputError

__all__ = ["CampaignProposal", "LegalEntity", "OutageCampaigns"]

LEGAL_SHOWN: Final = 50
"""Legal entities listed by name on the proposal (all are counted)."""
_CHUNK: Final = 2000


@dataclass(frozen=True)
class LegalEntity:
    account: str
    name: str
    phone: bool
    """A phone in the contract: the campaign calls it."""
    email: bool
    form: str | None = None
    """The form of notification on file (``accounts.notify_by``, from the
    contract by the accounts import or set on the card): the campaign tries
    it first. None: not recorded — the dispatcher checks the contract."""


@dataclass(frozen=True)
class CampaignProposal:
    outage_id: int
    possible: bool
    """A planned outage not yet begun, cancelled or restored."""
    why_not: str
    households: int
    households_phone: int
    """Households with a phone in their contract: called."""
    households_email: int
    """Of those, with an e-mail given voluntarily: also e-mailed."""
    households_unreachable: int
    """Households with no phone in the contract: the campaign cannot reach them."""
    legal_total: int
    channels: tuple[str, ...] = ("phone",)
    """The campaign's channels in their order (:meth:`OutageCampaigns.channels`)."""
    chose: dict[str, int] = field(default_factory=dict)
    """Households reachable by the campaign per form of notification they
    chose (REQ-O12), of the campaign's channels; the rest are called first."""
    legal: list[LegalEntity] = field(default_factory=list)
    message: str = ""
    """The message as the callees hear it (the period in the centre's zone)."""
    late: str = ""
    """Why households can no longer be told in time (REQ-O9), or empty."""
    latest: datetime | None = None
    """The last moment households can still be told (REQ-O9)."""
    campaign_id: int | None = None
    campaign_status: str = ""
    stale: str = ""
    """Why the campaign no longer says the outage as it is (cancelled, or
    moved after its calls began), or empty."""

    @property
    def callable(self) -> int:
        return self.households_phone + sum(1 for e in self.legal if e.phone)


class OutageCampaigns:
    """The proposal and the campaign of an outage of the register."""

    def __init__(
        self,
        db: Database,
        zone: ZoneInfo,
        *,
        campaigns: CampaignService | None = None,
        sms: bool = False,
    ) -> None:
        self.db = db
        self.zone = zone
        self.sms = sms
        """An SMS gateway is configured: the campaign may send SMS."""
        self.campaigns = campaigns if campaigns is not None else CampaignService(db)
        """Its clock is the proposal's (REQ-O9 counted as submission counts it)."""

    # -- the proposal -----------------------------------------------------------------

    def proposal(self, outage_id: int) -> CampaignProposal:
        with self.db.session(readonly=True) as s:
            entry = s.get(OutageEntry, outage_id)
            if entry is None:
                raise NotFound(f"отключение {outage_id} не найдено")
            link = s.get(OutageCampaign, outage_id)
            campaign = s.get(Campaign, link.campaign_id) if link is not None else None
            ids = sorted(register_accounts(s, outage_id))
            rows: list[Any] = []
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                has_phone = exists().where(
                    AccountPhone.account_id == Account.id, AccountPhone.in_contract.is_(True)
                )
                rows.extend(
                    s.execute(
                        select(
                            Account.number,
                            Account.holder_name,
                            Account.category,
                            Account.email,
                            Account.notify_by,
                            has_phone.label("phone"),
                        )
                        .where(Account.id.in_(chunk))
                        .order_by(Account.number)
                    ).all()
                )
            starts, ends, decided = entry.starts_at, entry.ends_at, entry.decided_at
            why_not = self._why_not(entry)
            stale = self._stale(entry, campaign) if campaign is not None else ""
        households = [r for r in rows if r.category is not Category.UL]
        legal = [r for r in rows if r.category is Category.UL]
        channels = self.channels(any(r.email for r in rows))  # as create() decides
        chose = {
            form: n
            for form in channels[1:]
            if (n := sum(1 for r in households if r.phone and r.notify_by == form))
        }
        now = self.campaigns.clock()
        late, latest = "", None
        if not why_not:
            check = check_outage_notice(
                now, starts, min(decided, now), NoticeCategory.HOUSEHOLD, tz=self.zone
            )
            latest = check.latest
            if check.verdict is NoticeVerdict.REFUSE:
                late = outage_refusal_ru(check)
        return CampaignProposal(
            outage_id=outage_id,
            possible=not why_not,
            why_not=why_not,
            households=len(households),
            households_phone=sum(1 for r in households if r.phone),
            households_email=sum(1 for r in households if r.phone and r.email),
            households_unreachable=sum(1 for r in households if not r.phone),
            channels=channels,
            chose=chose,
            legal_total=len(legal),
            legal=[
                LegalEntity(r.number, r.holder_name, bool(r.phone), bool(r.email), r.notify_by)
                for r in legal[:LEGAL_SHOWN]
            ],
            message=self.message(starts, ends) if ends is not None else "",
            late=late,
            latest=latest,
            campaign_id=campaign.id if campaign is not None else None,
            campaign_status=STATUS_TITLES.get(campaign.status, campaign.status)
            if campaign is not None
            else "",
            stale=stale,
        )

    @staticmethod
    def _stale(entry: OutageEntry, campaign: Campaign) -> str:
        if campaign.status in ("stopped", "completed"):
            return ""
        if entry.status is OutageStatus.CANCELLED:
            return "отключение отменено, а кампания не остановлена: остановите её"
        if (campaign.outage_start, campaign.outage_end) != (entry.starts_at, entry.ends_at):
            return (
                "отключение перенесено после начала обзвона: кампания говорит прежний период — "
                "остановите её и сообщите жителям новый"
            )
        return ""

    @staticmethod
    def _why_not(entry: OutageEntry) -> str:
        if entry.kind is not OutageKind.PLANNED:
            return "кампания оповещения делается для планового отключения"
        if entry.status is not OutageStatus.PLANNED:
            return "отключение уже не запланировано: оповещать о нём поздно"
        return ""

    def channels(self, emails: bool) -> tuple[str, ...]:
        """The notice's channels: the call, the SMS to the same contract
        numbers where a gateway is configured, the e-mail where any affected
        customer gave an address."""
        return ("phone", *(("sms",) if self.sms else ()), *(("email",) if emails else ()))

    def message(self, starts: datetime, ends: datetime) -> str:
        """The planned-outage message with this period, as text."""
        variables = {"outage_from": starts.isoformat(), "outage_to": ends.isoformat()}
        return preview_text(
            default_scenario(Kind.PLANNED_OUTAGE), variables, tz=str(self.zone), with_hints=False
        )

    # -- the campaign -------------------------------------------------------------------

    def create(self, outage_id: int, *, by: str) -> tuple[int, ImportResult | None]:
        """The outage's notice campaign (a draft with its list), or the one
        already made (then no list result)."""
        existing = self._linked(outage_id)
        if existing is not None:
            return existing, None
        with self.db.session(readonly=True) as s:
            entry = s.get(OutageEntry, outage_id)
            if entry is None:
                raise NotFound(f"отключение {outage_id} не найдено")
            why_not = self._why_not(entry)
            starts, ends, decided = entry.starts_at, entry.ends_at, entry.decided_at
            emails = self._any_email(s, outage_id)
        if why_not:
            raise OutageInputError(why_not)
        day = starts.astimezone(self.zone).strftime("%d.%m.%Y")
        cid = self.campaigns.create(
            f"Плановое отключение № {outage_id} ({day})",
            Kind.PLANNED_OUTAGE,
            end_at=starts,  # nobody is told after the outage began (REQ-O9)
            created_by=by,
            outage_start=starts,
            outage_end=ends,
            outage_decided_at=decided,
            channels=",".join(self.channels(emails)),
            note=f"Из реестра отключений: № {outage_id}",
        )
        try:
            with self.db.session(write=True) as s:
                s.add(
                    OutageCampaign(
                        outage_id=outage_id,
                        campaign_id=cid,
                        created_by=by[:64],
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:  # made at the same moment by another click: that one stays
            with self.db.session(write=True) as s:
                s.execute(delete(Campaign).where(Campaign.id == cid))
            linked = self._linked(outage_id)
            assert linked is not None
            return linked, None
        lists = ContactListService(self.db, str(self.zone))
        return cid, lists.from_outage(cid, outage_id, by=by)

    def follow(self, outage_id: int, *, by: str) -> None:
        """After the outage changed: its campaign, not yet launched, takes
        the new period (and goes back to draft to be approved again); a
        launched one is left as it is, and the outage's page says so."""
        cid = self._linked(outage_id)
        if cid is None:
            return
        with self.db.session(readonly=True) as s:
            entry = s.get(OutageEntry, outage_id)
            if entry is None or entry.status is OutageStatus.CANCELLED:
                return
            starts, ends, decided = entry.starts_at, entry.ends_at, entry.decided_at
        if ends is None:
            return  # an emergency's estimate «уточняется»: no campaign is made of it
        self.campaigns.set_outage_period(cid, starts, ends, decided, by=by)

    def _linked(self, outage_id: int) -> int | None:
        """The outage's campaign; a link to a campaign since deleted is dropped."""
        with self.db.session(write=True) as s:
            link = s.get(OutageCampaign, outage_id)
            if link is None:
                return None
            if s.get(Campaign, link.campaign_id) is None:
                s.delete(link)
                return None
            return link.campaign_id

    @staticmethod
    def _any_email(s: Session, outage_id: int) -> bool:
        ids = sorted(register_accounts(s, outage_id))
        for i in range(0, len(ids), _CHUNK):
            found = s.scalar(
                select(Account.id)
                .where(Account.id.in_(ids[i : i + _CHUNK]), Account.email.is_not(None))
                .limit(1)
            )
            if found is not None:
                return True
        return False
