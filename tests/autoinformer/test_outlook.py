"""The honest monitor (REQ-O3), on SQLite and PostgreSQL: calls in progress
by callee with Russian states; contacts held back by reason (the 230-FZ
caps, the call window, a holiday's window, a retry, do-not-call); an ETA
that knows the windows and the callees' time zones («продолжится завтра в
09:00 по местному времени» when nothing can be dialled now); the hourly
chart read incrementally, with its legend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.models import Campaign, Contact, DoNotCall
from autoinformer.outlook import (
    TimelineFeed,
    call_details,
    chart_data,
    outlook,
    resume_phrase,
)
from autoinformer.store import AttemptStore
from crm_bridge.db import Database
from tests.autoinformer.helpers import always_open, make_accounts

FRIDAY_LATE = datetime(2026, 6, 5, 17, 30, tzinfo=UTC)
"""23:30 on a Friday in Omsk (UTC+6), 20:30 in Moscow: Omsk's window is
closed until Saturday 09:00 (a day off's window), Moscow's is open."""


def _running(db: Database, phones: list[str], *, kind: str = "debt", **options: object) -> int:
    cs = CampaignService(db)
    start, end = always_open()
    cid = cs.create("Долги, монитор", kind, start_at=start, end_at=end, **options)
    res = ContactListService(db).import_rows(cid, [{"phone": p} for p in phones], by="disp")
    assert res.accepted == len(phones), res.rejected
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    return cid


def test_resume_phrase_in_the_callees_time() -> None:
    saturday_9 = datetime(2026, 6, 6, 3, 0, tzinfo=UTC)  # 09:00 in Omsk
    assert (
        resume_phrase(saturday_9, "Asia/Omsk", FRIDAY_LATE)
        == "продолжится завтра в 09:00 по местному времени"
    )
    assert resume_phrase(saturday_9, "Asia/Omsk", saturday_9 - timedelta(hours=2)) == (
        "продолжится сегодня в 09:00 по местному времени"
    )
    assert "10.06.2026 в 09:00" in resume_phrase(
        saturday_9 + timedelta(days=4), "Asia/Omsk", FRIDAY_LATE
    )


def test_nothing_dialable_says_when_it_resumes(any_db: Database) -> None:
    omsk = ["+79004450001", "+79004450002"]
    make_accounts(any_db, omsk, prefix="93", timezone="Asia/Omsk")
    cid = _running(any_db, omsk)
    cs = CampaignService(any_db)
    ahead = outlook(cs, cid, now=FRIDAY_LATE)
    assert ahead["dialable"] == 0 and ahead["eta_seconds"] is None
    assert ahead["held"] == {"window": 2}
    assert ahead["resume"] == "продолжится завтра в 09:00 по местному времени"
    assert ahead["resume_at"] == "2026-06-06T03:00:00+00:00"
    # The dialer agrees: it holds them until then, with the reason stored.
    store = AttemptStore(any_db, "n1")
    assert store.claim(5, now=FRIDAY_LATE) == []
    ahead = outlook(cs, cid, now=FRIDAY_LATE)
    assert ahead["held"] == {"window": 2} and ahead["dialable"] == 0
    assert ahead["resume"] == "продолжится завтра в 09:00 по местному времени"


def test_held_back_by_reason_and_an_eta_for_the_rest(any_db: Database) -> None:
    moscow = [f"+7900446000{i}" for i in range(1, 7)]
    omsk = ["+79004460101"]
    make_accounts(any_db, moscow, prefix="94")
    make_accounts(any_db, omsk, prefix="95", timezone="Asia/Omsk")
    cid = _running(any_db, [*moscow, *omsk])
    cs = CampaignService(any_db)
    tomorrow = FRIDAY_LATE + timedelta(hours=12)
    with any_db.session(write=True) as s:
        by_phone = {c.phone: c for c in s.query(Contact).filter(Contact.campaign_id == cid).all()}
        by_phone[moscow[0]].refusal, by_phone[moscow[0]].next_at = "daily_cap", tomorrow
        by_phone[moscow[1]].refusal, by_phone[moscow[1]].next_at = "weekly_cap", tomorrow
        by_phone[moscow[2]].refusal, by_phone[moscow[2]].next_at = "holiday_window", tomorrow
        by_phone[moscow[3]].next_at = FRIDAY_LATE + timedelta(minutes=15)  # a retry's delay
        s.add(DoNotCall(phone=moscow[4], reason="просил не звонить"))
        s.execute(
            update(Campaign)
            .where(Campaign.id == cid)
            .values(launched_at=FRIDAY_LATE - timedelta(minutes=10))
        )
    # The dialer refuses the number put on the do-not-call list after the import.
    store = AttemptStore(any_db, "n1")
    (claimed,) = store.claim(5, now=FRIDAY_LATE)
    assert claimed.phone == moscow[5]
    ahead = outlook(cs, cid, now=FRIDAY_LATE, in_flight=1)
    assert ahead["held"] == {
        "cap": 2,
        "window": 1,
        "holiday": 1,
        "retry": 1,
        "do_not_call": 1,
    }
    assert ahead["dialable"] == 0 and ahead["waiting"] == 5
    # The retry comes first: in 15 minutes, in Moscow.
    assert ahead["resume"] == "продолжится сегодня в 20:45 по местному времени"
    # One call finished in the last ten minutes: the pace for the call in flight.
    store.finalise(claimed.channel_id, originate_reason=5, now=FRIDAY_LATE)
    ahead = outlook(cs, cid, now=FRIDAY_LATE + timedelta(seconds=1), in_flight=0)
    assert ahead["eta_seconds"] is None  # nothing left to dial now
    with any_db.session(write=True) as s:
        s.execute(update(Contact).where(Contact.phone == moscow[3]).values(next_at=None))
    ahead = outlook(cs, cid, now=FRIDAY_LATE + timedelta(seconds=1), in_flight=0)
    # 1 attempt in the 10 minutes since the launch: 600 s for the one left.
    assert ahead["dialable"] == 1 and ahead["eta_seconds"] == 600.0


def test_calls_by_callee_and_the_live_chart(any_db: Database) -> None:
    phones = ["+79004470001", "+79004470002"]
    numbers = make_accounts(any_db, phones, prefix="96")
    cid = _running(any_db, phones)
    cs = CampaignService(any_db)
    store = AttemptStore(any_db, "n1")
    monday_noon = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    first, second = store.claim(2, now=monday_noon)
    calls = [
        {"attempt_id": first.attempt_id, "campaign_id": cid, "state": "dialing", "seconds": 1.0},
        {"attempt_id": second.attempt_id, "campaign_id": cid, "state": "answered", "seconds": 9},
    ]
    store.flow_update(second.attempt_id, flow_state="playing")
    shown = call_details(cs, calls)
    assert [(c["callee"], c["phone"], c["account"], c["state_title"]) for c in shown] == [
        ("Абонент 0", phones[0], numbers[phones[0]], "Набор номера"),
        ("Абонент 1", phones[1], numbers[phones[1]], "Слушает сообщение"),
    ]
    feed = TimelineFeed(cs, cid, "Europe/Moscow")
    assert feed.read() == [] and chart_data([]) is None
    store.finalise(first.channel_id, originate_reason=5, now=monday_noon)
    (hour, counts) = feed.read()[0]
    assert hour.hour == 12 and dict(counts) == {"busy": 1}
    store.flow_update(second.attempt_id, flow_state="completed")
    store.finalise(second.channel_id, answered=True, now=monday_noon + timedelta(minutes=1))
    timeline = feed.read()
    assert [dict(c) for _, c in timeline] == [{"busy": 1, "completed": 1}]  # each once
    assert timeline == cs.timeline(cid)
    data = chart_data(timeline)
    assert data is not None
    assert [(x["title"], x["count"]) for x in data["legend"]] == [
        ("Прослушано до конца", 1),
        ("Занято", 1),
    ]
    assert len(data["bars"]) == 2 and [h for _, h in data["hours"]] == ["12:00"]
