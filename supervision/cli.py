"""``hotline supervision …``: the commands of the supervision slice (each
part adds its own subcommands)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "supervision",
        help="старший смены: обращения, сроки, статистика",
        description="Инструменты старшего смены: сроки обращений, ежедневная сводка, "
        "статистика за месяц и год.",
    )
    commands = parser.add_subparsers(
        dest="supervision_command", required=True, metavar="ДЕЙСТВИЕ", title="действия"
    )
    from supervision.appeals_cli import add_commands as appeals_commands
    from supervision.stats_cli import add_commands as stats_commands

    appeals_commands(commands)
    stats_commands(commands)
