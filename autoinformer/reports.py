"""Campaign reports (REQ-O3): CSV, XLSX with charts, and the data of the
console's SVG chart (drawn by a template)."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from autoinformer.campaigns import RESULT_TITLES, CampaignService, Kind
from autoinformer.causes import cause_title
from autoinformer.channels import CHANNEL_TITLES
from core.export import safe_append, safe_writer

__all__ = ["Bar", "Chart", "channel_summary", "chart", "csv_report", "xlsx_report"]

CHART_RESULTS: Final = (
    "completed",
    "transferred",
    "hungup",
    "machine",
    "busy",
    "noanswer",
    "congestion",
    "failed",
    "lost",
)
COLOURS: Final = {
    "completed": "#2e7d32",
    "transferred": "#1565c0",
    "hungup": "#f9a825",
    "machine": "#6d4c41",
    "busy": "#c62828",
    "noanswer": "#9e9e9e",
    "congestion": "#ad1457",
    "failed": "#000000",
    "lost": "#ff7043",
}


def _zone(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else fallback
    except (KeyError, ValueError):
        return fallback


def _naive(dt: datetime | None, zone: ZoneInfo) -> datetime | None:
    """``dt`` as the wall-clock time in ``zone``, whole seconds (a spreadsheet
    date-time cell has no zone: the column's title names it)."""
    if dt is None:
        return None
    return dt.astimezone(zone).replace(tzinfo=None, microsecond=0)


HEADER: Final = [
    "Попытка",
    "Контакт",
    "Абонент",
    "Телефон / адрес",
    "Лицевой счёт",
    "Канал",
    "№ попытки",
    "Начало (время центра)",
    "Ответ (время центра)",
    "Окончание (время центра)",
    "Начало (время абонента)",
    "Окончание (время абонента)",
    "Часовой пояс абонента",
    "Результат",
    "Положительный",
    "Положил трубку на секунде",
    "AMD",
    "Причина",
    "Примечание",
]
DATE_COLUMNS: Final = frozenset(h for h in HEADER if h.startswith(("Начало", "Ответ", "Окончание")))

PENDING_HEADER: Final = [
    "Контакт",
    "Абонент",
    "Телефон",
    "Лицевой счёт",
    "Состояние",
    "Попыток",
    "Почему не звоним",
    "Следующая попытка (время абонента)",
    "Следующая попытка (время центра)",
    "Часовой пояс абонента",
]

DATETIME_FORMAT: Final = "DD.MM.YYYY HH:MM:SS"
"""How a date-time cell is shown (the value is a real date-time)."""


def _rows(service: CampaignService, campaign_id: int, tz: str) -> list[list[object]]:
    """The attempts, one row each; times as naive date-times (the centre's
    zone ``tz`` and the customer's), ``None`` where there is none."""
    centre = ZoneInfo(tz)
    contacts = {c.id: c for c in service.contacts(campaign_id)}
    out: list[list[object]] = []
    for a in service.attempts(campaign_id):
        c = contacts.get(a.contact_id)
        variables = c.variables if c else {}
        own = _zone(c.timezone if c else None, centre)
        out.append(
            [
                a.id,
                a.contact_id,
                str(variables.get("name") or ""),
                a.phone or (c.email if c else ""),
                str(variables.get("account") or ""),
                CHANNEL_TITLES.get(a.channel, a.channel),
                a.attempt_no,
                _naive(a.created_at, centre),
                _naive(a.answered_at, centre),
                _naive(a.ended_at, centre),
                _naive(a.created_at, own),
                _naive(a.ended_at, own),
                own.key,
                RESULT_TITLES.get(a.result or "", a.result or "в процессе"),
                "да" if a.positive else "нет",
                a.hangup_second,
                a.amd_status or "",
                cause_title(
                    a.originate_reason,
                    a.hangup_cause,
                    answered=a.answered_at is not None,
                ),
                a.note or "",
            ]
        )
    return out


def _pending_rows(service: CampaignService, campaign_id: int, tz: str) -> list[list[object]]:
    """Contacts not finished yet with why they wait and their next attempt."""
    from autoinformer.lists import CONTACT_STATUS_TITLES, REFUSAL_TITLES

    centre = ZoneInfo(tz)
    out: list[list[object]] = []
    for c in service.contacts(campaign_id):
        if c.status not in ("pending", "dialing"):
            continue
        own = _zone(c.timezone, centre)
        out.append(
            [
                c.id,
                str(c.variables.get("name") or ""),
                c.phone,
                str(c.variables.get("account") or ""),
                CONTACT_STATUS_TITLES.get(c.status, c.status),
                c.attempts,
                REFUSAL_TITLES.get(c.refusal or "", c.refusal or ""),
                _naive(c.next_at, own),
                _naive(c.next_at, centre),
                own.key,
            ]
        )
    return out


def _text(value: object) -> object:
    """A CSV cell: date-times as ДД.ММ.ГГГГ ЧЧ:ММ:СС, None as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M:%S")
    return value


def csv_report(service: CampaignService, campaign_id: int, tz: str = "Europe/Moscow") -> bytes:
    """The attempts as CSV (UTF-8 with BOM, ``;``): the XLSX's «Попытки» sheet."""
    buf = io.StringIO()
    w = safe_writer(buf, delimiter=";")
    c = service.get(campaign_id)
    st = service.stats(campaign_id)
    w.writerow(["Кампания", c.name, Kind(c.kind).label])
    w.writerow(
        [
            "Контактов",
            st.total,
            "Завершено",
            st.finished,
            "Положительных",
            st.positive,
            "Доля положительных",
            f"{st.positive_rate:.1%}".replace(".", ","),
        ]
    )
    w.writerow([f"Время центра: {tz}"])
    w.writerow(HEADER)
    w.writerows([_text(v) for v in row] for row in _rows(service, campaign_id, tz))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _finish_sheet(ws: Any, header_row: int = 1) -> None:
    """Widths from the contents, an auto-filter and a frozen header row."""
    from openpyxl.utils import get_column_letter

    widths: dict[int, int] = {}
    for row in ws.iter_rows(min_row=header_row):
        for cell in row:
            if cell.value is None:
                continue
            n = 19 if isinstance(cell.value, datetime) else len(str(cell.value))
            widths[cell.column] = max(widths.get(cell.column, 0), n)
    for col, n in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = min(60, max(8, n + 2))
    if ws.max_row >= header_row and ws.max_column:
        ws.auto_filter.ref = (
            f"A{header_row}:{get_column_letter(ws.max_column)}{max(ws.max_row, header_row)}"
        )
        ws.freeze_panes = f"A{header_row + 1}"


def _table(ws: Any, header: list[str], rows: list[list[object]]) -> None:
    from openpyxl.styles import Font

    safe_append(ws, header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        safe_append(ws, row)
    for col in ws.iter_cols(min_row=2):
        for cell in col:
            if isinstance(cell.value, datetime):
                cell.number_format = DATETIME_FORMAT
    _finish_sheet(ws)


def xlsx_report(service: CampaignService, campaign_id: int, tz: str = "Europe/Moscow") -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, PieChart, Reference

    c = service.get(campaign_id)
    st = service.stats(campaign_id)
    centre = ZoneInfo(tz)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Итоги"
    safe_append(ws, ["Кампания", c.name])
    safe_append(ws, ["Вид", Kind(c.kind).label])
    safe_append(ws, ["Утвердил", c.approved_by or "", _naive(c.approved_at, centre)])
    ws.cell(row=3, column=3).number_format = DATETIME_FORMAT
    safe_append(ws, ["Контактов", st.total])
    safe_append(ws, ["Завершено", st.finished])
    safe_append(ws, ["Положительных звонков", st.positive])
    safe_append(ws, ["Доля положительных", round(st.positive_rate, 4)])
    ws.cell(row=7, column=2).number_format = "0.0%"
    safe_append(ws, ["Время центра", tz])
    safe_append(ws, [])
    safe_append(ws, ["Результат", "Контактов"])
    first = ws.max_row + 1
    for result, n in sorted(st.final.items()):
        safe_append(ws, [RESULT_TITLES.get(result, result), n])
    last = ws.max_row
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 30
    ws.column_dimensions["C"].width = 20
    if last >= first:
        pie = PieChart()
        pie.title = "Итоговые результаты"
        pie.add_data(
            Reference(ws, min_col=2, min_row=first - 1, max_row=last), titles_from_data=True
        )
        pie.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
        ws.add_chart(pie, "E2")

    by_channel = channel_summary(service, campaign_id)
    if by_channel:
        safe_append(ws, [])
        safe_append(ws, ["Канал", "Попыток", "Положительных", "Результаты"])
        for title, attempts, positive, results in by_channel:
            safe_append(ws, [title, attempts, positive, results])

    hours = wb.create_sheet("По часам")
    hours.append(["Час", *[RESULT_TITLES[r] for r in CHART_RESULTS]])
    timeline = service.timeline(campaign_id, tz=tz)
    for start, counts in timeline:
        hours.append([start.replace(tzinfo=None), *[counts.get(r, 0) for r in CHART_RESULTS]])
        hours.cell(row=hours.max_row, column=1).number_format = "DD.MM HH:00"
    hours.column_dimensions["A"].width = 14
    hours.freeze_panes = "A2"
    if timeline:
        bar = BarChart()
        bar.type = "col"
        bar.grouping = "stacked"
        bar.overlap = 100
        bar.title = "Результаты звонков по часам"
        bar.y_axis.title = "Звонков"
        data = Reference(
            hours, min_col=2, max_col=len(CHART_RESULTS) + 1, min_row=1, max_row=hours.max_row
        )
        bar.add_data(data, titles_from_data=True)
        bar.set_categories(Reference(hours, min_col=1, min_row=2, max_row=hours.max_row))
        hours.add_chart(bar, "L2")

    _table(wb.create_sheet("Попытки"), HEADER, _rows(service, campaign_id, tz))
    _table(
        wb.create_sheet("Ожидают звонка"), PENDING_HEADER, _pending_rows(service, campaign_id, tz)
    )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def channel_summary(service: CampaignService, campaign_id: int) -> list[tuple[str, int, int, str]]:
    """Per channel (звонок, СМС, e-mail): attempts, positive ones and the
    results («СМС доставлено: 3, СМС не доставлено: 1»)."""
    per: dict[str, Counter[str]] = {}
    positive: Counter[str] = Counter()
    for a in service.attempts(campaign_id):
        per.setdefault(a.channel, Counter())[a.result or "в процессе"] += 1
        positive[a.channel] += int(a.positive)
    return [
        (
            CHANNEL_TITLES.get(channel, channel),
            sum(results.values()),
            positive[channel],
            ", ".join(f"{RESULT_TITLES.get(r, r)}: {n}" for r, n in sorted(results.items())),
        )
        for channel, results in sorted(per.items())
    ]


@dataclass(frozen=True, slots=True)
class Bar:
    """One result's part of an hour's stacked bar."""

    x: int
    y: int
    width: int
    height: int
    colour: str
    title: str
    """e.g. ``Занято: 3`` (the bar's tooltip)."""


@dataclass(frozen=True, slots=True)
class Chart:
    """Stacked bars of results per hour; drawn as SVG by the template
    ``dispatcher/chart.html``."""

    width: int
    height: int
    """Of the plot; the picture is 40 px taller for the hour labels."""
    top: int
    """The tallest bar's number of attempts."""
    bars: list[Bar]
    hours: list[tuple[int, str]]
    """(x, ``чч:00``) under each bar."""


def chart(timeline: list[tuple[datetime, Counter[str]]], width: int = 640) -> Chart | None:
    """The chart of results per hour (None: no calls yet)."""
    height, pad = 220, 30
    if not timeline:
        return None
    top = max(sum(c.values()) for _, c in timeline) or 1
    bw = max(6, (width - 2 * pad) // len(timeline) - 4)
    bars: list[Bar] = []
    hours: list[tuple[int, str]] = []
    for i, (start, counts) in enumerate(timeline):
        x = pad + i * (bw + 4)
        y = height
        for r in CHART_RESULTS:
            n = counts.get(r, 0)
            if not n:
                continue
            h = max(1, int((height - pad) * n / top))
            y -= h
            bars.append(Bar(x, y, bw, h, COLOURS[r], f"{RESULT_TITLES[r]}: {n}"))
        hours.append((x, start.strftime("%H:00")))
    return Chart(width, height, top, bars, hours)
