"""The SMS slice's parts built from the settings: the incoming-message
handler, the outbox, the Kannel client and the sender component."""

from __future__ import annotations

from typing import Any

from crm_bridge.identify import Identifier
from crm_bridge.readings import ReadingService
from sms.campaigns import CampaignSms, CampaignSmsWorker, SurveyReplies
from sms.deps import SmsDeps
from sms.inbound import SmsInbound
from sms.kannel import KannelClient
from sms.notices import NoticeBridge
from sms.outbox import Outbox
from sms.sender import SmsSender

__all__ = [
    "build_campaign_worker",
    "build_client",
    "build_inbound",
    "build_sender",
    "callback_base",
    "inbound_key",
    "sendsms_password",
]


def inbound_key(settings: Any) -> str:
    """The key Kannel's requests to the hotline carry (generated once if not set)."""
    return str(settings.sms_inbound_key or settings.generated_secret("sms-inbound"))


def sendsms_password(settings: Any) -> str:
    return str(settings.sms_kannel_password or settings.generated_secret("kannel-sendsms"))


def callback_base(settings: Any, web_url: str = "") -> str:
    """How Kannel reaches this node's web server (no trailing slash)."""
    host = settings.web_host if settings.web_host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    base = settings.sms_callback_url or web_url or f"http://{host}:{settings.web_port}"
    return str(base).rstrip("/")


def build_inbound(services: SmsDeps) -> SmsInbound:
    s = services.settings
    return SmsInbound(
        services.db,
        readings=ReadingService.from_settings(services.db, s),
        appeals=services.crm.appeals,
        identifier=Identifier(services.db),
        service_number=s.sms_sender,
        survey=SurveyReplies(services.db),
    )


def build_client(services: SmsDeps, web_url: str = "") -> KannelClient | None:
    s = services.settings
    if not s.sms_kannel_url:
        return None
    return KannelClient(
        s.sms_kannel_url,
        username=s.sms_kannel_user,
        password=sendsms_password(s),
        sender=s.sms_sender,
        dlr_url=f"{callback_base(s, web_url)}/sms/kannel/dlr?key={inbound_key(s)}",
        max_parts=s.sms_max_parts,
    )


def build_sender(services: SmsDeps, web_url: str = "") -> SmsSender:
    s = services.settings
    bridge = NoticeBridge(
        services.db,
        zone=services.crm.rules.zone,
        service_number=s.sms_sender,
        max_parts=s.sms_max_parts,
    )
    return SmsSender(
        Outbox(services.db), build_client(services, web_url), services.run_db, notices=bridge
    )


def build_campaign_worker(services: SmsDeps, wake: Any = None) -> CampaignSmsWorker:
    """The campaigns' SMS channel (:mod:`sms.campaigns`), counted on the
    company's production calendar when the house has one."""
    s = services.settings
    store = CampaignSms(
        services.db,
        node=s.node_name,
        campaigns=getattr(services, "campaigns", None),
        service_number=s.sms_sender,
    )
    return CampaignSmsWorker(store, services.run_db, wake=wake)
