"""Foundation, against the real Asterisk 22: calls placed through AMI
Originate of Local channels; the test context plays the caller.

Asserts what the caller heard (the flow's journal, cross-checked with the
AGI commands Asterisk reports executing on the channel and Asterisk's own
log of the Russian sound files played) and the call's outcome.
"""

from __future__ import annotations

import asyncio
import functools
import re

import pytest

from ivr.flows.selftest import SELFTEST_NUMBER
from telephony.contract import Context
from tests.e2e.waiting import until

pytestmark = [pytest.mark.asterisk]


def _played_files(asterisk, call_id_prefix: str) -> list[str]:
    """Sound files Asterisk's log says it played (language-resolved)."""
    text = asterisk.full_log.read_text(errors="replace")
    return re.findall(r"Playing '([^']+)' \(language '(\w+)'\)", text)


async def test_call_reaches_route_and_hears_russian_number(rig, runtime, asterisk) -> None:
    call = await rig.place(Context.SELFTEST, "s")
    journal = await runtime.services.hub.wait_for(call.call_id, lambda j: j.ended, 30)
    await rig.wait_end(call)
    heard = journal.heard()
    assert heard[:3] == ["selftest/hello", f"number:{SELFTEST_NUMBER}", "selftest/enter_digits"]
    assert heard[-1] == "selftest/goodbye"
    assert journal.last("end").detail["outcome"] == "completed"
    # Asterisk executed it on the channel, in Russian
    assert any(c.startswith(f"SAY NUMBER {SELFTEST_NUMBER}") for c in call.agi_commands())
    played = _played_files(asterisk, call.call_id)
    assert ("digits/2", "ru") in played or any(
        f.startswith("digits/") and lang == "ru" for f, lang in played
    )
    assert call.user_events("HotlineFallback") == []


async def test_dtmf_reaches_the_flow(rig, runtime) -> None:
    hub = runtime.services.hub
    call = await rig.place(Context.SELFTEST, "s")
    await hub.wait_for(call.call_id, lambda j: "selftest/enter_digits" in j.heard(), 30)
    await rig.send_dtmf(call, "42#")
    journal = await hub.wait_for(call.call_id, lambda j: j.ended, 30)
    inputs = [e.detail for e in journal.entries if e.kind == "input"]
    assert inputs and inputs[0]["digits"] == "42" and inputs[0]["reason"] == "ok"
    assert "digits:42" in journal.heard()
    await rig.wait_end(call)


async def test_dtmf_from_the_caller_script(rig, runtime) -> None:
    """The same, with the caller's keys sent by the caller half's own dialplan
    (SendDTMF), started once the prompt it answers is playing."""
    call = await rig.place(Context.SELFTEST, "s")
    await rig.heard_start(call, "selftest/enter_digits")
    await rig.caller_does(call, "d7-w300-d#-s")
    journal = await runtime.services.hub.wait_for(call.call_id, lambda j: j.ended, 30)
    # "7" then "#": collected by Asterisk (Read()), the flow gets "7".
    assert any(e.kind == "dtmf" and e.detail["digits"] == "7#" for e in journal.entries)
    inputs = [e.detail for e in journal.entries if e.kind == "input"]
    assert inputs and inputs[0]["digits"] == "7" and inputs[0]["reason"] == "ok"
    await rig.wait_end(call)


async def test_caller_hangs_up_mid_prompt(rig, runtime) -> None:
    failures = runtime.fastagi.stats.failures
    call = await rig.place(Context.SELFTEST, "s")
    await rig.heard_start(call, "selftest/hello")
    await rig.caller_does(call, "h")
    journal = await runtime.services.hub.wait_for(call.call_id, lambda j: j.ended, 30)
    assert journal.last("end").detail["outcome"] == "hangup"
    assert "hangup" in journal.kinds()
    assert journal.last("error") is None
    assert runtime.fastagi.stats.failures == failures
    await rig.wait_end(call)


async def test_failing_flow_lands_in_fallback(rig, runtime) -> None:
    call = await rig.place(Context.SELFTEST_FAIL, "s")
    journal = await runtime.services.hub.wait_for(call.call_id, lambda j: j.ended, 30)
    assert journal.last("end").detail["outcome"] == "failed"
    loop = asyncio.get_running_loop()
    end = loop.time() + 20
    while not call.user_events("HotlineFallback"):
        assert loop.time() < end, "the caller never reached the fallback branch"
        await asyncio.sleep(0.1)
    assert call.user_events("HotlineFallback")[0]["Reason"].endswith("FAILED")
    await rig.hangup_caller(call)
    await rig.wait_end(call)


