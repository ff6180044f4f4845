"""An operator's shift on a real SIP phone (issue 12), against the real
Asterisk 22: the operator's phone is baresip (hotline.softphone) registered
with the credentials ``shift.phones`` generated, answering by itself; the
caller comes from the callers' network over the PJSIP trunk
(hotline.sipnet, RFC 4733 keys sent once the prompt has started); the
operator works in the workplace page in headless Chromium.

Proven: the page sees the phone registered; «Войти в очередь» puts the
phone into the queue; a caller who asks for an operator rings the phone,
which answers; the card pops with the caller identified; the hang-up starts
the wrap-up (the member is paused in Asterisk); the operator ends it; a
pause keeps the next caller waiting until the operator resumes, and then the
phone rings at once; the intervals are stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect
from sqlalchemy import func, select

from crm_bridge.calls import CallService
from crm_bridge.demo_data import DEMO_CALLER, DEMO_OPERATORS
from crm_bridge.models import Operator
from hotline.softphone import Softphone
from shift.models import PresenceInterval
from shift.phones import issue_phone
from telephony.ami import AmiError
from tests.browser import chromium, logged_in_page
from tests.e2e.conftest import IN_HOURS
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]

OPERATOR = DEMO_OPERATORS[0]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def phone(
    settings: Any, asterisk: Any, runtime: Any, sip: Any, tmp_path_factory: Any
) -> AsyncIterator[Softphone]:
    """The operator's phone: credentials issued, Asterisk's pjsip.conf
    rendered again and reloaded, baresip registered."""
    phone = await registered_phone(
        settings, asterisk, runtime.services, OPERATOR.login, tmp_path_factory.mktemp("phone")
    )
    yield phone
    await phone.stop()


async def registered_phone(
    settings: Any, asterisk: Any, services: Any, login: str, workdir: Any, **kw: Any
) -> Softphone:
    creds = await services.run_db(lambda: issue_phone(services.db, login, **kw))
    await asyncio.to_thread(asterisk.up)  # a running instance: render + reload
    phone = Softphone(
        creds.endpoint,
        creds.password,
        host=settings.sip_host,
        port=settings.sip_port,
        workdir=workdir,
    )
    await phone.start()
    return phone


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def specialist(
    settings: Any, asterisk: Any, runtime: Any, phone: Softphone, tmp_path_factory: Any
) -> AsyncIterator[Softphone]:
    """The second line: the second demo operator's phone, in the specialists' queue."""
    login = DEMO_OPERATORS[1].login
    second = await registered_phone(
        settings,
        asterisk,
        runtime.services,
        login,
        tmp_path_factory.mktemp("phone-specialist"),
        queue=settings.specialist_queue,
    )
    assert await phone.registered()  # the reload kept the first phone
    shift = runtime.services.shift
    operator_id = await runtime.services.run_db(operator_of, runtime.services, login)
    await shift.log_in(operator_id)
    try:
        yield second
    finally:
        try:
            await shift.log_out(operator_id)
        finally:
            await second.stop()  # even when a failed test left a call up


class AlwaysOpen:
    """Working hours that never close (the test's clock control)."""

    def is_open(self, dt: datetime) -> bool:
        return True

    def next_open(self, dt: datetime) -> datetime:
        return dt


def operator_of(services: Any, login: str) -> int:
    with services.db.session() as s:
        return int(s.scalars(select(Operator.id).where(Operator.login == login)).one())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


IDENTIFIED_WALK = [
    ("menu/main", "4"),
    ("ident/enter_last_digits", DEMO_CALLER.number + "#"),
    ("debt/options", "0"),
]
"""The caller names the account in full at the identity gate (debt), then
asks for an operator."""


async def workplace(browser: Any, runtime: Any) -> tuple[Any, Any]:
    """The operator's page, its live socket open; the presence bar."""
    page = await logged_in_page(
        browser, runtime.web_url + "operator/", OPERATOR.login, OPERATOR.password
    )
    await page.locator("body[data-ws=ready]").wait_for(timeout=10_000)
    return page, page.locator("#presence")


async def log_in_to_queue(page: Any, bar: Any) -> None:
    await page.click("#queue-login")
    await expect(bar).to_have_attribute("data-state", "ready", timeout=10_000)


async def end_shift(page: Any, bar: Any) -> None:
    """The card is filled («готов»), then out of the queue."""
    await page.click("#wrapup-end")
    # one request at a time: a logout overtaking the end of wrap-up would
    # leave no «ready» interval
    await expect(bar).not_to_have_attribute("data-state", "wrapup", timeout=10_000)
    await page.click("#queue-logout")
    await expect(bar).to_have_attribute("data-state", "offline", timeout=10_000)


async def caller_reaches(
    sip: Any, phone: Softphone, page: Any, walk: list[tuple[str, str]]
) -> tuple[Any, int]:
    """A caller over the trunk walks ``walk``; the phone answers and the card
    pops. Returns the call and the phone's event mark before it."""
    assert DEMO_CALLER.phone is not None
    mark = len(phone.events)
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    await sip.walk(call, walk)
    await phone.wait_event("CALL_ESTABLISHED", after=mark, timeout=40)
    await page.locator(f'#card[data-uniqueid="{call.call_id}"]').wait_for(timeout=10_000)
    return call, mark


async def member(runtime: Any, interface: str) -> dict[str, str] | None:
    resp = await runtime.ami.action(
        {"Action": "QueueStatus", "Queue": runtime.settings.queue_name}, as_list=True
    )
    for m in resp:
        if m.get("Event") == "QueueMember" and m.get("Location") == interface:
            return {str(k): str(v) for k, v in m.items()}
    return None


async def waiting_seconds(runtime: Any, uniqueid: str) -> float:
    resp = await runtime.ami.action(
        {"Action": "QueueStatus", "Queue": runtime.settings.queue_name}, as_list=True
    )
    for m in resp:
        if m.get("Event") == "QueueEntry" and m.get("Uniqueid") == uniqueid:
            return float(m.get("Wait") or 0)
    return -1.0


async def test_a_shift_on_a_real_phone(
    runtime: Any, sip: Any, phone: Softphone, browser: Any
) -> None:
    services = runtime.services
    interface = f"PJSIP/{phone.endpoint}"
    operator_id = await services.run_db(operator_of, services, OPERATOR.login)

    def last_interval() -> int:
        # Another test of the session (supervision) may have worked this
        # demo operator's shift before: only this test's intervals count.
        with services.db.session() as s:
            return s.scalar(
                select(func.coalesce(func.max(PresenceInterval.id), 0)).where(
                    PresenceInterval.operator_id == operator_id
                )
            )

    before = await services.run_db(last_interval)
    page, bar = await workplace(browser, runtime)
    try:
        await expect(bar).to_have_attribute("data-state", "offline", timeout=10_000)
        await expect(bar).to_have_attribute("data-phone", "registered", timeout=10_000)

        # Log in to the queue from the page.
        await log_in_to_queue(page, bar)
        joined = await member(runtime, interface)
        assert joined is not None and joined["Paused"] == "0", joined
        assert joined["Name"] == OPERATOR.login

        # A caller identifies with the account and asks for an operator: the
        # phone rings and answers; the card pops with the caller identified.
        call, mark = await caller_reaches(sip, phone, page, IDENTIFIED_WALK)
        await expect(page.locator("#account-number")).to_have_text(DEMO_CALLER.number)
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)

        # The caller hangs up: the wrap-up starts and keeps the queue away.
        await sip.hangup_caller(call)
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        wrapping = await member(runtime, interface)
        assert wrapping is not None and wrapping["Paused"] == "1", wrapping
        assert wrapping.get("PausedReason") == "wrapup", wrapping
        await page.click("#wrapup-end")
        await expect(bar).to_have_attribute("data-state", "ready", timeout=10_000)
        assert (await member(runtime, interface) or {}).get("Paused") == "0"

        # A pause keeps the next caller waiting; resuming rings the phone at once.
        await page.select_option("#pause-reason", "break")
        await page.click("#pause")
        await expect(bar).to_have_attribute("data-state", "paused", timeout=10_000)
        assert (await member(runtime, interface) or {}).get("PausedReason") == "break"
        mark = len(phone.events)
        second = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
        await sip.walk(second, [("menu/main", "0")])
        # The queue rings a free member within a second of a caller's
        # arrival; this caller waits 4 s by the queue's own clock, unrung.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while await waiting_seconds(runtime, second.call_id) < 4:
            assert loop.time() < deadline, "the second caller never waited in the queue"
            await asyncio.sleep(0.5)
        assert phone.seen("CALL_ESTABLISHED", after=mark) is None, "a paused phone rang"
        await page.click("#resume")
        await expect(bar).to_have_attribute("data-state", "ready", timeout=10_000)
        await phone.wait_event("CALL_ESTABLISHED", after=mark, timeout=20)
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)
        await phone.hangup()
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        await end_shift(page, bar)
        assert await member(runtime, interface) is None
    finally:
        await page.context.close()

    calls = CallService(services.db)
    done = await until(
        lambda: (c := calls.get(call.call_id)) and c.ended_at and c, 10, "the first call's row"
    )
    assert done.operator_id == operator_id and done.outcome == "answered"

    def states() -> list[tuple[str, str | None]]:
        with services.db.session() as s:
            rows = s.scalars(
                select(PresenceInterval)
                .where(PresenceInterval.operator_id == operator_id, PresenceInterval.id > before)
                .order_by(PresenceInterval.id)
            )
            return [(r.state, r.reason) for r in rows]

    assert await services.run_db(states) == [
        ("ready", None),
        ("talking", None),
        ("wrapup", None),
        ("ready", None),
        ("paused", "break"),
        ("ready", None),
        ("talking", None),
        ("wrapup", None),
        ("ready", None),
    ]


