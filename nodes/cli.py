"""``hotline nodes``: the nodes of the contact centre and their heartbeats."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("nodes", help="узлы контакт-центра: пульс и переход работы")
    p.set_defaults(fn=cmd_nodes)


def cmd_nodes(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from core.settings import from_cli_args
    from crm_bridge.db import Database
    from nodes.failover import NodeRegistry

    out = out or sys.stdout
    settings = from_cli_args(args)
    db = Database(settings.db_url)
    try:
        migrate = getattr(args, "migrate", None)
        if migrate is not None:
            migrate(db)
        registry = NodeRegistry(
            db,
            settings.node_name,
            dead_after=float(settings.node_dead_after_seconds),
            call_grace=float(settings.node_call_grace_seconds),
        )
        states = registry.nodes()
        if not states:
            print("Узлов нет: ни один узел ещё не запускался.", file=out)
            return 0
        for n in states:
            status = "работает" if n.alive else "не отвечает"
            line = f"{n.node}: {status}, пульс {n.age_seconds:.0f} с назад ({n.host}, pid {n.pid})"
            if not n.alive and n.taken_over_by:
                line += f"; работу принял {n.taken_over_by}"
            print(line, file=out)
        return 0
    finally:
        db.engine.dispose()
