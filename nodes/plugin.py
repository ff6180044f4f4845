"""The nodes slice (issue 13 items 9–10): several nodes, one contact centre.

Each node beats in the shared database; the others take a dead node's
claimed contacts, open calls and campaigns over (:mod:`nodes.failover`).
Live events and actions on calls cross nodes through PostgreSQL's
``LISTEN``/``NOTIFY`` (:mod:`nodes.bridge`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Slice


def _watch(runtime: Any) -> Any:
    from nodes.component import NodeWatch

    return NodeWatch(runtime.services)


def _bridge(runtime: Any) -> Any:
    from nodes.bridge import ClusterBridge

    return ClusterBridge(runtime.services)


def metadata() -> Sequence[MetaData]:
    import nodes.models  # noqa: F401 - its table shares crm_bridge's Base
    from crm_bridge.models import Base

    return (Base.metadata,)


def cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nodes.cli import add_parser

    add_parser(sub)


SLICE = Slice(
    name="nodes",
    components={"nodes": _watch, "cluster": _bridge},
    cli=cli,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