async def test_a_transfer_to_a_specialist_rings_the_second_phone(
    runtime: Any, sip: Any, phone: Softphone, specialist: Softphone, browser: Any
) -> None:
    """REQ-T10: the operator passes a complex question to the second line from
    the page; the specialist's phone answers the caller; the appeal records
    to whom it was passed."""
    from crm_bridge.appeals import AppealService

    services = runtime.services
    page, bar = await workplace(browser, runtime)
    try:
        await log_in_to_queue(page, bar)
        second_mark = len(specialist.events)
        call, mark = await caller_reaches(sip, phone, page, IDENTIFIED_WALK)
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)
        appeal_number = await page.text_content("#appeal-number")
        await page.select_option("#transfer-to", "specialists")
        await page.click("#transfer")
        await specialist.wait_event("CALL_ESTABLISHED", after=second_mark, timeout=30)
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        await sip.hangup_caller(call)
        await specialist.wait_event("CALL_CLOSED", after=second_mark, timeout=15)
        await end_shift(page, bar)
    finally:
        await page.context.close()
    appeals = AppealService(services.db)
    appeal = await services.run_db(appeals.get_by_number, appeal_number)
    assert appeal.passed_to == "специалисту (вторая линия)"
    kinds = [e.kind for e in CallService(services.db).events(call.call_id)]
    assert "transferred" in kinds


