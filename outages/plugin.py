"""The outages slice (issue 16): the outage register dispatchers keep
(``/outages/``: entered in the page, imported from CSV/XLSX, or put by the
grid company's dispatch system through the API), surge detection (the
component ``outage_surge``) and ``hotline outages``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Slice, WebApp

READERS = frozenset({"dispatcher", "supervisor"})
TEMPLATES = Path(__file__).with_name("templates")


def _outages_app(services: Any, runtime: Any) -> Any:
    from outages.web import create_outages_app

    return create_outages_app(services, runtime)


def _surge(runtime: Any) -> Any:
    from outages.surge import SurgeComponent

    return SurgeComponent(runtime.services)


def metadata() -> Sequence[MetaData]:
    import outages.models  # noqa: F401 - its tables share crm_bridge's Base
    from crm_bridge.models import Base

    return (Base.metadata,)


def cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from outages.cli import add_parser

    add_parser(sub)


SLICE = Slice(
    name="outages",
    components={"outage_surge": _surge},
    web=(WebApp("/outages/", _outages_app, "Отключения", roles=READERS, templates=TEMPLATES),),
    cli=cli,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
