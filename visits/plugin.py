"""The visits slice (REQ-T11, issue 16 item 5): booking a visit to a
customer office — offices with their hours, days off, slot length and
capacity (``/visits/``, supervisors), the caller's booking, move and
cancellation from the voice menu (route ``visits``, menu key 5, after the
identity gate, at any hour), the operator's panel on the caller's card, the
customer's confirmation by the channel on file and the reminder the day
before (component ``visit_notices``), the office's printable day list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Panel, Slice, WebApp
from telephony.callrunner import Flow
from telephony.contract import Context, Next, Route, Var

SUPERVISORS = frozenset({"supervisor"})
WORKPLACE_ROLES = frozenset({"operator", "supervisor"})
TEMPLATES = Path(__file__).with_name("templates")


def routes() -> Mapping[str, Flow]:
    from visits.flow import flow

    return {Route.VISITS: flow}


def dialplan(settings: Any) -> str:
    """The visit booking's context (the menu's ``HOTLINE_NEXT=visits``)."""
    agi = f"${{{Var.AGI}}}/{Route.VISITS}"
    nxt = f'${{IF($["${{{Var.NEXT}}}" = ""]?{Next.HANGUP}:${{{Var.NEXT}}})}}'
    return f"""
; Booking a visit to a customer office (REQ-T11, visits/flow.py).
[{Context.VISITS}]
exten => s,1,Set(CHANNEL(language)=${{{Var.LANGUAGE}}})
 same => n,Set({Var.STATUS}=)
 same => n,Set({Var.NEXT}=)
 same => n,AGI({agi})
 same => n,GotoIf($["${{AGISTATUS}}" != "SUCCESS" | "${{{Var.STATUS}}}" != "OK"]?hotline-fallback,s,1)
 same => n,Goto(hotline-next,{nxt},1)
"""


def _asterisk_conf(settings: Any) -> dict[str, str]:
    return {"extensions.conf": dialplan(settings)}


def _web(services: Any, runtime: Any) -> Any:
    from visits.web import create_visits_app

    return create_visits_app(services, runtime)


def _notifier(runtime: Any) -> Any:
    from visits.notices import VisitNotifier

    return VisitNotifier(runtime.services)


def metadata() -> Sequence[MetaData]:
    import visits.models  # noqa: F401 - its tables share crm_bridge's Base
    from crm_bridge.models import Base

    return (Base.metadata,)


SLICE = Slice(
    name="visits",
    routes=routes,
    asterisk_conf=_asterisk_conf,
    components={"visit_notices": _notifier},
    web=(
        WebApp(
            "/visits/",
            _web,
            "Офисы и запись на приём",
            roles=SUPERVISORS,
            templates=TEMPLATES,
            panels=(
                Panel(
                    "workplace", "visits/panel.html", "/visits/static/visits.js", WORKPLACE_ROLES
                ),
            ),
        ),
    ),
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