def _connected(channels: list[dict[str, Any]], uniqueid: str) -> set[str]:
    """Channel names the channel ``uniqueid`` hears: those in its bridge,
    and on through Local channel pairs (``…;1`` ↔ ``…;2``) and their bridges."""
    by_bridge: dict[str, list[str]] = {}
    for m in channels:
        if m.get("BridgeId"):
            by_bridge.setdefault(str(m["BridgeId"]), []).append(str(m["Channel"]))
    bridge_of = {str(m["Channel"]): str(m.get("BridgeId") or "") for m in channels}
    start = next((str(m["Channel"]) for m in channels if m.get("Uniqueid") == uniqueid), None)
    seen: set[str] = set()
    todo = [start] if start else []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += by_bridge.get(bridge_of.get(name, ""), []) if bridge_of.get(name) else []
        if name.startswith("Local/") and name[-2:] in (";1", ";2"):
            todo.append(name[:-1] + ("2" if name.endswith("1") else "1"))
    return seen - {start} if start else set()


async def bridged_with(runtime: Any, uniqueid: str, prefix: str, timeout: float = 15.0) -> str:
    """Wait until the channel ``uniqueid`` is connected by Asterisk's bridges
    (through Local channels too; CoreShowChannels) to a channel named
    ``prefix…``; returns that channel."""

    async def bridged() -> str | None:
        resp = await runtime.ami.action({"Action": "CoreShowChannels"}, as_list=True)
        seen = [dict(m) for m in resp if m.get("Event") == "CoreShowChannel"]
        return next((c for c in _connected(seen, uniqueid) if c.startswith(prefix)), None)

    found: str = await until(bridged, timeout, f"{uniqueid} bridged with {prefix}", 0.1)
    return found


