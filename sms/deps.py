"""What the SMS slice uses of the house's services (``hotline.services.Services``
gives it; its ``TYPE_CHECKING`` check proves so)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.services import CrmServices

T = TypeVar("T")


class SmsDeps(Protocol):
    settings: Settings
    db: Database
    crm: CrmServices

    def run_db(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...
