"""The SMS slice (issue 18): text messages through Kannel — meter readings
in (REQ-T14), replies out with delivery reports, every message an appeal of
channel SMS; the campaigns' SMS channel and survey replies (component
``sms-campaigns``, :mod:`sms.campaigns`); the staff's journal ``/sms/``;
``hotline sms`` renders Kannel's configuration and runs a local gateway with
the fake SMSC."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Slice, WebApp


def _sender(runtime: Any) -> Any:
    from sms.service import build_sender

    return build_sender(runtime.services)


def _campaigns(runtime: Any) -> Any:
    """Campaign messages (:mod:`sms.campaigns`); the sender is woken when
    some are queued (the ``sms`` component, when this node runs it)."""
    from sms.service import build_campaign_worker

    sender = runtime.extra.get("sms")  # started just before (the same slice, in order)
    return build_campaign_worker(runtime.services, getattr(sender, "wake", None))


def _app(services: Any, runtime: Any) -> Any:
    from sms.web import create_sms_app

    return create_sms_app(services, runtime)


def metadata() -> Sequence[MetaData]:
    import sms.models  # noqa: F401 - its table shares crm_bridge's Base
    import supervision.models  # noqa: F401 - appeal_notices, which an SMS may carry
    from crm_bridge.models import Base

    return (Base.metadata,)


def cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from sms.cli import add_parser

    add_parser(sub)


SLICE = Slice(
    name="sms",
    components={"sms": _sender, "sms-campaigns": _campaigns},
    web=(
        WebApp(
            "/sms/",
            _app,
            "СМС",
            roles=frozenset({"supervisor"}),
            templates=Path(__file__).with_name("templates"),
        ),
    ),
    cli=cli,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
