"""The dialplan contract: dialplans/*.conf (with the contexts slices render
into extensions.conf) and telephony/contract.py agree."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings
from hotline.slices import build_routes
from surveys.plugin import dialplan as survey_dialplan
from telephony.contract import ALL_ROUTES, ALL_VARS, Context, Next, Route
from visits.plugin import dialplan as visits_dialplan

DIALPLANS = Path(__file__).resolve().parents[2] / "dialplans"
RENDERED_BY_SLICES = survey_dialplan(Settings(survey_after_call=True)) + visits_dialplan(Settings())
"""The survey's and the visits' contexts (their plugin.py render them with the settings)."""
TEXT = "\n".join(
    [*(p.read_text(encoding="utf-8") for p in sorted(DIALPLANS.glob("*.conf"))), RENDERED_BY_SLICES]
)
CODE = "\n".join(line.split(";", 1)[0] for line in TEXT.splitlines())


def test_every_fastagi_route_in_the_dialplan_is_declared() -> None:
    used = set(re.findall(r"AGI\(\$\{HOTLINE_AGI\}/([\w-]+)", CODE))
    used |= set(re.findall(r"AGI\(\$\{HOTLINE_AGI_SCRIPT\},([\w-]+)", CODE))
    assert used, "no AGI routes found in dialplans/"
    assert used <= ALL_ROUTES, used - ALL_ROUTES


def test_every_declared_route_is_reachable_from_the_dialplan() -> None:
    used = set(re.findall(r"AGI\(\$\{HOTLINE_AGI\}/([\w-]+)", CODE))
    assert ALL_ROUTES <= used, ALL_ROUTES - used


def test_every_dialplan_route_has_a_flow() -> None:
    table = build_routes()
    used = set(re.findall(r"AGI\(\$\{HOTLINE_AGI\}/([\w-]+)", CODE))
    missing = {r for r in used if r not in table}
    assert not missing, f"routes without a registered flow: {missing}"


def test_every_hotline_variable_is_declared() -> None:
    used = set(re.findall(r"\b(HOTLINE_[A-Z_]+)\b", CODE))
    assert used <= ALL_VARS, used - ALL_VARS


def test_contexts_and_next_branches_exist() -> None:
    contexts = set(re.findall(r"^\[([\w-]+)\]", CODE, re.M))
    for ctx in Context:
        assert ctx.value in contexts, ctx
    next_block = CODE.split("[hotline-next]", 1)[1].split("\n[", 1)[0]
    for nxt in Next:
        assert f"exten => {nxt.value}," in next_block, nxt


def test_routes_are_route_enum_members() -> None:
    assert {r.value for r in Route} == ALL_ROUTES
