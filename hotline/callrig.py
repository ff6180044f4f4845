"""The real-Asterisk test rig: place calls through AMI Originate of Local
channels into a test-only context that plays the caller, and collect what
happened (the flow's journal and the channel's own AMI events).

Used by the tests, by ``hotline demo`` and by the benches.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.settings import Settings
from telephony.ami import AmiClient
from telephony.contract import Context
from telephony.journal import CallJournal, JournalHub


def read_prompts(command: str) -> list[str]:
    """The prompt files an AGI ``EXEC Read var,file1&file2,…`` command plays."""
    if not command.startswith("EXEC Read "):
        return []
    args = command[len("EXEC Read ") :].strip().strip('"').split(",")
    return [f for f in args[1].split("&") if f] if len(args) > 1 else []


def starts_prompt(command: str) -> bool:
    """The AGI command starts playing a prompt (``STREAM FILE`` or a ``Read()``
    with prompts; a bare Read only listens for keys)."""
    return command.startswith("STREAM FILE") or bool(read_prompts(command))


@dataclass
class PlacedCall:
    call_id: str
    """Uniqueid of the IVR half (Local ;1) — the AGI's ``agi_uniqueid``."""
    caller_id: str
    """Uniqueid of the caller half (Local ;2)."""
    script: str
    events: list[dict[str, str]] = field(default_factory=list)
    journal: CallJournal | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    hangup_cause: str | None = None

    def agi_commands(self) -> list[str]:
        """AGI commands Asterisk executed on the IVR channel (AGIExecStart).

        A ``Read()`` (several-digit input) plays its prompts within one
        command: each of them is listed after it as ``Read-prompt <file> ``,
        so that ``f"/{prompt} " in command`` finds prompts however played."""
        out: list[str] = []
        for e in self.events:
            if e.get("Event") == "AGIExecStart":
                command = e.get("Command", "")
                out.append(command)
                out += [f"Read-prompt {f} " for f in read_prompts(command)]
        return out

    def user_events(self, name: str) -> list[dict[str, str]]:
        return [
            e for e in self.events if e.get("Event") == "UserEvent" and e.get("UserEvent") == name
        ]

    @property
    def heard(self) -> list[str]:
        return self.journal.heard() if self.journal else []

    def prompt_starts(self, prompt: str) -> int:
        """How many times Asterisk has started playing ``prompt`` (a prompt id
        such as ``menu/main``, or a fragment of one ending a file name) on
        this call, by ``STREAM FILE`` or among a ``Read()``'s prompts."""
        needle = f"/{prompt} "
        return sum(1 for c in self.agi_commands() if needle in c)


