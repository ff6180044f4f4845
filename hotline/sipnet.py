"""The callers' telephone network over real SIP, for tests and benches.

A second Asterisk instance (the same root or system Asterisk as the
hotline's, its own configuration from ``asterisk-conf/caller-network/``)
bound to a second loopback address calls the hotline's ``trunk`` endpoint as
a carrier delivers an 8-800 call: one PJSIP channel per call, RTP both ways
(the caller side sends silence while it listens: ``transmit_silence``), keys
as RFC 4733 events. The hotline identifies the trunk by that address
(settings ``sip_trunk_host``/``sip_trunk_port``), exactly as in production.

Why a second Asterisk and not SIPp's DTMF recordings: a SIPp scenario can
only replay the shipped ``dtmf_2833_<key>.pcap`` files, each one a recorded
event with its own fixed RTP timestamp and sequence numbers; played one after
another in a call, several events carry the same timestamp, so the receiver
takes a later key for a repeat of the earlier one and drops it (PLATFORM.md:
digits missing from a sequence; repeated digits such as the zeros of an
account number are exactly that case). Asterisk's own RFC 4733 sender
numbers every event on the call's RTP clock, so any sequence arrives whole;
the test ``tests/e2e/test_sip_trunk.py`` keys an account number with
repeated digits through it.

:class:`SipCallRig` places such calls and follows them with the same
listening API as :class:`~hotline.callrig.CallRig` (``heard_start``,
``answer``, ``walk``): a key is sent once the prompt it answers has started
on the hotline (AGIExecStart on the hotline's AMI), then sent by the caller
network (AMI PlayDTMF on the caller's PJSIP channel).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from string import Template
from typing import Any

from core.settings import Settings
from hotline.callrig import CallRig, PlacedCall
from hotline.sandbox import CONF_SRC, SECRET_CONF, Sandbox, write_file
from telephony.ami import AmiClient
from telephony.journal import JournalHub

NET_SRC = CONF_SRC / "caller-network"
SHARED_CONF = ("asterisk.conf", "modules.conf", "manager.conf")
"""Rendered from the hotline's own templates (directories, modules, AMI)."""
CALLER_CONTEXT = "caller-network"
HOTLINE_NUMBER = "88001001000"


class CallerNetwork(Sandbox):
    """The callers' Asterisk. ``hotline``: the hotline's settings (its SIP
    port, and ``sip_trunk_host``/``sip_trunk_port``, which are this
    instance's address); ``ami_port``: this instance's AMI port."""

    def __init__(self, hotline: Settings, *, ami_port: int) -> None:
        net = hotline.replace(
            data_dir=hotline.data / "caller-network",
            ami_port=ami_port,
            ami_secret=None,
            sip_port=hotline.sip_trunk_port,
            node_name="callers",
        )
        super().__init__(net)
        self.hotline = hotline

    def template_vars(self) -> dict[str, str]:
        values = super().template_vars()
        values["NET_HOST"] = self.hotline.sip_trunk_host
        values["HOTLINE_SIP"] = f"{self.hotline.sip_host}:{self.hotline.sip_port}"
        values["HOTLINE_HOST"] = self.hotline.sip_host
        return values

    def render(self) -> bool:
        for d in (self.etc, self.log_dir, self.run_dir, self.base / "spool", self.base / "db"):
            d.mkdir(parents=True, exist_ok=True)
        for f in self.etc.glob("*.conf"):
            f.unlink()
        values = self.template_vars()
        for src in [CONF_SRC / name for name in SHARED_CONF] + sorted(NET_SRC.glob("*.conf")):
            if src.name == "extensions.conf":  # dialplan: ${...} are Asterisk's own
                shutil.copyfile(src, self.etc / src.name)
                continue
            text = Template(src.read_text(encoding="utf-8")).substitute(values)
            write_file(self.etc / src.name, text, 0o640 if src.name in SECRET_CONF else 0o644)
        return True


