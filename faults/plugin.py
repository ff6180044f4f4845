"""The faults slice (issue 13): what keeps every call an appeal when the
database, the disk or the service fails — the spool's replayer (the spool
itself is the call path's, ``core.spool`` and ``crm_bridge.durable``), the
periodic sweep that closes calls nobody saw end and reconstructs the
appeals of interrupted calls, and the record of those reconstructions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Slice


def _replayer(runtime: Any) -> Any:
    from faults.replay import SpoolReplayer

    return SpoolReplayer.from_runtime(runtime)


def _sweeper(runtime: Any) -> Any:
    from faults.sweep import Sweeper

    return Sweeper.from_runtime(runtime)


def metadata() -> Sequence[MetaData]:
    from faults.models import Base

    return (Base.metadata,)


SLICE = Slice(
    name="faults",
    components={"spool-replay": _replayer, "sweep": _sweeper},
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
