"""The hotline over real SIP: a second Asterisk plays the callers' telephone
network (hotline.sipnet) and calls the hotline's ``trunk`` endpoint as a
carrier delivers an 8-800 call — a PJSIP channel, RTP both ways, keys as
RFC 4733 events sent once the prompt they answer has started.
"""

from __future__ import annotations

from typing import Any

import pytest

from crm_bridge.demo_data import DEMO_CALLER
from telephony.channel import mask_keys

pytestmark = [pytest.mark.asterisk]


async def test_trunk_call_walks_the_menu_with_rfc4733_keys(sip: Any, runtime: Any) -> None:
    """REQ-T1, T2: a carrier's call reaches the menu; the caller identifies
    with an account number full of repeated digits (1000000001), keyed over
    RFC 4733 at the identity gate, and hears the debt."""
    assert DEMO_CALLER.phone is not None
    call = await sip.place_sip(caller_number=DEMO_CALLER.phone.lstrip("+"))
    try:
        await sip.walk(
            call, [("menu/main", "4"), ("ident/enter_last_digits", DEMO_CALLER.number + "#")]
        )
        await sip.heard_start(call, "debt/options")
        # The hotline's channel is the trunk's PJSIP channel, with RTP both ways.
        name = await sip.channel_name(call.call_id)
        assert name.startswith("PJSIP/trunk-"), name
        stats = await sip.ami.action(
            {"Action": "Getvar", "Channel": name, "Variable": "CHANNEL(rtcp,all)"}
        )
        fields = dict(
            kv.split("=", 1) for kv in str(stats.get("Value", "")).split(";") if "=" in kv
        )
        assert int(fields.get("rxcount", 0)) > 0 and int(fields.get("txcount", 0)) > 0, fields
        await sip.hangup_caller(call)
        await sip.wait_end(call)
    finally:
        if not call.ended.is_set():
            await sip.hangup_caller(call)
    journal = call.journal
    assert journal is not None
    # Every key arrived, the repeated zeros included, as RFC 4733 events
    # received on the trunk's channel; the journal keeps the account's keys
    # masked (152-FZ), how many but not which.
    keys = [e.detail["digits"] for e in journal.entries if e.kind == "dtmf"]
    assert keys[:2] == ["4", mask_keys(DEMO_CALLER.number + "#")], keys
    received = "".join(
        e["Digit"]
        for e in call.events
        if e.get("Event") == "DTMFEnd"
        and e.get("Direction") == "Received"
        and e.get("Uniqueid") == call.call_id
    )
    assert received.startswith("4" + DEMO_CALLER.number + "#"), received
    heard = journal.heard()
    assert heard[0] == "common/recording_warning", heard  # REQ-T4
    assert "debt/your_debt_is" in heard, heard
