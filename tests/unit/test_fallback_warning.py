"""REQ-T4 on the fallback path (issue 17 item 5, issue 13 item 4): the
dialplan knows whether the caller heard the recording warning, and its
fallback branch plays it on a recorded call when the flow did not.

The real-Asterisk proof (the service unreachable, the service killed after
the warning): tests/e2e/test_fallback_warning.py.
"""

from __future__ import annotations

from typing import Any

from ivr.flows import hotline
from telephony.contract import UserEvent, Var
from tests.unit import test_flow_branches as branches
from tests.unit.test_contract import CODE
from tests.unit.test_flow_branches import FREE_OPERATOR, call, done, run

demo_template = branches.demo_template
deps = branches.deps


def _context(name: str) -> list[str]:
    block = CODE.split(f"[{name}]", 1)[1].split("\n[", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_the_inbound_context_clears_the_mark_before_the_flow() -> None:
    lines = _context("hotline-inbound")
    clear = next(i for i, x in enumerate(lines) if f"Set({Var.WARNED}=)" in x)
    agi = next(i for i, x in enumerate(lines) if "AGI(${HOTLINE_AGI}/inbound)" in x)
    record = next(i for i, x in enumerate(lines) if "MixMonitor(" in x)
    assert record < clear < agi


def test_the_fallback_plays_the_warning_unless_it_was_heard() -> None:
    """The warning is played before the apology, skipped only when the call
    is not recorded or the flow marked it heard; then the call is marked."""
    lines = _context("hotline-fallback")
    skip = next(i for i, x in enumerate(lines) if "GotoIf(" in x and Var.WARNED in x)
    assert f'"${{{Var.RECORDING}}}" = ""' in lines[skip]
    assert f'"${{{Var.WARNED}}}" = "1"' in lines[skip]
    warning = next(i for i, x in enumerate(lines) if "common/recording_warning" in x)
    apology = next(i for i, x in enumerate(lines) if "common/technical_fallback" in x)
    assert skip < warning < apology
    assert f"Set({Var.WARNED}=1)" in lines[warning + 1]
    assert f"UserEvent({UserEvent.FALLBACK_WARNING}," in lines[warning + 2]
    assert "Playback(" in lines[warning], "not interruptible by a key"


async def test_the_flow_marks_the_warning_heard_right_after_it(deps: Any) -> None:
    ch = call([("menu/main", "0")], variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    kinds = [
        (e.kind, e.detail.get("id") or e.detail.get("name"))
        for e in ch.journal.entries
        if e.kind in ("prompt", "var")
    ]
    at = kinds.index(("prompt", "common/recording_warning"))
    assert kinds[at + 1] == ("var", Var.WARNED.value)
    assert ch.variables[Var.WARNED] == "1"


async def test_a_caller_who_hangs_up_during_the_warning_is_not_marked(deps: Any) -> None:
    ch = call(hangup_at="common/recording_warning")
    await run(hotline.flow, ch, deps)
    assert Var.WARNED.value not in ch.variables