class SipCallRig(CallRig):
    """Places calls from the caller network into the hotline's trunk and
    follows them on the hotline's AMI (the hotline channel is found by the
    caller ID name, a per-call tag, which the trunk carries in ``From``)."""

    def __init__(
        self,
        hotline: Settings,
        network: CallerNetwork,
        hub: JournalHub | None = None,
        events: str = "on",
        only: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(hotline, hub=hub, events=events, only=only)
        net = network.s
        # Only the OriginateResponse of its own Originates (always received).
        self.net_ami = AmiClient(
            net.ami_host,
            net.ami_port,
            net.ami_test_user,
            net.test_secret(),
            events="call",
            only=(),
        )
        self._tags: dict[str, PlacedCall] = {}

    async def start(self) -> None:
        await super().start()
        await self.net_ami.start(wait=20)

    async def close(self) -> None:
        await self.net_ami.close()
        await super().close()

    def _on_event(self, event: Any) -> None:
        if event.get("Event") == "Newchannel":
            call = self._tags.pop(str(event.get("CallerIDName", "")), None)
            if call is not None:
                call.call_id = str(event.get("Uniqueid", ""))
                self._calls[call.call_id] = call
        super()._on_event(event)

    async def place_sip(
        self,
        *,
        number: str = HOTLINE_NUMBER,
        caller_number: str = "79001234567",
        timeout: float = 30.0,
    ) -> PlacedCall:
        """Call ``number`` on the hotline's trunk from ``caller_number``;
        returns once the hotline answered and its channel is known."""
        tag = f"sip{uuid.uuid4().hex[:16]}"
        call = PlacedCall(call_id="", caller_id=f"net-{tag}", script="sip")
        self._tags[tag] = call
        try:
            resp = await self.net_ami.action(
                {
                    "Action": "Originate",
                    "Channel": f"PJSIP/{number}@hotline",
                    "Context": CALLER_CONTEXT,
                    "Exten": "s",
                    "Priority": "1",
                    "ChannelId": call.caller_id,
                    "CallerID": f'"{tag}" <{caller_number}>',
                    "Timeout": str(int(timeout * 1000)),
                    "Async": "true",
                },
                timeout=timeout + 5,
            )
            messages = resp if isinstance(resp, list) else [resp]
            if str(messages[0].get("Response", "")).lower() != "success":
                raise RuntimeError(f"Originate refused: {dict(messages[0])}")
            for m in messages[1:]:
                if m.get("Event") == "OriginateResponse" and m.get("Response") != "Success":
                    raise RuntimeError(f"the hotline did not answer: {m.get('Reason')}")
            loop = asyncio.get_running_loop()
            end = loop.time() + timeout
            while not call.call_id:
                if loop.time() > end:
                    raise RuntimeError("the hotline's channel of the call was never seen")
                await asyncio.sleep(0.02)
        finally:
            self._tags.pop(tag, None)
        return call

    async def send_dtmf(self, call: PlacedCall, digits: str) -> None:
        """The caller presses keys: the caller's channel sends them over the
        trunk as RFC 4733 events (its dialplan's ``SendDTMF``, reached by an
        AMI Redirect addressed by its ChannelId; see CallRig.send_dtmf)."""
        await self.net_ami.action(
            {
                "Action": "Redirect",
                "Channel": call.caller_id,
                "Context": CALLER_CONTEXT,
                "Exten": f"k{digits}",
                "Priority": "1",
            }
        )

    async def hangup_caller(self, call: PlacedCall) -> None:
        await self.net_ami.action({"Action": "Hangup", "Channel": call.caller_id})

    async def set_test_now(self, now: str) -> None:
        """Test mode: "now" of the trunk's calls (``hotline-test-trunk``)."""
        from telephony.contract import Var

        await self.ami.action(
            {"Action": "Setvar", "Variable": str(Var.TEST_TRUNK_NOW), "Value": now}
        )
