"""The CRM's services, built once per process from the settings, so every
flow, page, listener and job uses the same company rules: the production
calendar with the configured extra holidays and working days, the time zone,
and the appeal deadlines counted on them.

Built by the composition root (``hotline.services.Services.create``) and
handed on typed; nothing here constructs an ``AppealService`` with default
rules behind the settings' back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from core.settings import Settings
from crm_bridge.appeals import AppealService
from crm_bridge.calendar_ru import ProductionCalendar
from crm_bridge.calls import CallService
from crm_bridge.db import Database
from crm_bridge.deadlines import DeadlineRules
from crm_bridge.live import EventBus, RemoteCalls

if TYPE_CHECKING:
    from crm_bridge.ami_listener import CallListener
    from telephony.ami import AmiLike

T = TypeVar("T")


def company_calendar(settings: Settings) -> ProductionCalendar:
    """The production calendar with the company's own holidays and working days."""
    return ProductionCalendar(
        extra_holidays=frozenset(date.fromisoformat(d) for d in settings.extra_holidays),
        extra_working_days=frozenset(date.fromisoformat(d) for d in settings.extra_working_days),
    )


@dataclass(frozen=True)
class CrmServices:
    db: Database
    calendar: ProductionCalendar
    rules: DeadlineRules
    """Appeal deadlines (REQ-A5, T6) in the company's zone and calendar."""
    appeals: AppealService
    calls: CallService

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> CrmServices:
        calendar = company_calendar(settings)
        rules = DeadlineRules(tz=settings.timezone, calendar=calendar)
        return cls(
            db=db,
            calendar=calendar,
            rules=rules,
            appeals=AppealService(db, rules=rules),
            calls=CallService(db),
        )


class CrmDeps(Protocol):
    """What the CRM slice's pages, call listener and jobs use of the house's
    services (``hotline.services.Services`` gives it)."""

    settings: Settings
    db: Database
    crm: CrmServices
    event_bus: EventBus
    call_listener: CallListener | None
    cluster: RemoteCalls | None
    """Hangs up another node's call (the nodes slice's bridge; None on one node)."""

    @property
    def ami(self) -> AmiLike | None: ...

    def run_db(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...

    def run_db_background(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...
