"""Autoinformer against the real Asterisk 22 and a simulated telephone network
(REQ-O1–O8): the dialer originates ``Local/<number>@hotline-test-network``
whose last two digits decide how the callee behaves (dialplans/test-network.conf).

Results and retries are asserted against what Asterisk itself reported on an
independent AMI connection (Newchannel/Hangup of our ChannelIds).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from autoinformer.campaigns import CampaignService
from autoinformer.contacts import ContactListService
from autoinformer.models import Attempt
from telephony.ami import AmiClient
from tests.autoinformer.helpers import TEST_TRUNK, always_open, daytime_zone, make_accounts
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk]

_SEQ = itertools.count(1)


class Observer:
    """An independent AMI session recording what Asterisk did with our calls."""

    def __init__(self, settings: Any) -> None:
        self.ami = AmiClient(
            settings.ami_host, settings.ami_port, settings.ami_test_user, settings.test_secret()
        )
        self.events: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.changed = asyncio.Event()
        self.booted: list[float] = []
        """Monotonic times of the FullyBooted events this session got."""
        self.dialled: list[tuple[float, str]] = []
        """(monotonic time, ChannelId) of each of our calls Asterisk created."""
        self.hung_up_at: dict[str, float] = {}
        """ChannelId → monotonic time of its Hangup."""
        self.ami.on_event("*", self._on)

    def _on(self, event: Any) -> None:
        if event.get("Event") in ("Shutdown", "FullyBooted"):
            self.events["system"].append({str(k): str(v) for k, v in dict(event).items()})
            if event.get("Event") == "FullyBooted":
                self.booted.append(time.monotonic())
        uid = str(event.get("Uniqueid", ""))
        if uid.startswith("ai-"):
            if event.get("Event") == "Newchannel" and not uid.endswith("-b"):
                self.dialled.append((time.monotonic(), uid))
            if event.get("Event") == "Hangup":
                self.events["system"].append({"Event": "Hangup", "Uniqueid": uid})
                self.hung_up_at.setdefault(uid, time.monotonic())
            self.events[uid].append({str(k): str(v) for k, v in dict(event).items()})
            self.changed.set()

    def channels(self) -> set[str]:
        """Our ChannelIds (the callee-facing ;1 halves) Asterisk created."""
        return {
            uid
            for uid, evs in self.events.items()
            if not uid.endswith("-b") and any(e.get("Event") == "Newchannel" for e in evs)
        }

    def newchannel_count(self, uid: str) -> int:
        return sum(1 for e in self.events.get(uid, []) if e.get("Event") == "Newchannel")

    def hangup(self, uid: str) -> dict[str, str] | None:
        for e in self.events.get(uid, []):
            if e.get("Event") == "Hangup":
                return e
        return None

    def playing(self, uid: str) -> bool:
        """A prompt started on the channel (the message is being played)."""
        return any(
            e.get("Event") == "AGIExecStart" and e.get("Command", "").startswith("STREAM FILE")
            for e in self.events.get(uid, [])
        )

    def name(self, uid: str) -> str | None:
        for e in self.events.get(uid, []):
            if e.get("Event") == "Newchannel":
                return e.get("Channel")
        return None


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def observer(settings: Any, runtime: Any) -> AsyncIterator[Observer]:
    obs = Observer(settings)
    await obs.ami.start(wait=20)
    yield obs
    await obs.ami.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dialer(runtime: Any) -> AsyncIterator[Any]:
    d = runtime.extra["dialer"]
    saved = (d.trunk, d.lines, d.cps)
    d.trunk, d.lines, d.cps = TEST_TRUNK, 8, 20.0
    await d.wait_ready(30)
    yield d
    d.trunk, d.lines, d.cps = saved


def phone(code: str) -> str:
    """A unique simulated number whose behaviour is ``code`` (two digits)."""
    return f"+7900{next(_SEQ) + 70000:05d}{code}"


async def run_campaign(runtime: Any, phones: list[str], **options: Any) -> int:
    services = runtime.services
    db = services.db
    tz = daytime_zone()
    prefix = f"9{next(_SEQ):03d}"
    await services.run_db(lambda: make_accounts(db, phones, timezone=tz, prefix=prefix))
    cs = CampaignService(db)
    start, end = always_open()
    opts: dict[str, Any] = {
        "caps_230fz": False,
        "max_attempts": 2,
        "ring_timeout": 4,
        "retry_delays": {"busy": 1, "noanswer": 1, "congestion": 1, "failed": 1, "lost": 1},
    }
    opts.update(options)
    cid = await services.run_db(
        lambda: cs.create("Тест", opts.pop("kind", "debt"), start_at=start, end_at=end, **opts)
    )
    lists = ContactListService(db)
    res = await services.run_db(
        lambda: lists.import_rows(cid, [{"phone": p, "debt": "1234.50"} for p in phones])
    )
    assert res.accepted == len(phones), res.rejected
    await services.run_db(lambda: cs.submit(cid, "disp"))
    await services.run_db(lambda: cs.approve(cid, "boss", "supervisor"))
    await services.run_db(lambda: cs.launch(cid))
    runtime.extra["dialer"].poke()
    return cid


async def finished(runtime: Any, cid: int, timeout: float = 90.0) -> Any:
    cs = CampaignService(runtime.services.db)

    async def done() -> bool:
        st = await runtime.services.run_db(cs.stats, cid)
        return st.status == "completed"

    await until(done, timeout, f"campaign {cid} to complete")
    return await runtime.services.run_db(cs.stats, cid)


def assert_db_matches_ami(attempts: list[Attempt], obs: Observer) -> None:
    """Every attempt row ↔ exactly one channel in Asterisk; no extra dials."""
    ours = {a.channel_id for a in attempts}
    created = obs.channels() & {a.channel_id for a in attempts}
    for a in attempts:
        assert obs.newchannel_count(a.channel_id or "") <= 1, f"dialled twice: {a.channel_id}"
        assert a.state == "done" and a.result, a
    # All the channels Asterisk made for this campaign's attempts are rows.
    assert created <= ours


async def test_outcomes_and_retries_as_they_happened(runtime, dialer, observer) -> None:
    numbers = {code: phone(code) for code in ("01", "03", "04", "05", "07")}
    cid = await run_campaign(runtime, list(numbers.values()))
    stats = await finished(runtime, cid)
    cs = CampaignService(runtime.services.db)
    attempts = await runtime.services.run_db(cs.attempts, cid)
    contacts = {c.phone: c for c in await runtime.services.run_db(cs.contacts, cid)}
    by_phone: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_phone[a.phone or ""].append(a)

    expected = {
        "01": "completed",
        "03": "busy",
        "04": "noanswer",
        "05": "hungup",
        "07": "congestion",
    }
    for code, result in expected.items():
        c = contacts[numbers[code]]
        assert c.final_result == result, (code, c.final_result, by_phone[numbers[code]])
        rows = by_phone[numbers[code]]
        retried = result in ("busy", "noanswer", "congestion")
        assert len(rows) == (2 if retried else 1), (code, rows)
        assert [r.attempt_no for r in rows] == list(range(1, len(rows) + 1))
        assert all(r.result == result for r in rows)
        # Asterisk's own record of each attempt agrees with the row.
        for r in rows:
            await until(lambda r=r: obs_hangup(observer, r), 10, "Hangup event")
            cause = int(observer.hangup(r.channel_id or "")["Cause"])  # type: ignore[index]
            if result == "busy":
                assert r.originate_reason == 5 or cause == 17, (r, cause)
            if result == "congestion":
                assert r.originate_reason == 8 or cause in (34, 38, 42), (r, cause)
            if result == "noanswer":
                assert r.originate_reason == 3, r
            if result in ("completed", "hungup"):
                assert r.answered_at is not None
    # What the callee heard (the FastAGI journal of the answered channel).
    listener = runtime.services.hub.get(by_phone[numbers["01"]][0].channel_id)
    assert listener is not None
    heard = listener.heard()
    account = contacts[numbers["01"]].variables["account"]
    assert heard[:5] == [
        "outbound/greeting",
        "outbound/debt_account",
        f"account:{account}",
        "outbound/debt_amount",
        "money:1234.50",
    ], heard
    assert "outbound/if_paid" in heard and heard[-1] == "outbound/goodbye", heard
    money = next(e for e in listener.entries if e.kind == "say" and e.detail["what"] == "money")
    assert money.detail["text"].endswith("тысяча двести тридцать четыре рубля пятьдесят копеек")
    early = runtime.services.hub.get(by_phone[numbers["05"]][0].channel_id)
    assert early is not None and "outbound/goodbye" not in early.heard()
    assert contacts[numbers["01"]].positive and not contacts[numbers["05"]].positive
    hung = by_phone[numbers["05"]][0]
    assert hung.hangup_second is not None and 2.0 <= hung.hangup_second <= 6.0, hung
    assert stats.positive == 1 and stats.finished == 5
    assert stats.results["busy"] == 2 and stats.results["completed"] == 1
    # The answered calls are in the call register as outbound, with their
    # campaign (issue 13 item 10).
    calls = runtime.services.crm.calls
    for code in ("01", "05"):
        uid = by_phone[numbers[code]][0].channel_id or ""
        row = await until(
            lambda uid=uid: (c := calls.get(uid)) and c.ended_at and c, 15, "the call row"
        )
        assert (row.direction.value, row.campaign_id) == ("out", cid), row
    assert_db_matches_ami(attempts, observer)
    assert observer.channels() >= {a.channel_id for a in attempts}


def obs_hangup(observer: Observer, a: Attempt) -> bool:
    return observer.hangup(a.channel_id or "") is not None


async def test_zero_transfers_to_operator_with_campaign_on_card(
    runtime, dialer, observer, settings
) -> None:
    ami = runtime.ami
    member = "Local/701@hotline-test-operator/n"
    await ami.action(
        {"Action": "QueueAdd", "Queue": settings.queue_name, "Interface": member, "Penalty": "0"},
        as_list=False,
    )
    try:
        number = phone("02")
        before = observer.channels()
        cid = await run_campaign(runtime, [number])
        # The callee listens: it presses 0 once the message is playing on its
        # call (Asterisk's AGIExecStart), not on a clock.
        playing = await until(
            lambda: next((u for u in observer.channels() - before if observer.playing(u)), None),
            40,
            "the message to start playing",
        )
        callee = observer.name(f"{playing}-b")
        assert callee, "no callee half seen"
        await ami.action({"Action": "PlayDTMF", "Channel": callee, "Digit": "0", "Duration": "250"})
        cs = CampaignService(runtime.services.db)

        async def answered_row() -> Attempt | None:
            rows = await runtime.services.run_db(cs.attempts, cid)
            return rows[0] if rows and rows[0].flow_state == "transferred" else None

        row = await until(answered_row, 40, "the transfer")
        uid = row.channel_id

        def operator_answered() -> bool:
            return any(e.get("Event") == "AgentConnect" for e in observer.events[uid])

        await until(operator_answered, 30, "the simulated operator to answer")
        join = next(e for e in observer.events[uid] if e.get("Event") == "QueueCallerJoin")
        assert join["Queue"] == settings.queue_name
        connect = next(e for e in observer.events[uid] if e.get("Event") == "AgentConnect")
        assert "701@hotline-test-operator" in connect.get(
            "Interface", connect.get("MemberName", "")
        )
        # The operator's card shows the campaign and the contact (REQ-O5).
        from crm_bridge.card import build_card

        contact_id = row.contact_id
        listener = runtime.services.call_listener

        async def card() -> dict[str, Any] | None:
            st = listener.state(uid)
            if st is None or not st.vars.get("HOTLINE_CAMPAIGN"):
                return None
            c = await runtime.services.run_db(
                lambda: build_card(runtime.services.db, uid, vars=st.vars)
            )
            return c if c.get("outbound") else None

        shown = await until(card, 15, "the operator card")
        # The customer, the account and the campaign by name and message
        # (issue 15 item 6), not «Не определён» / «скрыт» / bare ids.
        out = shown["outbound"]
        assert (out["campaign"], out["contact"]) == (str(cid), str(contact_id))
        assert out["name"] == "Тест" and out["phone"] == number and out["kind"] == "Задолженность"
        assert "одна тысяча двести тридцать четыре рубля" in out["message"], out["message"]
        assert shown["account"] and shown["account"]["number"] == out["account"]
        assert shown["ident"]["method"] == "campaign" and shown["ident"]["verified"]
        name = observer.name(uid)
        assert name
        resp = await ami.action(
            {"Action": "Getvar", "Channel": name, "Variable": "HOTLINE_CAMPAIGN"}
        )
        assert resp.get("Value") == str(cid)
        resp = await ami.action(
            {"Action": "Getvar", "Channel": name, "Variable": "HOTLINE_ACCOUNT"}
        )
        assert resp.get("Value") == out["account"]
        await ami.action({"Action": "Hangup", "Channel": name})
        stats = await finished(runtime, cid)
        assert stats.final == {"transferred": 1} and stats.positive == 1
    finally:
        await ami.action(
            {"Action": "QueueRemove", "Queue": settings.queue_name, "Interface": member},
            as_list=False,
        )


async def test_answering_machine_detected_and_retried(runtime, dialer, observer) -> None:
    machine, human = phone("06"), phone("01")
    cid = await run_campaign(
        runtime, [machine, human], amd="retry", max_attempts=2, retry_delays={"machine": 1}
    )
    stats = await finished(runtime, cid, timeout=120)
    cs = CampaignService(runtime.services.db)
    attempts = await runtime.services.run_db(cs.attempts, cid)
    m_rows = [a for a in attempts if a.phone == machine]
    h_rows = [a for a in attempts if a.phone == human]
    assert [a.result for a in m_rows] == ["machine", "machine"], m_rows
    assert all(a.amd_status == "MACHINE" for a in m_rows)
    assert [a.result for a in h_rows] == ["completed"] and h_rows[0].amd_status != "MACHINE"
    assert stats.final == {"machine": 1, "completed": 1}
    for a in attempts:
        amd = [e for e in observer.events[a.channel_id or ""] if e.get("UserEvent") == "HotlineAmd"]
        assert amd and amd[0]["Status"] == a.amd_status


async def test_a_missing_trunk_is_reported_once_and_holds_dialling(runtime, dialer) -> None:
    """A dial string naming an endpoint Asterisk does not have: the dialer
    says so (its page, the monitor) and claims nothing, instead of failing
    every call; once the trunk is right, the same contacts are dialled."""
    events: list[dict[str, Any]] = []
    monitor = runtime.services.campaign_monitor
    async with monitor.subscribe() as queue:
        dialer.trunk = "PJSIP/{number}@no-such-trunk"
        dialer._trunk_checked = False
        dialer.poke()
        await until(lambda: dialer.trunk_problem is not None, 20, "the trunk problem")
        assert "no-such-trunk" in dialer.trunk_problem and "транк не найден" in (
            dialer.trunk_problem
        )
        number = phone("01")
        cid = await run_campaign(runtime, [number])
        cs = CampaignService(runtime.services.db)
        # The loop runs (it checks the trunk again each turn) and dials nothing.
        seen = dialer.trunk_checks
        await until(lambda: dialer.trunk_checks >= seen + 3, 30, "three more dialer turns")
        assert await runtime.services.run_db(cs.attempts, cid) == []
        while not queue.empty():
            events.append(queue.get_nowait())
    trunk_events = [e for e in events if e.get("type") == "trunk"]
    assert len(trunk_events) == 1 and "no-such-trunk" in trunk_events[0]["problem"]
    dialer.trunk = TEST_TRUNK
    dialer.poke()
    stats = await finished(runtime, cid)
    assert dialer.trunk_problem is None
    assert stats.finished == 1 and stats.results.get("completed") == 1


async def test_each_failed_call_says_why(runtime, dialer, observer) -> None:
    """The monitor and the report give the callee's cause in Russian: busy,
    a number that does not exist (Q.850 1), no answer."""
    from autoinformer.reports import csv_report

    numbers = {code: phone(code) for code in ("03", "08", "04")}
    cid = await run_campaign(runtime, list(numbers.values()), max_attempts=1)
    await finished(runtime, cid)
    cs = CampaignService(runtime.services.db)
    recent = await runtime.services.run_db(cs.recent, cid)
    causes = {r["phone"]: r["cause"] for r in recent}
    assert causes == {
        numbers["03"]: "занято",
        numbers["08"]: "номер не существует",
        numbers["04"]: "абонент не ответил",
    }, recent
    report = (await runtime.services.run_db(csv_report, cs, cid)).decode("utf-8-sig")
    assert "Причина" in report
    for cause in causes.values():
        assert cause in report
