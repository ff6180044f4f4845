"""Process AGI (one Python process per call, started by Asterisk) via pyst2.

Runs the very same flows as FastAGI: only the transport differs. pyst2 reads
the AGI environment; commands go over stdin/stdout. Its debug chatter (which
includes the caller's number) goes to /dev/null, not to Asterisk's log.
Set ``AGISIGHUP=no`` in the dialplan: a hangup then arrives as ``511`` /
``result=-1`` and ends the flow quietly.
"""

from __future__ import annotations

import asyncio
import os
from typing import IO, Any

from asterisk.agi import AGI

from telephony.callrunner import CallEndHook, Flow, run_call
from telephony.channel import AgiChannel, AgiResponse, CallerHangup, PromptResolver, parse_response
from telephony.journal import CallJournal


class Pyst2Transport:
    """AGI commands over stdin/stdout, through a pyst2 :class:`AGI` object."""

    def __init__(self, agi: AGI) -> None:
        self.agi = agi
        self.round_trips = 0

    async def command(self, command: str) -> AgiResponse:
        if "\n" in command:
            raise ValueError("an AGI command is one line")
        try:
            self.agi.send_command(command)
        except (BrokenPipeError, OSError) as exc:
            raise CallerHangup(f"stdout closed: {exc}") from exc
        self.round_trips += 1
        while True:
            raw = self.agi.stdin.readline()
            line = raw.decode() if isinstance(raw, bytes) else raw
            if not line:
                raise CallerHangup("stdin closed by Asterisk")
            line = line.rstrip("\r\n")
            if line.startswith("100 "):
                continue
            if line.startswith("520-"):
                while not (self.agi.stdin.readline() or "520 ").startswith("520 "):
                    pass
                from telephony.channel import AgiProtocolError

                raise AgiProtocolError(f"AGI usage error for {command.split(' ', 1)[0]}")
            return parse_response(line)


def run_process_agi(
    flows: dict[str, Flow],
    route: str,
    deps: Any,
    *,
    resolver: PromptResolver | None = None,
    spool_dir: str = "/tmp",
    on_call_end: CallEndHook | None = None,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
) -> str:
    """Entry point body for ``agi_scripts/``: read the AGI environment, run
    the flow for ``route``, return the outcome."""
    import sys

    devnull = open(os.devnull, "w")
    agi = AGI(stdin=stdin or sys.stdin, stdout=stdout or sys.stdout, stderr=devnull)
    headers = {k if k.startswith("agi_") else f"agi_{k}": v.strip() for k, v in agi.env.items()}
    journal = CallJournal(call_id=headers.get("agi_uniqueid", ""), route=route)
    journal.add("start", route=route, channel=headers.get("agi_channel", ""), transport="process")
    transport = Pyst2Transport(agi)
    channel = AgiChannel(transport, headers, journal, resolver, spool_dir)
    return asyncio.run(
        run_call(
            flows.get(route),
            channel,
            deps,
            on_call_end=on_call_end,
            round_trips=lambda: transport.round_trips,
        )
    )
