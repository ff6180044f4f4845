"""``hotline supervision …`` commands of the appeals part (issue 14):

* ``due [--hours 24]`` — the overdue appeals, those due within the hours,
  and the REQ-A12 measures terms (numbers, terms, executors; no applicants'
  personal data);
* ``digest [--send]`` — today's digest of deadlines; printed, or with
  ``--send`` mailed to ``digest_to`` once a day (not again if a node or an
  earlier run sent it: the day is remembered in the database).
"""

from __future__ import annotations

import argparse
import smtplib
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from core.settings import Settings
    from crm_bridge.db import Database
    from supervision.life import AppealLife

__all__ = ["add_commands", "cmd_digest", "cmd_due"]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds this part's subcommands."""
    due = commands.add_parser(
        "due", help="просроченные обращения и те, чей срок подходит (REQ-A5, A12)"
    )
    due.add_argument(
        "--hours", type=int, default=24, metavar="Ч", help="срок в ближайшие Ч часов (24)"
    )
    due.set_defaults(fn=cmd_due)
    digest = commands.add_parser("digest", help="ежедневная сводка сроков обращений")
    digest.add_argument(
        "--send",
        action="store_true",
        help="отправить письмом на digest_to (раз в сутки, отправка запоминается)",
    )
    digest.set_defaults(fn=cmd_digest)


def _life(args: argparse.Namespace) -> tuple[Settings, Database, AppealLife]:
    from core.settings import from_cli_args
    from crm_bridge.db import Database
    from crm_bridge.services import CrmServices
    from supervision.life import AppealLife

    settings = from_cli_args(args)
    settings.data.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    args.migrate(db)
    crm = CrmServices.from_settings(db, settings)
    return settings, db, AppealLife(db, crm.appeals, node=settings.node_name)


def cmd_due(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from crm_bridge.card import STATUS_RU
    from supervision.notices import last_day

    out = out or sys.stdout
    _, db, life = _life(args)
    try:
        hours = max(1, int(args.hours))
        sections = [
            ("Просрочены", life.overdue(), "effective_due_at"),
            (
                f"Срок ответа в ближайшие {hours} ч",
                life.due_within(timedelta(hours=hours)),
                "effective_due_at",
            ),
            (
                "Меры по обратной связи (REQ-A12)",
                life.measures_due(timedelta(hours=hours)),
                "measures_due_at",
            ),
        ]
        for title, items, field in sections:
            print(f"{title}: {len(items)}", file=out)
            for a in items:
                due = getattr(a, field)
                day = last_day(due, life.zone).strftime("%d.%m.%Y") if due else "—"
                who = a.passed_to or "не передано"
                status = STATUS_RU.get(a.status, a.status.value)
                print(f"  {a.number}\t{day}\t{status}\t{who}", file=out)
        return 0
    finally:
        db.dispose()


def cmd_digest(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from autoinformer.email import SmtpConfig
    from supervision.digest import DigestStore, build_digest, deliver_digest, recipients

    out = out or sys.stdout
    settings, db, life = _life(args)
    try:
        if not args.send:
            digest = build_digest(life)
            print(f"Тема: {digest.subject}\n\n{digest.body}", file=out)
            return 0
        to = recipients(settings.digest_to)
        if not to:
            print(
                "hotline supervision digest: digest_to не задан — отправлять некому",
                file=sys.stderr,
            )
            return 2
        store = DigestStore(db, settings.node_name)
        try:
            sent = deliver_digest(life, store, SmtpConfig.from_settings(settings), to)
        except (OSError, smtplib.SMTPException) as exc:
            print(
                f"hotline supervision digest: не отправлено ({type(exc).__name__})", file=sys.stderr
            )
            return 1
        if sent is None:
            print("Сводка за сегодня уже отправлена.", file=out)
        else:
            print(f"Сводка отправлена: {len(to)} адресатов ({sent.subject}).", file=out)
        return 0
    finally:
        db.dispose()
