"""The supervision slice (issue 14): the wallboard with listening in
(``/supervision/``), the appeal's life (``/appeals/``), the statistics
(``/statistics/``), the daily digest of deadlines, and their commands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Slice, WebApp

SUPERVISORS = frozenset({"supervisor"})
WORKPLACE_ROLES = frozenset({"operator", "supervisor"})
TEMPLATES = Path(__file__).with_name("templates")


def _wallboard(runtime: Any) -> None:
    """The wallboard follows the queue's callers and members over AMI."""
    from supervision.wallboard import attach

    attach(runtime)


def _wallboard_app(services: Any, runtime: Any) -> Any:
    from supervision.wallboard_web import create_wallboard_app

    return create_wallboard_app(services, runtime)


def _appeals_app(services: Any, runtime: Any) -> Any:
    from supervision.appeals_web import create_appeals_app

    return create_appeals_app(services, runtime)


def _stats_app(services: Any, runtime: Any) -> Any:
    from supervision.stats_web import create_stats_app

    return create_stats_app(services, runtime)


def _digest(runtime: Any) -> Any:
    from supervision.digest import DigestComponent

    return DigestComponent(runtime.services)


def metadata() -> Sequence[MetaData]:
    import supervision.models  # noqa: F401 - its tables share crm_bridge's Base
    from crm_bridge.models import Base

    return (Base.metadata,)


def cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from supervision.cli import add_parser

    add_parser(sub)


SLICE = Slice(
    name="supervision",
    ami=(_wallboard,),
    ami_events=(
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentConnect",
        "AgentComplete",
    ),
    components={"digest": _digest},
    web=(
        WebApp("/supervision/", _wallboard_app, "Табло", roles=SUPERVISORS, templates=TEMPLATES),
        WebApp("/appeals/", _appeals_app, "Обращения", roles=WORKPLACE_ROLES, templates=TEMPLATES),
        WebApp("/statistics/", _stats_app, "Статистика", roles=SUPERVISORS, templates=TEMPLATES),
    ),
    cli=cli,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