async def ready_again(services: Any, operator_id: int, timeout: float = 15.0) -> None:
    """The operator's last call is over (Asterisk's AgentComplete handled)
    and they end its wrap-up: ready for the next call."""
    from shift.presence import State

    async def call_over() -> bool:
        return (await services.shift.presence(operator_id)).state is not State.TALKING

    await until(call_over, timeout, "the end of the operator's call")
    await services.shift.end_wrapup(operator_id)


async def test_an_attended_transfer_consults_the_specialist_first(
    runtime: Any, asterisk: Any, sip: Any, phone: Softphone, specialist: Softphone, browser: Any
) -> None:
    """REQ-T10 with a consultation: the caller waits on hold while the
    operator talks to the specialist's phone (which shows the caller's
    number); «back to the caller» ends the consultation and the operator is
    with the caller again; the second time «connect» leaves the caller with
    the specialist, the operator's phone hangs up and wraps up, and the
    appeal records whom."""
    from crm_bridge.appeals import AppealService

    services = runtime.services
    # the specialist is ready (an earlier test's call may have left them wrapping up)
    specialist_id = await services.run_db(operator_of, services, DEMO_OPERATORS[1].login)
    await ready_again(services, specialist_id)
    page, bar = await workplace(browser, runtime)
    try:
        await log_in_to_queue(page, bar)
        call, mark = await caller_reaches(sip, phone, page, IDENTIFIED_WALK)
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)
        operator_channel = await bridged_with(runtime, call.call_id, f"PJSIP/{phone.endpoint}-")
        appeal_number = await page.text_content("#appeal-number")
        await page.select_option("#transfer-to", "specialists")

        # consult, then go back to the caller
        def on_hold() -> int:
            log = asterisk.full_log.read_text(errors="replace")
            return log.count("Started music on hold, class 'default', on channel 'PJSIP/trunk-")

        held = on_hold()
        second = len(specialist.events)
        await page.click("#consult")
        await expect(bar).to_have_attribute(
            "data-consulting", "специалисту (вторая линия)", timeout=10_000
        )
        answered = await specialist.wait_event("CALL_ESTABLISHED", after=second, timeout=30)
        # The caller is on hold meanwhile, hearing the hold prompt (not silence).
        files = await asyncio.to_thread(asterisk.cli, "moh show files")
        assert "hold/music" in files, files
        await until(lambda: on_hold() > held, 10, "the caller's music on hold")
        assert DEMO_CALLER.phone is not None
        assert DEMO_CALLER.phone.lstrip("+") in str(answered.get("peeruri", "")), answered
        assert phone.seen("CALL_CLOSED", after=mark) is None, "the operator's phone stays up"
        await page.click("#consult-cancel")
        await specialist.wait_event("CALL_CLOSED", after=second, timeout=15)
        await expect(bar).to_have_attribute("data-consulting", "", timeout=10_000)
        assert await bridged_with(runtime, call.call_id, f"PJSIP/{phone.endpoint}-") == (
            operator_channel
        )
        await expect(bar).to_have_attribute("data-state", "talking")

        # consult again (the specialist ends the wrap-up of the first one),
        # then connect the specialist with the caller
        await ready_again(services, specialist_id)
        second = len(specialist.events)
        await page.click("#consult")
        await expect(bar).to_have_attribute(
            "data-consulting", "специалисту (вторая линия)", timeout=10_000
        )
        await specialist.wait_event("CALL_ESTABLISHED", after=second, timeout=30)
        await page.click("#consult-complete")
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        await bridged_with(runtime, call.call_id, f"PJSIP/{specialist.endpoint}-")
        assert specialist.seen("CALL_CLOSED", after=second) is None
        await sip.hangup_caller(call)
        await specialist.wait_event("CALL_CLOSED", after=second, timeout=15)
        await end_shift(page, bar)
    finally:
        await page.context.close()
    appeal = await services.run_db(AppealService(services.db).get_by_number, appeal_number)
    assert appeal.passed_to == "специалисту (вторая линия)"
    kinds = [e.kind for e in CallService(services.db).events(call.call_id)]
    assert kinds.count("transferred") == 1, kinds