class CallRig:
    """Places simulated calls and follows them by their full Uniqueids."""

    def __init__(
        self,
        settings: Settings,
        hub: JournalHub | None = None,
        events: str = "on",
        only: tuple[str, ...] | None = None,
    ) -> None:
        """``only``: the event names to collect (all when None); a bench
        that needs a few keeps the rest off the wire."""
        self.settings = settings
        self.hub = hub
        self.ami = AmiClient(
            settings.ami_host,
            settings.ami_port,
            settings.ami_test_user,  # the test tools' AMI user (all events)
            settings.test_secret(),
            events=events,
            only=only,
        )
        self._calls: dict[str, PlacedCall] = {}
        self._names: dict[str, str] = {}
        self.by_uid: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.ami.on_event("*", self._on_event)

    async def start(self) -> None:
        await self.ami.start(wait=20)

    async def close(self) -> None:
        await self.ami.close()

    def _on_event(self, event: Any) -> None:
        ev = {str(k): str(v) for k, v in dict(event).items()}
        uid = ev.get("Uniqueid", "")
        if ev.get("Event") == "UserEvent":
            uid = ev.get("Uniqueid", uid)
        call = self._calls.get(uid)
        if call is None:
            return
        call.events.append(ev)
        if ev.get("Event") == "Newchannel":
            self._names[uid] = ev.get("Channel", "")
        if ev.get("Event") == "Hangup" and uid == call.call_id:
            call.hangup_cause = ev.get("Cause")
            call.ended.set()

    async def place(
        self,
        context: str | Context,
        script: str = "s",
        *,
        exten: str = "s",
        caller_number: str = "79001234567",
        variables: dict[str, str] | None = None,
        timeout: float = 15.0,
    ) -> PlacedCall:
        """Originate ``Local/<script>@hotline-test-caller`` into ``context``.

        ``script`` is the caller's behaviour (see dialplans/test-network.conf):
        e.g. ``w1500-d1-w2000-d42#-h``.
        """
        call_id = f"t-{uuid.uuid4().hex}"
        other_id = f"{call_id}-caller"
        call = PlacedCall(call_id, other_id, script)
        self._calls[call_id] = call
        self._calls[other_id] = call
        action: dict[str, Any] = {
            "Action": "Originate",
            "Channel": f"Local/{script}@{Context.TEST_CALLER}",
            "Context": str(context),
            "Exten": exten,
            "Priority": "1",
            "ChannelId": call_id,
            "OtherChannelId": other_id,
            "CallerID": f'"Тест" <{caller_number}>',
            "Timeout": str(int(timeout * 1000)),
            "Async": "true",
        }
        if variables:
            action["Variable"] = ",".join(f"{k}={v}" for k, v in variables.items())
        # panoramisk answers an async Originate with the response and the
        # OriginateResponse event once the caller half answered (or failed).
        resp = await self.ami.action(action, timeout=timeout + 5)
        messages = resp if isinstance(resp, list) else [resp]
        first = messages[0]
        if str(first.get("Response", "")).lower() != "success":
            raise RuntimeError(f"Originate refused: {dict(first)}")
        for m in messages[1:]:
            if m.get("Event") == "OriginateResponse" and m.get("Response") != "Success":
                raise RuntimeError(f"Originate failed: {m.get('Reason')}")
        return call

    async def wait_end(self, call: PlacedCall, timeout: float = 60.0) -> PlacedCall:
        """Wait for the IVR channel to hang up and its journal to close."""
        try:
            await asyncio.wait_for(call.ended.wait(), timeout)
        except TimeoutError as exc:
            raise AssertionError(
                f"call {call.call_id} did not end in {timeout}s; events: "
                f"{[e.get('Event') for e in call.events]}"
            ) from exc
        if self.hub is not None:
            j = self.hub.get(call.call_id)
            if j is not None:
                call.journal = await self.hub.wait_for(call.call_id, lambda j: j.ended, 10.0)
        return call

    async def channel_name(self, uid: str, timeout: float = 10.0) -> str:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while uid not in self._names:
            if loop.time() > end:
                raise AssertionError(f"no channel seen for {uid}")
            await asyncio.sleep(0.05)
        return self._names[uid]

    async def heard_start(
        self, call: PlacedCall, prompt: str, *, after: int = 0, timeout: float = 40.0
    ) -> int:
        """Wait until ``prompt`` has started more than ``after`` times on the
        call (Asterisk's own AGIExecStart, not a clock); returns the count.

        This is how a simulated caller listens: it answers a prompt once the
        prompt is playing, however slow the machine is."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while (n := call.prompt_starts(prompt)) <= after:
            if call.ended.is_set():
                raise AssertionError(f"call {call.call_id} ended before {prompt!r} started")
            if loop.time() > end:
                raise AssertionError(
                    f"{prompt!r} did not start in {timeout}s on {call.call_id}; "
                    f"AGI commands: {call.agi_commands()[-8:]}"
                )
            await asyncio.sleep(0.02)
        return n

    async def answer(
        self, call: PlacedCall, prompt: str, keys: str, *, after: int = 0, timeout: float = 40.0
    ) -> int:
        """Press ``keys`` once ``prompt`` has started (see :meth:`heard_start`)."""
        n = await self.heard_start(call, prompt, after=after, timeout=timeout)
        await self.send_dtmf(call, keys)
        return n

    async def walk(
        self, call: PlacedCall, steps: Sequence[tuple[str, str]], *, timeout: float = 40.0
    ) -> None:
        """A caller who knows the menu: for each ``(prompt, keys)`` in turn,
        wait for a new start of that prompt, then press the keys. A prompt
        heard again later in the walk (the main menu) is counted, so each
        step answers its own playing of it."""
        seen: dict[str, int] = {}
        for prompt, keys in steps:
            seen[prompt] = await self.answer(
                call, prompt, keys, after=seen.get(prompt, 0), timeout=timeout
            )

    async def send_dtmf(self, call: PlacedCall, digits: str) -> None:
        """The caller presses keys now: the caller half's own dialplan sends
        them (``SendDTMF``, reached by an AMI Redirect), then stays on the
        line. Not AMI PlayDTMF: Asterisk plays each of its digits inside the
        AMI session's one thread, so under hundreds of callers their keys
        queued behind each other for seconds (seen in bench/sip_load.py)."""
        await self.caller_does(call, f"d{digits}-s")

    async def caller_does(self, call: PlacedCall, script: str) -> None:
        """The caller half starts a new script now (AMI Redirect), e.g.
        ``pname-psilence-s``: say something, then stay on the line."""
        name = await self.channel_name(call.caller_id)
        await self.ami.action(
            {
                "Action": "Redirect",
                "Channel": name,
                "Context": str(Context.TEST_CALLER),
                "Exten": script,
                "Priority": "1",
            }
        )

    async def hangup_caller(self, call: PlacedCall) -> None:
        name = await self.channel_name(call.caller_id)
        await self.ami.action({"Action": "Hangup", "Channel": name})
