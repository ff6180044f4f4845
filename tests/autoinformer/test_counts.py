"""The monitor's kept counters are honest (REQ-O3; issue 15 item 5), on
SQLite and PostgreSQL: after a random sequence of what happens to a
campaign's contacts and attempts — imports, the dialer's claims, answers
and results, retries, the do-not-call list, edits and removals, a stop, bulk
updates by hand, a deleted campaign — the counters the database's triggers
keep (``ai_contact_counts``, ``ai_attempt_counts``, migration
``0650_campaign_counts``) give exactly what a full recount of the contacts
and attempts gives: the states, results, calls in flight, the held-back
reasons, the dialable contacts by zone and the ETA."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.lists import ContactRoster, DoNotCallList
from autoinformer.models import Attempt, Campaign, Contact, ContactCount
from autoinformer.outlook import COMPACT_ABOVE, monitor_view
from autoinformer.store import AttemptStore
from crm_bridge.db import Database
from tests.autoinformer.helpers import always_open, make_accounts

ZONES = ("Europe/Moscow", "Asia/Omsk", "Asia/Vladivostok")


def _phones(prefix: str, n: int) -> list[str]:
    return [f"+7{prefix}{i:07d}" for i in range(n)]


def _campaign(db: Database, phones: list[str], name: str) -> int:
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create(name, "debt", start_at=start, end_at=end)
    res = ContactListService(db).import_rows(cid, [{"phone": p} for p in phones], by="disp")
    assert res.accepted == len(phones), res.rejected
    return cid


def _launch(db: Database, cid: int) -> None:
    cs = CampaignService(db)
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)


def _assert_honest(db: Database, cids: list[int], now: datetime, step: str) -> None:
    cs = CampaignService(db)
    for cid in cids:
        with db.session(readonly=True) as s:
            kept = CampaignService._stats(s, cid).as_dict()
            full = CampaignService.recount(s, cid).as_dict()
        assert kept == full, f"{step}: campaign {cid}"
        assert kept["total"] == _count(db, cid)
        kept_view = monitor_view(cs, cid, now=now)
        full_view = monitor_view(cs, cid, now=now, recount=True)
        assert kept_view[1] == full_view[1], f"{step}: campaign {cid}"


def _count(db: Database, cid: int) -> int:
    with db.session(readonly=True) as s:
        return s.scalar(select(func.count()).where(Contact.campaign_id == cid)) or 0


def test_counters_equal_a_full_recount_after_random_transitions(any_db: Database) -> None:
    rnd = random.Random(20261206)
    now = datetime.now(UTC)
    groups = [_phones(f"9{k}1", 12) for k in range(len(ZONES))]
    for k, (zone, phones) in enumerate(zip(ZONES, groups, strict=True)):
        make_accounts(any_db, phones, prefix=f"6{k}", timezone=zone)
    everyone = [p for g in groups for p in g]
    rnd.shuffle(everyone)
    first = _campaign(any_db, everyone[:20], "Первая")
    second = _campaign(any_db, everyone[20:30], "Вторая")
    cids = [first, second]
    _assert_honest(any_db, cids, now, "import")
    _launch(any_db, first)
    _launch(any_db, second)
    store = AttemptStore(any_db, "n1")
    roster = ContactRoster(any_db)
    dnc = DoNotCallList(any_db)
    in_flight: list[str] = []
    causes = (
        {"originate_reason": 5},  # busy
        {"originate_reason": 3},  # no answer
        {"originate_reason": 4, "answered": True, "hangup_cause": 16},
        {"originate_reason": 1},
        {"restarted": True},
    )
    for step in range(60):
        action = rnd.choice(
            ("claim", "claim", "finish", "finish", "hold", "retry_now", "dnc", "edit", "sql")
        )
        if action == "claim":
            in_flight += [c.channel_id for c in store.claim(rnd.randint(1, 4), now=now)]
        elif action == "finish" and in_flight:
            channel = in_flight.pop(rnd.randrange(len(in_flight)))
            if rnd.random() < 0.5:
                store.mark_answered(channel, at=now)
            store.finalise(channel, now=now, **rnd.choice(causes))  # type: ignore[arg-type]
        elif action == "hold":
            # The policy holds some contacts until later, with its reason.
            with any_db.session(write=True) as s:
                ids = list(
                    s.scalars(select(Contact.id).where(Contact.status == "pending").limit(3))
                )
                s.execute(
                    update(Contact)
                    .where(Contact.id.in_(ids))
                    .values(
                        refusal=rnd.choice(("daily_cap", "outside_window", None)),
                        next_at=now + timedelta(hours=rnd.randint(1, 30)),
                    )
                )
        elif action == "retry_now":
            with any_db.session(write=True) as s:
                s.execute(
                    update(Contact).where(Contact.next_at > now).values(next_at=None, refusal=None)
                )
        elif action == "dnc":
            dnc.add(rnd.choice(everyone), "просьба абонента")
        elif action == "edit":
            # A draft's contacts are edited and removed (the page).
            third = _campaign(any_db, groups[0][:3], f"Черновик {step}")
            cids.append(third)
            row = roster.page(third).items[0]
            roster.update(third, row.id, row.phone, {"debt": "99,50"}, by="disp")
            roster.remove(third, roster.page(third).items[-1].id, by="disp")
            if rnd.random() < 0.5:
                with any_db.session(write=True) as s:
                    s.execute(delete(Campaign).where(Campaign.id == third))
                cids.remove(third)
        elif action == "sql":
            # Bulk changes by hand (a repair), the time zone of a few.
            with any_db.session(write=True) as s:
                s.execute(
                    update(Contact)
                    .where(Contact.campaign_id == second, Contact.status == "pending")
                    .values(timezone=rnd.choice(ZONES))
                )
        _assert_honest(any_db, cids, now, f"step {step} ({action})")
    CampaignService(any_db).stop(second)
    for channel in in_flight:
        store.finalise(channel, now=now, originate_reason=5)
    _assert_honest(any_db, cids, now, "stopped and finished")
    with any_db.session(write=True) as s:
        s.execute(delete(Attempt).where(Attempt.campaign_id == first))
        s.execute(delete(Contact).where(Contact.campaign_id == first))
    _assert_honest(any_db, cids, now, "deleted by hand")
    # Nothing of a deleted campaign stays behind, and every count is of a real group.
    with any_db.session(readonly=True) as s:
        kept = set(s.scalars(select(ContactCount.campaign_id).where(ContactCount.n != 0)))
        real = set(s.scalars(select(Contact.campaign_id)))
    assert kept <= real


def test_counter_rows_are_folded_and_stay_honest(any_db: Database) -> None:
    """Rows left by many server processes (PostgreSQL: one set per process
    that wrote) and rows of zero are folded by a snapshot once there are
    more than COMPACT_ABOVE, and the counts do not change."""
    phones = _phones("961", 8)
    make_accounts(any_db, phones)
    cid = _campaign(any_db, phones, "Много процессов")
    postgresql = any_db.dialect == "postgresql"
    with any_db.session(write=True) as s:
        rows = list(
            s.execute(select(ContactCount).where(ContactCount.campaign_id == cid)).scalars()
        )
        keys = [
            (r.campaign_id, r.status, r.final_result, r.positive, r.refusal, r.timezone)
            for r in rows
        ]
        for shard in range(1, COMPACT_ABOVE + 1):
            for key in keys:
                # +3 in one process's row, −3 in the next one's: the sum stays.
                delta = 3 if shard % 2 else -3
                s.add(
                    ContactCount(
                        campaign_id=key[0],
                        status=key[1],
                        final_result=key[2],
                        positive=key[3],
                        refusal=key[4],
                        timezone=key[5],
                        shard=shard if postgresql else 0,
                        n=delta if postgresql else 0,
                    )
                    if postgresql
                    else ContactCount(
                        campaign_id=key[0],
                        status=f"x{shard}",
                        final_result="",
                        positive=False,
                        refusal="",
                        timezone="",
                        shard=0,
                        n=0,
                    )
                )
    cs = CampaignService(any_db)
    with any_db.session(readonly=True) as s:
        assert CampaignService._stats(s, cid).as_dict() == CampaignService.recount(s, cid).as_dict()
        assert CampaignService._stats(s, cid).counter_rows > COMPACT_ABOVE
    now = datetime.now(UTC)
    assert monitor_view(cs, cid, now=now)[1] == monitor_view(cs, cid, now=now, recount=True)[1]
    with any_db.session(readonly=True) as s:
        kept = CampaignService._stats(s, cid)
        assert kept.as_dict() == CampaignService.recount(s, cid).as_dict()
        assert kept.counter_rows == len(keys)
    assert cs.compact_counts(cid) == 0  # nothing left to fold
