"""Two nodes, one contact centre (issue 13, "Must show"): two Asterisk 22
instances, two services, one PostgreSQL.

Node B is this session's runtime and Asterisk; node A is a second Asterisk
(its own sandbox, data directory and ports) driven by a second service,
``hotline run`` in its own process, killed with SIGKILL and left down.

While both live: a caller waits in A's queue and the supervisor's wallboard
on B shows it — the board's own periodic read is switched off, so only A's
call row announced through PostgreSQL's NOTIFY can show it; the supervisor
on B ends the call as abusive, and A's service hangs the caller up.

Then A dials a campaign (B holds its dialer), a second caller waits in A's
queue, and A's service is killed mid-campaign and mid-call. B takes A's
work over once A's heartbeat is older than the lease (set short here): A's
claimed contacts are retried by B only after their calls ended on A's
Asterisk (0 duplicates), the campaign completes, A's open call rows are
closed at their last known time (0 open rows).

PostgreSQL only (marker ``cluster``): the SQLite run deselects it by design
(``tests/e2e/conftest.py``), a shared server database is what it is about.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect
from sqlalchemy import func, select

from autoinformer.campaigns import CampaignService
from crm_bridge.demo_data import DEMO_OPERATORS, load_demo
from crm_bridge.models import Call, OperatorRole
from hotline.callrig import CallRig
from nodes.models import NodeHeartbeat
from tests.autoinformer.helpers import TEST_TRUNK
from tests.browser import chromium, logged_in_page
from tests.conftest import _free_port
from tests.e2e import test_autoinformer as base
from tests.e2e.test_autoinformer import Observer, finished, phone, run_campaign
from tests.e2e.waiting import until

dialer = base.dialer
observer = base.observer

pytestmark = [pytest.mark.asterisk, pytest.mark.browser, pytest.mark.cluster]

REPO = Path(__file__).resolve().parents[2]
NODE_A = "node-a"
TEST_CONTEXT = "hotline-test-crm"
NO_IVR = {"TEST_SKIP_IVR": "1", "TEST_CLASS": "Пр"}
LEASE = 6.0
"""node_dead_after_seconds of the test (30 s by default; a loaded 2-core
machine may stall a live node's heartbeat for a few seconds)."""
GRACE = 4.0
"""node_call_grace_seconds of the test (120 s by default)."""
SUPERVISOR = next(op for op in DEMO_OPERATORS if op.role is OperatorRole.SUPERVISOR)


@pytest.fixture(scope="module")
def node_a(settings: Any, asterisk: Any) -> Iterator[Any]:
    """Node A's Asterisk: a second sandbox on the same root, its own ports
    and data directory, the session's prompts."""
    from hotline.sandbox import Sandbox, SandboxError

    if not settings.database_url:
        pytest.fail("the two-node test runs on PostgreSQL only", pytrace=False)
    data = settings.data.parent / f"{settings.data.name}-{NODE_A}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    # The prompts are the session's (a relative link: valid inside the chroot too).
    (data / "sounds").symlink_to(Path("..") / settings.data.name / "sounds")
    s = settings.replace(
        data_dir=data,
        node_name=NODE_A,
        ami_port=_free_port(),
        fastagi_port=_free_port(),
        audiosocket_port=_free_port(),
        sip_port=_free_port(),
        sip_trunk_port=_free_port(),
    )
    sb = Sandbox(s)
    try:
        sb.up()
    except SandboxError as exc:
        pytest.fail(f"node A's Asterisk could not be started: {exc}", pytrace=False)
    yield s
    sb.down()
    shutil.rmtree(data, ignore_errors=True)


def start_service(s: Any) -> subprocess.Popen[bytes]:
    """Node A's service: ``hotline run`` in its own process."""
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(s.data),
        "HOTLINE_DATABASE_URL": s.database_url,
        "HOTLINE_NODE_NAME": NODE_A,
        "HOTLINE_AMI_PORT": str(s.ami_port),
        "HOTLINE_FASTAGI_PORT": str(s.fastagi_port),
        "HOTLINE_TEST_MODE": "1",
        "HOTLINE_OUTBOUND_TRUNK": TEST_TRUNK,
        "HOTLINE_DIALER_LINES": "3",
        "HOTLINE_DIALER_CPS": "5",
        "HOTLINE_NODE_HEARTBEAT_SECONDS": "0.5",
        "HOTLINE_NODE_DEAD_AFTER_SECONDS": str(LEASE),
        "HOTLINE_NODE_CALL_GRACE_SECONDS": str(GRACE),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hotline.cli",
            "run",
            "--only",
            "fastagi,ami,dialer,nodes,cluster",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode("utf-8", "replace")
    assert line.startswith("hotline running"), f"node A's service did not start: {line!r}"
    return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def rig_a(node_a: Any) -> AsyncIterator[CallRig]:
    rig = CallRig(node_a)
    await rig.start()
    yield rig
    await rig.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def observer_a(node_a: Any) -> AsyncIterator[Observer]:
    obs = Observer(node_a)
    await obs.ami.start(wait=20)
    yield obs
    await obs.ami.close()


@pytest_asyncio.fixture(loop_scope="session")
async def short_lease(runtime: Any) -> AsyncIterator[Any]:
    """Node B's watch with the test's lease and grace, beating twice a second."""
    watch = runtime.extra["nodes"]
    saved = (watch.interval, watch.registry.dead_after, watch.registry.call_grace)
    watch.interval, watch.registry.dead_after, watch.registry.call_grace = 0.5, LEASE, GRACE
    watch.poke()
    yield watch
    watch.interval, watch.registry.dead_after, watch.registry.call_grace = saved


def open_rows(db: Any, node: str) -> int:
    with db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Call)
                .where(Call.node == node, Call.ended_at.is_(None))
            )
            or 0
        )


