"""The route table: every flow registered explicitly, once, at start-up."""

from __future__ import annotations

from ivr.contract import Route
from ivr.fastagi import RouteTable
from ivr.flows import selftest


def build_routes() -> RouteTable:
    table = RouteTable()
    table.add(Route.SELFTEST, selftest.selftest)
    table.add(Route.SELFTEST_FAIL, selftest.selftest_fail)
    table.add(Route.BENCH_MENU, selftest.bench_menu)
    return table


def flows_by_name() -> dict[str, selftest.Any]:
    """Route name → flow, for process AGI."""
    table = build_routes()
    return {name: table.get(name) for name in table}
