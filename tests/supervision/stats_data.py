"""A generated month with known answers for the statistics tests (REQ-A10,
REQ-T7): March 2025 in Moscow time (UTC+3, no DST) with rows on both sides of
its local edges, built so every figure can be worked out by hand.

Queue calls (entered → left → ended; wait / handling in seconds):

======  ==========================  ====  ========  ====  ======  =========
call    entered (MSK)               op    outcome   wait  handl.  ≤ 40 s
======  ==========================  ====  ========  ====  ======  =========
jan     2025-01-01 00:10 (UTC: Dec)  A    answered     5      55  yes
c1      2025-03-01 00:30 (UTC: Feb)  A    answered    20     120  yes
c2      2025-03-10 10:00             B    answered    60     180  no (miss)
c3      2025-03-15 12:00             —    abandoned  (30)      —  no
c4      2025-03-31 23:59:30          A    answered    10      60  yes
apr     2025-04-01 00:30 (UTC: Mar)  B    answered    42     100  no
======  ==========================  ====  ========  ====  ======  =========

plus an IVR-only inbound call on 5 March and an outbound call on 6 March.
Every call starts 15 s before it enters the queue.

March: inbound 5 (c1–c4, IVR), outbound 1, queued 4, answered 3,
abandoned 1, within 40 s 2 → service level 50 %, abandon rate 25 %;
average wait (20+60+10)/3 = 30 s → 0:30; handling (120+180+60)/3 = 120 s → 2:00.
Year 2025: queued 6, answered 5, within 40 s 3 (50 %), abandoned 1 (1/6);
wait (5+20+60+10+42)/5 = 27.4 → 0:27; handling (55+120+180+60+100)/5 = 103 → 1:43;
January 0:05 / 0:55, March 0:30 / 2:00, April 0:42 / 1:40, other months «—».

Presence in March:
  A: lunch 28.02 23:00 → 01.03 01:00 MSK (March part 3600 s); break 900 s;
     talking 120 s; wrapup 120 s; a pause with Asterisk's ``wrapup`` reason
     60 s (wrap-up 180 s in all); training 31.03 23:30 → 01.04 00:30 (March
     part 1800 s); a ready interval (not counted).
  B: a pause for an unknown reason 100 s (other); a break opened 31.03 23:50
     MSK and still open: 600 s to the month's end, 300 s when «now» is
     31.03 23:55.

Appeals in March (9) and one on 1 April 00:30 MSK (web, consultation, КЭ):

==  ==================  ========================  =====  ========
#   channel             kind                      topic  category
==  ==================  ========================  =====  ========
1   phone (01.03 0:30)  consultation              КЭ
2   phone               request                   С
3   in_person           consultation              С
4   email               complaint                 КЭ     А
5   post                complaint                 Об     Б
6   web                 appeal                    Т
7   answering_machine   answering_machine_message —
8   phone               complaint                 Се     —
9   sms (raw value)     meter_reading             Э
==  ==================  ========================  =====  ========
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.models import Call, Operator, OperatorRole
from shift.models import PresenceInterval

MSK = ZoneInfo("Europe/Moscow")


def msk(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=MSK)


def build(db: Database) -> dict[str, int]:
    """Writes the rows above; returns the operators' ids (``A``, ``B``)."""
    with db.session(write=True) as session:
        a = Operator(
            login="stats-a", name="Иванова А.", role=OperatorRole.OPERATOR, password_hash="x"
        )
        b = Operator(
            login="stats-b", name="Петров Б.", role=OperatorRole.OPERATOR, password_hash="x"
        )
        session.add_all([a, b])
        session.flush()
        ops = {"A": a.id, "B": b.id}

        def queue_call(
            uid: str,
            entered: datetime,
            op: str | None,
            wait: int,
            handling: int | None,
            sla: bool,
            outcome: str,
        ) -> Call:
            left = entered + timedelta(seconds=wait)
            return Call(
                uniqueid=uid,
                started_at=entered - timedelta(seconds=15),
                queue_name="operators",
                queue_entered_at=entered,
                queue_left_at=left,
                wait_seconds=float(wait),
                ended_at=left + timedelta(seconds=handling if handling is not None else 0),
                operator_id=ops[op] if op else None,
                answered_within_sla=sla,
                outcome=outcome,
            )

        session.add_all(
            [
                queue_call("jan", msk(2025, 1, 1, 0, 10), "A", 5, 55, True, "answered"),
                queue_call("c1", msk(2025, 3, 1, 0, 30), "A", 20, 120, True, "answered"),
                queue_call("c2", msk(2025, 3, 10, 10, 0), "B", 60, 180, False, "answered"),
                queue_call("c3", msk(2025, 3, 15, 12, 0), None, 30, None, False, "abandoned"),
                queue_call("c4", msk(2025, 3, 31, 23, 59, 30), "A", 10, 60, True, "answered"),
                queue_call("apr", msk(2025, 4, 1, 0, 30), "B", 42, 100, False, "answered"),
                Call(
                    uniqueid="ivr",
                    started_at=msk(2025, 3, 5, 9, 0),
                    ended_at=msk(2025, 3, 5, 9, 2),
                    outcome="ivr",
                ),
                Call(
                    uniqueid="out",
                    direction="out",
                    started_at=msk(2025, 3, 6, 11, 0),
                    ended_at=msk(2025, 3, 6, 11, 1),
                    campaign_id=1,
                ),
            ]
        )

        def interval(
            op: str, state: str, reason: str | None, start: datetime, end: datetime | None
        ) -> PresenceInterval:
            return PresenceInterval(
                operator_id=ops[op], state=state, reason=reason, started_at=start, ended_at=end
            )

        session.add_all(
            [
                interval("A", "paused", "lunch", msk(2025, 2, 28, 23, 0), msk(2025, 3, 1, 1, 0)),
                interval("A", "ready", None, msk(2025, 3, 10, 8, 0), msk(2025, 3, 10, 9, 0)),
                interval("A", "paused", "break", msk(2025, 3, 10, 9, 0), msk(2025, 3, 10, 9, 15)),
                interval("A", "talking", None, msk(2025, 3, 10, 10, 0), msk(2025, 3, 10, 10, 2)),
                interval("A", "wrapup", None, msk(2025, 3, 10, 10, 2), msk(2025, 3, 10, 10, 4)),
                interval("A", "paused", "wrapup", msk(2025, 3, 12, 10, 0), msk(2025, 3, 12, 10, 1)),
                interval(
                    "A", "paused", "training", msk(2025, 3, 31, 23, 30), msk(2025, 4, 1, 0, 30)
                ),
                interval(
                    "B", "paused", "meeting", msk(2025, 3, 20, 14, 0), msk(2025, 3, 20, 14, 1, 40)
                ),
                interval("B", "paused", "break", msk(2025, 3, 31, 23, 50), None),
            ]
        )

    appeals = AppealService(db, clock=lambda: msk(2025, 4, 2, 12, 0))
    rows = [
        ("phone", "consultation", "КЭ", None, msk(2025, 3, 1, 0, 30)),
        ("phone", "request", "С", None, msk(2025, 3, 3, 10, 0)),
        ("in_person", "consultation", "С", None, msk(2025, 3, 4, 10, 0)),
        ("email", "complaint", "КЭ", "А", msk(2025, 3, 5, 10, 0)),
        ("post", "complaint", "Об", "Б", msk(2025, 3, 6, 10, 0)),
        ("web", "appeal", "Т", None, msk(2025, 3, 7, 10, 0)),
        ("answering_machine", "answering_machine_message", None, None, msk(2025, 3, 8, 10, 0)),
        ("phone", "complaint", "Се", None, msk(2025, 3, 9, 10, 0)),
        ("phone", "meter_reading", "Э", None, msk(2025, 3, 31, 23, 59)),
        ("web", "consultation", "КЭ", None, msk(2025, 4, 1, 0, 30)),
    ]
    ids = [
        appeals.register(
            channel=channel,
            kind=kind,
            classification=topic,
            complaint_category=category,
            received_at=when,
            content="вопрос",
        ).id
        for channel, kind, topic, category, when in rows
    ]
    # The ninth came by SMS: a channel value another part adds to the enum;
    # the statistics count the stored string (REQ-A10).
    with db.session(write=True) as session:
        session.execute(text("UPDATE appeals SET channel = 'sms' WHERE id = :id"), {"id": ids[8]})
    return ops


NOW_AFTER = datetime(2025, 4, 2, 9, 0, tzinfo=UTC)
"""«Now» well after March: open intervals end at the month's end."""
NOW_INSIDE = msk(2025, 3, 31, 23, 55)
"""«Now» inside March: B's open break has lasted 300 s."""
