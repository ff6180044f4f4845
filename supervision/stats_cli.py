"""``hotline supervision stats --year Y [--month M] [--xlsx FILE] [--recompute]``: the
statistics of a year or a month (REQ-A10, REQ-T7) as Russian text tables on
stdout — the same tables as ``/statistics/`` — and, with ``--xlsx``, the
workbook with its charts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from supervision.stats import StatisticsError, Table

__all__ = ["add_commands", "cmd_stats", "format_table"]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``stats``."""
    p = commands.add_parser("stats", help="статистика за год или месяц (таблицы, XLSX)")
    p.add_argument("--year", type=int, required=True, metavar="ГОД", help="год, например 2026")
    p.add_argument(
        "--month", type=int, metavar="МЕСЯЦ", help="1–12; без него — весь год по месяцам"
    )
    p.add_argument("--xlsx", type=Path, metavar="ФАЙЛ", help="записать и книгу Excel сюда")
    p.add_argument(
        "--recompute",
        action="store_true",
        help="забыть сохранённые сводки закрытых месяцев и посчитать их заново "
        "(после загрузки или исправления звонков закрытого месяца)",
    )
    p.set_defaults(fn=cmd_stats)


def format_table(table: Table) -> str:
    """The table as aligned text: the first column left, numbers right."""
    rows = [list(table.headers), *table.text_rows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(table.headers))]
    lines = [table.title]
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_stats(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from core.settings import from_cli_args
    from crm_bridge.db import Database
    from supervision import stats

    out = out or sys.stdout
    settings = from_cli_args(args)
    db = Database(settings.db_url)
    try:
        migrate = getattr(args, "migrate", None)
        if migrate is not None:
            migrate(db)
        if args.recompute:
            dropped = stats.drop_rollups(db)
            print(f"Забыто сводок закрытых месяцев: {dropped}", file=out)
        try:
            s = stats.compute(db, args.year, args.month, tz=settings.timezone)
        except StatisticsError as exc:
            print(f"hotline supervision stats: {exc}", file=sys.stderr)
            return 2
        print(stats.headline(s), file=out)
        print(stats.channels_sentence(s), file=out)
        for table in stats.tables(s):
            print(file=out)
            print(format_table(table), file=out)
        if args.xlsx is not None:
            from supervision.stats_export import statistics_xlsx

            args.xlsx.write_bytes(statistics_xlsx(s))
            print(f"\nКнига Excel: {args.xlsx}", file=out)
        return 0
    finally:
        db.dispose()
