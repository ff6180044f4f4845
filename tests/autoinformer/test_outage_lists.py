"""The planned-outage lists and REQ-O9's two refusals (issue 16), on SQLite
and PostgreSQL: the list builders from addresses and from an outage of the
register (residents by house, street range, settlement; the outage's period
filled in for the message), the approval refused when the 24-hour or the
3-day limit cannot be met, and each call refused once past the limit (a
legal entity's only warned)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from autoinformer.campaigns import CampaignError, CampaignService, message_variables
from autoinformer.contacts import ContactListService
from autoinformer.models import Campaign, Contact
from autoinformer.store import AttemptStore
from crm_bridge.accounts import AccountData, upsert_accounts
from crm_bridge.db import Database, utcnow
from crm_bridge.outages import OutageKind
from outages.register import Draft, OutageRegister
from tests.autoinformer.helpers import always_open, daytime_zone


def _residents(db: Database, zone: str = "Europe/Moscow") -> None:
    """Демоград: ул. Ленина 1–6 (a flat each), ул. Садовая 1–2; Ивановка:
    ул. Полевая 1; an ООО on Ленина 2."""
    items = []
    n = 0

    def add(settlement: str, street: str, house: str, category: str = "ФЛ") -> None:
        nonlocal n
        n += 1
        items.append(
            AccountData(
                number=f"55{n:06d}",
                holder_name=f"Житель {n}",
                category=category,
                settlement=settlement,
                street_type="ул.",
                street=street,
                house=house,
                flat="1" if category == "ФЛ" else None,
                phones=(f"+7901{n:07d}",),
                timezone=zone,
            )
        )

    for h in range(1, 7):
        add("г. Демоград", "Ленина", str(h))
    add("г. Демоград", "Садовая", "1")
    add("г. Демоград", "Садовая", "2")
    add("с. Ивановка", "Полевая", "1")
    add("г. Демоград", "Ленина", "2", category="ЮЛ")
    with db.session(write=True) as s:
        upsert_accounts(s, items)


def _campaign(
    db: Database, start: datetime, *, decided: datetime | None = None, notice: str = "refuse"
) -> int:
    window_start, window_end = always_open()
    return CampaignService(db).create(
        "Плановое отключение",
        "planned_outage",
        start_at=window_start,
        end_at=window_end,
        created_by="sidorova",
        outage_start=start,
        outage_end=start + timedelta(hours=6),
        outage_decided_at=decided or utcnow(),
        outage_notice=notice,
    )


def _numbers(db: Database, cid: int) -> list[str]:
    with db.session() as s:
        return sorted(
            str(c.variables["account"])
            for c in s.scalars(select(Contact).where(Contact.campaign_id == cid))
        )


def test_list_from_addresses_takes_every_flat_of_the_houses(any_db: Database) -> None:
    _residents(any_db)
    start = utcnow() + timedelta(days=2)
    cid = _campaign(any_db, start)
    result = ContactListService(any_db).from_addresses(
        cid, ["г. Демоград, ул. Ленина, д. 2", "ул. Садовая 1", "где-то там"]
    )
    assert _numbers(any_db, cid) == ["55000002", "55000007", "55000010"]
    assert result.accepted == 3
    assert [r.reason for r in result.rejected] == ["адрес не распознан (нужны улица и дом)"]
    # the outage's period is the campaign's: the message says it for every resident
    with any_db.session() as s:
        campaign = s.get(Campaign, cid)
        contact = s.scalars(select(Contact).where(Contact.campaign_id == cid)).first()
        assert campaign is not None and contact is not None
        said = message_variables(campaign, contact.variables)
    assert datetime.fromisoformat(said["outage_from"]) == start
    assert datetime.fromisoformat(said["outage_to"]) == start + timedelta(hours=6)


def test_list_from_an_outage_of_the_register(any_db: Database) -> None:
    _residents(any_db)
    start = utcnow() + timedelta(days=2)
    entry = OutageRegister(any_db).create(
        Draft(
            kind=OutageKind.PLANNED,
            starts_at=start,
            ends_at=start + timedelta(hours=6),
            addresses=["г. Демоград, ул. Ленина, д. 2-4", "с. Ивановка"],
        ),
        by="sidorova",
    )
    cid = _campaign(any_db, start)
    result = ContactListService(any_db).from_outage(cid, entry.id)
    assert result.accepted == 5 and not result.rejected
    assert _numbers(any_db, cid) == ["55000002", "55000003", "55000004", "55000009", "55000010"]
    with any_db.session() as s:
        categories = {
            c.variables["account"]: c.category
            for c in s.scalars(select(Contact).where(Contact.campaign_id == cid))
        }
    assert categories["55000010"] == "ЮЛ"  # flagged for the channel its contract names


def test_approval_is_refused_when_the_24_hour_or_3_day_limit_cannot_be_met(
    any_db: Database,
) -> None:
    _residents(any_db)
    cs = CampaignService(any_db)
    lists = ContactListService(any_db)
    for start, decided, why in (
        (utcnow() + timedelta(hours=20), None, "до начала отключения меньше 24 часов"),
        (
            utcnow() + timedelta(days=10),
            utcnow() - timedelta(days=5),
            "прошло больше 3 дней с решения об отключении",
        ),
    ):
        cid = _campaign(any_db, start, decided=decided)
        lists.from_addresses(cid, ["ул. Садовая 1"])
        # Refused when it is sent for approval (REQ-O10), before a supervisor sees it.
        with pytest.raises(CampaignError, match="опоздает") as refused:
            cs.submit(cid, "disp")
        assert why in str(refused.value)
        assert cs.get(cid).status == "draft"
    # in time: approved; and a dispatcher who chose «warn» may approve a late one
    ok = _campaign(any_db, utcnow() + timedelta(days=2))
    lists.from_addresses(ok, ["ул. Садовая 1"])
    cs.submit(ok, "disp")
    cs.approve(ok, "boss", "supervisor")
    late = _campaign(any_db, utcnow() + timedelta(hours=20), notice="warn")
    lists.from_addresses(late, ["ул. Садовая 1"])
    cs.submit(late, "disp")
    cs.approve(late, "boss", "supervisor")
    assert cs.get(ok).status == cs.get(late).status == "approved"


def test_approval_is_refused_when_the_limit_passed_while_it_waited(any_db: Database) -> None:
    """Sent in time, approved too late: the supervisor opens the queue 7 hours
    later, when the outage is less than 24 hours away (REQ-O9)."""
    _residents(any_db)
    now = utcnow()
    cs = CampaignService(any_db, clock=lambda: now)
    cid = _campaign(any_db, now + timedelta(hours=30))
    ContactListService(any_db).from_addresses(cid, ["ул. Садовая 1"])
    cs.submit(cid, "disp")
    later = CampaignService(any_db, clock=lambda: now + timedelta(hours=7))
    with pytest.raises(CampaignError) as refused:
        later.approve(cid, "boss", "supervisor")
    assert "до начала отключения меньше 24 часов" in str(refused.value)
    assert later.get(cid).status == "submitted"  # still in the queue, to be returned or moved


def test_each_call_past_the_limit_is_refused_a_legal_entity_only_warned(
    any_db: Database,
) -> None:
    now = utcnow()
    start = now + timedelta(days=3)
    # the claim happens 2.5 days on: inside 24 h of the outage
    at = now + timedelta(days=2, hours=12)
    _residents(any_db, zone=daytime_zone(at))
    cs = CampaignService(any_db)
    cid = _campaign(any_db, start)
    ContactListService(any_db).from_addresses(cid, ["г. Демоград, ул. Ленина, д. 2"])
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    claimed = AttemptStore(any_db, "n1").claim(10, now=at)
    with any_db.session() as s:
        contacts = {
            c.category: c for c in s.scalars(select(Contact).where(Contact.campaign_id == cid))
        }
    household, legal = contacts["ФЛ"], contacts["ЮЛ"]
    assert household.status == "refused" and household.refusal == "outage_notice_late"
    assert [c.contact_id for c in claimed] == [legal.id]  # the contract's channel decides


def test_a_call_more_than_3_days_after_the_decision_is_refused(any_db: Database) -> None:
    now = utcnow()
    start = now + timedelta(days=8)
    at = now + timedelta(days=5)  # still 3 days before the outage, but 5 after the decision
    _residents(any_db, zone=daytime_zone(at))
    cs = CampaignService(any_db)
    cid = _campaign(any_db, start, decided=now)
    ContactListService(any_db).from_addresses(cid, ["ул. Садовая 2"])
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    assert AttemptStore(any_db, "n1").claim(10, now=at) == []
    with any_db.session() as s:
        [contact] = s.scalars(select(Contact).where(Contact.campaign_id == cid)).all()
    assert contact.status == "refused" and contact.refusal == "outage_notice_late"
