"""Heartbeats, leases and failover between nodes (issue 13 item 9).

Each node (one Asterisk and the service that drives it, ``node_name``)
writes its heartbeat into the shared database every
``node_heartbeat_seconds``. A dialer's claim (an attempt row in state
``dialing``/``answered``, :mod:`autoinformer.store`) and a call row the
node's AMI listener follows (``calls.node``) are held under that node's
lease: valid while its heartbeat is younger than ``node_dead_after_seconds``
(default 30 s). Every other live node checks the heartbeats; when a node's
lease has run out it takes the node's work over, without waiting for it:

* **its claimed contacts**: an open attempt is finalised (``lost`` unless
  the message flow recorded a result, :meth:`AttemptStore.finalise`), and
  the contact is retried once more by whichever node dials next, within the
  campaign's ``max_attempts``. It is never dialled twice while the dead
  node's Asterisk may still carry the first call: the call cannot outlive
  its *call ceiling* — Asterisk rings it for at most the campaign's
  ``ring_timeout``, and the message runs over FastAGI to the dead service,
  whose loss hangs the channel up (``hotline-outbound``: AGI failed →
  ``Hangup()``); ``node_call_grace_seconds`` (default 120 s) covers the
  answering-machine detection and the wait for its silence. An attempt is
  taken over only once ``created_at + ring_timeout + grace`` has passed;
  a call the flow had already handed to the operators' queue is
  ``transferred`` (done, positive) and is not retried at all;
* **its open call rows**: closed ``lost-during-restart`` with ``ended_at``
  = the last time actually known of the call (the latest of its own
  timestamps and its journal), never the takeover time, and a
  ``closed_by_failover`` event in its journal;
* **its campaign e-mails** whose sending it had begun: ``lost``, never sent
  again (as its own restart would, :meth:`EmailStore.recover`);
* **its campaigns**: they finish — the last contact finalised completes the
  campaign (:meth:`CampaignService.maybe_complete`), the retried ones are
  dialled by the live nodes (a campaign pinned to the dead node waits for it:
  pinning says only that node may dial it).

Several live nodes may take over at once: the attempt's finalisation is
guarded by its row lock and state, a call is closed by ``UPDATE … WHERE
ended_at IS NULL``: each happens once. A node that comes back beats again
and reconciles its own leftovers as after any restart (already finished
ones stay finished).

Times are the database's clock on PostgreSQL (``now()``), so the nodes'
clocks need not agree; SQLite is one node and uses the process's clock.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from autoinformer.email import EmailStore
from autoinformer.models import Attempt, AttemptState, Campaign
from autoinformer.store import AttemptStore
from crm_bridge.ami_listener import Outcome
from crm_bridge.db import Database, utcnow
from crm_bridge.models import Call, CallEvent
from nodes.models import NodeHeartbeat

log = logging.getLogger(__name__)

__all__ = ["NodeRegistry", "NodeState", "TakeoverReport", "db_now"]


def db_now(session: Session) -> datetime:
    """The database's clock (PostgreSQL), else this process's (SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.scalar(select(func.now()))
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value
    return utcnow()


@dataclass(frozen=True)
class NodeState:
    node: str
    started_at: datetime
    beat_at: datetime
    host: str
    pid: int
    alive: bool
    age_seconds: float
    taken_over_at: datetime | None
    taken_over_by: str | None


@dataclass
class TakeoverReport:
    node: str
    attempts_finalised: int = 0
    attempts_waiting: int = 0
    """Open attempts whose call may still be up on the dead node's Asterisk."""
    calls_closed: int = 0
    letters_lost: int = 0
    """Its campaign e-mails whose sending it had begun (not sent again)."""
    campaigns_completed: list[int] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(
            self.attempts_finalised
            or self.calls_closed
            or self.letters_lost
            or self.campaigns_completed
        )


class NodeRegistry:
    """The heartbeat of one node and its view of the others (blocking; run
    through ``Services.run_db``)."""

    def __init__(
        self,
        db: Database,
        node: str,
        *,
        dead_after: float = 30.0,
        call_grace: float = 120.0,
    ) -> None:
        if dead_after <= 0 or call_grace < 0:
            raise ValueError("dead_after must be positive and call_grace not negative")
        self.db = db
        self.node = node
        self.dead_after = dead_after
        self.call_grace = call_grace
        self.started_at: datetime | None = None
        self.host = socket.gethostname()
        self.pid = os.getpid()

    # -- this node -----------------------------------------------------------------------

    def beat(self) -> datetime:
        """Write this node's heartbeat (its lease renewed); returns its time."""
        with self.db.session(write=True) as s:
            now = db_now(s)
            if self.started_at is None:
                self.started_at = now
            row = s.get(NodeHeartbeat, self.node, with_for_update=True)
            if row is None:
                s.add(
                    NodeHeartbeat(
                        node=self.node,
                        started_at=self.started_at,
                        beat_at=now,
                        host=self.host[:255],
                        pid=self.pid,
                    )
                )
            else:
                if row.beat_at < now - timedelta(seconds=self.dead_after):
                    log.warning("node %s beats again after its lease ran out", self.node)
                row.beat_at = now
                row.started_at = self.started_at
                row.host = self.host[:255]
                row.pid = self.pid
            return now

    # -- the others ----------------------------------------------------------------------

    def nodes(self) -> list[NodeState]:
        with self.db.session() as s:
            now = db_now(s)
            rows = s.scalars(select(NodeHeartbeat).order_by(NodeHeartbeat.node)).all()
            return [self._state(r, now) for r in rows]

    def _state(self, r: NodeHeartbeat, now: datetime) -> NodeState:
        age = (now - r.beat_at).total_seconds()
        return NodeState(
            r.node,
            r.started_at,
            r.beat_at,
            r.host,
            r.pid,
            age <= self.dead_after,
            round(age, 1),
            r.taken_over_at,
            r.taken_over_by,
        )

    def dead_nodes(self) -> list[str]:
        """Other nodes whose lease has run out and that may have work left."""
        return [n.node for n in self.nodes() if not n.alive and n.node != self.node]

    def take_over(self, dead: str) -> TakeoverReport:
        """Take the dead node's leftovers over (see the module doc); safe to
        call again and from several nodes at once."""
        report = TakeoverReport(dead)
        with self.db.session() as s:
            now = db_now(s)
            row = s.get(NodeHeartbeat, dead)
            if row is None or row.beat_at >= now - timedelta(seconds=self.dead_after):
                return report  # alive again (or unknown): nothing to take
            never_taken = row.taken_over_at is None or row.taken_over_at < row.beat_at
            open_attempts = s.execute(
                select(Attempt.channel_id, Attempt.created_at, Campaign.ring_timeout)
                .join(Campaign, Campaign.id == Attempt.campaign_id)
                .where(
                    Attempt.node == dead,
                    Attempt.channel == "phone",
                    Attempt.state != AttemptState.DONE.value,
                )
                .order_by(Attempt.id)
            ).all()
            open_calls = list(
                s.scalars(select(Call.uniqueid).where(Call.node == dead, Call.ended_at.is_(None)))
            )
        store = AttemptStore(self.db, dead)
        for channel_id, created_at, ring_timeout in open_attempts:
            ceiling = created_at + timedelta(seconds=int(ring_timeout or 0) + self.call_grace)
            if now < ceiling or not channel_id:
                report.attempts_waiting += 1
                continue
            rep = store.finalise(
                channel_id, gone=True, note=f"node {dead} down: taken over by {self.node}"
            )
            if rep is not None:
                report.attempts_finalised += 1
                if rep.campaign_completed:
                    report.campaigns_completed.append(rep.campaign_id)
        for uid in open_calls:
            if self._close_call(uid, dead, now):
                report.calls_closed += 1
        # Its letters being sent: fate unknown, lost (never sent twice).
        report.letters_lost = EmailStore(self.db, dead).recover()
        if report.anything or (report.attempts_waiting == 0 and never_taken):
            with self.db.session(write=True) as s:
                hb = s.get(NodeHeartbeat, dead, with_for_update=True)
                if hb is not None and hb.beat_at < now - timedelta(seconds=self.dead_after):
                    hb.taken_over_at = now
                    hb.taken_over_by = self.node
        if report.anything:
            log.warning(
                "node %s is down (no heartbeat for %ss): %d attempt(s) finalised, "
                "%d waiting for their call ceiling, %d call(s) closed, %d letter(s) lost, "
                "campaign(s) completed: %s",
                dead,
                self.dead_after,
                report.attempts_finalised,
                report.attempts_waiting,
                report.calls_closed,
                report.letters_lost,
                report.campaigns_completed or "-",
            )
        return report

    def _close_call(self, uniqueid: str, dead: str, now: datetime) -> bool:
        """Close one open call of the dead node at its last known time."""
        with self.db.session(write=True) as s:
            call = s.scalars(select(Call).where(Call.uniqueid == uniqueid)).first()
            if call is None or call.ended_at is not None:
                return False
            journal = s.scalar(
                select(func.max(CallEvent.ts)).where(CallEvent.call_uniqueid == uniqueid)
            )
            known = [
                t
                for t in (
                    call.started_at,
                    call.answered_at,
                    call.queue_entered_at,
                    call.queue_left_at,
                    journal,
                )
                if t is not None
            ]
            last = max(known) if known else now
            values: dict[str, object] = {"ended_at": last, "outcome": Outcome.LOST.value}
            if call.queue_entered_at is not None and call.queue_left_at is None:
                values["queue_left_at"] = last
            result = s.execute(
                update(Call)
                .where(Call.uniqueid == uniqueid, Call.ended_at.is_(None))
                .values(**values)
            )
            if not int(getattr(result, "rowcount", 0) or 0):
                return False
            seq = s.scalar(
                select(func.max(CallEvent.seq)).where(
                    CallEvent.call_uniqueid == uniqueid, CallEvent.source == "failover"
                )
            )
            s.add(
                CallEvent(
                    call_uniqueid=uniqueid,
                    source="failover",
                    seq=int(seq or 0) + 1,
                    ts=now,
                    kind="closed_by_failover",
                    detail={"node": dead, "by": self.node},
                )
            )
            return True
