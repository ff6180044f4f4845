"""The survey slice (REQ-A13): the CSI/NPS survey after an operator's call
(route ``survey`` and its dialplan), and the report of NPS and CSI per month
and per operator (``/surveys/``, with XLSX)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Slice, WebApp
from telephony.callrunner import Flow
from telephony.contract import Context, Route, Var

SUPERVISORS = frozenset({"supervisor"})
TEMPLATES = Path(__file__).with_name("templates")


def routes() -> Mapping[str, Flow]:
    from surveys.flow import flow

    return {Route.SURVEY: flow}


def dialplan(settings: Any) -> str:
    """The survey's contexts; ``hotline-after-call`` only when the survey
    follows every operator's call (``survey_after_call``)."""
    agi = f"${{{Var.AGI}}}/{Route.SURVEY}"
    text = f"""
; The CSI/NPS survey (REQ-A13, surveys/flow.py). A failure of the survey
; only ends the call: the caller's business was done.
[{Context.SURVEY}]
exten => s,1,Set(CHANNEL(language)=${{{Var.LANGUAGE}}})
 same => n,Set({Var.STATUS}=)
 same => n,AGI({agi})
 same => n,Hangup()
exten => transfer,1,Set(CHANNEL(language)=${{{Var.LANGUAGE}}})
 same => n,Set({Var.STATUS}=)
 same => n,AGI({agi},transfer)
 same => n,Hangup()
"""
    if settings.survey_after_call:
        text += f"""
[{Context.AFTER_CALL}]
exten => s,1,Goto({Context.SURVEY},s,1)
"""
    return text


def _asterisk_conf(settings: Any) -> dict[str, str]:
    return {"extensions.conf": dialplan(settings)}


def _report_app(services: Any, runtime: Any) -> Any:
    from surveys.web import create_surveys_app

    return create_surveys_app(services, runtime)


def metadata() -> Sequence[MetaData]:
    import surveys.models  # noqa: F401 - its table shares crm_bridge's Base
    from crm_bridge.models import Base

    return (Base.metadata,)


SLICE = Slice(
    name="surveys",
    routes=routes,
    asterisk_conf=_asterisk_conf,
    web=(
        WebApp(
            "/surveys/",
            _report_app,
            "Оценка качества (NPS, CSI)",
            roles=SUPERVISORS,
            templates=TEMPLATES,
        ),
    ),
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