def beat_of(db: Any, node: str) -> Any:
    with db.session() as s:
        return s.get(NodeHeartbeat, node)


async def test_two_nodes_one_contact_centre(
    runtime: Any,
    node_a: Any,
    rig_a: CallRig,
    observer_a: Observer,
    dialer: Any,
    observer: Observer,
    short_lease: Any,
) -> None:
    services = runtime.services
    rd = services.run_db
    calls = services.crm.calls
    await rd(load_demo, services.db)
    bridge = runtime.extra["cluster"]
    assert bridge.enabled
    proc = start_service(node_a)
    try:
        await until(lambda: rd(beat_of, services.db, NODE_A), 20, "node A's first heartbeat")

        # -- both live: B's wallboard shows A's caller; B's supervisor cuts it --
        board = services.wallboard
        assert board is not None
        saved_refresh = board.refresh_seconds
        board.refresh_seconds = 3600.0  # only the NOTIFY can show A's caller now
        async with chromium() as browser:
            page = await logged_in_page(
                browser, runtime.web_url + "supervision/", SUPERVISOR.login, SUPERVISOR.password
            )
            try:
                await expect(page.locator("#wallboard")).to_have_attribute(
                    "data-ws", "ready", timeout=10_000
                )
                waiting = page.locator("#tile-waiting")
                await expect(waiting).to_have_attribute("data-value", "0", timeout=10_000)
                received = bridge.received
                caller = await rig_a.place(
                    TEST_CONTEXT, "s", caller_number="79001112301", variables=NO_IVR
                )
                await expect(waiting).to_have_attribute("data-value", "1", timeout=15_000)
                assert bridge.received > received
                row = calls.get(caller.call_id)
                assert row is not None and row.node == NODE_A

                answer = await page.evaluate(
                    """async (uid) => {
                        const r = await fetch(`/operator/api/calls/${uid}/end-abusive`, {
                            method: "POST",
                            headers: {
                                "Content-Type": "application/json",
                                "X-CSRF-Token":
                                    document.querySelector("meta[name=csrf-token]").content,
                            },
                            body: JSON.stringify({kind: "obscene"}),
                        });
                        return {status: r.status, body: await r.json()};
                    }""",
                    caller.call_id,
                )
                assert answer["status"] == 200, answer
                assert answer["body"]["hung_up"] is True, answer
                await rig_a.wait_end(caller, timeout=15)  # cut on A's Asterisk
                assert caller.hangup_cause == "16", caller.hangup_cause
                await expect(waiting).to_have_attribute("data-value", "0", timeout=15_000)
                cut = await until(
                    lambda: (c := calls.get(caller.call_id)) and c.ended_at and c,
                    15,
                    "the cut call's row closed",
                )
                assert cut.outcome == "ended-abusive"
            finally:
                await page.context.close()
                board.refresh_seconds = saved_refresh

        # -- A dials a campaign; killed mid-campaign and mid-call, left down ----
        numbers = [phone("01") for _ in range(3)]  # A claims them all (3 lines)
        dialer.hold = True  # A claims first
        cid = await run_campaign(runtime, numbers, max_attempts=2)
        cs = CampaignService(services.db)

        async def a_playing() -> bool:
            rows = await rd(cs.attempts, cid)
            return sum(1 for a in rows if a.node == NODE_A and a.flow_state == "playing") >= 2

        await until(a_playing, 60, "node A's calls in the message")
        waiting_caller = await rig_a.place(
            TEST_CONTEXT, "s", caller_number="79001112302", variables=NO_IVR
        )
        await until(
            lambda: (c := calls.get(waiting_caller.call_id)) and c.queue_entered_at,
            20,
            "the caller in A's queue",
        )
        kill(proc)
        killed_at = time.monotonic()
        dialer.hold = False
        dialer.poke()

        await until(
            lambda: rd(lambda: open_rows(services.db, NODE_A) == 0),
            30,
            "node A's call rows closed",
        )
        closed_after = time.monotonic() - killed_at
        stats = await finished(runtime, cid, timeout=120)
        print(
            f"\nnode A killed: its call rows closed after {closed_after:.1f} s, "
            f"the campaign completed after {time.monotonic() - killed_at:.1f} s "
            f"(lease {LEASE:.0f} s, call ceiling: ring 4 s + grace {GRACE:.0f} s)"
        )
    finally:
        dialer.hold = False
        kill(proc)
        for c in list(rig_a._calls.values()):
            if not c.ended.is_set():
                await rig_a.hangup_caller(c)

    attempts = await rd(cs.attempts, cid)
    assert all(a.state == "done" for a in attempts), attempts
    assert {a.node for a in attempts} == {NODE_A, runtime.settings.node_name}
    assert stats.final == {"completed": len(numbers)}, stats.final
    per_contact = Counter(a.contact_id for a in attempts if a.positive)
    assert all(n == 1 for n in per_contact.values()) and len(per_contact) == len(numbers)
    # Every attempt was one channel on one Asterisk; a contact A had claimed
    # was dialled by B only after A's call of it had ended on A's Asterisk.
    for a in attempts:
        count = observer.newchannel_count(a.channel_id or "") + observer_a.newchannel_count(
            a.channel_id or ""
        )
        assert count <= 1, a
    dialled_at = {uid: t for t, uid in observer.dialled}
    seen = [(a.id, a.node, a.contact_id, a.result, a.flow_state, a.note) for a in attempts]
    taken = [a for a in attempts if a.node == NODE_A and a.result == "lost"]
    assert taken, seen
    assert any(observer_a.newchannel_count(a.channel_id or "") for a in taken), seen
    for a in taken:
        assert "taken over by" in (a.note or ""), seen
        # Dialled by A's Asterisk (else claimed, never sent): ended there first.
        dialled_on_a = observer_a.newchannel_count(a.channel_id or "") > 0
        ended_on_a = observer_a.hung_up_at.get(a.channel_id or "", 0.0)
        assert not dialled_on_a or ended_on_a > 0.0, seen
        later = [
            x for x in attempts if x.contact_id == a.contact_id and x.attempt_no > a.attempt_no
        ]
        assert later and all(x.node != NODE_A for x in later), later
        for x in later:
            dialled_on_b = dialled_at.get(x.channel_id or "")
            assert dialled_on_b is not None and dialled_on_b > ended_on_a, (a, x)
    # A's open rows: the caller in its queue, closed at the last time known.
    left = calls.get(waiting_caller.call_id)
    assert left is not None and left.ended_at is not None
    assert left.outcome == "lost-during-restart"
    assert left.ended_at >= (left.queue_entered_at or left.ended_at)
    assert any(e.kind == "closed_by_failover" for e in calls.events(waiting_caller.call_id))
    assert open_rows(services.db, NODE_A) == 0
    hb = beat_of(services.db, NODE_A)
    assert hb is not None and hb.taken_over_by == runtime.settings.node_name
