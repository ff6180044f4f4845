"""The CRM slice: accounts, appeals and calls; the operator card, the
readings export, the AMI call listener and the billing webhook."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from core.slice import Slice, WebApp

TEMPLATES = Path(__file__).with_name("templates")


def _call_listener(runtime: Any) -> None:
    """The AMI listener (crm_bridge.ami_listener): call records and the
    operator card's live events."""
    from crm_bridge.ami_listener import CallListener

    listener = CallListener.from_services(runtime.services)
    listener.subscribe(runtime.ami)
    runtime.services.call_listener = listener


def _webhook(runtime: Any) -> Any:
    """The external CRM / billing webhook's outbox (idle without webhook_url)."""
    from crm_bridge.webhook import WebhookDelivery

    return WebhookDelivery.from_runtime(runtime)


def _retention(settings: Any, db: Any) -> Any:
    from crm_bridge.retention import Retention, RetentionPolicy

    return Retention(
        db,
        settings.spool_dir,
        [settings.data / "asterisk" / "log"],
        RetentionPolicy.from_settings(settings),
    )


def _retention_job(runtime: Any) -> Any:
    """Personal data kept no longer than configured: once a day."""
    from crm_bridge.retention import RetentionJob

    services = runtime.services
    return RetentionJob(_retention(runtime.settings, services.db), services.run_db_background)


def cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "retention",
        help="удалить записи разговоров, журналы звонков и логи старше срока хранения",
        description="Персональные данные хранятся не дольше заданных сроков (152-ФЗ): "
        "удалить то, что старше их (служба делает это раз в сутки сама).",
    )
    r.add_argument("--dry-run", action="store_true", help="только показать, что было бы удалено")
    r.set_defaults(fn=_cmd_retention)


def _cmd_retention(args: argparse.Namespace) -> int:
    from core.settings import from_cli_args
    from crm_bridge.db import Database

    settings = from_cli_args(args)
    settings.data.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    args.migrate(db)
    report = _retention(settings, db).run(dry_run=args.dry_run)
    print(report.summary())
    for path in (*report.recordings, *report.logs):
        print(f"  {path}")
    return 0


def _operator_app(services: Any, runtime: Any) -> Any:
    from crm_bridge.web import create_operator_app

    return create_operator_app(services, runtime)


def _readings_app(services: Any, runtime: Any) -> Any:
    from crm_bridge.readings_web import create_readings_app

    return create_readings_app(services, runtime)


def metadata() -> Sequence[MetaData]:
    # Tables of the modules beside models.py (outages, readings, the
    # webhook outbox) share its Base: importing them registers them.
    import crm_bridge.outages
    import crm_bridge.readings
    import crm_bridge.webhook  # noqa: F401
    from crm_bridge.models import Base

    return (Base.metadata,)


SLICE = Slice(
    name="crm_bridge",
    ami=(_call_listener,),
    ami_events=(
        "Newchannel",
        "NewCallerid",
        "Newstate",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "BridgeEnter",
        "MixMonitorStart",
        "UserEvent",
        "Hangup",
    ),
    components={"webhook": _webhook, "retention": _retention_job},
    web=(
        WebApp(
            "/operator/",
            _operator_app,
            "Рабочее место оператора",
            roles=frozenset({"operator", "supervisor"}),
            templates=TEMPLATES,
        ),
        WebApp(
            "/readings/",
            _readings_app,
            "Показания приборов учёта: выгрузка в биллинг",
            roles=frozenset({"supervisor"}),
            templates=TEMPLATES,
        ),
    ),
    cli=cli,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
