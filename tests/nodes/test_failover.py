"""Heartbeats, leases and failover between nodes (issue 13 item 9), on
SQLite and PostgreSQL: a node whose heartbeat is older than the lease is
dead; another node finalises its claimed contacts once their call ceiling
has passed (never while its Asterisk may still carry the call), each once
even when several nodes take over at once; the contacts are dialled again by
the live node; its open call rows are closed at the last time known; its
campaigns complete."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.models import Attempt, Contact
from autoinformer.store import AttemptStore
from crm_bridge.calls import CallService
from crm_bridge.db import Database, utcnow
from nodes.failover import NodeRegistry
from nodes.models import NodeHeartbeat
from tests.autoinformer.helpers import always_open, daytime_zone, make_accounts

LEASE = 30.0
GRACE = 120.0


def campaign(db: Database, phones: list[str], **options: object) -> int:
    make_accounts(db, phones, timezone=daytime_zone())
    cs = CampaignService(db)
    start, end = always_open()
    opts: dict[str, object] = {
        "caps_230fz": False,
        "max_attempts": 2,
        "ring_timeout": 20,
        "retry_delays": {"lost": 0, "busy": 0},
    }
    opts.update(options)
    cid = cs.create("Долги", "debt", start_at=start, end_at=end, **opts)
    res = ContactListService(db).import_rows(cid, [{"phone": p} for p in phones])
    assert res.accepted == len(phones), res.rejected
    cs.submit(cid, "disp")
    cs.approve(cid, "boss", "supervisor")
    cs.launch(cid)
    return cid


def registry(db: Database, node: str) -> NodeRegistry:
    return NodeRegistry(db, node, dead_after=LEASE, call_grace=GRACE)


def silence(db: Database, node: str, seconds: float) -> None:
    """The node's last heartbeat was ``seconds`` ago (it died then)."""
    with db.session(write=True) as s:
        s.execute(
            update(NodeHeartbeat)
            .where(NodeHeartbeat.node == node)
            .values(beat_at=utcnow() - timedelta(seconds=seconds))
        )


def age_attempts(db: Database, node: str, seconds: float) -> None:
    """The node's open attempts were claimed ``seconds`` ago."""
    with db.session(write=True) as s:
        s.execute(
            update(Attempt)
            .where(Attempt.node == node)
            .values(created_at=utcnow() - timedelta(seconds=seconds))
        )


def test_a_node_is_alive_while_it_beats_and_dead_after_its_lease(any_db: Database) -> None:
    a, b = registry(any_db, "a"), registry(any_db, "b")
    a.beat()
    b.beat()
    states = {n.node: n for n in b.nodes()}
    assert states["a"].alive and states["b"].alive
    assert b.dead_nodes() == []
    silence(any_db, "a", LEASE - 5)
    assert b.dead_nodes() == []
    silence(any_db, "a", LEASE + 1)
    assert b.dead_nodes() == ["a"]
    assert a.dead_nodes() == []  # a node never takes itself over
    # Alive again: its own next beat renews the lease.
    a.beat()
    assert b.dead_nodes() == []
    assert b.take_over("a").anything is False


def test_claims_are_released_only_after_the_call_ceiling_then_redialled(
    any_db: Database,
) -> None:
    phones = ["+79004440001", "+79004440002", "+79004440003"]
    cid = campaign(any_db, phones)
    a, b = registry(any_db, "a"), registry(any_db, "b")
    a.beat()
    b.beat()
    claimed = AttemptStore(any_db, "a").claim(2)
    assert len(claimed) == 2
    silence(any_db, "a", LEASE + 5)

    # A's calls may still be up on its Asterisk (rung 20 s + grace): kept.
    report = b.take_over("a")
    assert (report.attempts_finalised, report.attempts_waiting) == (0, 2)
    assert AttemptStore(any_db, "b").claim(10)[0].phone == phones[2]  # only the free one

    age_attempts(any_db, "a", 20 + GRACE + 1)
    report = b.take_over("a")
    assert (report.attempts_finalised, report.attempts_waiting) == (2, 0)
    cs = CampaignService(any_db)
    rows = {r.channel_id: r for r in cs.attempts(cid)}
    for cl in claimed:
        row = rows[cl.channel_id]
        assert row.state == "done" and row.result == "lost", row
        assert "node a down" in (row.note or "")
    # Taken over once: a second pass finds nothing.
    assert b.take_over("a").anything is False

    # The released contacts are dialled again (once more) by the live node.
    again = AttemptStore(any_db, "b").claim(10)
    assert sorted(c.contact_id for c in again) == sorted(c.contact_id for c in claimed)
    with any_db.session() as s:
        hb = s.get(NodeHeartbeat, "a")
        assert hb is not None and hb.taken_over_by == "b"


