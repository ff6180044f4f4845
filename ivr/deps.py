"""What the IVR's call flows use of the house's services: the ``deps`` every
flow receives (``hotline.services.Services`` gives it; mypy checks that
there). The company's rules come built once from the settings: the working
hours and calendar, the appeal deadlines and zone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.durable import DurableWrites
from crm_bridge.services import CrmServices
from ivr.schedule import WorkingHours
from telephony.channel import PromptResolver

if TYPE_CHECKING:
    from ivr.speech_lang import SpeechComponent

T = TypeVar("T")


class IvrDeps(Protocol):
    settings: Settings
    db: Database
    crm: CrmServices
    hours: WorkingHours
    resolver: PromptResolver
    spool_ast: str
    speech: SpeechComponent | None
    durable: DurableWrites
    """The call's row, journal and appeal: to the database or the spool (issue 13)."""

    def run_db(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...

    def run_db_background(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...
