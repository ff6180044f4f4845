"""The shift slice (issue 12): operators' presence in the queue, their SIP
phones, and the presence bar of the workplace."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Panel, Slice, WebApp

WORKPLACE_ROLES = frozenset({"operator", "supervisor"})


def _presence(runtime: Any) -> None:
    """Presence follows the queue's members over AMI (shift.presence)."""
    from shift.presence import ShiftService

    services = runtime.services
    settings = services.settings
    service = ShiftService(
        services.db,
        queue=settings.queue_name,
        specialist_queue=settings.specialist_queue,
        bus=services.event_bus,
        appeals=services.crm.appeals,
        calls=services.crm.calls,
        run_db=services.run_db,
        wrapup_seconds=settings.shift_wrapup_seconds,
        node=settings.node_name,
    )
    service.subscribe(runtime.ami)
    services.shift = service


def _shift_app(services: Any, runtime: Any) -> Any:
    from shift.web import create_shift_app

    return create_shift_app(services, runtime)


def _asterisk_conf(settings: Any) -> Mapping[str, str]:
    from crm_bridge.db import Database
    from shift.phones import asterisk_conf

    db = Database(settings.db_url)
    try:
        return asterisk_conf(db)
    finally:
        db.dispose()


def cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from shift.cli import add_operators_parser

    add_operators_parser(sub)


def metadata() -> Sequence[MetaData]:
    import shift.models  # noqa: F401 - its tables share crm_bridge's Base
    from crm_bridge.models import Base

    return (Base.metadata,)


SLICE = Slice(
    name="shift",
    ami=(_presence,),
    ami_events=("AgentConnect", "AgentComplete", "ContactStatus", "AttendedTransfer"),
    web=(
        WebApp(
            "/shift/",
            _shift_app,
            "Обратные звонки",
            roles=WORKPLACE_ROLES,
            templates=Path(__file__).with_name("templates"),
            panels=(
                Panel("workplace", "shift/panel.html", "/shift/static/shift.js", WORKPLACE_ROLES),
            ),
        ),
    ),
    cli=cli,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
    asterisk_conf=_asterisk_conf,
)
