"""The survey report (``/surveys/``, supervisors; REQ-A13): NPS and CSI per
month and per operator with response rates, for a year (or any period), and
the same tables as XLSX (audited: operators' names and their marks).

``GET /surveys/?year=2026`` or ``?start=ДД.ММ.ГГГГ&end=ДД.ММ.ГГГГ``;
``GET /surveys/export.xlsx`` with the same query. A bad period is a Russian 400.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from crm_bridge.models import OperatorRole
from surveys.deps import SurveyDeps
from surveys.service import Figures, Report, SurveyService
from webedge.edge import allow, audit
from webedge.shell import error_response, render

__all__ = ["create_surveys_app", "report_xlsx"]

SERVICES = web.AppKey("surveys_services", SurveyDeps)
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PeriodError(ValueError):
    pass


def _date(raw: str, what: str) -> date:
    try:
        return datetime.strptime(raw.strip(), "%d.%m.%Y").date()
    except ValueError:
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise PeriodError(
                f"{what}: ожидается дата ДД.ММ.ГГГГ, а не «{raw.strip()[:20]}»"
            ) from None


def period(query: Any, today: date) -> tuple[date, date]:
    """The local dates asked for: ``start``/``end``, or a ``year`` (default: this one)."""
    if query.get("start") or query.get("end"):
        start = _date(query.get("start") or "", "начало периода")
        end = _date(query.get("end") or "", "конец периода")
        if end < start:
            raise PeriodError("конец периода раньше начала")
        return start, end
    raw = (query.get("year") or "").strip()
    if not raw:
        return date(today.year, 1, 1), date(today.year, 12, 31)
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise PeriodError(f"год должен быть числом, например 2026, а не «{raw[:20]}»")
    return date(int(raw), 1, 1), date(int(raw), 12, 31)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except PeriodError as exc:
        return error_response(request, 400, f"Неверный период: {exc}")


async def _report(request: web.Request) -> Report:
    services = request.app[SERVICES]
    tz = services.settings.timezone
    start, end = period(request.query, datetime.now(ZoneInfo(tz)).date())
    return await services.run_db_background(
        lambda: SurveyService(services.db).report(start, end, tz)
    )


@allow(OperatorRole.SUPERVISOR)
async def page(request: web.Request) -> web.Response:
    rep = await _report(request)
    await audit(request, "surveys.view", f"{rep.start}..{rep.end}")
    return render(
        request,
        "surveys/report.html",
        {
            "title": "Оценка качества обслуживания (NPS, CSI)",
            "rep": rep,
            "start": rep.start.strftime("%d.%m.%Y"),
            "end": rep.end.strftime("%d.%m.%Y"),
        },
    )


@allow(OperatorRole.SUPERVISOR)
async def export(request: web.Request) -> web.Response:
    rep = await _report(request)
    data = await request.app[SERVICES].run_db_background(lambda: report_xlsx(rep))
    await audit(request, "surveys.export", f"{rep.start}..{rep.end}")
    name = f"surveys-{rep.start:%Y%m%d}-{rep.end:%Y%m%d}.xlsx"
    return web.Response(
        body=data,
        headers={
            "Content-Type": XLSX_TYPE,
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


HEADER: Final = (
    "Опрошено",
    "Ответили",
    "Доля ответивших",
    "CSI (средняя оценка 1–5)",
    "Довольны (4–5)",
    "Оценок CSI",
    "NPS",
    "Оценок NPS",
)


def _cells(f: Figures) -> list[Any]:
    def pct(v: float | None) -> float | None:
        return None if v is None else v / 100.0

    return [
        f.offered,
        f.answered,
        pct(f.response_rate),
        f.csi,
        pct(f.satisfied),
        f.csi_count,
        f.nps,
        f.nps_count,
    ]


def report_xlsx(rep: Report) -> bytes:
    """Two sheets (by month, by operator) with a total row: numbers as
    numbers, shares as percentages, frozen header, filters, widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    sheets = (
        ("По месяцам", "Месяц", rep.months),
        ("По операторам", "Оператор", rep.operators),
        ("По видам опроса", "Как опрошены", rep.sources),
    )
    for i, (title, first, lines) in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet()
        assert ws is not None
        ws.title = title
        ws.append([f"Оценка качества обслуживания {rep.start:%d.%m.%Y} — {rep.end:%d.%m.%Y}"])
        ws["A1"].font = Font(bold=True)
        ws.append([first, *HEADER])
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for f in [*lines, rep.total]:
            ws.append([f.label, *_cells(f)])
        for row in ws.iter_rows(min_row=3):
            row[3].number_format = "0.0%"
            row[5].number_format = "0.0%"
            row[4].number_format = "0.00"
            row[7].number_format = "0.0"
        ws.freeze_panes = "B3"
        ws.auto_filter.ref = f"A2:I{ws.max_row}"
        for col, width in zip("ABCDEFGHI", (26, 10, 10, 16, 22, 16, 12, 10, 12), strict=True):
            ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def create_surveys_app(services: SurveyDeps, runtime: Any = None) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[SERVICES] = services
    app.router.add_get("/", page)
    app.router.add_get("/export.xlsx", export)
    return app