async def test_a_callback_from_the_worklist_rings_the_operator_then_the_customer(
    settings: Any, runtime: Any, sip: Any, phone: Softphone, browser: Any
) -> None:
    """REQ-T6: a callback promised by the answering machine is in the
    worklist with the caller's message playable in the browser; «Позвонить»
    rings the operator's phone, then the hotline dials the customer through
    the trunk; the result is stored and the appeal answered."""
    import wave

    from crm_bridge.appeals import AppealService
    from crm_bridge.models import (
        AppealChannel,
        AppealKind,
        AppealStatus,
        Callback,
        CallbackStatus,
        ReplyChannel,
    )
    from ivr.flows.common import create_callback
    from webedge.models import AuditEvent

    services = runtime.services
    customer = "+79005550001"
    message = settings.spool_dir / "am-callback-test.wav"
    with wave.open(str(message), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(2 * 8000))

    def promise() -> tuple[int, int]:
        appeal = AppealService(services.db).register(
            channel=AppealChannel.ANSWERING_MACHINE,
            kind=AppealKind.ANSWERING_MACHINE_MESSAGE,
            content="Прошу перезвонить по начислениям",
            reply_channel=ReplyChannel.PHONE,
            reply_contact=customer,
            recordings=[str(message)],
        )
        now = datetime.now(UTC)
        return appeal.id, create_callback(
            services.db,
            phone=customer,
            due_at=now,
            window_start=now,
            window_end=now + timedelta(hours=2),
            appeal_id=appeal.id,
            note="Перезвонить по сообщению на автоответчике",
        )

    appeal_id, callback_id = await services.run_db(promise)
    # Callbacks are made in working hours only; this test runs at any hour,
    # so the hotline's hours are "always open" for its duration (as the IVR
    # tests set the call's "now" in test mode).
    real_hours = services.hours
    services.hours = AlwaysOpen()
    page = await logged_in_page(
        browser, runtime.web_url + "shift/", OPERATOR.login, OPERATOR.password
    )
    try:
        row = page.locator(f'#callbacks tr[data-id="{callback_id}"]')
        await row.wait_for(timeout=10_000)
        await expect(row.locator(".phone")).to_have_text(customer)
        # The caller's message plays in the browser: a range request is answered.
        src = await row.locator("audio").get_attribute("src")
        assert src is not None
        resp = await page.request.get(
            runtime.web_url.rstrip("/") + src, headers={"Range": "bytes=0-99"}
        )
        assert resp.status == 206 and resp.headers["content-type"] == "audio/wav"
        mark = len(phone.events)
        await row.locator("button.call").click()
        await phone.wait_event("CALL_ESTABLISHED", after=mark, timeout=30)

        async def customer_up() -> bool:
            chans = await runtime.ami.action({"Action": "CoreShowChannels"}, as_list=True)
            return any(
                str(c.get("Channel", "")).startswith("PJSIP/trunk-")
                and c.get("ChannelStateDesc") == "Up"
                for c in chans
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not await customer_up():
            assert loop.time() < deadline, "the customer was never reached through the trunk"
            await asyncio.sleep(0.3)
        await phone.hangup()
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await row.locator("select[name=result]").select_option("reached")
        await row.locator("input[name=note]").fill("Начисления объяснены")
        await row.locator("form.result button[type=submit]").click()
        await expect(row).to_have_count(0, timeout=10_000)
    finally:
        services.hours = real_hours
        await page.context.close()

    def stored() -> tuple[Any, Any, list[str]]:
        with services.db.session() as s:
            cb = s.get(Callback, callback_id)
            actions = list(
                s.scalars(select(AuditEvent.action).where(AuditEvent.login == OPERATOR.login))
            )
            return cb.status, cb.attempts, actions

    status, attempts, actions = await services.run_db(stored)
    assert status is CallbackStatus.DONE and attempts == 1
    assert "recording.listen" in actions and "callback.call" in actions
    appeal = await services.run_db(AppealService(services.db).get, appeal_id)
    assert appeal.status is AppealStatus.ANSWERED


async def test_an_abusive_call_is_cut_from_the_page(
    runtime: Any, sip: Any, phone: Softphone, browser: Any
) -> None:
    """REQ-T12, A8: the operator chooses «угроз» and ends the call from the
    page; Asterisk hangs the caller up, the call is recorded as ended for
    abuse and its appeal is not considered, with that reason."""
    from crm_bridge.appeals import AppealService
    from crm_bridge.models import AppealStatus, NotConsideredReason

    services = runtime.services
    page, bar = await workplace(browser, runtime)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    try:
        await log_in_to_queue(page, bar)
        call, mark = await caller_reaches(sip, phone, page, [("menu/main", "0")])
        appeal_number = await page.text_content("#appeal-number")
        await page.select_option("#abusive-kind", "threat")
        await page.click("#abusive")
        await expect(page.locator("#status")).to_have_attribute("data-ended", "threat")
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await sip.wait_end(call, timeout=15)  # the caller was hung up by Asterisk
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        await end_shift(page, bar)
    finally:
        await page.context.close()
    calls = CallService(services.db)
    done = await until(
        lambda: (c := calls.get(call.call_id)) and c.ended_at and c, 10, "the call's row"
    )
    assert done.outcome == "ended-abusive"
    appeal = await services.run_db(AppealService(services.db).get_by_number, appeal_number)
    assert appeal.status is AppealStatus.NOT_CONSIDERED
    assert appeal.not_considered_reason is NotConsideredReason.OBSCENE_OR_THREATENING
    assert "угрозы" in (appeal.note or "")


async def test_the_shift_goes_on_after_an_asterisk_restart(
    runtime: Any, asterisk: Any, sip: Any, phone: Softphone, browser: Any
) -> None:
    """Queue members do not survive an Asterisk restart; the service puts
    the operator back as they were (paused for lunch) from ``QueueStatus``
    when its AMI connection comes back, the page still says so, and after
    «Продолжить работу» a caller reaches the phone again."""
    interface = f"PJSIP/{phone.endpoint}"
    page, bar = await workplace(browser, runtime)
    try:
        await log_in_to_queue(page, bar)
        await page.select_option("#pause-reason", "lunch")
        await page.click("#pause")
        await expect(bar).to_have_attribute("data-state", "paused", timeout=10_000)

        logins = runtime.ami.logins
        await asyncio.to_thread(asterisk.cli, "core restart now", 15.0, False)
        await until(lambda: runtime.ami.logins > logins, 60, "the AMI reconnect")
        await asyncio.to_thread(asterisk.up)  # fully booted again

        async def member_again() -> dict[str, str] | None:
            try:
                return await member(runtime, interface)
            except AmiError:  # Asterisk still starting (a slow machine): ask again
                return None

        back = await until(member_again, 30, "the operator back in the queue")
        assert back["Paused"] == "1" and back["PausedReason"] == "lunch", back
        await expect(bar).to_have_attribute("data-state", "paused")
        await expect(bar).to_have_attribute("data-reason", "lunch")

        await until(lambda: sip.ami.connected, 30, "the rig's AMI reconnect")
        await sip.set_test_now(IN_HOURS)  # a global of the restarted Asterisk
        await until(phone.registered, 30, "the phone registered after the restart")
        await page.click("#resume")
        await expect(bar).to_have_attribute("data-state", "ready", timeout=10_000)
        call, mark = await caller_reaches(sip, phone, page, [("menu/main", "0")])
        await expect(bar).to_have_attribute("data-state", "talking", timeout=10_000)
        await sip.hangup_caller(call)
        await phone.wait_event("CALL_CLOSED", after=mark, timeout=15)
        await expect(bar).to_have_attribute("data-state", "wrapup", timeout=10_000)
        await end_shift(page, bar)
    finally:
        await page.context.close()
