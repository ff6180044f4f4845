"""What the shift slice uses of the house's services (``hotline.services.Services``
gives it; its ``TYPE_CHECKING`` check proves so)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.live import EventBus, RemoteCalls
from crm_bridge.services import CrmServices

if TYPE_CHECKING:
    from shift.callbacks import OpenHours
    from shift.presence import ShiftService

T = TypeVar("T")


class ShiftDeps(Protocol):
    settings: Settings
    db: Database
    crm: CrmServices
    event_bus: EventBus
    shift: ShiftService | None
    cluster: RemoteCalls | None
    """Carries a transfer out on the node whose Asterisk has the call (several nodes)."""

    @property
    def hours(self) -> OpenHours: ...

    def run_db(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...
