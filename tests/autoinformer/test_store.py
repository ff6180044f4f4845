"""The dialer's database contract (REQ-O2, O4, O7, O9), without Asterisk:
claims write the attempt row before the dial, results are recorded exactly
once, retries follow the per-result delays up to the maximum, the call
policy holds or refuses contacts, and several workers sharing a campaign
never claim the same contact (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.models import Attempt, Contact
from autoinformer.store import AttemptStore, result_for
from crm_bridge.db import Database
from crm_bridge.models import AccountPhone
from tests.autoinformer.helpers import always_open, make_accounts

MONDAY_NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, a Monday


def campaign(db: Database, phones: list[str], **options: object) -> int:
    cs = CampaignService(db)
    start, end = always_open()
    opts: dict[str, object] = {
        "max_attempts": 2,
        "retry_delays": {"busy": 60, "noanswer": 120},
    }
    opts.update(options)
    cid = cs.create("Долги", str(opts.pop("kind", "debt")), start_at=start, end_at=end, **opts)
    res = ContactListService(db).import_rows(cid, [{"phone": p} for p in phones])
    assert res.accepted == len(phones), res.rejected
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    return cid


def test_claim_writes_the_row_before_the_dial_and_never_twice(db: Database) -> None:
    phones = ["+79003330001", "+79003330002"]
    make_accounts(db, phones)
    cid = campaign(db, phones)
    store = AttemptStore(db, "n1")
    first = store.claim(10, now=MONDAY_NOON)
    assert len(first) == 2
    with db.session() as s:
        rows = s.scalars(select(Attempt).where(Attempt.campaign_id == cid)).all()
        assert {r.state for r in rows} == {"dialing"}
        assert {r.channel_id for r in rows} == {c.channel_id for c in first}
        assert all(r.action_id and r.action_id.startswith(r.channel_id or "") for r in rows)
    # In flight: nobody claims them again, whatever the number of tries.
    assert store.claim(10, now=MONDAY_NOON) == []
    assert AttemptStore(db, "n2").claim(10, now=MONDAY_NOON) == []


def test_results_are_recorded_once_and_retries_follow_the_delays(db: Database) -> None:
    phones = ["+79003330011", "+79003330012", "+79003330013"]
    make_accounts(db, phones, prefix="71")
    cid = campaign(db, phones)
    store = AttemptStore(db, "n1")
    claimed = {c.phone: c for c in store.claim(10, now=MONDAY_NOON)}
    busy, noanswer, heard = (claimed[p] for p in phones)
    rep = store.finalise(busy.channel_id, originate_reason=5, now=MONDAY_NOON)
    assert rep is not None and rep.result == "busy" and not rep.final
    # A second report of the same attempt (the flow, AMI, a restart) changes nothing.
    assert store.finalise(busy.channel_id, hangup_cause=16, answered=True) is None
    store.finalise(noanswer.channel_id, originate_reason=3, now=MONDAY_NOON)
    store.mark_answered(heard.channel_id, at=MONDAY_NOON)
    store.flow_update(heard.attempt_id, flow_state="completed")
    rep = store.finalise(heard.channel_id, hangup_cause=16, now=MONDAY_NOON)
    assert rep is not None and rep.result == "completed" and rep.final and rep.positive
    with db.session() as s:
        contacts = {c.phone: c for c in s.scalars(select(Contact))}
    assert contacts[phones[0]].next_at == MONDAY_NOON + timedelta(seconds=60)
    assert contacts[phones[1]].next_at == MONDAY_NOON + timedelta(seconds=120)
    assert contacts[phones[2]].status == "done" and contacts[phones[2]].positive
    # Not before its delay; then the second (last) attempt.
    assert store.claim(10, now=MONDAY_NOON + timedelta(seconds=30)) == []
    again = store.claim(10, now=MONDAY_NOON + timedelta(seconds=61))
    assert [c.phone for c in again] == [phones[0]]
    store.finalise(again[0].channel_id, originate_reason=5, now=MONDAY_NOON)
    with db.session() as s:
        c = s.scalars(select(Contact).where(Contact.phone == phones[0])).one()
        nos = sorted(
            a.attempt_no for a in s.scalars(select(Attempt).where(Attempt.contact_id == c.id))
        )
    assert c.status == "done" and c.final_result == "busy" and nos == [1, 2]
    st = CampaignService(db).stats(cid)
    assert st.results == {"busy": 2, "noanswer": 1, "completed": 1}


def test_never_sent_is_refunded(db: Database) -> None:
    make_accounts(db, ["+79003330021"], prefix="72")
    campaign(db, ["+79003330021"], max_attempts=1, retry_delays={"failed": 5})
    store = AttemptStore(db, "n1")
    (cl,) = store.claim(1, now=MONDAY_NOON)
    rep = store.finalise(cl.channel_id, refund=True, note="not sent", now=MONDAY_NOON)
    assert rep is not None and not rep.final  # the attempt did not count
    with db.session() as s:
        assert s.scalars(select(Contact)).one().attempts == 0


def test_policy_holds_outside_the_window_and_refuses_numbers_not_on_file(db: Database) -> None:
    phones = ["+79003330031", "+79003330032"]
    make_accounts(db, phones, prefix="73", timezone="Asia/Vladivostok")
    cid = campaign(db, phones)
    # 09:00 UTC is 19:00 in Vladivostok on a weekday: allowed (08–22);
    # 13:00 UTC is 23:00 there: held until 08:00 local the next morning.
    late = datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    store = AttemptStore(db, "n1")
    with db.session(write=True) as s:
        s.execute(delete(AccountPhone).where(AccountPhone.phone == phones[1]))
    assert store.claim(10, now=late) == []
    with db.session() as s:
        contacts = {c.phone: c for c in s.scalars(select(Contact))}
    held, gone = contacts[phones[0]], contacts[phones[1]]
    assert held.status == "pending" and held.next_at == datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
    assert held.refusal
    assert gone.status == "refused" and gone.refusal == "not_on_file"  # REQ-O7
    assert [c.phone for c in store.claim(10, now=held.next_at)] == [phones[0]]
    assert CampaignService(db).stats(cid).final == {"refused": 1}


def test_debt_caps_one_call_a_day(db: Database) -> None:
    make_accounts(db, ["+79003330041"], prefix="74")
    make_accounts(db, ["+79003330042"], prefix="75")
    first = campaign(db, ["+79003330041"], caps_230fz=True)
    store = AttemptStore(db, "n1")
    (cl,) = store.claim(1, now=MONDAY_NOON)
    store.mark_answered(cl.channel_id, at=MONDAY_NOON)
    store.flow_update(cl.attempt_id, flow_state="completed")
    store.finalise(cl.channel_id, now=MONDAY_NOON)
    # The same debtor in another debt campaign the same day: held to tomorrow.
    second = CampaignService(db).create("Ещё", "debt", caps_230fz=True)
    ContactListService(db).import_rows(second, [{"phone": "+79003330041"}])
    CampaignService(db).submit(second, "disp")
    CampaignService(db).approve(second, "boss", "head")
    CampaignService(db).launch(second)
    assert store.claim(5, now=MONDAY_NOON + timedelta(hours=1)) == []
    with db.session() as s:
        c = s.scalars(select(Contact).where(Contact.campaign_id == second)).one()
    assert c.refusal and c.next_at is not None and c.next_at.date() > MONDAY_NOON.date()
    assert first != second


def test_result_mapping() -> None:
    common = {"hangup_cause": None, "answered": False, "flow_state": None, "amd_status": None}
    assert result_for(originate_reason=5, gone=False, **common) == "busy"
    assert result_for(originate_reason=3, gone=False, **common) == "noanswer"
    assert result_for(originate_reason=8, gone=False, **common) == "congestion"
    assert result_for(originate_reason=None, gone=True, **common) == "lost"
    playing = {**common, "answered": True, "flow_state": "playing"}
    assert result_for(originate_reason=4, gone=False, **playing) == "hungup"
    assert result_for(originate_reason=4, gone=False, restarted=True, **playing) == "lost"
    done = {**common, "answered": True, "flow_state": "completed"}
    assert result_for(originate_reason=4, gone=True, restarted=True, **done) == "completed"


def test_workers_sharing_a_campaign_never_claim_the_same_contact(any_db: Database) -> None:
    """Four workers (nodes) claim concurrently until the list is exhausted."""
    db = any_db
    phones = [f"+7900444{i:04d}" for i in range(120)]
    make_accounts(db, phones, prefix="76")
    cid = campaign(db, phones, max_attempts=1)
    claims: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(node: str) -> None:
        store = AttemptStore(db, node)
        got: list[int] = []
        try:
            barrier.wait()
            while batch := store.claim(7, now=MONDAY_NOON):
                got.extend(c.contact_id for c in batch)
        except BaseException as exc:
            errors.append(exc)
        claims[node] = got

    threads = [threading.Thread(target=worker, args=(f"node{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    every = [cid_ for got in claims.values() for cid_ in got]
    assert len(every) == len(set(every)) == 120, Counter(every).most_common(3)
    if db.engine.dialect.name == "postgresql":
        assert sum(1 for got in claims.values() if got) >= 2, {k: len(v) for k, v in claims.items()}
    with db.session() as s:
        rows = s.scalars(select(Attempt).where(Attempt.campaign_id == cid)).all()
    assert len(rows) == 120 and len({(r.contact_id, r.attempt_no) for r in rows}) == 120


def test_positive_rate_counts_only_contacts_the_campaign_tried(db: Database) -> None:
    """REQ-O8: the rate is of messages received among contacts called; a
    contact the policy refused (here: a number no longer on file, REQ-O7)
    was never called and does not lower it."""
    phones = ["+79003330051", "+79003330052"]
    make_accounts(db, phones, prefix="76")
    cid = campaign(db, phones)
    with db.session(write=True) as s:
        s.execute(delete(AccountPhone).where(AccountPhone.phone == phones[1]))
    store = AttemptStore(db, "n1")
    (heard,) = store.claim(10, now=MONDAY_NOON)
    store.mark_answered(heard.channel_id, at=MONDAY_NOON)
    store.flow_update(heard.attempt_id, flow_state="completed")
    store.finalise(heard.channel_id, hangup_cause=16, now=MONDAY_NOON)
    st = CampaignService(db).stats(cid)
    assert (st.finished, st.reached, st.positive) == (2, 1, 1)
    assert st.positive_rate == 1.0
    assert st.as_dict()["positive_rate"] == 1.0
