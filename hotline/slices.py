"""The composition of the running system: the explicit list of slices.

Adding a capability is one new slice (``<package>/plugin.py`` with a
``SLICE``, see :mod:`core.slice`) and one line here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import MetaData

from autoinformer.plugin import SLICE as AUTOINFORMER
from core.slice import Component, ComponentFactory, Slice, WebApp
from crm_bridge.db import Database, MigrationSet
from crm_bridge.plugin import SLICE as CRM
from ivr.plugin import SLICE as IVR
from nodes.plugin import SLICE as NODES
from outages.plugin import SLICE as OUTAGES
from shift.plugin import SLICE as SHIFT
from sms.plugin import SLICE as SMS
from supervision.plugin import SLICE as SUPERVISION
from surveys.plugin import SLICE as SURVEYS
from telephony.callrunner import Flow
from telephony.fastagi import RouteTable

SLICES: tuple[Slice, ...] = (
    IVR,
    CRM,
    AUTOINFORMER,
    SHIFT,
    SUPERVISION,
    SURVEYS,
    SMS,
    OUTAGES,
    NODES,
)

CORE_COMPONENTS = ("fastagi", "ami", "web")
"""Started by the runtime itself; slices add theirs (``component_names``)."""


def component_names() -> tuple[str, ...]:
    """Every component a full ``hotline run`` starts."""
    return (*CORE_COMPONENTS, *(name for sl in SLICES for name in sl.components))


def component_factories() -> dict[str, ComponentFactory]:
    out: dict[str, ComponentFactory] = {}
    for sl in SLICES:
        for name, factory in sl.components.items():
            if name in out or name in CORE_COMPONENTS:
                raise ValueError(f"component {name!r} declared twice (slice {sl.name})")
            out[name] = factory
    return out


def build_routes() -> RouteTable:
    """Every slice's FastAGI routes in one table (a duplicate is refused)."""
    table = RouteTable()
    for sl in SLICES:
        for route, flow in sl.routes().items():
            table.add(str(route), flow)
    return table


def flows_by_name() -> dict[str, Flow]:
    """Route name → flow, for process AGI."""
    table = build_routes()
    return {name: flow for name in table if (flow := table.get(name)) is not None}


def ami_events() -> tuple[str, ...]:
    """Every AMI event the service's subscriptions handle (and the
    ``OriginateResponse`` that answers an async Originate)."""
    from telephony.ami import ALWAYS_RECEIVED

    return tuple(sorted({e for sl in SLICES for e in sl.ami_events} | set(ALWAYS_RECEIVED)))


def web_apps() -> tuple[WebApp, ...]:
    return tuple(app for sl in SLICES for app in sl.web)


def metadata() -> list[MetaData]:
    """The metadata of every slice's tables, each once (migrations)."""
    import webedge.models  # the web edge's tables (sessions, log-in failures, audit)

    out: list[MetaData] = [webedge.models.Base.metadata]
    for sl in SLICES:
        for md in sl.metadata():
            if all(md is not seen for seen in out):
                out.append(md)
    return out


def migrations() -> MigrationSet:
    """The whole database's migrations: this package's Alembic environment,
    the web edge's revisions and every slice's."""
    import webedge

    edge = Path(webedge.__file__).with_name("migrations")
    return MigrationSet(
        env=Path(__file__).with_name("migrations"),
        versions=(edge, *(sl.migrations for sl in SLICES if sl.migrations is not None)),
    )


def upgrade(db: Database, revision: str = "heads") -> None:
    """Migrate ``db`` with every slice's revisions (:func:`migrations`)."""
    db.upgrade(migrations(), revision)


__all__: Sequence[str] = (
    "CORE_COMPONENTS",
    "SLICES",
    "Component",
    "ami_events",
    "build_routes",
    "component_factories",
    "component_names",
    "flows_by_name",
    "metadata",
    "migrations",
    "upgrade",
    "web_apps",
)