async def test_same_flow_over_process_agi(rig, runtime, asterisk) -> None:
    """pyst2 process AGI (one Python process per call) runs the same flow;
    its journal lands in the database."""
    from crm_bridge.calls import CallService

    call = await rig.place(Context.SELFTEST, "s", exten="process")
    await rig.wait_end(call, timeout=60)
    assert call.user_events("HotlineFallback") == [], asterisk.log_tail(40)
    services = runtime.services
    # The IVR's own journal (the AMI listener's rows of the same call, such as
    # its "hangup", are another source and may share the last timestamp).
    events = await services.run_db(
        functools.partial(CallService(services.db).events, source="ivr"), call.call_id
    )
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end", kinds
    assert events[0].detail.get("transport") == "process"
    heard = [
        e.detail["id"] if e.kind == "prompt" else f"{e.detail['what']}:{e.detail['value']}"
        for e in events
        if e.kind in ("prompt", "say")
    ]
    assert heard[:3] == ["selftest/hello", f"number:{SELFTEST_NUMBER}", "selftest/enter_digits"]
    assert events[-1].detail["outcome"] == "completed"
    assert any(c.startswith(f"SAY NUMBER {SELFTEST_NUMBER}") for c in call.agi_commands())


async def test_health_page_reports_the_parts(runtime) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(runtime.web_url + "health") as resp:
            body = await resp.json()
        async with http.get(runtime.web_url + "metrics") as metrics:
            text = await metrics.text()
    assert body["database"] == "ok" and body["database_ms"] is not None
    assert body["ami"] == "connected"
    assert body["fastagi"]["active"] >= 0 and body["fastagi"]["failures_last_5_min"] >= 0
    assert set(body["disks"]) == {"data", "recordings", "spool"}
    assert resp.status == 200, body
    assert "hotline_ami_up" in text and "hotline_database_latency_seconds" in text


async def test_service_ami_user_gets_only_what_the_code_uses(
    settings, rig, runtime, asterisk
) -> None:
    """Issue 11: the service's AMI user has no ``system`` or ``command`` write
    permission, and Asterisk sends its sessions only the events the slices'
    subscriptions handle (``eventfilter`` in manager.conf): no AGI or DTMF
    event of any call, and no AMI ``Filter`` action (which needs ``system``)."""
    from hotline.slices import ami_events
    from telephony.ami import AmiClient

    shown = asterisk.cli(f"manager show user {settings.ami_user}")
    fields = {
        k.strip().lower(): v.strip()
        for k, sep, v in (line.partition(":") for line in shown.splitlines())
        if sep
    }
    write = set(fields["write perm"].replace(" ", "").split(","))
    assert write == {"call", "agent", "reporting", "originate"}, shown
    assert "command" not in fields["read perm"].split(","), shown
    # Every event the running service handles is let through, nothing else.
    handled = runtime.ami.handled_events()
    assert handled is not None and set(handled) <= set(ami_events())

    service = AmiClient(settings.ami_host, settings.ami_port, settings.ami_user, settings.secret())
    service.on_event("Hangup", lambda e: None)
    assert service.wanted_events() is None  # no Filter action: Asterisk filters
    call, raw = await _wire_events(service, rig, {"UserEvent", "Hangup"})
    wide = {e.get("Event") for e in call.events}
    assert {"AGIExecStart", "DTMFEnd", "Newchannel"} <= wide  # the test user's rig got them
    assert set(raw) <= set(ami_events()), raw
    assert not set(raw) & {"AGIExecStart", "AGIExecEnd", "DTMFBegin", "DTMFEnd", "VarSet"}, raw


async def test_tool_session_narrows_itself_with_filter(settings, rig) -> None:
    """The test and bench tools' AMI user narrows a session to the events it
    names (AMI ``Filter``); an async Originate still gets its response."""
    from telephony.ami import AmiClient

    tool = AmiClient(
        settings.ami_host,
        settings.ami_port,
        settings.ami_test_user,
        settings.test_secret(),
        only=("Hangup",),
    )
    assert tool.wanted_events() == ("Hangup", "OriginateResponse")
    _, raw = await _wire_events(tool, rig, {"Hangup"})
    assert set(raw) <= {"Hangup", "OriginateResponse"}, raw


async def _wire_events(client, rig, until_seen: set[str]):  # type: ignore[no-untyped-def]
    """Start ``client``, place a selftest call that keys 7#, and return the
    call and the names of the events that reached ``client`` on the wire
    (before any dispatch), once ``until_seen`` all arrived."""
    raw: list[str] = []
    await client.start(wait=20)
    try:
        manager = client._manager
        assert manager is not None
        original = manager.dispatch

        def record(event):  # type: ignore[no-untyped-def]
            raw.append(str(event.event))
            return original(event)

        manager.dispatch = record
        call = await rig.place(Context.SELFTEST, "s")
        await rig.answer(call, "selftest/enter_digits", "7#")
        await rig.wait_end(call, timeout=40)
        await until(lambda: until_seen <= set(raw), 10, f"{until_seen} on the wire")
    finally:
        await client.close()
    return call, raw
