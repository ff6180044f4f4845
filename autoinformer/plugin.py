"""The autoinformer slice (REQ-O1–O11): campaigns, the outbound dialer and
its message flow, e-mail, the dispatcher console."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Slice, WebApp
from telephony.callrunner import Flow
from telephony.contract import Route


def routes() -> Mapping[str, Flow]:
    from autoinformer.flow import outbound_message

    return {Route.OUTBOUND_MESSAGE: outbound_message}


def _dialer_ami(runtime: Any) -> None:
    """The dialer subscribes to AMI when built (before AMI starts); the
    ``dialer`` component is the same object."""
    if "dialer" in runtime.components:
        from autoinformer.dialer import build_dialer

        build_dialer(runtime)


def _dialer(runtime: Any) -> Any:
    dialer = runtime.services.dialer
    if dialer is None:
        raise RuntimeError("the dialer component needs the ami component")
    return dialer


def _email(runtime: Any) -> Any:
    """E-mail autoinforming (REQ-O11): idle unless a campaign enables it."""
    from autoinformer.email import EmailSender

    return EmailSender.from_runtime(runtime)


def _dispatcher_app(services: Any, runtime: Any) -> Any:
    from autoinformer.web import create_dispatcher_app

    return create_dispatcher_app(services, runtime)


def cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from autoinformer.cli import add_campaign_parser

    add_campaign_parser(sub)


def metadata() -> Sequence[MetaData]:
    import autoinformer.models  # noqa: F401 - its tables share crm_bridge's Base
    from crm_bridge.models import Base

    return (Base.metadata,)


def _card() -> None:
    """The operator's card shows a transferred callee's campaign and account."""
    from autoinformer.card import describe_outbound
    from crm_bridge.card import describe_outbound_with

    describe_outbound_with(describe_outbound)


_card()

SLICE = Slice(
    name="autoinformer",
    routes=routes,
    ami=(_dialer_ami,),
    ami_events=("Shutdown", "FullyBooted", "Hangup", "Newstate"),
    components={"dialer": _dialer, "email": _email},
    web=(
        WebApp(
            "/dispatcher/",
            _dispatcher_app,
            "Пульт диспетчера (автоинформатор)",
            roles=frozenset({"dispatcher", "supervisor"}),
            templates=Path(__file__).with_name("templates"),
        ),
    ),
    cli=cli,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
