"""The outgoing messages' life in the database: queued → claimed → sent,
then the gateway's delivery reports (see :mod:`sms.models`).

Claims are made in the database (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
so several nodes' senders never send one message twice; a claim older than
``stale`` (a sender that died between claim and answer) is taken back and
the message sent again (a duplicate SMS is the lesser evil than none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import String, and_, bindparam, case, func, or_, select, update

from crm_bridge.db import Database, utcnow
from sms.encoding import coding_of, segments
from sms.models import Direction, OutState, SmsMessage
from sms.notices import settle_notices

__all__ = ["REPORT_STATES", "Outbox", "Outgoing"]

REPORT_STATES: Final = {
    1: OutState.DELIVERED,
    2: OutState.FAILED,
    4: OutState.BUFFERED,
    8: OutState.SMSC,
    16: OutState.FAILED,
}
"""Kannel's delivery report types (``%d``) → the message's state."""
_FINAL: Final = (OutState.DELIVERED.value, OutState.FAILED.value)


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: int
    peer: str
    service_number: str
    text: str
    coding: int
    tries: int


class Outbox:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        stale: timedelta = timedelta(seconds=60),
        max_tries: int = 8,
    ) -> None:
        self.db = db
        self._clock = clock
        self.stale = stale
        self.max_tries = max_tries

    def queue(
        self,
        peer: str,
        text: str,
        *,
        purpose: str = "notice",
        service_number: str = "",
        appeal_id: int | None = None,
        account_id: int | None = None,
    ) -> int:
        """Queue a message to ``peer`` (E.164); its id."""
        now = self._clock()
        with self.db.session(write=True) as session:
            row = SmsMessage(
                direction=Direction.OUT.value,
                peer=peer,
                service_number=service_number,
                text=text,
                parts=segments(text),
                coding=coding_of(text),
                state=OutState.QUEUED.value,
                purpose=purpose,
                appeal_id=appeal_id,
                account_id=account_id,
                tries=0,
                next_try_at=now,
                created_at=now,
            )
            session.add(row)
            session.flush()
            return row.id

    def claim(self, limit: int = 50) -> list[Outgoing]:
        """Messages due now, marked ``sending`` (and stale claims taken back)."""
        now = self._clock()
        due = and_(SmsMessage.state == OutState.QUEUED.value, SmsMessage.next_try_at <= now)
        stale = and_(
            SmsMessage.state == OutState.SENDING.value,
            SmsMessage.claimed_at < now - self.stale,
        )
        with self.db.session(write=True) as session:
            rows = list(
                session.execute(
                    select(SmsMessage)
                    .where(SmsMessage.direction == Direction.OUT.value, or_(due, stale))
                    .order_by(SmsMessage.next_try_at, SmsMessage.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            out = []
            for row in rows:
                row.state = OutState.SENDING.value
                row.claimed_at = now
                row.tries += 1
                out.append(
                    Outgoing(row.id, row.peer, row.service_number, row.text, row.coding, row.tries)
                )
            return out

    def sent(self, message_id: int) -> None:
        """The gateway accepted it (a report may already have come: kept)."""
        self.sent_many([message_id])

    @staticmethod
    def _lock(session: Any, ids: list[int]) -> None:
        """Lock the rows in id order: the sender's batch and the reports'
        batch touch the same rows, and in any other order two such
        transactions deadlock on PostgreSQL."""
        session.execute(
            select(SmsMessage.id)
            .where(SmsMessage.id.in_(sorted(set(ids))))
            .order_by(SmsMessage.id)
            .with_for_update()
        ).all()

    def sent_many(self, message_ids: list[int]) -> None:
        """The gateway accepted these (one write for a batch)."""
        with self.db.session(write=True) as session:
            self._lock(session, message_ids)
            session.execute(
                update(SmsMessage)
                .where(SmsMessage.id.in_(message_ids), SmsMessage.state == OutState.SENDING.value)
                .values(state=OutState.SENT.value, sent_at=self._clock(), error=None)
            )

    def retry(self, message: Outgoing, error: str, *, permanent: bool = False) -> bool:
        """The gateway did not take it: try again later, or give up; True if given up."""
        now = self._clock()
        give_up = permanent or message.tries >= self.max_tries
        delay = timedelta(seconds=min(300, 2 ** min(message.tries, 8)))
        with self.db.session(write=True) as session:
            session.execute(
                update(SmsMessage)
                .where(SmsMessage.id == message.id, SmsMessage.state == OutState.SENDING.value)
                .values(
                    state=OutState.FAILED.value if give_up else OutState.QUEUED.value,
                    next_try_at=None if give_up else now + delay,
                    error=error[:255],
                )
            )
            if give_up:
                settle_notices(session, [message.id], now)
        return give_up

    def report(self, message_id: int, report_type: int) -> str | None:
        """A delivery report of the gateway; the message's new state (None: unknown id).

        A final state (delivered, failed) is never undone by a late
        intermediate report (the SMSC's «accepted» may arrive after «delivered»)."""
        state = REPORT_STATES.get(report_type)
        now = self._clock()
        with self.db.session(write=True) as session:
            row = session.execute(
                select(SmsMessage)
                .where(SmsMessage.id == message_id, SmsMessage.direction == Direction.OUT.value)
                .with_for_update()
            ).scalar_one_or_none()
            if row is None:
                return None
            row.report_at = now
            row.report_type = report_type
            if state is not None and row.state not in _FINAL:
                row.state = state.value
                if row.sent_at is None:
                    row.sent_at = now
            session.flush()
            settle_notices(session, [message_id], now)
            return row.state

    def report_many(self, reports: list[tuple[int, int]]) -> None:
        """Several delivery reports ``(message id, type)`` in one write (the
        web collects those arriving together); the same rules as :meth:`report`.
        Reports of one message apply in arrival order."""
        now = self._clock()
        rows = [
            {
                "mid": mid,
                "rtype": rtype,
                "new": (REPORT_STATES[rtype].value if rtype in REPORT_STATES else None),
            }
            for mid, rtype in reports
        ]
        keep = SmsMessage.state.in_(_FINAL) | bindparam("new", type_=String(16)).is_(None)
        stmt = (
            update(SmsMessage)
            .where(
                SmsMessage.id == bindparam("mid"),
                SmsMessage.direction == Direction.OUT.value,
            )
            .values(
                state=case((keep, SmsMessage.state), else_=bindparam("new", type_=String(16))),
                report_at=now,
                report_type=bindparam("rtype"),
                sent_at=func.coalesce(SmsMessage.sent_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        with self.db.session(write=True) as session:
            self._lock(session, [mid for mid, _ in reports])
            for row in rows:  # in order: «delivered» after «SMSC accepted» wins
                session.execute(stmt, row)
            settle_notices(session, [mid for mid, _ in reports], now)

    def state(self, message_id: int) -> str | None:
        with self.db.session() as session:
            return session.execute(
                select(SmsMessage.state).where(SmsMessage.id == message_id)
            ).scalar_one_or_none()
