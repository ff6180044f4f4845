"""What the autoinformer's flow, dialer, e-mail sender and console use of the
house's services (``hotline.services.Services`` gives it; mypy checks that
there)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from autoinformer.campaigns import CampaignService
from autoinformer.monitor import Monitor
from core.settings import Settings
from crm_bridge.db import Database
from crm_bridge.services import CrmServices
from telephony.channel import PromptResolver

if TYPE_CHECKING:
    from autoinformer.dialer import Dialer
    from autoinformer.email import EmailSender

T = TypeVar("T")


class AutoinformerDeps(Protocol):
    settings: Settings
    db: Database
    crm: CrmServices
    campaigns: CampaignService
    """Built once with the company's production calendar (extra holidays)."""
    campaign_monitor: Monitor
    resolver: PromptResolver
    dialer: Dialer | None
    email_sender: EmailSender | None

    def run_db(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...
