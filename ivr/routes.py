"""The route table: every flow registered explicitly, once, at start-up."""

from __future__ import annotations

from autoinformer import flow as autoinformer_flow
from ivr.contract import Route
from ivr.fastagi import RouteTable
from ivr.flows import answering_machine, hotline, meter_readings, queue_callback, selftest


def build_routes() -> RouteTable:
    table = RouteTable()
    table.add(Route.SELFTEST, selftest.selftest)
    table.add(Route.SELFTEST_FAIL, selftest.selftest_fail)
    table.add(Route.BENCH_MENU, selftest.bench_menu)
    table.add(Route.METER_READINGS, meter_readings.flow)
    table.add(Route.INBOUND, hotline.flow)
    table.add(Route.ANSWERING_MACHINE, answering_machine.flow)
    table.add(Route.QUEUE_CALLBACK, queue_callback.flow)
    table.add(Route.OUTBOUND_MESSAGE, autoinformer_flow.outbound_message)
    return table


def flows_by_name() -> dict[str, selftest.Any]:
    """Route name → flow, for process AGI."""
    table = build_routes()
    return {name: table.get(name) for name in table}
