"""What the supervision slice uses of the house's services
(``hotline.services.Services`` gives it; its ``TYPE_CHECKING`` check proves so)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.live import EventBus
from crm_bridge.services import CrmServices
from telephony.ami import AmiClient

if TYPE_CHECKING:
    from shift.presence import ShiftService
    from supervision.wallboard import Wallboard

T = TypeVar("T")


class SupervisionDeps(Protocol):
    settings: Settings
    db: Database
    crm: CrmServices
    event_bus: EventBus
    ami: AmiClient | None
    shift: ShiftService | None
    wallboard: Wallboard | None

    def run_db(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...

    def run_db_background(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...
