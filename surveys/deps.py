"""What the survey slice uses of the house's services (``hotline.services.Services``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from core.settings import Settings
from crm_bridge.db import Database

T = TypeVar("T")


class SurveyDeps(Protocol):
    settings: Settings
    db: Database

    def run_db(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...

    def run_db_background(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...