def test_several_nodes_taking_over_at_once_finalise_each_claim_once(any_db: Database) -> None:
    phones = [f"+790044410{i:02d}" for i in range(8)]
    campaign(any_db, phones)
    registry(any_db, "a").beat()
    AttemptStore(any_db, "a").claim(8)
    silence(any_db, "a", LEASE + 5)
    age_attempts(any_db, "a", 20 + GRACE + 1)
    survivors = [registry(any_db, n) for n in ("b", "c", "d")]
    for r in survivors:
        r.beat()
    reports = []
    errors: list[BaseException] = []

    def run(r: NodeRegistry) -> None:
        try:
            reports.append(r.take_over("a"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in survivors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(r.attempts_finalised for r in reports) == 8
    with any_db.session() as s:
        contacts = s.scalars(select(Contact)).all()
        assert all(c.status == "pending" and c.attempts == 1 for c in contacts)


def test_a_dead_nodes_campaign_completes_and_its_transferred_call_is_kept(
    any_db: Database,
) -> None:
    phones = ["+79004442001", "+79004442002"]
    cid = campaign(any_db, phones, max_attempts=1)
    store = AttemptStore(any_db, "a")
    registry(any_db, "a").beat()
    claimed = store.claim(2)
    transferred = claimed[0]
    store.flow_update(transferred.attempt_id, flow_state="transferred")
    silence(any_db, "a", LEASE + 5)
    age_attempts(any_db, "a", 20 + GRACE + 1)
    report = registry(any_db, "b").take_over("a")
    assert report.attempts_finalised == 2
    assert report.campaigns_completed == [cid]
    cs = CampaignService(any_db)
    assert cs.stats(cid).status == "completed"
    results = {r.channel_id: r.result for r in cs.attempts(cid)}
    # Handed to the operators before the node died: done, not dialled again.
    assert results[transferred.channel_id] == "transferred"
    assert results[claimed[1].channel_id] == "lost"


def test_open_calls_are_closed_at_the_last_time_known(any_db: Database) -> None:
    calls = CallService(any_db)
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    calls.upsert("a-1", node="a", started_at=t0, queue_entered_at=t0 + timedelta(seconds=20))
    calls.append_event(
        "a-1", "menu", {"choice": "debt"}, source="ivr", ts=t0 + timedelta(seconds=31)
    )
    calls.upsert("a-2", node="a", started_at=t0, answered_at=t0 + timedelta(seconds=5))
    calls.upsert("a-done", node="a", started_at=t0, ended_at=t0 + timedelta(seconds=9))
    calls.upsert("b-1", node="b", started_at=t0)
    registry(any_db, "a").beat()
    registry(any_db, "b").beat()
    silence(any_db, "a", LEASE + 5)
    report = registry(any_db, "b").take_over("a")
    assert report.calls_closed == 2
    one, two = calls.get("a-1"), calls.get("a-2")
    assert one is not None and two is not None
    assert one.ended_at == t0 + timedelta(seconds=31)  # its journal's last entry
    assert one.queue_left_at == one.ended_at
    assert one.outcome == "lost-during-restart"
    assert two.ended_at == t0 + timedelta(seconds=5)
    done = calls.get("a-done")
    assert done is not None and done.ended_at == t0 + timedelta(seconds=9)
    other = calls.get("b-1")
    assert other is not None and other.ended_at is None  # a live node's call
    marks = [e for e in calls.events("a-1") if e.kind == "closed_by_failover"]
    assert len(marks) == 1 and marks[0].detail == {"node": "a", "by": "b"}
    assert registry(any_db, "c").take_over("a").calls_closed == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        NodeRegistry(None, "a", dead_after=0)  # type: ignore[arg-type]


def test_cli_lists_the_nodes_in_russian(
    any_db: Database, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from hotline.cli import main

    url = any_db.url.render_as_string(hide_password=False)
    argv = ["--database-url", url, "--data-dir", str(tmp_path), "nodes"]
    assert main(argv) == 0
    assert "Узлов нет" in capsys.readouterr().out
    registry(any_db, "a").beat()
    registry(any_db, "b").beat()
    silence(any_db, "a", LEASE + 5)
    registry(any_db, "b").take_over("a")
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.match(r"a: не отвечает, пульс 3\d с назад", out[0]), out
    assert out[0].endswith("работу принял b"), out
    assert out[1].startswith("b: работает"), out


def test_a_dead_nodes_letters_in_sending_are_lost_never_sent_twice(any_db: Database) -> None:
    from autoinformer.email import EmailStore
    from tests.autoinformer.test_email import _campaign as email_campaign

    make_accounts(any_db, ["+79004443001"], prefix="81")
    email_campaign(any_db, [{"phone": "+79004443001", "email": "ivanov@example.ru"}])
    registry(any_db, "a").beat()
    assert len(EmailStore(any_db, "a").claim(10)) == 1  # node a dies while sending
    silence(any_db, "a", LEASE + 5)
    report = registry(any_db, "b").take_over("a")
    assert report.letters_lost == 1
    with any_db.session() as s:
        letter = s.scalars(select(Attempt).where(Attempt.channel == "email")).one()
        assert (letter.state, letter.result) == ("done", "lost")
    assert EmailStore(any_db, "b").claim(10) == []  # not sent again
    assert registry(any_db, "b").take_over("a").letters_lost == 0
