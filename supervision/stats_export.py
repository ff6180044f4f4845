"""The statistics as an XLSX workbook — the page's tables, one sheet each, with
native (openpyxl) charts: bars per month or day, pies by channel and topic —
and as CSV (the same tables one after another, as the text shows them).

Numbers stay numbers: counts as integers, shares as fractions formatted
``0.0%``, times as Excel durations (``[m]:ss``, totals ``[h]:mm:ss``), so the
charts and any further sums work in Excel. Text cells go through
``core.export.safe_row`` (no formula injection from an operator's name)."""

from __future__ import annotations

import io
from typing import Any, Final

from core.export import safe_row, safe_writer
from supervision.stats import (
    Cell,
    Duration,
    Percent,
    Statistics,
    Table,
    headline,
    tables,
)

__all__ = ["statistics_csv", "statistics_xlsx"]

SHEET_TITLES: Final = {
    "summary": "Сводка",
    "appeals": "Обращения",
    "channels": "Каналы",
    "kinds": "Виды",
    "topics": "Темы",
    "calls": "Звонки",
    "wait_handling": "Ожидание и обслуживание",
    "operators": "Операторы",
}
FIRST_ROW: Final = 3
"""Row of a sheet's headers (1: the title, 2: empty)."""


def _value(cell: Cell) -> tuple[Any, str | None]:
    if isinstance(cell, Percent):
        return cell.value, "0.0%"
    if isinstance(cell, Duration):
        if cell.seconds is None:
            return None, None
        return cell.seconds / 86400, "[h]:mm:ss" if cell.long else "[m]:ss"
    return cell, None


def _sheet(wb: Any, table: Table, *, first: bool) -> Any:
    from openpyxl.styles import Font

    ws = wb.active if first else wb.create_sheet()
    ws.title = SHEET_TITLES.get(table.key, table.key)[:31]
    ws.append(safe_row([table.title]))
    ws["A1"].font = Font(bold=True)
    ws.append([])
    ws.append(safe_row(table.headers))
    for cell in ws[FIRST_ROW]:
        cell.font = Font(bold=True)
    for row in table.rows:
        values = [_value(c) for c in row]
        ws.append(safe_row(v for v, _ in values))
        for cell, (_, fmt) in zip(ws[ws.max_row], values, strict=False):
            if fmt:
                cell.number_format = fmt
    ws.column_dimensions["A"].width = 44
    for letter in "BCDEFGHIJKL":
        ws.column_dimensions[letter].width = 16
    return ws


def _bars(
    ws: Any, title: str, columns: range, rows: int, anchor: str, *, time: bool = False
) -> None:
    from openpyxl.chart import BarChart, Reference

    chart = BarChart()
    chart.type = "col"
    chart.title = title
    chart.height, chart.width = 8, 18
    data = Reference(
        ws,
        min_col=columns.start,
        max_col=columns.stop - 1,
        min_row=FIRST_ROW,
        max_row=FIRST_ROW + rows,
    )
    cats = Reference(ws, min_col=1, min_row=FIRST_ROW + 1, max_row=FIRST_ROW + rows)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    if time:
        chart.y_axis.number_format = "[m]:ss"
    ws.add_chart(chart, anchor)


def _pie(ws: Any, title: str, rows: int, anchor: str) -> None:
    from openpyxl.chart import PieChart, Reference

    chart = PieChart()
    chart.title = title
    chart.height, chart.width = 9, 14
    data = Reference(ws, min_col=2, min_row=FIRST_ROW, max_row=FIRST_ROW + rows)
    cats = Reference(ws, min_col=1, min_row=FIRST_ROW + 1, max_row=FIRST_ROW + rows)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    ws.add_chart(chart, anchor)


def statistics_xlsx(s: Statistics) -> bytes:
    """The workbook of the period's statistics (the sheets of :data:`SHEET_TITLES`)."""
    from openpyxl import Workbook

    wb = Workbook()
    sheets: dict[str, Any] = {}
    for i, table in enumerate(tables(s)):
        sheets[table.key] = _sheet(wb, table, first=i == 0)
    sheets["summary"].append([])
    sheets["summary"].append(safe_row([headline(s)]))
    buckets = len(s.period.buckets)
    per = "по месяцам" if s.period.month is None else "по дням"
    _bars(sheets["appeals"], f"Обращения {per}", range(2, 4), buckets, "H3")
    _bars(sheets["calls"], f"Звонки {per}", range(3, 6), buckets, "K3")
    _bars(
        sheets["wait_handling"],
        "Среднее время ожидания и обслуживания",
        range(2, 4),
        buckets,
        "E3",
        time=True,
    )
    channels = len(sheets["channels"]["A"]) - FIRST_ROW - 1  # without «Всего»
    _pie(sheets["channels"], "Обращения по каналам", channels, "E3")
    topics = len(sheets["topics"]["A"]) - FIRST_ROW
    _pie(sheets["topics"], "Обращения по темам", topics, "E3")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def statistics_csv(s: Statistics, *, delimiter: str = ";") -> bytes:
    """Every table as text (UTF-8 with BOM, ``;``: opens in Excel), a blank
    line between tables."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = safe_writer(out, delimiter=delimiter)
    writer.writerow([headline(s)])
    for table in tables(s):
        writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.headers)
        writer.writerows(table.text_rows())
    return out.getvalue().encode("utf-8")
